/**
 * The `sanproxy` command line (commander). Every command has its own strict options: an
 * unknown or inapplicable flag, a stray argument, or a malformed or out-of-range value is one
 * line naming the flag, the value and what is accepted, then one line pointing at the
 * command's help, exit status 2 and never a stack trace. Output files are checked before any
 * work starts. Exit statuses are in context.ts.
 *
 *   sanproxy demo   [options]     the main job (what `npm start` runs)
 *   sanproxy map    [options]     one host's physical memory map
 *   sanproxy bench  <suite|all>   benchmarks, each suite in its own process
 *   sanproxy faults [options]     fault sweep, IOCTL fuzz, forged descriptors, kills
 *   sanproxy host   [options]     one host as a process of its own, RoCEv2 over UDP to its peers
 *   sanproxy cluster --hosts N    N host processes over UDP loopback, all-to-all
 *   sanproxy help [command]
 */
import { Command, CommanderError, Option } from 'commander';
import { Kernel } from '../kernel/kernel.ts';
import { formatMemoryMap, memoryMapJson } from '../report/memory-map-text.ts';
import { addBenchCommand } from './bench.ts';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, packageVersion, processIo, type CliContext, type CliIo } from './context.ts';
import { formatDemoSummary, runDemoDetailed, type DemoOptions, type Probability } from './demo.ts';
import { addFaultsCommand } from './faults.ts';
import { addHostCommand } from './host.ts';
import { formatMerged, hostName, loopbackAddresses, mergeSummaries, runHostProcesses, type ProcessHostSpec } from './processes.ts';
import { ipv4Number as parseIpv4Number } from '../nic/index.ts';
import { checkOutputFiles, describeWriteError } from './output-files.ts';
import {
  RAM_RANGE, type SizeRange, UsageError, listOr, rejectArguments, parseChoice, parseOnOff, parseSeedOption, parseSizeOption, parseProbabilityOption, parseChoiceNumber, parseIntegerOption, quote, rangeText,
} from './options.ts';
import { ProgressBar } from './progress.ts';

/** The demo moves 1 byte to 16 GiB (16 GiB takes minutes on two cores). */
export const DEMO_BYTES_RANGE: SizeRange = { min: 1, max: 16 * 2 ** 30 };

const DEMO_DEFAULTS = {
  ram: '8G', nolowmem: 'on', nicBits: '32,64', strategy: 'contiguous', iommu: 'off', rdmaRead: 'on', bytes: '256M', seed: '1', verifier: 'on',
  mtu: '4096', loss: '0', reorder: '0', duplicate: '0', corrupt: '0',
} as const;

/** `new Option(flags, text)` with its default shown as typed (commander would quote strings). */
function option(flags: string, description: string, fallback?: string): Option {
  const o = new Option(flags, description);
  return fallback === undefined ? o : o.default(fallback, fallback);
}

function parseNicBits(text: string): [32 | 64, 32 | 64] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length !== 2 || !parts.every((p) => p === '32' || p === '64')) {
    throw new UsageError(`--nic-bits ${quote(text)}: expected two DMA address widths, 32 or 64 each, such as 32,64 (host-a,host-b)`);
  }
  return [Number(parts[0]) as 32 | 64, Number(parts[1]) as 32 | 64];
}

/** `P` (both ways) or `P,Q` (host-a → host-b, host-b → host-a), each a probability 0..1. */
function parseProbabilityPair(flag: string, text: string): Probability {
  const parts = text.split(',');
  if (parts.length === 1) return parseProbabilityOption(flag, text);
  if (parts.length !== 2) throw new UsageError(`--${flag} ${quote(text)}: expected one probability 0..1 (both ways) or two separated by a comma (host-a→host-b,host-b→host-a), such as 0.02 or 0.02,0`);
  return [parseProbabilityOption(flag, parts[0]!), parseProbabilityOption(flag, parts[1]!)];
}

interface DemoFlags {
  processes?: boolean; hosts?: string; firstAddress: string;
  ram: string; nolowmem: string; nicBits: string; strategy: string; iommu: string; rdmaRead: string; bytes: string; seed: string;
  verifier: string; report?: string; trace?: string; pcap?: string; json?: boolean;
  loss: string; reorder: string; duplicate: string; corrupt: string; mtu: string;
}

