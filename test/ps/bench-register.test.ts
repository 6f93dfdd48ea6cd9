import { expect, test } from 'vitest';
import { run } from '../../bench/register.ts';

// Shape only: benchmarks are never timed in tests.
test('bench register returns the suite JSON with one row per size', async () => {
  const out = (await run({ json: false, sizes: [4096, 65536], minMs: 0, minIters: 1 })) as { suite: string; rows: { bytes: number; gbPerSec: number; pagesPerSec: number }[] };
  expect(out.suite).toBe('register');
  expect(out.rows.map((r) => r.bytes)).toEqual([4096, 65536]);
  for (const r of out.rows) {
    expect(r.gbPerSec).toBeGreaterThan(0);
    expect(r.pagesPerSec).toBeGreaterThan(0);
  }
});
