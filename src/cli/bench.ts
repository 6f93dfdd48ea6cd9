/**
 * `sanproxy bench <suite|all>`: every run of every suite in a child Node process of its own.
 *
 * Why a child even for one suite: the figures of `bench footprint` must be the ones `bench all`
 * prints, and a suite run in the command line's own process would measure its heap, its JIT
 * state and the garbage of whatever ran before (footprint run after other suites reported an
 * RSS growth of -26 MiB). A child costs about 50 ms to start. Children run one after another,
 * never side by side, so they do not compete for the machine's cores; with --runs the suites
 * take turns (round 1 runs every suite, then round 2, ...) so a burst of load from elsewhere
 * spreads over suites instead of spoiling every run of one.
 *
 * The child is dist/bench/child.js, found relative to this module: dist/src/cli/bench.js in a
 * clone or an installed package (node_modules/sanproxy/dist/...), or, when this module runs
 * from its TypeScript source (the tests), the repository's dist/ that `npm test` builds first.
 * It is started with process.execPath and --expose-gc, prints its result as one JSON line on
 * stdout and sends progress over the IPC channel. Headings and progress go to stderr; results
 * (tables, or one JSON document with --json) to stdout. A child that fails is reported in one
 * line, the suite and the child's last stderr line, and the exit status is 1.
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { Option } from 'commander';
import type { ChildOptions, ProgressMessage } from '../../bench/child.ts';
import { describeMachine, machineText, type BenchDocument, type SuiteResults } from '../../bench/document.ts';
import {
  CONTIGUOUS_RAM, CONTIGUOUS_SEED, FOOTPRINT_RAM, REGISTER_MAX, REGISTER_SIZES, RDMA_MAX, RDMA_SIZES, SOCKET_MAX, SOCKET_SIZES,
  SUITES, SUITE_SPECS, isSuiteName, type ProgressFn, type SuiteName, type SuiteOptionName,
} from '../../bench/suite.ts';
import { formatSuite } from '../../bench/tables.ts';
import { PAGE_SIZE } from '../bus/index.ts';
import { EXIT_OK, packageVersion, type CliContext, type CliIo } from './context.ts';
import {
  RAM_RANGE, type SizeRange, UsageError, listOr, parseIntegerOption, parseSeedOption, parseSizeOption, quote, shortSize,
} from './options.ts';
import { ProgressBar } from './progress.ts';

export const BENCH_SUITES = SUITES;

export const MAX_RUNS = 100;

/** Sizes each suite accepts in --sizes (register: whole pages of its 4 GiB host's buffers). */
const SIZE_RANGES: Readonly<Record<'register' | 'rdma' | 'socket', SizeRange>> = {
  register: { min: PAGE_SIZE, max: REGISTER_MAX, multipleOf: PAGE_SIZE },
  rdma: { min: 1, max: RDMA_MAX },
  socket: { min: 1, max: SOCKET_MAX },
};

const DEFAULT_SIZES: Readonly<Record<'register' | 'rdma' | 'socket', readonly number[]>> = {
  register: REGISTER_SIZES,
  rdma: RDMA_SIZES,
  socket: SOCKET_SIZES,
};

interface BenchFlags {
  runs: string;
  ram?: string;
  seed?: string;
  sizes?: string;
  json?: boolean;
}

const FLAG_OF: Readonly<Record<SuiteOptionName, string>> = { ram: '--ram', seed: '--seed', sizes: '--sizes' };

