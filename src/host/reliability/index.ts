/**
 * The reliability suite: the systematic fault sweep, the IOCTL fuzzer, forged RDMA descriptors
 * and kills mid-transfer, run against verified hosts. `runFaults` is what
 * `npx sanproxy faults [--json]` runs.
 */
import { forgeDescriptors, type ForgedReport } from './forged.ts';
import { fuzzIoctls, type FuzzReport } from './fuzz.ts';
import { killMidTransfer, type KillReport } from './kill.ts';
import { proxyScenario, type ReliabilityScenario, type ScenarioRun } from './scenario.ts';
import { demoScenario } from './demo-scenario.ts';
import { sweep, type SweepReport } from './sweep.ts';

export { RawProxyClient, type IoctlReply } from './client.ts';
export { demoScenario, DEMO_HOSTS } from './demo-scenario.ts';
export { bootVerified, runOnce, type RunOutcome, type RunResult } from './harness.ts';
export { sweep, type SweepReport, type SweepOptions, type SweepFailure } from './sweep.ts';
export { fuzzIoctls, type FuzzReport, type FuzzOptions } from './fuzz.ts';
export { forgeDescriptors, type ForgedReport } from './forged.ts';
export { killMidTransfer, type KillReport } from './kill.ts';
export {
  ScenarioError, proxyScenario, TWO_HOSTS, openPeer, connectPeers, userCall, expectIoctl, expectNic, pattern,
  type ReliabilityScenario, type ScenarioRun, type Peer,
} from './scenario.ts';

export interface FaultsOptions {
  json: boolean;
  /** At most this many sweep runs (spread over all ordinals); default every allocation. */
  sweepLimit?: number;
  fuzzCases?: number;
  seed?: number;
  onProgress?: (done: number, total: number) => void;
  /** Extra scenarios to sweep (the demo scenario plugs in here). */
  scenarios?: readonly (ReliabilityScenario | ScenarioRun)[];
  forgedAttempts?: number;
  killRuns?: number;
}

export interface FaultsSummary {
  sites: number;
  runs: number;
  cleanErrors: number;
  bugChecks: number;
  /** Sweep runs plus fuzz batches that left anything behind. */
  leaks: number;
  fuzzCases: number;
  fuzzCrashes: number;
  forgedAttempts: number;
  forgedSucceeded: number;
  killRuns: number;
  killLeaks: number;
}

export interface FaultsReport {
  summary: FaultsSummary;
  sweeps: SweepReport[];
  fuzz: FuzzReport;
  forged: ForgedReport;
  kill: KillReport;
}

export const DEFAULT_FUZZ_CASES = 5000;
export const DEFAULT_FORGED_ATTEMPTS = 300;
export const DEFAULT_KILL_RUNS = 12;

/** Everything, with the details behind each figure. */
export async function runFaultsReport(options: FaultsOptions): Promise<FaultsReport> {
  const seed = options.seed ?? 0x5a17;
  const scenarios = [proxyScenario, demoScenario(), ...(options.scenarios ?? [])];
  const fuzzCases = options.fuzzCases ?? DEFAULT_FUZZ_CASES;
  const forgedAttempts = options.forgedAttempts ?? DEFAULT_FORGED_ATTEMPTS;
  const killRuns = options.killRuns ?? DEFAULT_KILL_RUNS;
  // Progress: sweep runs are counted as they happen; the other parts as one unit per case.
  let done = 0;
  let total = fuzzCases + forgedAttempts + killRuns;
  const tick = (n: number) => {
    done += n;
    options.onProgress?.(done, total);
  };
  const sweeps: SweepReport[] = [];
  for (const s of scenarios) {
    let last = 0;
    let counted = false;
    sweeps.push(await sweep(s, {
      ...(options.sweepLimit !== undefined ? { limit: options.sweepLimit } : {}),
      onProgress: (d, t) => {
        if (!counted) {
          total += t;
          counted = true;
        }
        tick(d - last);
        last = d;
      },
    }));
  }
  let fuzzDone = 0;
  const fuzz = await fuzzIoctls({ cases: fuzzCases, seed, onProgress: (d) => { tick(d - fuzzDone); fuzzDone = d; } });
  const forged = await forgeDescriptors({ attempts: forgedAttempts, seed: seed + 1 });
  tick(forgedAttempts);
  const kill = await killMidTransfer({ runs: killRuns });
  tick(killRuns);
  const sites = new Set<string>();
  for (const s of sweeps) for (const x of s.sites) sites.add(x);
  const summary: FaultsSummary = {
    sites: sites.size,
    runs: sweeps.reduce((n, s) => n + s.runs, 0),
    cleanErrors: sweeps.reduce((n, s) => n + s.cleanErrors, 0),
    bugChecks: sweeps.reduce((n, s) => n + s.bugChecks, 0),
    leaks: sweeps.reduce((n, s) => n + s.leaks, 0) + fuzz.leakingBatches,
    fuzzCases: fuzz.cases,
    fuzzCrashes: fuzz.crashes,
    forgedAttempts: forged.attempts,
    forgedSucceeded: forged.succeeded,
    killRuns: kill.runs,
    killLeaks: kill.leaks,
  };
  return { summary, sweeps, fuzz, forged, kill };
}

/** The `faults` command's figures (the JSON the CLI prints with --json). */
export async function runFaults(options: FaultsOptions): Promise<FaultsSummary> {
  return (await runFaultsReport(options)).summary;
}