export function demoOptionsFrom(f: DemoFlags): DemoOptions {
  const options: DemoOptions = {
    ramBytes: parseSizeOption('ram', f.ram, RAM_RANGE),
    nolowmem: parseOnOff('nolowmem', f.nolowmem),
    nicBits: parseNicBits(f.nicBits),
    strategy: parseChoice('strategy', f.strategy, ['contiguous', 'common-buffer'] as const),
    iommu: parseOnOff('iommu', f.iommu),
    rdmaRead: parseOnOff('rdma-read', f.rdmaRead),
    bytes: parseSizeOption('bytes', f.bytes, DEMO_BYTES_RANGE),
    seed: parseSeedOption('seed', f.seed),
    verifier: parseOnOff('verifier', f.verifier),
    ...(f.report !== undefined ? { report: f.report } : {}),
    ...(f.trace !== undefined ? { trace: f.trace } : {}),
    ...(f.pcap !== undefined ? { pcap: f.pcap } : {}),
    loss: parseProbabilityPair('loss', f.loss),
    reorder: parseProbabilityPair('reorder', f.reorder),
    duplicate: parseProbabilityPair('duplicate', f.duplicate),
    corrupt: parseProbabilityPair('corrupt', f.corrupt),
    mtu: parseChoiceNumber('mtu', f.mtu, [256, 512, 1024, 2048, 4096]),
  };
  checkOutputFiles([
    ...(f.report !== undefined ? [{ flag: 'report', path: f.report }] : []),
    ...(f.trace !== undefined ? [{ flag: 'trace', path: f.trace }] : []),
    ...(f.pcap !== undefined ? [{ flag: 'pcap', path: f.pcap }] : []),
  ]);
  return options;
}

