/**
 * The reliability suite: the systematic fault sweep, the IOCTL fuzzer, forged RDMA descriptors,
 * kills mid-transfer, a lossy link and a dead peer, run against verified hosts. `runFaults` is what
 * `npx sanproxy faults [--json]` runs.
 */
import { forgeDescriptors, type ForgedReport } from './forged.ts';
import { fuzzIoctls, type FuzzReport } from './fuzz.ts';
import { killMidTransfer, type KillReport } from './kill.ts';
import { proxyScenario, type ReliabilityScenario, type ScenarioRun } from './scenario.ts';
import { demoScenario } from './demo-scenario.ts';
import { sweep, type SweepReport } from './sweep.ts';
import { DEFAULT_DEAD_PEER_RUNS, DEFAULT_LOSSY_RUNS, deadPeer, lossyLink, type DeadPeerReport, type LossyLinkReport } from './wire.ts';

export { RawProxyClient, type IoctlReply } from './client.ts';
export { demoScenario, DEMO_HOSTS } from './demo-scenario.ts';
export { bootVerified, runOnce, type RunOutcome, type RunResult } from './harness.ts';
export { sweep, type SweepReport, type SweepOptions, type SweepFailure } from './sweep.ts';
export { fuzzIoctls, type FuzzReport, type FuzzOptions } from './fuzz.ts';
export { forgeDescriptors, type ForgedReport } from './forged.ts';
export { killMidTransfer, type KillReport } from './kill.ts';
export {
  lossyLink, deadPeer, deadPeerBudgetNs, reconcileWire, LOSSY_IMPAIRMENTS, DEFAULT_LOSSY_RUNS, DEFAULT_DEAD_PEER_RUNS,
  type LossyLinkReport, type DeadPeerReport,
} from './wire.ts';
export {
  ScenarioError, proxyScenario, TWO_HOSTS, openPeer, connectPeers, userCall, expectIoctl, expectNic,
  type ReliabilityScenario, type ScenarioRun, type Peer,
} from './scenario.ts';

export interface FaultsOptions {
  json: boolean;
  /** At most this many sweep runs (spread over all ordinals); default every allocation. */
  sweepLimit?: number;
  fuzzCases?: number;
  seed?: number;
  onProgress?: (done: number, total: number) => void;
  /** Called as each check finishes, with the figures it adds to the summary. */
  onCheck?: (check: FaultsCheck) => void;
  /** Extra scenarios to sweep (the demo scenario plugs in here). */
  scenarios?: readonly (ReliabilityScenario | ScenarioRun)[];
  forgedAttempts?: number;
  killRuns?: number;
  /** Seeded transfers over a lossy link (wire.ts). */
  lossyRuns?: number;
  /** Transfers whose peer stops answering mid-way (wire.ts). */
  deadPeerRuns?: number;
}

/** One finished check: its name, whether it was clean, and its own figures. */
export interface FaultsCheck {
  name: string;
  passed: boolean;
  figures: Record<string, number>;
}

export interface FaultsSummary {
  /** Distinct allocation sites the sweeps reached. */
  sites: number;
  /** Sweep runs (one per failed allocation). */
  runs: number;
  /** Sweep runs that recovered from the failed allocation and completed, verified. */
  recovered: number;
  /** Sweep runs that ended with an error the application saw. */
  cleanErrors: number;
  /** Sweep runs that ended any other way (an exception escaped, a wrong result). */
  unclean: number;
  /** Sweep runs whose injected fault never fired (the scenario took another path). */
  unfired: number;
  bugChecks: number;
  /** Sweep runs plus fuzz batches that left anything behind. */
  leaks: number;
  fuzzCases: number;
  fuzzCrashes: number;
  forgedAttempts: number;
  forgedSucceeded: number;
  forgedLeaks: number;
  killRuns: number;
  killLeaks: number;
  /** Kill runs where the surviving peer saw a clean failure. */
  killPeerFailedCleanly: number;
  /** Seeded transfers over a lossy link (loss, reorder, duplicate, corrupt). */
  lossyRuns: number;
  /** Lossy runs not verified, leaking, or whose packet counts did not reconcile. */
  lossyFailures: number;
  /** Transfers whose peer stopped answering mid-way. */
  deadPeerRuns: number;
  /** Dead-peer runs that leaked, hung, or did not end in a clean socket error within the retry budget. */
  deadPeerLeaks: number;
  /** Every check clean: see faultsPassed. */
  passed: boolean;
}

export interface FaultsReport {
  summary: FaultsSummary;
  sweeps: SweepReport[];
  fuzz: FuzzReport;
  forged: ForgedReport;
  kill: KillReport;
  lossy: LossyLinkReport;
  deadPeer: DeadPeerReport;
}

export const DEFAULT_FUZZ_CASES = 5000;
export const DEFAULT_FORGED_ATTEMPTS = 300;
export const DEFAULT_KILL_RUNS = 12;

/**
 * A fault run passes when nothing was a defect: every sweep run ended clean (an error the
 * application saw) or recovered, no bug check, no leak, no fuzz crash, no forged descriptor
 * that worked, every killed transfer released everything and failed its peer cleanly, every
 * lossy-link run verified and accounted, and every dead peer failed its survivor cleanly.
 */
export function faultsPassed(s: Omit<FaultsSummary, 'passed'>): boolean {
  return s.unclean === 0 && s.bugChecks === 0 && s.leaks === 0 && s.fuzzCrashes === 0 && s.forgedSucceeded === 0 &&
    s.forgedLeaks === 0 && s.killLeaks === 0 && s.killPeerFailedCleanly === s.killRuns && s.cleanErrors + s.recovered === s.runs &&
    s.lossyFailures === 0 && s.deadPeerLeaks === 0;
}

