/**
 * `sanproxy demo`: two hosts in one process (NOLOWMEM on, a 32-bit NIC on one and a 64-bit NIC
 * on the other by default), the SAN proxy driver loaded on each, a verified client/server
 * transfer through the Windows Sockets switch, teardown, and the figures that show the WDK
 * page working: bytes by path, registrations and cache hits, low memory by strategy,
 * !chklowmem, verifier findings, and leaks after teardown (which must be zero).
 *
 * One registration count everywhere (text, JSON, report, trace): NIC registrations, the
 * proxy's own counter (ProxyCounters.nicRegistrations) summed over hosts. REGISTER_BUFFER
 * requests a NIC cannot reach are counted apart as expected refusals, and the switch's cache
 * hits (registrations that never reached the driver) apart again.
 */
import { formatBytes } from '../bus/index.ts';
import { createCluster, difference, snapshot, type Cluster, type ResourceSnapshot } from '../host/index.ts';
import { runTransfer, startApps, type DemoTransfer } from '../host/demo-scenario.ts';
import { sanProxyState } from '../proxy/index.ts';
import { Tracer, captureSnapshot, writeReport, writeTrace, type HostSnapshot, type ReportSettings } from '../report/index.ts';
import { packageVersion } from './context.ts';
import { PcapWriter, opcodeName as wireOpcodeName } from '../wire/index.ts';
import type { LinkImpairments } from '../nic/index.ts';

export interface DemoOptions {
  ramBytes: number;
  nolowmem: boolean;
  nicBits: [32 | 64, 32 | 64];
  strategy: 'contiguous' | 'common-buffer';
  iommu: boolean;
  /** Whether the NICs serve RDMA read; off shows the RDMA write path of the session protocol. */
  rdmaRead?: boolean;
  bytes: number;
  seed: number;
  verifier: boolean;
  report?: string;
  trace?: string;
  /** Capture every RoCEv2 packet of the fabric to this libpcap file. */
  pcap?: string;
  /**
   * Link impairments (probabilities 0..1, seeded by `seed`) and the NICs' path MTU. A number
   * applies both ways; a pair is [host-a → host-b, host-b → host-a].
   */
  loss?: Probability;
  reorder?: Probability;
  duplicate?: Probability;
  corrupt?: Probability;
  mtu?: number;
  onProgress?: (done: number, total: number) => void;
  /** When the run happened, for the report's Run panel (default: now). */
  date?: Date;
}

export interface DemoFinding {
  host: string;
  code: number;
  parameters: readonly number[];
  driver: string | null;
  rule: string;
  detail: string;
  stack: readonly string[];
}

export interface DemoResult {
  transfer: { bytes: number; verified: boolean; controlBytes: number; rdmaReadBytes: number; rdmaWriteBytes: number };
  /**
   * `count`: NIC registrations — memory regions the SAN proxy driver registered with a NIC
   * (REGISTER_BUFFER and ALLOCATE_MEMORY requests that succeeded), summed over hosts.
   * `refusedExpected`: REGISTER_BUFFER requests refused because the NIC cannot reach the
   * buffer (a 32-bit NIC, a buffer above 4 GiB); the provider staged them through low memory.
   * `cacheHits` / `cacheMisses`: the switch's registration cache (a hit makes no driver request).
   */
  registrations: { count: number; refusedExpected: number; cacheHits: number; cacheMisses: number };
  lowMemory: { contiguousBytes: number; commonBufferBytes: number };
  chklowmem: { violations: number };
  /** Driver Verifier on both hosts ('off': nothing was checked, so no findings mean nothing). */
  verifier: { status: 'on' | 'off'; findings: DemoFinding[] };
  leaks: { pages: number; poolBytes: number; commonBuffers: number; lockedPages: number; mappings: number; registrations: number };
  /**
   * The RoCEv2 packets of the run, summed over the NICs (src/nic wire-port.ts counters):
   * sent (retransmissions included), retransmitted by go-back-N, dropped at receive (ICRC,
   * no QP, …), duplicates the responders re-acknowledged, NAKs sent; `byOpcode` counts sent
   * packets by tshark's opcode name.
   */
  wire: {
    packetsSent: number; retransmitted: number; dropped: number; duplicated: number; naks: number; byOpcode: Record<string, number>;
    /** What the link's impairments did (all 0 on the default lossless link). */
    link: { lost: number; reordered: number; duplicated: number; corrupted: number };
  };
}

export interface DemoDetails {
  result: DemoResult;
  transfer: DemoTransfer;
  cluster: Cluster;
  wallMs: number;
  /** Output files that could not be written (the run's result stands; the CLI reports them). */
  outputErrors: { flag: 'report' | 'trace' | 'pcap'; path: string; error: unknown }[];
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const details = await runDemoDetailed(o);
  const failed = details.outputErrors[0];
  if (failed !== undefined) throw failed.error;
  return details.result;
}