function addDemoCommand(program: Command, ctx: CliContext): void {
  const d = DEMO_DEFAULTS;
  program
    .command('demo')
    .summary('two hosts, the SAN proxy driver on each, a verified transfer through the Windows Sockets switch')
    .description(
      'Boot two emulated hosts (host-a and host-b), load the SAN proxy driver on each, send a stream of mixed ' +
      'message sizes from a client on host-a to a server on host-b through the Windows Sockets switch (small ' +
      'messages in control messages, large ones by RDMA), verify every byte, tear everything down and print ' +
      'the figures: bytes by path, NIC registrations, low memory by strategy, !chklowmem, verifier findings ' +
      'and leaks. `npm start` runs it with the defaults.',
    )
    .addOption(option('--ram <size>', `RAM per host, ${rangeText(RAM_RANGE)} in whole 4K pages`, d.ram))
    .addOption(option('--nolowmem <on|off>', 'bcdedit /set nolowmem: keep general allocations above 4 GiB', d.nolowmem))
    .addOption(option('--nic-bits <a,b>', 'DMA address width of host-a\'s and host-b\'s NIC: 32 or 64 each', d.nicBits))
    .addOption(option('--strategy <name>', 'how the proxy gets low memory: contiguous (MmAllocateContiguousMemorySpecifyCache) or common-buffer (AllocateCommonBuffer)', d.strategy))
    .addOption(option('--iommu <on|off>', 'DMA remapping: user pages get logical addresses a 32-bit NIC can reach', d.iommu))
    .addOption(option('--rdma-read <on|off>', 'NICs serve RDMA read; off shows the RDMA write path', d.rdmaRead))
    .addOption(option('--bytes <size>', `bytes to transfer, ${rangeText(DEMO_BYTES_RANGE)}`, d.bytes))
    .addOption(option('--seed <n>', `message sizes and contents, 0..${0xffff_ffff}`, d.seed))
    .addOption(option('--verifier <on|off>', 'Driver Verifier checks on both hosts', d.verifier))
    .addOption(option('--report <file.html>', 'write the memory-map report (one self-contained HTML file)'))
    .addOption(option('--trace <file.json>', 'write a Chrome trace (open it in ui.perfetto.dev or chrome://tracing)'))
    .addOption(option('--pcap <file.pcap>', 'capture every RoCEv2 packet between the NICs (libpcap; open it in Wireshark)'))
    .addOption(option('--mtu <bytes>', 'path MTU of the NICs\' RoCEv2 ports: 256, 512, 1024, 2048 or 4096', d.mtu))
    .addOption(option('--loss <p[,q]>', 'probability that the link loses a packet (0..1; seeded by --seed); p,q: host-a→host-b p, host-b→host-a q', d.loss))
    .addOption(option('--reorder <p[,q]>', 'probability that the link reorders a packet (p,q: per direction, as --loss)', d.reorder))
    .addOption(option('--duplicate <p[,q]>', 'probability that the link duplicates a packet (p,q: per direction, as --loss)', d.duplicate))
    .addOption(option('--corrupt <p[,q]>', 'probability that the link flips a bit of a packet, dropped on its ICRC (p,q: per direction, as --loss)', d.corrupt))
    .addOption(option('--processes', 'run each host as a process of its own, talking RoCEv2 over UDP port 4791 on loopback'))
    .addOption(option('--hosts <n>', 'with --processes: hosts, 2..16 (the last is the server, every other host a client of it)'))
    .addOption(option('--first-address <ip>', 'with --processes: the first host\'s loopback address, the next ones follow', '127.0.0.2'))
    .addOption(option('--json', 'print one JSON document on stdout and nothing else'))
    .addHelpText('after', `
Examples:
  sanproxy demo                                  the defaults: 8G hosts, NOLOWMEM on, NICs 32,64
  sanproxy demo --processes                      host-a and host-b as two processes over UDP loopback
  sanproxy demo --processes --hosts 4 --bytes 64M
  sanproxy demo --bytes 1G --strategy common-buffer
  sanproxy demo --nic-bits 32,32 --iommu on      zero-copy for 32-bit NICs through DMA remapping
  sanproxy demo --report report.html --trace trace.json
  sanproxy demo --bytes 1M --pcap demo.pcap      then: tshark -r demo.pcap
  sanproxy demo --loss 0.02 --reorder 0.02 --duplicate 0.01 --corrupt 0.005 --seed 7
  sanproxy demo --loss 0.05,0 --seed 7            loss host-a→host-b only; host-b→host-a untouched
  sanproxy demo --bytes 16M --json

Exit status: 0 verified and nothing leaked; 1 not verified, leaked, or failed; 2 usage error.`)
    .action(async (flags: DemoFlags, command: Command) => {
      if (flags.processes === true || flags.hosts !== undefined) {
        await demoProcesses(flags, command, ctx);
        return;
      }
      const options = demoOptionsFrom(flags);
      rejectArguments(command);
      const json = flags.json === true;
      const bar = json ? null : new ProgressBar('transfer');
      const details = await runDemoDetailed({ ...options, ...(bar ? { onProgress: (done: number, total: number) => bar.update(done, total) } : {}) });
      bar?.finish();
      const result = details.result;
      ctx.io.out(json ? JSON.stringify(result) : formatDemoSummary(result, options, { path: details.transfer.path, messages: details.transfer.messages, wallMs: details.wallMs }));
      // The summary is out first: a file that could not be written loses nothing else.
      for (const f of details.outputErrors) ctx.io.err(`sanproxy demo: ${describeWriteError(f.flag, f.path, f.error)}`);
      const clean = result.transfer.verified && Object.values(result.leaks).every((n) => n === 0) && details.outputErrors.length === 0;
      ctx.exitCode = clean ? EXIT_OK : EXIT_FAILED;
    });
}

/** Flags of `demo` that only the one-process demo has. */
const IN_PROCESS_ONLY: readonly [keyof DemoFlags, string][] = [
  ['report', '--report'], ['trace', '--trace'], ['pcap', '--pcap'], ['loss', '--loss'], ['reorder', '--reorder'],
  ['duplicate', '--duplicate'], ['corrupt', '--corrupt'],
];

