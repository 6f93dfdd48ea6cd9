/**
 * The systematic sweep (Driver Verifier's "Systematic Low Resources Simulation", made
 * exhaustive): run the scenario once to count, per host, the K allocations it makes through
 * the single fault-injection point, then run it K more times with allocation k failing.
 * Every run must end cleanly (finished, or a refusal the application saw), with no bug check
 * and nothing leaked after teardown. [devtest: "Systematic Low Resources Simulation"]
 */
import type { ClusterSpec } from '../cluster.ts';
import { bootVerified, runOnce, type RunResult } from './harness.ts';
import type { ReliabilityScenario, ScenarioRun } from './scenario.ts';

export interface SweepFailure {
  host: string;
  /** 1-based ordinal of the failed allocation on that host. */
  nth: number;
  /** The site that was failed, when the injector reached it. */
  site: string | null;
  result: RunResult;
}

export interface SweepReport {
  scenario: string;
  /** Distinct allocation sites the counting run reached, all hosts. */
  sites: string[];
  /** Allocations of the counting run per host. */
  allocations: Record<string, number>;
  runs: number;
  completed: number;
  cleanErrors: number;
  bugChecks: number;
  unclean: number;
  /** Runs that leaked anything. */
  leaks: number;
  /** Runs whose injected fault never fired (the scenario took another path). */
  unfired: number;
  failures: SweepFailure[];
}

export interface SweepOptions {
  /** At most this many fault runs (spread evenly over all ordinals); default all. */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function sweep(scenario: ReliabilityScenario | ScenarioRun, options: SweepOptions = {}, cluster?: ClusterSpec): Promise<SweepReport> {
  const s: ReliabilityScenario = typeof scenario === 'function'
    ? { name: scenario.name || 'scenario', cluster: cluster ?? (await import('./scenario.ts')).TWO_HOSTS, run: scenario }
    : scenario;
  const spec = cluster ?? s.cluster;

  // Counting run: no fault, every allocation counted per host.
  const counting = bootVerified(spec);
  for (const h of counting.hosts) h.kernel.faults.setPolicy({ kind: 'none' });
  const sites = new Set<string>();
  const allocations: Record<string, number> = {};
  const base = counting.hosts.map((h) => new Map(h.kernel.faults.sitesSeen));
  const first = await runOnce(counting, s.run, () => {
    for (const h of counting.hosts) h.kernel.faults.setPolicy({ kind: 'nth', n: Number.MAX_SAFE_INTEGER });
  }, () => {
    for (const [i, h] of counting.hosts.entries()) {
      allocations[h.spec.name] = h.kernel.faults.matched;
      for (const [site, n] of h.kernel.faults.sitesSeen) if (n > (base[i]!.get(site) ?? 0)) sites.add(site);
      h.kernel.faults.setPolicy({ kind: 'none' });
    }
  });
  if (first.outcome !== 'ok' || first.leaks.length) {
    throw new Error(`sweep ${s.name}: the run without faults did not finish cleanly: ${first.error ?? ''} ${first.leaks.join('; ')} ${first.stops.join('; ')}`);
  }

  const plan: { host: number; nth: number }[] = [];
  for (const [i, h] of counting.hosts.entries()) for (let n = 1; n <= allocations[h.spec.name]!; n++) plan.push({ host: i, nth: n });
  const chosen = options.limit !== undefined && options.limit < plan.length
    ? Array.from({ length: Math.max(0, options.limit) }, (_, j) => plan[Math.floor((j * plan.length) / Math.max(1, options.limit!))]!)
    : plan;

  const report: SweepReport = {
    scenario: s.name, sites: [...sites].sort(), allocations, runs: 0, completed: 0, cleanErrors: 0, bugChecks: 0, unclean: 0, leaks: 0, unfired: 0, failures: [],
  };
  for (const [j, step] of chosen.entries()) {
    const c = bootVerified(spec);
    const target = c.hosts[step.host]!;
    const result = await runOnce(c, s.run,
      () => target.kernel.faults.setPolicy({ kind: 'nth', n: step.nth }),
      () => target.kernel.faults.setPolicy({ kind: 'none' }));
    const injected = target.kernel.faults.injected.at(-1) ?? null;
    report.runs++;
    if (!injected) report.unfired++;
    if (result.outcome === 'ok') report.completed++;
    else if (result.outcome === 'clean') report.cleanErrors++;
    else if (result.outcome === 'bugcheck') report.bugChecks++;
    else report.unclean++;
    if (result.leaks.length) report.leaks++;
    if (result.outcome === 'bugcheck' || result.outcome === 'unclean' || result.leaks.length) {
      report.failures.push({ host: target.spec.name, nth: step.nth, site: injected?.site ?? null, result });
    }
    options.onProgress?.(j + 1, chosen.length);
  }
  return report;
}