/** Everything, with the details behind each figure. */
export async function runFaultsReport(options: FaultsOptions): Promise<FaultsReport> {
  const seed = options.seed ?? 0x5a17;
  const scenarios = [proxyScenario, demoScenario(), ...(options.scenarios ?? [])];
  const fuzzCases = options.fuzzCases ?? DEFAULT_FUZZ_CASES;
  const forgedAttempts = options.forgedAttempts ?? DEFAULT_FORGED_ATTEMPTS;
  const killRuns = options.killRuns ?? DEFAULT_KILL_RUNS;
  // Progress: sweep runs are counted as they happen; the other parts as one unit per case.
  let done = 0;
  const lossyRuns = options.lossyRuns ?? DEFAULT_LOSSY_RUNS;
  const deadPeerRuns = options.deadPeerRuns ?? DEFAULT_DEAD_PEER_RUNS;
  let total = fuzzCases + forgedAttempts + killRuns + lossyRuns + deadPeerRuns;
  const tick = (n: number) => {
    done += n;
    options.onProgress?.(done, total);
  };
  const sweeps: SweepReport[] = [];
  for (const s of scenarios) {
    let last = 0;
    let counted = false;
    const r = await sweep(s, {
      ...(options.sweepLimit !== undefined ? { limit: options.sweepLimit } : {}),
      onProgress: (d, t) => {
        if (!counted) {
          total += t;
          counted = true;
        }
        tick(d - last);
        last = d;
      },
    });
    sweeps.push(r);
    options.onCheck?.({
      name: `sweep ${r.scenario}`,
      passed: r.unclean === 0 && r.bugChecks === 0 && r.leaks === 0 && r.cleanErrors + r.completed === r.runs,
      figures: { runs: r.runs, recovered: r.completed, cleanErrors: r.cleanErrors, unclean: r.unclean, unfired: r.unfired, bugChecks: r.bugChecks, leaks: r.leaks },
    });
  }
  let fuzzDone = 0;
  const fuzz = await fuzzIoctls({ cases: fuzzCases, seed, onProgress: (d) => { tick(d - fuzzDone); fuzzDone = d; } });
  options.onCheck?.({
    name: 'IOCTL fuzz',
    passed: fuzz.crashes === 0 && fuzz.leakingBatches === 0,
    figures: { cases: fuzz.cases, succeeded: fuzz.succeeded, crashes: fuzz.crashes, leakingBatches: fuzz.leakingBatches },
  });
  const forged = await forgeDescriptors({ attempts: forgedAttempts, seed: seed + 1 });
  tick(forgedAttempts);
  options.onCheck?.({
    name: 'forged descriptors',
    passed: forged.succeeded === 0 && forged.leaks === 0,
    figures: { attempts: forged.attempts, succeeded: forged.succeeded, leaks: forged.leaks },
  });
  const kill = await killMidTransfer({ runs: killRuns });
  tick(killRuns);
  options.onCheck?.({
    name: 'kill mid-transfer',
    passed: kill.leaks === 0 && kill.peerFailedCleanly === kill.runs,
    figures: { runs: kill.runs, peerFailedCleanly: kill.peerFailedCleanly, leaks: kill.leaks },
  });
  const lossy = await lossyLink({ runs: lossyRuns, seed });
  tick(lossyRuns);
  options.onCheck?.({
    name: 'lossy link',
    passed: lossy.failures === 0,
    figures: { runs: lossy.runs, failures: lossy.failures, packetsSent: lossy.packetsSent, lost: lossy.lost, corrupted: lossy.corrupted, retransmitted: lossy.retransmitted },
  });
  const dead = await deadPeer({ runs: deadPeerRuns, seed });
  tick(deadPeerRuns);
  options.onCheck?.({
    name: 'dead peer',
    passed: dead.leaks === 0 && dead.failedCleanly === dead.runs,
    figures: { runs: dead.runs, failedCleanly: dead.failedCleanly, leaks: dead.leaks, worstMs: Math.round(dead.worstNs / 1e4) / 100 },
  });
  const sites = new Set<string>();
  for (const s of sweeps) for (const x of s.sites) sites.add(x);
  const sum = (f: (s: SweepReport) => number) => sweeps.reduce((n, s) => n + f(s), 0);
  const figures: Omit<FaultsSummary, 'passed'> = {
    sites: sites.size,
    runs: sum((s) => s.runs),
    recovered: sum((s) => s.completed),
    cleanErrors: sum((s) => s.cleanErrors),
    unclean: sum((s) => s.unclean),
    unfired: sum((s) => s.unfired),
    bugChecks: sum((s) => s.bugChecks),
    leaks: sum((s) => s.leaks) + fuzz.leakingBatches,
    fuzzCases: fuzz.cases,
    fuzzCrashes: fuzz.crashes,
    forgedAttempts: forged.attempts,
    forgedSucceeded: forged.succeeded,
    forgedLeaks: forged.leaks,
    killRuns: kill.runs,
    killLeaks: kill.leaks,
    killPeerFailedCleanly: kill.peerFailedCleanly,
    lossyRuns: lossy.runs,
    lossyFailures: lossy.failures,
    deadPeerRuns: dead.runs,
    // A dead-peer run that did not end in a clean error is counted here too: it is a defect.
    deadPeerLeaks: dead.leaks + (dead.runs - dead.failedCleanly),
  };
  return { summary: { ...figures, passed: faultsPassed(figures) }, sweeps, fuzz, forged, kill, lossy, deadPeer: dead };
}

/** The `faults` command's figures (the JSON the CLI prints with --json). */
export async function runFaults(options: FaultsOptions): Promise<FaultsSummary> {
  return (await runFaultsReport(options)).summary;
}