/** A probability both ways, or [host-a → host-b, host-b → host-a]. */
export type Probability = number | readonly [number, number];

/** host-a's and host-b's NIC addresses. */
const DEMO_IPS = ['10.0.0.1', '10.0.0.2'] as const;

const ipv4Of = (text: string): number => text.split('.').reduce((a, b) => a * 256 + Number(b), 0);

const oneWay = (p: Probability | undefined, back: boolean): number => (p === undefined ? 0 : typeof p === 'number' ? p : p[back ? 1 : 0]);

const IMPAIRMENT_NAMES = ['loss', 'reorder', 'duplicate', 'corrupt'] as const;

/**
 * The link's impairments for the demo: one setting for both ways when every flag gives one
 * number, else a direction each (link-faults.ts), host-a → host-b first.
 */
export function demoImpairments(o: DemoOptions, ipA: number, ipB: number): LinkImpairments {
  const way = (back: boolean) => ({
    loss: oneWay(o.loss, back), reorder: oneWay(o.reorder, back), duplicate: oneWay(o.duplicate, back), corrupt: oneWay(o.corrupt, back), delayNs: 0,
  });
  const both = IMPAIRMENT_NAMES.every((k) => o[k] === undefined || typeof o[k] === 'number');
  if (both) return { seed: o.seed | 0, ...way(false) };
  return {
    seed: o.seed | 0, loss: 0, reorder: 0, duplicate: 0, corrupt: 0, delayNs: 0,
    directions: [{ from: ipA, to: ipB, ...way(false) }, { from: ipB, to: ipA, ...way(true) }],
  };
}

/** `0.02` or `0.02 host-a→host-b, 0 host-b→host-a`. */
const probabilityText = (p: Probability | undefined): string =>
  p === undefined ? '0' : typeof p === 'number' ? String(p) : `${p[0]} host-a→host-b, ${p[1]} host-b→host-a`;

