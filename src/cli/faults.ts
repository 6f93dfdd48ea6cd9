/**
 * `sanproxy faults`: the reliability suite (src/host/reliability). Each check is reported on
 * stderr as it finishes, so a run of minutes is never silent, even in a CI log; the result
 * (every figure, then one PASS/FAIL line) goes to stdout, or one JSON document with --json.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import {
  DEFAULT_DEAD_PEER_RUNS, DEFAULT_FORGED_ATTEMPTS, DEFAULT_KILL_RUNS, DEFAULT_LOSSY_RUNS, runFaultsReport, type FaultsCheck, type FaultsSummary,
} from '../host/reliability/index.ts';
import { EXIT_FAILED, EXIT_OK, type CliContext } from './context.ts';
import { parseIntegerOption, parseSeedOption, rejectArguments } from './options.ts';
import { ProgressBar } from './progress.ts';

const MAX_CASES = 1_000_000;
const MAX_KILLS = 10_000;
const MAX_WIRE_RUNS = 1_000;

/** What each summary figure means, in the order the text prints them. */
const FIGURES: readonly [keyof FaultsSummary, string][] = [
  ['sites', 'allocation sites the sweeps reached'],
  ['runs', 'sweep runs, one per failed allocation'],
  ['recovered', 'sweep runs that recovered and completed, verified'],
  ['cleanErrors', 'sweep runs that ended in an error the application saw'],
  ['unclean', 'sweep runs that ended any other way (must be 0)'],
  ['unfired', 'sweep runs whose fault never fired (another path was taken)'],
  ['bugChecks', 'bug checks (must be 0)'],
  ['leaks', 'sweep runs and fuzz batches that leaked (must be 0)'],
  ['fuzzCases', 'IOCTL fuzz cases'],
  ['fuzzCrashes', 'fuzz cases that stopped a host or threw (must be 0)'],
  ['forgedAttempts', 'forged RDMA descriptors tried'],
  ['forgedSucceeded', 'forged descriptors that worked (must be 0)'],
  ['forgedLeaks', 'forged-descriptor runs that leaked (must be 0)'],
  ['killRuns', 'processes killed mid-transfer'],
  ['killLeaks', 'kills that leaked or stopped a host (must be 0)'],
  ['killPeerFailedCleanly', 'kills whose peer saw a clean error'],
  ['lossyRuns', 'seeded transfers over a lossy link (loss, reorder, duplicate, corrupt)'],
  ['lossyFailures', 'lossy runs not verified, leaking or with unaccounted packets (must be 0)'],
  ['deadPeerRuns', 'transfers whose peer stopped answering mid-way'],
  ['deadPeerLeaks', 'dead peers not ending in a clean error in the retry budget, or leaking (must be 0)'],
];

export function formatFaultsSummary(s: FaultsSummary): string {
  const width = Math.max(...FIGURES.map(([k]) => k.length));
  const lines = FIGURES.map(([key, meaning]) => `${key.padEnd(width)}  ${String(s[key]).padStart(6)}  ${meaning}`);
  lines.push(s.passed ? 'faults: PASS: every run ended clean or recovered; no bug check, leak, crash or forged success'
    : 'faults: FAIL: see the figures marked "must be 0" above');
  return lines.join('\n');
}

function formatCheck(c: FaultsCheck): string {
  return `faults: ${c.name}: ${c.passed ? 'ok' : 'FAILED'} (${Object.entries(c.figures).map(([k, v]) => `${k} ${v}`).join(', ')})`;
}