/** `a, b and c`. */
const listAnd = (items: readonly string[]): string => (items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`);

/** The suites an option applies to, for messages. */
const suitesTaking = (option: SuiteOptionName): string[] => SUITES.filter((s) => SUITE_SPECS[s].options.includes(option));

function parseSizes(suite: 'register' | 'rdma' | 'socket', text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) {
    throw new UsageError(`--sizes ${quote(text)}: expected sizes separated by commas, such as ${DEFAULT_SIZES[suite].slice(0, 3).map(shortSize).join(',')}`);
  }
  return parts.map((p) => parseSizeOption('sizes', p, SIZE_RANGES[suite]));
}

/**
 * The options of one suite from the flags, or a UsageError naming a flag given for a suite it
 * does not apply to (`bench register --ram 1G`), or given with `all` (whose suites run with
 * their defaults).
 */
export function suiteOptionsFrom(suite: SuiteName | 'all', flags: BenchFlags, given: (option: SuiteOptionName) => boolean): ChildOptions {
  for (const option of ['ram', 'seed', 'sizes'] as const) {
    if (!given(option)) continue;
    const takers = suitesTaking(option).map((s) => `bench ${s}`);
    if (suite === 'all') {
      throw new UsageError(`${FLAG_OF[option]}: does not apply to bench all (every suite runs with its defaults); use it with ${listOr(takers)}`);
    }
    if (!SUITE_SPECS[suite].options.includes(option)) {
      throw new UsageError(`${FLAG_OF[option]}: does not apply to bench ${suite}; it applies to ${listAnd(takers)}`);
    }
  }
  if (suite === 'all') return {};
  const options: ChildOptions = {};
  if (flags.ram !== undefined && given('ram')) options.ramBytes = parseSizeOption('ram', flags.ram, RAM_RANGE);
  if (flags.seed !== undefined && given('seed')) options.seed = parseSeedOption('seed', flags.seed);
  if (flags.sizes !== undefined && given('sizes')) {
    if (suite !== 'register' && suite !== 'rdma' && suite !== 'socket') throw new Error(`bench: --sizes for ${suite}`);
    options.sizes = parseSizes(suite, flags.sizes);
  }
  return options;
}

/** dist/bench/child.js beside this module's dist/ (see the notes at the top). */
export function childEntry(): string {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../../dist/bench/child.js', here) : new URL('../../bench/child.js', here);
  const path = fileURLToPath(url);
  if (!existsSync(path)) throw new Error(`${path} is missing: run 'npm run build' first`);
  return path;
}

export interface ChildRun {
  result: unknown;
  elapsedMs: number;
}

/**
 * Run one suite in a child Node process (`entry` with process.execPath and --expose-gc) and
 * resolve to its JSON result. Rejects with `<suite>: <the child's last stderr line>` when the
 * child exits other than 0, is killed, or prints no result.
 */
export function runChild(entry: string, suite: string, options: ChildOptions, onProgress?: ProgressFn): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = fork(entry, [suite, JSON.stringify(options)], {
      execPath: process.execPath,
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('message', (m: ProgressMessage) => {
      if (m && m.type === 'progress') onProgress?.(m.done, m.total, m.detail);
    });
    child.on('error', (e) => reject(new Error(`${suite}: could not start ${process.execPath} ${entry}: ${e.message}`)));
    child.on('close', (code, signal) => {
      const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
      const last = lines[lines.length - 1];
      if (process.env.SANPROXY_DEBUG && lines.length > 0) process.stderr.write(stderr.endsWith('\n') ? stderr : `${stderr}\n`);
      if (code !== 0) {
        const how = signal !== null ? `killed by ${signal}` : `exit status ${code}`;
        reject(new Error(`${suite}: ${last ?? `the child process printed nothing on stderr`} (${how})`));
        return;
      }
      const json = stdout.trim().split('\n').pop() ?? '';
      let result: unknown;
      try {
        result = JSON.parse(json);
      } catch {
        reject(new Error(`${suite}: the child process printed no JSON result${last ? ` (last stderr line: ${last})` : ''}`));
        return;
      }
      if ((result as { suite?: unknown } | null)?.suite !== suite) {
        reject(new Error(`${suite}: the child process printed the result of another suite`));
        return;
      }
      resolve({ result, elapsedMs: performance.now() - started });
    });
  });
}

/**
 * Progress of one child: a redrawn bar when stderr is a terminal; otherwise a line at each
 * quarter of a long suite (a CI log shows it is alive without a line per row).
 */
class SuiteProgress {
  private readonly bar: ProgressBar | null;
  private quarter = 0;

  constructor(
    private readonly io: CliIo,
    private readonly label: string,
  ) {
    this.bar = io.errIsTTY ? new ProgressBar(label) : null;
  }

  readonly update: ProgressFn = (done, total, detail) => {
    if (this.bar) {
      this.bar.update(done, total, detail);
      return;
    }
    if (total < 4 || done >= total) return;
    const q = Math.floor((4 * done) / total);
    if (q > this.quarter) {
      this.quarter = q;
      this.io.err(`${this.label}: ${q * 25}% (${done}/${total}, ${detail})`);
    }
  };

