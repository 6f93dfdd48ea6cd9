/**
 * `sanproxy host`: one host as a process of its own (src/host/host-node.ts): it binds its UDP
 * port 4791 at --address, boots its kernel, loads the SAN proxy driver and runs its role with
 * the hosts at --peers over real UDP, one line per event; then (or on SIGINT/SIGTERM) it tears
 * everything down and prints its leak table. Exit status 1 on any leak, unverified byte, bug
 * check or failure (an interrupted run never verified all its bytes).
 *
 * With --json every line on stdout is one JSON object: the events, then `{"event":"summary"}`
 * last — what `sanproxy demo --processes` reads from its children.
 */
import { Command, Option } from 'commander';
import { HostNode, runExchange, type ExchangeEvent, type ExchangeResult, type HostNodeTeardown, type HostRole } from '../host/index.ts';
import { ipv4Number } from '../nic/index.ts';
import { PcapWriter } from '../wire/index.ts';
import { EXIT_FAILED, EXIT_OK, type CliContext } from './context.ts';
import { checkOutputFiles } from './output-files.ts';
import {
  RAM_RANGE, UsageError, parseChoice, parseChoiceNumber, parseIntegerOption, parseOnOff, parseSeedOption, parseSizeOption, quote, rangeText, rejectArguments,
  type SizeRange,
} from './options.ts';

/** A host process moves 1 byte to 16 GiB to each peer. */
export const HOST_BYTES_RANGE: SizeRange = { min: 1, max: 16 * 2 ** 30 };

export interface HostCommandOptions {
  name: string;
  address: string;
  peers: string[];
  role: HostRole;
  ramBytes: number;
  nolowmem: boolean;
  nicBits: 32 | 64;
  strategy: 'contiguous' | 'common-buffer';
  iommu: boolean;
  verifier: boolean;
  rdmaRead: boolean;
  mtu: number;
  bytes: number;
  seed: number;
  port: number;
  connectTimeoutMs: number;
  pcap?: string;
  json: boolean;
}

/** What a host process reports last (the JSON summary line; the text summary says the same). */
export interface HostSummary {
  event: 'summary';
  host: string;
  address: string;
  role: HostRole;
  verified: boolean;
  interrupted: boolean;
  error: string | null;
  sent: { peer: string; bytes: number }[];
  received: { peer: string; bytes: number; verified: boolean; error: string | null }[];
  bytesSent: number;
  bytesReceived: number;
  /** Wall time of the role (after start-up, before teardown), milliseconds. */
  roleMs: number;
  leaks: Record<string, number>;
  leaked: boolean;
  bugCheck: string | null;
  link: {
    datagramsSent: number; datagramsReceived: number; dropped: number; sendErrors: number; kernelDrops: number | null;
    recvBufferBytes: number; sendBufferBytes: number;
  };
  wire: { packetsSent: number; retransmitted: number; timeouts: number; dropped: number };
}

const isIpv4 = (s: string): boolean => ipv4Number(s) !== null;

function parseAddress(flag: string, text: string): string {
  const t = text.trim();
  if (!isIpv4(t)) throw new UsageError(`--${flag} ${quote(text)}: expected a dotted IPv4 address, such as 127.0.0.2`);
  return t;
}

function parsePeers(text: string, self: string): string[] {
  const peers = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (peers.length === 0) throw new UsageError(`--peers ${quote(text)}: expected one or more dotted IPv4 addresses, comma-separated`);
  for (const p of peers) {
    if (!isIpv4(p)) throw new UsageError(`--peers ${quote(text)}: ${quote(p)} is not a dotted IPv4 address`);
    if (p === self) throw new UsageError(`--peers ${quote(text)}: ${p} is this host's own --address`);
  }
  if (new Set(peers).size !== peers.length) throw new UsageError(`--peers ${quote(text)}: an address is named twice`);
  return peers;
}

interface HostFlags {
  name?: string; address?: string; peers?: string; role?: string; ram: string; nolowmem: string; nicBits: string; strategy: string;
  iommu: string; verifier: string; rdmaRead: string; mtu: string; bytes: string; seed: string; port: string; connectTimeout: string;
  pcap?: string; json?: boolean;
}