export function addFaultsCommand(program: Command, ctx: CliContext): void {
  program
    .command('faults')
    .summary('systematic fault sweep, IOCTL fuzz, forged RDMA descriptors, kills mid-transfer, lossy link, dead peer')
    .description(
      'Run the reliability checks against verified hosts: fail every allocation of the proxy scenario and the ' +
      'demo transfer in turn (Driver Verifier\'s Systematic Low Resources Simulation, made exhaustive), fuzz ' +
      'the proxy\'s IOCTLs, forge RDMA descriptors from a peer, kill a process mid-transfer, run seeded transfers ' +
      'over a lossy link (every byte verified, every packet accounted), and cut a peer off mid-transfer (the ' +
      'survivor must get a clean socket error within the retry budget). Every run must ' +
      'end with a clean error or recover, with no bug check and nothing leaked. Each check is reported on ' +
      'stderr as it finishes.',
    )
    .addOption(new Option('--seed <n>', 'fuzz and forgery schedules, 0..4294967295').default('23063', '23063 (0x5a17)'))
    .addOption(new Option('--fuzz <cases>', `IOCTL fuzz cases, 0..${MAX_CASES}`).default('5000', '5000'))
    .addOption(new Option('--sweep-limit <runs>', `at most this many sweep runs per scenario, 1..${MAX_CASES} (default: every allocation)`))
    .addOption(new Option('--forged <attempts>', `forged RDMA descriptors to try, 0..${MAX_CASES}`).default(String(DEFAULT_FORGED_ATTEMPTS), String(DEFAULT_FORGED_ATTEMPTS)))
    .addOption(new Option('--kills <runs>', `processes to kill mid-transfer, 0..${MAX_KILLS}`).default(String(DEFAULT_KILL_RUNS), String(DEFAULT_KILL_RUNS)))
    .addOption(new Option('--lossy <runs>', `seeded transfers over a lossy link, 0..${MAX_WIRE_RUNS}`).default(String(DEFAULT_LOSSY_RUNS), String(DEFAULT_LOSSY_RUNS)))
    .addOption(new Option('--dead-peer <runs>', `transfers whose peer stops answering, 0..${MAX_WIRE_RUNS}`).default(String(DEFAULT_DEAD_PEER_RUNS), String(DEFAULT_DEAD_PEER_RUNS)))
    .addOption(new Option('--json', 'print one JSON document on stdout and nothing else'))
    .addHelpText('after', `
Examples:
  sanproxy faults                       everything (a few minutes on two cores)
  sanproxy faults --sweep-limit 20 --fuzz 500 --forged 50 --kills 2 --lossy 2 --dead-peer 2   a quick pass
  sanproxy faults --json

Exit status: 0 every check passed; 1 a check failed; 2 usage error.`)
    .action(async (flags: { seed: string; fuzz: string; sweepLimit?: string; forged: string; kills: string; lossy: string; deadPeer: string; json?: boolean }, command: Command) => {
      const seed = parseSeedOption('seed', flags.seed);
      const fuzzCases = parseIntegerOption('fuzz', flags.fuzz, 0, MAX_CASES);
      const sweepLimit = flags.sweepLimit === undefined ? undefined : parseIntegerOption('sweep-limit', flags.sweepLimit, 1, MAX_CASES);
      const forgedAttempts = parseIntegerOption('forged', flags.forged, 0, MAX_CASES);
      const killRuns = parseIntegerOption('kills', flags.kills, 0, MAX_KILLS);
      const lossyRuns = parseIntegerOption('lossy', flags.lossy, 0, MAX_WIRE_RUNS);
      const deadPeerRuns = parseIntegerOption('dead-peer', flags.deadPeer, 0, MAX_WIRE_RUNS);
      rejectArguments(command);
      const json = flags.json === true;
      const bar = ctx.io.errIsTTY ? new ProgressBar('faults') : null;
      const report = await runFaultsReport({
        json,
        seed,
        fuzzCases,
        forgedAttempts,
        killRuns,
        lossyRuns,
        deadPeerRuns,
        ...(sweepLimit !== undefined ? { sweepLimit } : {}),
        ...(bar ? { onProgress: (d: number, t: number) => bar.update(d, t) } : {}),
        onCheck: (c) => {
          bar?.clear();
          ctx.io.err(formatCheck(c));
        },
      });
      bar?.finish();
      const summary = report.summary;
      if (json) ctx.io.out(JSON.stringify(summary));
      else {
        for (const x of report.sweeps) {
          for (const f of x.failures.slice(0, 5)) {
            ctx.io.err(`faults: ${x.scenario}: ${f.host} allocation ${f.nth} (${f.site ?? 'not reached'}): ${f.result.outcome} ${f.result.error ?? ''} ${f.result.leaks.join(', ')}`.trimEnd());
          }
        }
        for (const e of [...report.lossy.examples, ...report.deadPeer.examples].slice(0, 5)) ctx.io.err(`faults: wire: ${e}`);
        ctx.io.out(formatFaultsSummary(summary));
      }
      ctx.exitCode = summary.passed ? EXIT_OK : EXIT_FAILED;
    });
}