async function demoProcesses(flags: DemoFlags, command: Command, ctx: CliContext): Promise<void> {
  if (flags.processes !== true) throw new UsageError('--hosts: only with --processes (the one-process demo has two hosts)');
  for (const [key, flag] of IN_PROCESS_ONLY) {
    const v = flags[key];
    if (v !== undefined && command.getOptionValueSource(key) === 'cli') throw new UsageError(`${flag}: not with --processes (each host process captures with sanproxy host --pcap)`);
  }
  const o = demoOptionsFrom({ ...flags, report: undefined, trace: undefined, pcap: undefined } as DemoFlags);
  const n = flags.hosts === undefined ? 2 : parseIntegerOption('hosts', flags.hosts, 2, 16);
  rejectArguments(command);
  const addresses = loopbackAddressesOption(flags.firstAddress, n);
  const server = addresses[n - 1]!;
  const hosts: ProcessHostSpec[] = addresses.map((address, i) => ({
    name: hostName(i), address, role: i === n - 1 ? 'server' : 'client', peers: i === n - 1 ? addresses.slice(0, -1) : [server],
    flags: ['--nic-bits', String(o.nicBits[i === n - 1 ? 1 : 0])],
  }));
  await runProcessesCommand(ctx, flags.json === true, hosts, commonHostFlags(o),
    `sanproxy demo --processes: ${n} host processes over UDP loopback (${addresses[0]}..${server}, port 4791); ${n - 1} client(s) → server ${hostName(n - 1)}, ${formatBytesShort(o.bytes)} each`);
}

function loopbackAddressesOption(first: string, n: number): string[] {
  const base = parseIpv4Number(first);
  if (base === null) throw new UsageError(`--first-address ${quote(first)}: expected a dotted IPv4 address, such as 127.0.0.2`);
  if ((base >>> 24) !== 127 || ((base + n - 1) >>> 24) !== 127 || (base & 0xff) === 0) {
    throw new UsageError(`--first-address ${quote(first)}: expected a loopback address 127.x.y.z with room for ${n} hosts after it`);
  }
  return loopbackAddresses(first, n);
}

function commonHostFlags(o: { ramBytes: number; nolowmem: boolean; strategy: string; iommu: boolean; verifier: boolean; rdmaRead?: boolean; bytes: number; seed: number; mtu?: number }): string[] {
  return [
    '--ram', String(o.ramBytes), '--nolowmem', o.nolowmem ? 'on' : 'off', '--strategy', o.strategy, '--iommu', o.iommu ? 'on' : 'off',
    '--verifier', o.verifier ? 'on' : 'off', '--rdma-read', o.rdmaRead === false ? 'off' : 'on', '--bytes', String(o.bytes),
    '--seed', String(o.seed), '--mtu', String(o.mtu ?? 4096),
    // Hosts of one machine start and run side by side on few cores: a peer may take long to
    // accept; the run ends on a real failure (a death, a refusal to start) long before this.
    '--connect-timeout', '120000',
  ];
}

const formatBytesShort = (n: number): string => (n % 2 ** 20 === 0 ? `${n / 2 ** 20} MiB` : `${n} bytes`);

async function runProcessesCommand(ctx: CliContext, json: boolean, hosts: ProcessHostSpec[], flags: string[], title: string): Promise<void> {
  const r = await runHostProcesses({
    hosts, flags,
    onEvent: json ? undefined : (_host, _line, e) => ctx.io.err(eventLine(e)),
  });
  const merged = mergeSummaries(r, hosts.length);
  ctx.io.out(json ? JSON.stringify(merged) : formatMerged(merged, title));
  if (r.error !== null) ctx.io.err(`sanproxy: ${r.error}`);
  ctx.exitCode = r.error === null && merged.total.verified && !merged.total.leaked ? EXIT_OK : EXIT_FAILED;
}

/** A child's event as the parent relays it on stderr. */
function eventLine(e: Record<string, unknown>): string {
  const { host, event, ...rest } = e;
  return `${String(host)}: ${String(event)} ${Object.entries(rest).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join(' ')}`.trimEnd();
}