export function hostOptionsFrom(f: HostFlags): HostCommandOptions {
  if (f.address === undefined) throw new UsageError('--address is required: the host\'s IPv4 address (its UDP port 4791 is bound there)');
  const address = parseAddress('address', f.address);
  if (f.peers === undefined) throw new UsageError('--peers is required: the other hosts\' IPv4 addresses, comma-separated');
  if (f.role === undefined) throw new UsageError('--role is required: server, client or all-to-all');
  const o: HostCommandOptions = {
    name: f.name ?? `host-${address.split('.')[3]}`,
    address,
    peers: parsePeers(f.peers, address),
    role: parseChoice('role', f.role, ['server', 'client', 'all-to-all'] as const),
    ramBytes: parseSizeOption('ram', f.ram, RAM_RANGE),
    nolowmem: parseOnOff('nolowmem', f.nolowmem),
    nicBits: parseChoiceNumber('nic-bits', f.nicBits, [32, 64]) as 32 | 64,
    strategy: parseChoice('strategy', f.strategy, ['contiguous', 'common-buffer'] as const),
    iommu: parseOnOff('iommu', f.iommu),
    verifier: parseOnOff('verifier', f.verifier),
    rdmaRead: parseOnOff('rdma-read', f.rdmaRead),
    mtu: parseChoiceNumber('mtu', f.mtu, [256, 512, 1024, 2048, 4096]),
    bytes: parseSizeOption('bytes', f.bytes, HOST_BYTES_RANGE),
    seed: parseSeedOption('seed', f.seed),
    port: parseIntegerOption('port', f.port, 1, 65535),
    connectTimeoutMs: parseIntegerOption('connect-timeout', f.connectTimeout, 1, 3_600_000),
    json: f.json === true,
    ...(f.pcap !== undefined ? { pcap: f.pcap } : {}),
  };
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(o.name)) throw new UsageError(`--name ${quote(o.name)}: expected 1..32 letters, digits, '.', '_' or '-'`);
  if (f.pcap !== undefined) checkOutputFiles([{ flag: 'pcap', path: f.pcap }]);
  return o;
}

function option(flags: string, description: string, fallback?: string): Option {
  const o = new Option(flags, description);
  return fallback === undefined ? o : o.default(fallback, fallback);
}

/** One event as a line of text. */
function eventText(e: ExchangeEvent): string {
  switch (e.event) {
    case 'listening': return `listening on port ${e.port}`;
    case 'connected': return `connected to ${e.peer} (${e.path === null ? 'no' : e.path.toUpperCase()} path)`;
    case 'accepted': return `accepted a stream from ${e.peer}`;
    case 'sent': return `sent ${e.bytes} bytes to ${e.peer}; the server closed`;
    case 'received': return `received ${e.bytes} bytes from ${e.peer}: ${e.verified ? 'verified byte for byte' : `NOT VERIFIED (${e.error})`}`;
    case 'retrying': return `retrying ${e.peer} (${e.reason})`;
    case 'discarded': return 'dropped a connection that broke before its hello (a client\'s abandoned attempt)';
  }
}

export function summaryText(s: HostSummary): string {
  const leaks = Object.entries(s.leaks).map(([k, v]) => `${k} ${v}`).join(', ');
  return [
    `${s.host} ${s.address} summary: ${s.verified ? 'verified' : 'NOT VERIFIED'}${s.interrupted ? ' (interrupted)' : ''}${s.error ? ` — ${s.error}` : ''}`,
    `  sent ${s.bytesSent} bytes to ${s.sent.length} peer(s), received ${s.bytesReceived} bytes from ${s.received.length} in ${(s.roleMs / 1000).toFixed(2)} s`,
    `  link ${s.link.datagramsSent} datagrams sent, ${s.link.datagramsReceived} received, ${s.link.dropped} dropped, ${s.link.sendErrors} send errors, kernel drops ${s.link.kernelDrops ?? 'n/a'}; socket buffers ${s.link.recvBufferBytes} recv, ${s.link.sendBufferBytes} send`,
    `  wire ${s.wire.packetsSent} packets sent, ${s.wire.retransmitted} retransmitted, ${s.wire.timeouts} timeouts, ${s.wire.dropped} dropped at receive`,
    `  leaks ${leaks}${s.leaked ? ' — LEAKED' : ' — nothing leaked'}`,
    `  bug check ${s.bugCheck ?? 'none'}`,
  ].join('\n');
}

