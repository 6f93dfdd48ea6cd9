import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractPageRuns, runIndexOf } from '../../src/report/index.ts';

/** Random PFN arrays drawn from a small alphabet so runs form. */
const pfnArrays = fc.integer({ min: 1, max: 600 }).chain((n) =>
  fc.record({
    state: fc.uint8Array({ minLength: n, maxLength: n, min: 0, max: 3 }),
    flags: fc.uint8Array({ minLength: n, maxLength: n, min: 0, max: 255 }),
    owner: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: n, maxLength: n }).map((a) => Uint16Array.from(a)),
    lockCount: fc.array(fc.constantFrom(0, 0, 0, 1, 2, 0xffff), { minLength: n, maxLength: n }).map((a) => Uint16Array.from(a)),
  }),
);

describe('extractPageRuns', () => {
  it('runs cover every page exactly once, in order, and each run is maximal', () => {
    fc.assert(
      fc.property(pfnArrays, (p) => {
        const r = extractPageRuns(p);
        let at = 0;
        for (let i = 0; i < r.count; i++) {
          expect(r.start[i]).toBe(at);
          expect(r.length[i]).toBeGreaterThan(0);
          at += r.length[i]!;
          if (i > 0) {
            const same = r.state[i] === r.state[i - 1] && r.owner[i] === r.owner[i - 1] && r.locked[i] === r.locked[i - 1] && r.cache[i] === r.cache[i - 1];
            expect(same).toBe(false);
          }
        }
        expect(at).toBe(p.state.length);
      }),
    );
  });

  it('every page reads back its own (state, owner, locked, cache) from its run', () => {
    fc.assert(
      fc.property(pfnArrays, (p) => {
        const r = extractPageRuns(p);
        for (let pfn = 0; pfn < p.state.length; pfn++) {
          const i = runIndexOf(r, pfn);
          expect(i).toBeGreaterThanOrEqual(0);
          expect(r.state[i]).toBe(p.state[pfn]);
          expect(r.owner[i]).toBe(p.owner[pfn]);
          expect(r.locked[i]).toBe(p.lockCount[pfn] !== 0 ? 1 : 0);
          expect(r.cache[i]).toBe(p.flags[pfn]! & 7);
        }
        expect(runIndexOf(r, p.state.length)).toBe(-1);
        expect(runIndexOf(r, -1)).toBe(-1);
      }),
    );
  });

  it('flag bits other than the cache type (start/end of allocation, dirty) do not split runs', () => {
    const n = 64;
    const flags = new Uint8Array(n).fill(1);
    flags[0] = 1 | 0x08;
    flags[n - 1] = 1 | 0x10 | 0x20;
    const r = extractPageRuns({ state: new Uint8Array(n).fill(3), flags, owner: new Uint16Array(n).fill(5), lockCount: new Uint16Array(n) });
    expect(r.count).toBe(1);
    expect(r.length[0]).toBe(n);
  });

  it('rejects arrays of different lengths with a RangeError quoting them', () => {
    expect(() => extractPageRuns({ state: new Uint8Array(4), flags: new Uint8Array(3), owner: new Uint16Array(4), lockCount: new Uint16Array(4) }))
      .toThrow(/4\/3\/4\/4/);
    expect(() => extractPageRuns({ state: new Uint8Array(0), flags: new Uint8Array(0), owner: new Uint16Array(0), lockCount: new Uint16Array(0) }))
      .toThrow(RangeError);
  });
});