function addClusterCommand(program: Command, ctx: CliContext): void {
  const d = DEMO_DEFAULTS;
  program
    .command('cluster')
    .summary('N host processes over UDP loopback, every host sending to every other (all-to-all), every byte verified')
    .description('Start --hosts host processes (sanproxy host) on consecutive loopback addresses, each bound to UDP ' +
      'port 4791; every host sends --bytes to every other and checks every byte it receives. Prints one merged summary.')
    .addOption(option('--hosts <n>', 'host processes, 2..16', '4'))
    .addOption(option('--first-address <ip>', 'the first host\'s loopback address', '127.0.0.2'))
    .addOption(option('--ram <size>', `RAM per host, ${rangeText(RAM_RANGE)} in whole 4K pages`, '2G'))
    .addOption(option('--nolowmem <on|off>', 'bcdedit /set nolowmem', d.nolowmem))
    .addOption(option('--nic-bits <32|64>', 'DMA address width of every NIC', '64'))
    .addOption(option('--strategy <name>', 'contiguous or common-buffer', d.strategy))
    .addOption(option('--iommu <on|off>', 'DMA remapping', d.iommu))
    .addOption(option('--verifier <on|off>', 'Driver Verifier checks', d.verifier))
    .addOption(option('--bytes <size>', 'bytes each host sends to each other host', '16M'))
    .addOption(option('--seed <n>', 'message sizes and contents', d.seed))
    .addOption(option('--mtu <bytes>', 'path MTU: 256, 512, 1024, 2048 or 4096', d.mtu))
    .addOption(option('--json', 'print one JSON document on stdout and nothing else'))
    .addHelpText('after', `
Examples:
  sanproxy cluster --hosts 8
  sanproxy cluster --hosts 2 --bytes 256M --json

Exit status: 0 every host verified and nothing leaked; 1 otherwise (the error names the host); 2 usage error.`)
    .action(async (flags: { hosts: string; firstAddress: string; ram: string; nolowmem: string; nicBits: string; strategy: string; iommu: string; verifier: string; bytes: string; seed: string; mtu: string; json?: boolean }, command: Command) => {
      const n = parseIntegerOption('hosts', flags.hosts, 2, 16);
      const o = {
        ramBytes: parseSizeOption('ram', flags.ram, RAM_RANGE), nolowmem: parseOnOff('nolowmem', flags.nolowmem),
        strategy: parseChoice('strategy', flags.strategy, ['contiguous', 'common-buffer'] as const), iommu: parseOnOff('iommu', flags.iommu),
        verifier: parseOnOff('verifier', flags.verifier), bytes: parseSizeOption('bytes', flags.bytes, DEMO_BYTES_RANGE),
        seed: parseSeedOption('seed', flags.seed), mtu: parseChoiceNumber('mtu', flags.mtu, [256, 512, 1024, 2048, 4096]),
      };
      const bits = parseChoiceNumber('nic-bits', flags.nicBits, [32, 64]);
      rejectArguments(command);
      const addresses = loopbackAddressesOption(flags.firstAddress, n);
      const hosts: ProcessHostSpec[] = addresses.map((address, i) => ({
        name: hostName(i), address, role: 'all-to-all', peers: addresses.filter((a) => a !== address), flags: ['--nic-bits', String(bits)],
      }));
      await runProcessesCommand(ctx, flags.json === true, hosts, commonHostFlags(o),
        `sanproxy cluster: ${n} host processes over UDP loopback (${addresses[0]}..${addresses[n - 1]}, port 4791), all-to-all, ${formatBytesShort(o.bytes)} per pair and direction`);
    });
}

function addMapCommand(program: Command, ctx: CliContext): void {
  program
    .command('map')
    .summary('boot one host and print its physical memory map')
    .description('Boot one emulated host and print its physical memory map: RAM ranges, the MMIO hole, what NOLOWMEM ' +
      'keeps, and the free memory below and above 4 GiB.')
    .addOption(option('--ram <size>', `RAM, ${rangeText(RAM_RANGE)} in whole 4K pages`, DEMO_DEFAULTS.ram))
    .addOption(option('--nolowmem <on|off>', 'bcdedit /set nolowmem', DEMO_DEFAULTS.nolowmem))
    .addOption(option('--json', 'print one JSON document on stdout and nothing else'))
    .addHelpText('after', `
Examples:
  sanproxy map
  sanproxy map --ram 64G --nolowmem off --json`)
    .action((flags: { ram: string; nolowmem: string; json?: boolean }, command: Command) => {
      const ramBytes = parseSizeOption('ram', flags.ram, RAM_RANGE);
      const nolowmem = parseOnOff('nolowmem', flags.nolowmem);
      rejectArguments(command);
      const k = Kernel.boot({ ramBytes, nolowmem, name: 'host-a' });
      ctx.io.out(flags.json === true ? JSON.stringify(memoryMapJson(k)) : formatMemoryMap(k));
      ctx.exitCode = EXIT_OK;
    });
}