/**
 * Run one host to the end of its role, or until `stop` resolves (a signal). Never throws for a
 * failed run: the summary says what happened.
 */
export async function runHostProcess(o: HostCommandOptions, line: (text: string) => void, stop: Promise<string>): Promise<HostSummary> {
  const emit = (text: string, e: Record<string, unknown>): void =>
    line(o.json ? JSON.stringify({ host: o.name, ...e }) : `${o.name} ${o.address}  ${text}`);
  const capture = o.pcap !== undefined ? PcapWriter.toFile(o.pcap, { nanoseconds: true }) : undefined;
  let node: HostNode;
  try {
    node = await HostNode.start({
      name: o.name, address: o.address, peers: o.peers, ramBytes: o.ramBytes, nolowmem: o.nolowmem, nicBits: o.nicBits,
      strategy: o.strategy, iommu: o.iommu, verifier: o.verifier, rdmaRead: o.rdmaRead, mtu: o.mtu, ...(capture ? { capture } : {}),
    });
  } catch (error) {
    capture?.close();
    throw error;
  }
  emit(`up: UDP ${o.address}:4791 (socket buffers ${node.link.recvBufferBytes} recv, ${node.link.sendBufferBytes} send), kernel booted, SAN proxy loaded; role ${o.role}, peers ${o.peers.join(', ')}`,
    { event: 'up', address: o.address, port: 4791, role: o.role, peers: o.peers, recvBufferBytes: node.link.recvBufferBytes, sendBufferBytes: node.link.sendBufferBytes, pid: process.pid });
  const abort = new AbortController();
  let interrupted = false;
  void stop.then((signal) => {
    interrupted = true;
    emit(`${signal}: tearing down`, { event: 'signal', signal });
    abort.abort();
  });
  const started = performance.now();
  let result: ExchangeResult | null = null;
  let error: string | null = null;
  try {
    result = await runExchange(node, {
      role: o.role, bytes: o.bytes, seed: o.seed, port: o.port, connectTimeoutMs: o.connectTimeoutMs, signal: abort.signal,
      log: (e) => emit(eventText(e), e),
    });
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    emit(`failed: ${error}`, { event: 'failed', error });
  }
  const roleMs = performance.now() - started;
  const t: HostNodeTeardown = await node.stop();
  try {
    capture?.close();
  } catch (e) {
    error ??= `--pcap ${o.pcap}: ${(e as Error).message}`;
  }
  const nic = node.host.nics[0]!.nic.wire.counters;
  const summary: HostSummary = {
    event: 'summary', host: o.name, address: o.address, role: o.role,
    verified: result !== null && result.verified && error === null && !interrupted,
    interrupted, error,
    sent: result?.sent.map((s) => ({ peer: s.peer, bytes: s.bytes })) ?? [],
    received: result?.received.map((r) => ({ peer: r.peer, bytes: r.bytes, verified: r.verified, error: r.error })) ?? [],
    bytesSent: result?.sent.reduce((n, s) => n + s.bytes, 0) ?? 0,
    bytesReceived: result?.received.reduce((n, r) => n + r.bytes, 0) ?? 0,
    roleMs,
    leaks: { ...t.leaks } as unknown as Record<string, number>,
    leaked: t.leaked.length > 0,
    bugCheck: t.bugCheck,
    link: {
      datagramsSent: t.link.sent, datagramsReceived: t.link.received, dropped: t.link.dropped, sendErrors: t.link.sendErrors,
      kernelDrops: t.kernelDrops, recvBufferBytes: node.link.recvBufferBytes, sendBufferBytes: node.link.sendBufferBytes,
    },
    wire: { packetsSent: nic.packetsSent, retransmitted: nic.retransmitted, timeouts: nic.timeouts, dropped: nic.packetsDropped },
  };
  line(o.json ? JSON.stringify(summary) : summaryText(summary));
  return summary;
}

