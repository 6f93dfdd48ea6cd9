/**
 * `sanproxy faults` (README "Faults"): each check is reported on stderr as it finishes, the
 * text ends with one PASS/FAIL line, and --json carries every figure the text shows.
 */
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';

const QUICK = ['faults', '--sweep-limit', '3', '--fuzz', '40', '--forged', '6', '--kills', '1', '--lossy', '2', '--dead-peer', '2', '--seed', '7'];

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), errIsTTY: false });
  return { code, out: out.join('\n').split('\n'), err };
}

describe('sanproxy faults', () => {
  it('reports every check as it finishes, ends with one PASS line, and the JSON has every figure of the text', async () => {
    const text = await run(QUICK);
    expect(text.code, text.err.join('\n')).toBe(0);
    const checks = text.err.filter((l) => /^faults: .+: (ok|FAILED) \(/.test(l));
    expect(checks.map((l) => l.slice('faults: '.length, l.indexOf(': ', 'faults: '.length)))).toEqual([
      'sweep proxy', 'sweep demo', 'IOCTL fuzz', 'forged descriptors', 'kill mid-transfer', 'lossy link', 'dead peer',
    ]);
    expect(checks.every((l) => l.includes(': ok ('))).toBe(true);
    expect(text.out.at(-1)).toMatch(/^faults: PASS/);
    expect(text.out.filter((l) => /^faults: (PASS|FAIL)/.test(l))).toHaveLength(1);

    const json = await run([...QUICK, '--json']);
    expect(json.code).toBe(0);
    expect(json.out).toHaveLength(1);
    const doc = JSON.parse(json.out[0]!) as Record<string, number | boolean>;
    // Every figure line of the text ("name  value  meaning") is a key of the JSON with that value.
    const figures = text.out.slice(0, -1).map((l) => /^(\w+)\s+(\d+)\s/.exec(l)!).map((m) => [m[1]!, Number(m[2])] as const);
    expect(figures.length).toBeGreaterThanOrEqual(20);
    for (const [key, value] of figures) expect(doc[key], key).toBe(value);
    expect(doc.passed).toBe(true);
    expect(doc.runs).toBe(6);
    expect((doc.recovered as number) + (doc.cleanErrors as number)).toBe(6);
    expect(doc.fuzzCases).toBe(40);
    expect(doc.forgedAttempts).toBe(6);
    expect(doc.killRuns).toBe(1);
    expect(doc.lossyRuns).toBe(2);
    expect(doc.lossyFailures).toBe(0);
    expect(doc.deadPeerRuns).toBe(2);
    expect(doc.deadPeerLeaks).toBe(0);
  });

  it('a failed lossy or dead-peer run fails the whole run', async () => {
    const { faultsPassed } = await import('../../src/host/reliability/index.ts');
    const clean = {
      sites: 1, runs: 1, recovered: 1, cleanErrors: 0, unclean: 0, unfired: 0, bugChecks: 0, leaks: 0, fuzzCases: 0, fuzzCrashes: 0,
      forgedAttempts: 0, forgedSucceeded: 0, forgedLeaks: 0, killRuns: 0, killLeaks: 0, killPeerFailedCleanly: 0,
      lossyRuns: 2, lossyFailures: 0, deadPeerRuns: 2, deadPeerLeaks: 0,
    };
    expect(faultsPassed(clean)).toBe(true);
    expect(faultsPassed({ ...clean, lossyFailures: 1 })).toBe(false);
    expect(faultsPassed({ ...clean, deadPeerLeaks: 1 })).toBe(false);
  });

  it('its counts are range-checked like every other option', async () => {
    const r = await run(['faults', '--kills', '-3']);
    expect(r.code).toBe(2);
    expect(r.err[0]).toBe('sanproxy faults: --kills -3: expected an integer 0..10000');
  });
});