  clear(): void {
    this.bar?.clear();
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function suitesHelp(): string {
  const defaults: Record<SuiteName, string> = {
    footprint: `--ram (default ${shortSize(FOOTPRINT_RAM)})`,
    contiguous: `--ram (default ${shortSize(CONTIGUOUS_RAM)}), --seed (default ${CONTIGUOUS_SEED} = 0x${CONTIGUOUS_SEED.toString(16)})`,
    register: `--sizes (default ${REGISTER_SIZES.map(shortSize).join(',')}; ${shortSize(PAGE_SIZE)}..${shortSize(REGISTER_MAX)}, whole pages)`,
    ioctl: 'none (INVALIDATE + REVALIDATE and REGISTER + DEREGISTER pairs, 30 rounds of 50 after a warm-up round)',
    rdma: `--sizes (default every power of two ${RDMA_SIZES[0]}..${shortSize(RDMA_MAX)}; 1..${shortSize(RDMA_MAX)})`,
    socket: `--sizes (default ${SOCKET_SIZES.map(shortSize).join(',')}; 1..${shortSize(SOCKET_MAX)})`,
  };
  const width = Math.max(...SUITES.map((s) => s.length));
  return SUITES.map((s) => `  ${s.padEnd(width)}  ${SUITE_SPECS[s].what}\n  ${' '.repeat(width)}  options: ${defaults[s]}`).join('\n');
}

export function addBenchCommand(program: Command, ctx: CliContext): void {
  program
    .command('bench')
    .argument('<suite>', `${listOr([...SUITES, 'all'])}`)
    .summary('benchmarks, each against a baseline measured in the same run, each suite in its own process')
    .description(
      'Run one benchmark suite, or all of them. Every run of a suite is a child Node process of its own ' +
      '(started with --expose-gc), so no suite measures another\'s heap. Each suite measures its baseline in ' +
      'the same run (a linear PFN walk, the machine\'s memcpy), so a comparison holds up on a busy machine. ' +
      'Headings and progress go to stderr; tables, every column with its unit, go to stdout. With --runs above 1 ' +
      'every figure is a min–max range over the runs.',
    )
    .addOption(new Option('--runs <n>', `runs of each suite, 1..${MAX_RUNS}`).default('1', '1'))
    .addOption(new Option('--ram <size>', `footprint, contiguous: RAM of the host, ${shortSize(RAM_RANGE.min)}..${shortSize(RAM_RANGE.max)} in whole 4K pages (default ${shortSize(FOOTPRINT_RAM)})`))
    .addOption(new Option('--seed <n>', `contiguous: seed of the fragmentation, 0..${0xffff_ffff} (default ${CONTIGUOUS_SEED} = 0x${CONTIGUOUS_SEED.toString(16)})`))
    .addOption(new Option('--sizes <list>', 'register, rdma, socket: the sizes to measure, separated by commas (defaults below)'))
    .addOption(new Option('--json', 'print one JSON document on stdout and nothing else: the machine, and each suite\'s options and every run\'s result'))
    .addHelpText('after', `
Suites:
${suitesHelp()}
  all${' '.repeat(Math.max(...SUITES.map((s) => s.length)) - 3)}  every suite above with its defaults (options other than --runs and --json do not apply)

Examples:
  sanproxy bench all                        every suite once (about 40 s on two cores)
  sanproxy bench all --runs 3 --json        what 'npm run bench:readme' runs (about 2 minutes)
  sanproxy bench footprint --ram 16G
  sanproxy bench rdma --sizes 64K,1M,8M --runs 3
  sanproxy bench contiguous --ram 8G --seed 7

Exit status: 0 every run finished; 1 a run failed (its suite and last stderr line are printed); 2 usage error.`)
    .action(async (suite: string, flags: BenchFlags, command: Command) => {
      if (command.args.length > 1) throw new UsageError(`unexpected argument ${quote(command.args[1]!)}: bench takes one suite, or all`);
      if (suite !== 'all' && !isSuiteName(suite)) throw new UsageError(`${quote(suite)}: unknown suite; expected ${listOr([...SUITES, 'all'])}`);
      const given = (option: SuiteOptionName) => command.getOptionValueSource(option) === 'cli';
      const options = suiteOptionsFrom(suite, flags, given);
      const runs = parseIntegerOption('runs', flags.runs, 1, MAX_RUNS);
      const json = flags.json === true;
      const suites: SuiteName[] = suite === 'all' ? [...SUITES] : [suite];
      const entry = childEntry();
      const doc: BenchDocument = { sanproxy: packageVersion(), machine: describeMachine(), runs, suites: {} };
      const record = <S extends SuiteName>(s: S) => {
        const entryOf = { options, elapsedMs: [] as number[], runs: [] as SuiteResults[S][] };
        (doc.suites as Record<string, unknown>)[s] = entryOf;
        return entryOf;
      };
      const records = new Map(suites.map((s) => [s, record(s)]));
      if (!json) ctx.io.out(`machine: ${machineText(doc.machine)}`);
      const started = performance.now();
      for (let round = 0; round < runs; round++) {
        for (const [i, s] of suites.entries()) {
          const label = `bench: ${s}`;
          ctx.io.err(`${label} (${i + 1}/${suites.length})${runs > 1 ? `, run ${round + 1}/${runs}` : ''}…`);
          const progress = new SuiteProgress(ctx.io, label);
          let run: ChildRun;
          try {
            run = await runChild(entry, s, options, progress.update);
          } finally {
            progress.clear();
          }
          const rec = records.get(s)!;
          rec.runs.push(run.result as never);
          rec.elapsedMs.push(Math.round(run.elapsedMs));
          ctx.io.err(`${label}: done in ${seconds(run.elapsedMs)}`);
          if (!json && round === runs - 1) ctx.io.out(`\n${formatSuite(s, rec.runs)}`);
        }
      }
      if (suites.length > 1 || runs > 1) ctx.io.err(`bench: ${suites.length} ${suites.length === 1 ? 'suite' : 'suites'} × ${runs} ${runs === 1 ? 'run' : 'runs'} in ${seconds(performance.now() - started)}`);
      if (json) ctx.io.out(JSON.stringify(doc));
      ctx.exitCode = EXIT_OK;
    });
}