export const hostClean = (s: HostSummary): boolean => s.verified && !s.leaked && s.bugCheck === null;

export function addHostCommand(program: Command, ctx: CliContext): void {
  program
    .command('host')
    .summary('one host as a process of its own, talking RoCEv2 over UDP port 4791 to its peers')
    .description(
      'Run one emulated host in this process: bind UDP port 4791 at --address, boot the kernel, load the SAN proxy ' +
      'driver, and run the role with the hosts at --peers (each its own process, here or on another machine): a ' +
      'server checks every byte each peer sends, a client sends --bytes to each peer, all-to-all does both. One ' +
      'line per event; at the end, or on SIGINT/SIGTERM, everything is torn down and the leak table printed.',
    )
    .addOption(option('--address <ipv4>', 'this host\'s IPv4 address (UDP port 4791 is bound there; 127.0.0.2 … on one machine)'))
    .addOption(option('--peers <list>', 'the other hosts\' IPv4 addresses, comma-separated'))
    .addOption(option('--role <role>', 'server, client or all-to-all'))
    .addOption(option('--name <name>', 'the host\'s name in logs (default host-<last octet>)'))
    .addOption(option('--ram <size>', `RAM, ${rangeText(RAM_RANGE)} in whole 4K pages`, '8G'))
    .addOption(option('--nolowmem <on|off>', 'bcdedit /set nolowmem', 'on'))
    .addOption(option('--nic-bits <32|64>', 'DMA address width of the NIC', '64'))
    .addOption(option('--strategy <name>', 'contiguous or common-buffer', 'contiguous'))
    .addOption(option('--iommu <on|off>', 'DMA remapping', 'off'))
    .addOption(option('--verifier <on|off>', 'Driver Verifier checks', 'on'))
    .addOption(option('--rdma-read <on|off>', 'the NIC serves RDMA read', 'on'))
    .addOption(option('--mtu <bytes>', 'path MTU: 256, 512, 1024, 2048 or 4096 (the same on every host)', '4096'))
    .addOption(option('--bytes <size>', `bytes a client sends to each peer, ${rangeText(HOST_BYTES_RANGE)}`, '16M'))
    .addOption(option('--seed <n>', 'message sizes and contents (the same on every host)', '1'))
    .addOption(option('--port <n>', 'the port servers listen on (the switch\'s TCP port space)', '5001'))
    .addOption(option('--connect-timeout <ms>', 'how long a client keeps trying a peer that refuses or does not answer', '20000'))
    .addOption(option('--pcap <file.pcap>', 'capture every frame this host sends and receives (full Ethernet/IPv4/UDP frames)'))
    .addOption(option('--json', 'one JSON object per line: the events, then the summary'))
    .addHelpText('after', `
Examples:
  # two terminals, or two machines with their own addresses
  sanproxy host --address 127.0.0.3 --peers 127.0.0.2 --role server
  sanproxy host --address 127.0.0.2 --peers 127.0.0.3 --role client --bytes 64M

Exit status: 0 verified, nothing leaked, no bug check; 1 otherwise (also when interrupted); 2 usage error.`)
    .action(async (flags: HostFlags, command: Command) => {
      const o = hostOptionsFrom(flags);
      rejectArguments(command);
      let onSignal: (signal: string) => void = () => {};
      const stop = new Promise<string>((resolve) => (onSignal = resolve));
      const handler = (signal: NodeJS.Signals): void => onSignal(signal);
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
      try {
        const summary = await runHostProcess(o, (text) => ctx.io.out(text), stop);
        ctx.exitCode = hostClean(summary) ? EXIT_OK : EXIT_FAILED;
      } finally {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
      }
    });
}