/** For "unknown option" messages: which other commands have that flag. */
function ownersOf(program: Command, flag: string): string[] {
  return program.commands.filter((c) => c.options.some((o) => o.long === flag || o.short === flag)).map((c) => c.name());
}

function buildProgram(ctx: CliContext): Command {
  const program = new Command('sanproxy');
  program
    .description('An executable model of a Windows Sockets Direct SAN proxy driver\'s memory path on an emulated machine.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .addHelpText('after', `
Run 'sanproxy help <command>' for a command's options, defaults and examples.
Exit status: 0 ok; 1 a run that did not verify, leaked, was unclean, or failed; 2 usage error.`);
  addDemoCommand(program, ctx);
  addMapCommand(program, ctx);
  addBenchCommand(program, ctx);
  addFaultsCommand(program, ctx);
  addHostCommand(program, ctx);
  addClusterCommand(program, ctx);
  const output = {
    writeOut: (s: string) => ctx.io.out(s.replace(/\n$/, '')),
    writeErr: (s: string) => ctx.io.err(s.replace(/\n$/, '')),
    // Errors are reported by main() in one line; commander's own text is dropped.
    outputError: () => {},
  };
  for (const c of [program, ...program.commands]) {
    c.configureOutput(output).exitOverride().allowExcessArguments(true).showSuggestionAfterError(true);
  }
  return program;
}

/** commander's message as one line in our words, without its "error: " prefix. */
function commanderMessage(program: Command, e: CommanderError, command: string | null): string {
  const text = e.message.replace(/^error: /, '').replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)');
  if (e.code === 'commander.unknownOption') {
    const flag = /'([^']+)'/.exec(text)?.[1] ?? '';
    const [name, value] = flag.split('=');
    const owners = ownersOf(program, name!);
    if (value !== undefined && command !== null && owners.includes(command)) return `${flag}: ${name} takes no value`;
    owners.splice(0, owners.length, ...owners.filter((n) => n !== command));
    if (owners.length > 0) return `${flag}: not an option of ${command ?? 'sanproxy'}; it belongs to ${listOr(owners)}`;
  }
  if (e.code === 'commander.optionMissingArgument') {
    return text.replace(/^option '([^ ']+)[^']*' argument missing$/, '$1: missing value');
  }
  return text;
}

/** Which subcommand argv names, when it names one (for the help hint). */
function commandOf(program: Command, argv: readonly string[]): string | null {
  const first = argv.find((a) => !a.startsWith('-'));
  return first !== undefined && program.commands.some((c) => c.name() === first) ? first : null;
}

/**
 * Run the command line; resolves to the exit status. `io` replaces stdout/stderr (tests);
 * a plain function is taken as stdout.
 */
export async function main(argv: string[], io?: Partial<CliIo> | ((text: string) => void)): Promise<number> {
  const sink: CliIo = typeof io === 'function'
    ? { ...processIo, out: io, err: processIo.err }
    : { out: io?.out ?? processIo.out, err: io?.err ?? processIo.err, errIsTTY: io?.errIsTTY ?? processIo.errIsTTY };
  const ctx: CliContext = { io: sink, exitCode: EXIT_OK };
  const program = buildProgram(ctx);
  const command = commandOf(program, argv);
  const hint = () => sink.err(`run 'sanproxy help${command ? ` ${command}` : ''}' for usage`);
  if (argv.length === 0) {
    sink.err(program.helpInformation().replace(/\n$/, ''));
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        return e.code === 'commander.help' && e.exitCode !== 0 ? EXIT_USAGE : EXIT_OK;
      }
      sink.err(`sanproxy${command ? ` ${command}` : ''}: ${commanderMessage(program, e, command)}`);
      hint();
      return EXIT_USAGE;
    }
    if (e instanceof UsageError) {
      sink.err(`sanproxy${command ? ` ${command}` : ''}: ${e.message}`);
      hint();
      return EXIT_USAGE;
    }
    // A run that failed: one line; the stack only when asked for (SANPROXY_DEBUG=1).
    const message = e instanceof Error ? e.message : String(e);
    sink.err(`sanproxy${command ? ` ${command}` : ''}: ${message}`);
    if (process.env.SANPROXY_DEBUG && e instanceof Error && e.stack) sink.err(e.stack);
    return EXIT_FAILED;
  }
}
