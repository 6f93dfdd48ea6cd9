/**
 * One run of a scenario on a fresh cluster, and the teardown that proves nothing leaked.
 *
 * Implementation notes
 * - Every host boots with the verifier on and its proxy loaded; the baseline snapshot
 *   (host/accounting.ts) is taken after that, so the run is measured alone.
 * - Outcome: `ok` (finished), `clean` (a ScenarioError: the application saw a refusal),
 *   `bugcheck` (some host stopped), `unclean` (any other exception escaped — a defect).
 * - Teardown runs with fault injection off: every process the run left behind is terminated
 *   (handle rundown sends IRP_MJ_CLEANUP, as Windows does at exit), the fabric drains, the
 *   snapshot must equal the baseline, then the proxy unloads — which is where the verifier's
 *   pool tracking checks for 0xC4/0x62. A stop during teardown counts as a leak and a bug check.
 */
import { BugCheck } from '../../kernel/bugcheck.ts';
import { leakedCounters, snapshot, type ResourceSnapshot } from '../accounting.ts';
import { createCluster, type Cluster, type ClusterSpec } from '../cluster.ts';
import { ScenarioError, type ScenarioRun } from './scenario.ts';

export type RunOutcome = 'ok' | 'clean' | 'bugcheck' | 'unclean';

export interface RunResult {
  outcome: RunOutcome;
  /** Leaked counters per host ("a: poolBytes +64"), and teardown stops. Empty = none. */
  leaks: string[];
  /** The error that ended the run, if any (message). */
  error: string | null;
  /** Stops, as "host: *** STOP ..." lines. */
  stops: string[];
}

/** A scenario that makes no progress for this long (wall time) is stuck: a defect, not a wait. */
export const STALL_MS = 10_000;

export class ScenarioStalled extends Error {
  override readonly name = 'ScenarioStalled';
}

/**
 * Await the scenario, but fail with ScenarioStalled when it neither settles nor gives the fabric
 * any work for STALL_MS: an application left waiting forever after a failure is a defect the
 * sweep must report, not hang on. The abandoned promise is observed so it cannot surface later.
 */
async function settleOrStall(cluster: Cluster, work: Promise<void>): Promise<void> {
  work.catch(() => {});
  let lastTasks = -1;
  let idleSince = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (cluster.fabric.tasksRun !== lastTasks) {
        lastTasks = cluster.fabric.tasksRun;
        idleSince = Date.now();
      } else if (Date.now() - idleSince > STALL_MS) {
        reject(new ScenarioStalled(`no progress for ${STALL_MS} ms: the scenario is waiting on something that will never happen`));
      }
    }, 250);
  });
  try {
    await Promise.race([work, stalled]);
  } finally {
    clearInterval(timer);
  }
}

/** Boot the cluster with the verifier on every host and load every proxy. */
export function bootVerified(spec: ClusterSpec): Cluster {
  const cluster = createCluster({ ...spec, hosts: spec.hosts.map((h) => ({ ...h, verifier: true })) });
  for (const h of cluster.hosts) {
    const status = h.loadProxy();
    if (status !== 0) throw new Error(`host ${h.spec.name}: loading the proxy failed with 0x${status.toString(16)}`);
  }
  return cluster;
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/**
 * Run `scenario` once on `cluster` (booted by bootVerified). `arm` is called after the
 * baseline and before the scenario (set fault policies there); `disarm` before teardown.
 */
export async function runOnce(cluster: Cluster, scenario: ScenarioRun, arm: () => void = () => {}, disarm: () => void = () => {}): Promise<RunResult> {
  const before: ResourceSnapshot[] = cluster.hosts.map((h) => snapshot(h));
  let outcome: RunOutcome = 'ok';
  let error: string | null = null;
  arm();
  try {
    await settleOrStall(cluster, scenario(cluster));
  } catch (e) {
    error = describeError(e);
    outcome = e instanceof BugCheck ? 'bugcheck' : e instanceof ScenarioError ? 'clean' : 'unclean';
  } finally {
    disarm();
  }
  const leaks: string[] = [];
  const stops: string[] = [];
  for (const [i, h] of cluster.hosts.entries()) {
    const k = h.kernel;
    if (k.bugcheck.crashed) continue;
    try {
      for (const p of k.ps.processes) if (!p.isSystem) k.ps.terminateProcess(p, 0);
      cluster.fabric.runUntilIdle();
      for (const l of leakedCounters(before[i]!, snapshot(h))) leaks.push(`${h.spec.name}: ${l}`);
      if (h.unloadProxy() !== 0) leaks.push(`${h.spec.name}: proxy did not unload`);
    } catch (e) {
      if (!(e instanceof BugCheck)) throw e;
      leaks.push(`${h.spec.name}: teardown stopped the host`);
    }
  }
  for (const h of cluster.hosts) {
    const stop = h.kernel.bugcheck.crashed;
    if (stop) {
      stops.push(`${h.spec.name}: ${stop.message}`);
      if (outcome !== 'bugcheck') outcome = 'bugcheck';
    }
  }
  return { outcome, leaks, error, stops };
}