export async function runDemoDetailed(o: DemoOptions): Promise<DemoDetails> {
  const started = performance.now();
  const date = o.date ?? new Date();
  const cluster = createCluster({
    autoDrive: true,
    hosts: o.nicBits.map((bits, i) => ({
      name: i === 0 ? 'host-a' : 'host-b',
      ramBytes: o.ramBytes,
      nolowmem: o.nolowmem,
      iommu: o.iommu,
      verifier: o.verifier,
      strategy: o.strategy,
      nics: [{ addressBits: bits, ip: DEMO_IPS[i]!, rdmaRead: o.rdmaRead ?? true, capabilities: { pathMtu: o.mtu ?? 4096 } }],
    })),
  });
  cluster.fabric.link.impair(demoImpairments(o, ipv4Of(DEMO_IPS[0]), ipv4Of(DEMO_IPS[1])));
  const tracer = o.trace ? new Tracer().attach(cluster) : null;
  let capture: PcapWriter | null = null;
  let captureError: unknown = null;
  if (o.pcap !== undefined) {
    try {
      capture = PcapWriter.toFile(o.pcap, { nanoseconds: true });
      cluster.fabric.startCapture(capture);
    } catch (error) {
      captureError = error;
    }
  }
  for (const h of cluster.hosts) {
    const status = h.loadProxy();
    if (status !== 0) throw new Error(`${h.spec.name}: loading the SAN proxy driver failed (0x${status.toString(16)})`);
  }
  const snapshots: HostSnapshot[] = [];
  const wantReport = o.report !== undefined;
  if (wantReport) for (const h of cluster.hosts) snapshots.push(captureSnapshot(h, 'boot'));
  const baseline: ResourceSnapshot[] = cluster.hosts.map((h) => snapshot(h));
  const lowMemory = cluster.hosts.map((h) => ({ ...sanProxyState(h.kernel)!.lowMemory }));

  const apps = startApps(cluster);
  const transfer = await runTransfer(apps, {
    bytes: o.bytes,
    seed: o.seed,
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    atPeak: () => {
      if (wantReport) for (const h of cluster.hosts) snapshots.push(captureSnapshot(h, 'peak'));
      // Low memory is read before teardown releases it: the counters are cumulative anyway.
      cluster.hosts.forEach((h, i) => (lowMemory[i] = { ...sanProxyState(h.kernel)!.lowMemory }));
    },
  });
  apps.client.host.kernel.ps.terminateProcess(apps.client.process, 0);
  apps.server.host.kernel.ps.terminateProcess(apps.server.process, 0);
  await cluster.fabric.quiesce();
  if (capture !== null) {
    cluster.fabric.stopCapture();
    try {
      capture.close();
    } catch (error) {
      captureError = error;
    }
  }
  const after = cluster.hosts.map((h) => snapshot(h));
  if (wantReport) for (const h of cluster.hosts) snapshots.push(captureSnapshot(h, 'after teardown'));

  // Read before DriverUnload frees the driver's state.
  const proxyCounters = cluster.hosts.map((h) => ({ ...sanProxyState(h.kernel)!.counters }));
  const diffs = baseline.map((b, i) => difference(b, after[i]!));
  const sum = (f: (d: ResourceSnapshot) => number) => diffs.reduce((s, d) => s + f(d), 0);
  const findings: DemoFinding[] = cluster.hosts.flatMap((h) =>
    (h.kernel.verifier?.findings() ?? []).map((f) => ({
      host: h.spec.name,
      code: f.code,
      parameters: [...f.parameters],
      driver: f.driver,
      rule: f.rule,
      detail: f.detail,
      stack: [...f.stack],
    })),
  );
  const result: DemoResult = {
    transfer: {
      bytes: transfer.bytes,
      verified: transfer.verified,
      controlBytes: transfer.client.controlBytes + transfer.server.controlBytes,
      rdmaReadBytes: transfer.client.rdmaReadBytes + transfer.server.rdmaReadBytes,
      rdmaWriteBytes: transfer.client.rdmaWriteBytes + transfer.server.rdmaWriteBytes,
    },
    registrations: {
      count: proxyCounters.reduce((s, c) => s + c.nicRegistrations, 0),
      refusedExpected: proxyCounters.reduce((s, c) => s + c.registrationsRefusedUnreachable, 0),
      cacheHits: transfer.client.cacheHits + transfer.server.cacheHits,
      cacheMisses: transfer.client.registrations + transfer.server.registrations,
    },
    lowMemory: {
      contiguousBytes: lowMemory.reduce((s, l) => s + l.contiguousBytes, 0),
      commonBufferBytes: lowMemory.reduce((s, l) => s + l.commonBufferBytes, 0),
    },
    chklowmem: { violations: cluster.hosts.reduce((s, h) => s + h.kernel.mm.chklowmem().violations, 0) },
    verifier: { status: o.verifier ? 'on' : 'off', findings },
    leaks: {
      pages: sum((d) => d.freePages),
      poolBytes: sum((d) => d.poolBytes),
      commonBuffers: sum((d) => d.commonBuffers),
      lockedPages: sum((d) => d.lockedPages),
      mappings: sum((d) => d.systemMappings + d.mdls + d.iommuRanges),
      registrations: sum((d) => d.nicRegistrations),
    },
    wire: wireSummary(cluster),
  };
  for (const h of cluster.hosts) h.unloadProxy();
  const outputErrors: DemoDetails['outputErrors'] = [];
  if (captureError !== null) outputErrors.push({ flag: 'pcap', path: o.pcap!, error: captureError });
  const writeOutput = (flag: 'report' | 'trace', path: string, write: () => void) => {
    try {
      write();
    } catch (error) {
      outputErrors.push({ flag, path, error });
    }
  };
  if (o.report) {
    const settings: ReportSettings = {
      version: packageVersion(),
      date: date.toISOString(),
      ramBytes: o.ramBytes,
      nolowmem: o.nolowmem,
      nicBits: Object.fromEntries(cluster.hosts.map((h, i) => [h.kernel.name, o.nicBits[i]!])),
      strategy: o.strategy,
      iommu: o.iommu,
      verifier: o.verifier,
      rdmaRead: o.rdmaRead ?? true,
      seed: o.seed,
      bytes: o.bytes,
      result: {
        bytesTransferred: result.transfer.bytes,
        verified: result.transfer.verified,
        cacheHits: result.registrations.cacheHits,
        cacheMisses: result.registrations.cacheMisses,
        leaked: Object.values(result.leaks).some((v) => v !== 0),
        wallMs: performance.now() - started,
      },
    };
    writeOutput('report', o.report, () => writeReport(o.report!, {
      title: 'sanproxy demo',
      description: `Two hosts in one process: a verified client/server transfer of ${formatBytes(o.bytes)} through the Windows Sockets switch and the SAN proxy driver, then teardown.`,
      snapshots,
      settings,
      ...(tracer ? { tracer } : {}),
    }));
  }
  if (tracer && o.trace) {
    writeOutput('trace', o.trace, () => writeTrace(o.trace!, tracer));
    tracer.detach();
  }
  return { result, transfer, cluster, wallMs: performance.now() - started, outputErrors };
}

export function formatDemoSummary(r: DemoResult, o: DemoOptions, extra?: { path?: string | null; messages?: number; wallMs?: number }): string {
  const t = r.transfer;
  const lines = [
    `sanproxy demo: two hosts, ${formatBytes(o.ramBytes)} each, NOLOWMEM ${o.nolowmem ? 'on' : 'off'}, NICs ${o.nicBits[0]}-bit (host-a) and ${o.nicBits[1]}-bit (host-b), strategy ${o.strategy}, IOMMU ${o.iommu ? 'on' : 'off'}, RDMA read ${o.rdmaRead === false ? 'off' : 'on'}`,
    '',
    `transfer      ${formatBytes(t.bytes)} ${t.verified ? 'verified byte for byte' : 'NOT VERIFIED'}${extra?.messages ? ` in ${extra.messages} messages` : ''}${extra?.path ? ` over the ${extra.path.toUpperCase()} path` : ''}`,
    `  by path     control messages ${formatBytes(t.controlBytes)}, RDMA read ${formatBytes(t.rdmaReadBytes)}, RDMA write ${formatBytes(t.rdmaWriteBytes)}`,
    `registrations ${r.registrations.count} NIC registrations (memory regions the SAN proxy driver registered with a NIC)`,
    `  refused     ${r.registrations.refusedExpected} as expected (REGISTER_BUFFER a NIC cannot reach: staged through low memory)`,
    `  cache       ${r.registrations.cacheHits} hits, ${r.registrations.cacheMisses} misses in the switch's registration cache (${pct(r.registrations.cacheHits, r.registrations.cacheHits + r.registrations.cacheMisses)} hit rate)`,
    `low memory    contiguous ${formatBytes(r.lowMemory.contiguousBytes)}, common buffer ${formatBytes(r.lowMemory.commonBufferBytes)} (allocated by the proxy for RDMA)`,
    `!chklowmem    ${r.chklowmem.violations === 0 ? 'clean' : `${r.chklowmem.violations} low pages written while free`}`,
    `verifier      ${r.verifier.status === 'off' ? 'off (--verifier off: nothing was checked)' : r.verifier.findings.length === 0 ? 'no findings' : `${r.verifier.findings.length} findings`}`,
    ...r.verifier.findings.slice(0, 10).map((f) => `  ${f.host}: ${f.rule} 0x${f.code.toString(16)} ${f.detail}`),
    `leaks         ${Object.entries(r.leaks).map(([k, v]) => `${k} ${v}`).join(', ')}${Object.values(r.leaks).every((v) => v === 0) ? ' — nothing leaked' : ' — LEAKED'}`,
  ];
  const w = r.wire;
  lines.push(`wire          ${w.packetsSent} RoCEv2 packets sent (MTU ${o.mtu ?? 4096}), ${w.retransmitted} retransmitted, ${w.dropped} dropped at receive, ${w.duplicated} duplicates, ${w.naks} NAKs`);
  const lossy = IMPAIRMENT_NAMES.some((k) => oneWay(o[k], false) > 0 || oneWay(o[k], true) > 0);
  if (lossy) {
    lines.push(`  link        loss ${probabilityText(o.loss)}, reorder ${probabilityText(o.reorder)}, duplicate ${probabilityText(o.duplicate)}, corrupt ${probabilityText(o.corrupt)} (seed ${o.seed}): ${w.link.lost} lost, ${w.link.reordered} reordered, ${w.link.duplicated} duplicated, ${w.link.corrupted} corrupted (dropped on ICRC)`);
  }
  if (extra?.wallMs) lines.push(`time          ${(extra.wallMs / 1000).toFixed(1)} s`);
  if (o.report) lines.push(`report        ${o.report}`);
  if (o.trace) lines.push(`trace         ${o.trace} (open in https://ui.perfetto.dev or chrome://tracing)`);
  if (o.pcap) lines.push(`pcap          ${o.pcap} (open in Wireshark, or: tshark -r ${o.pcap})`);
  return lines.join('\n');
}

function wireSummary(cluster: Cluster): DemoResult['wire'] {
  const f = cluster.fabric.link.faults;
  const c = cluster.wireCounters();
  const out: DemoResult['wire'] = {
    packetsSent: c.packetsSent, retransmitted: c.retransmitted, dropped: c.packetsDropped, duplicated: c.duplicates, naks: c.naksSent, byOpcode: {},
    link: { lost: f.lost, reordered: f.reordered, duplicated: f.duplicated, corrupted: f.corrupted },
  };
  for (let op = 0; op < 256; op++) {
    const n = c.txByOpcode[op]!;
    if (n > 0) out.byOpcode[wireOpcodeName(op)] = (out.byOpcode[wireOpcodeName(op)] ?? 0) + n;
  }
  return out;
}

const pct = (a: number, b: number) => (b === 0 ? '0%' : `${Math.round((100 * a) / b)}%`);
