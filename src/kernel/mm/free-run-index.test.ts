import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIND_FAILED, FreeRunIndex, popcount } from './free-run-index.ts';

/** The naive model: a boolean per page, searched linearly top-down / bottom-up. */
function naiveRunDown(free: boolean[], n: number, lo: number, hi: number, B: number): number {
  hi = Math.min(hi, free.length - 1);
  lo = Math.max(lo, 0);
  let carry = 0;
  for (let p = hi; p >= lo; p--) {
    carry = free[p] ? carry + 1 : 0;
    if (carry >= n) return p;
    if (B !== 0 && p % B === 0) carry = 0;
  }
  return FIND_FAILED;
}
function naiveFirst(free: boolean[], lo: number, hi: number): number {
  for (let p = Math.max(lo, 0); p <= Math.min(hi, free.length - 1); p++) if (free[p]) return p;
  return FIND_FAILED;
}
const crosses = (first: number, last: number, B: number) => B !== 0 && Math.floor(first / B) !== Math.floor(last / B);

function build(pages: number, ops: { first: number; count: number }[]): { idx: FreeRunIndex; free: boolean[] } {
  const idx = new FreeRunIndex(pages);
  const free = new Array<boolean>(pages).fill(false);
  idx.bootSetFree(0, pages);
  free.fill(true);
  idx.rebuild();
  for (const { first, count } of ops) {
    const f = Math.min(first, pages - 1);
    const c = Math.min(count, pages - f);
    // Flip a run only when all its pages agree, as the allocator does.
    const state = free[f]!;
    let ok = true;
    for (let p = f; p < f + c; p++) if (free[p] !== state) ok = false;
    if (!ok) continue;
    idx.setRange(f, c, !state);
    for (let p = f; p < f + c; p++) free[p] = !state;
  }
  return { idx, free };
}

const scenario = fc.integer({ min: 1, max: 2100 }).chain((pages) =>
  fc.record({
    pages: fc.constant(pages),
    ops: fc.array(fc.record({ first: fc.nat(pages - 1), count: fc.integer({ min: 1, max: 200 }) }), { maxLength: 60 }),
    queries: fc.array(
      fc.record({
        n: fc.integer({ min: 1, max: 300 }),
        lo: fc.integer({ min: -5, max: pages + 5 }),
        hi: fc.integer({ min: -5, max: pages + 5 }),
        bLog: fc.integer({ min: -1, max: 11 }),
      }),
      { minLength: 1, maxLength: 25 },
    ),
  }),
);

describe('FreeRunIndex', () => {
  it('findRunDown returns the highest run of n free pages in bounds that crosses no boundary (vs naive model)', () => {
    fc.assert(
      fc.property(scenario, ({ pages, ops, queries }) => {
        const { idx, free } = build(pages, ops);
        for (const q of queries) {
          const B = q.bLog < 0 ? 0 : Math.max(2 ** q.bLog, 2 ** Math.ceil(Math.log2(q.n)));
          const got = idx.findRunDown(q.n, q.lo, q.hi, B);
          const want = naiveRunDown(free, q.n, q.lo, q.hi, B);
          expect(got).toBe(want);
          if (got !== FIND_FAILED) {
            for (let p = got; p < got + q.n; p++) expect(free[p]).toBe(true);
            expect(got).toBeGreaterThanOrEqual(Math.max(0, q.lo));
            expect(got + q.n - 1).toBeLessThanOrEqual(q.hi);
            expect(crosses(got, got + q.n - 1, B)).toBe(false);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('findFirstFree returns the lowest free page in bounds (vs naive model)', () => {
    fc.assert(
      fc.property(scenario, ({ pages, ops, queries }) => {
        const { idx, free } = build(pages, ops);
        for (const q of queries) expect(idx.findFirstFree(q.lo, q.hi)).toBe(naiveFirst(free, q.lo, q.hi));
        expect(idx.freeCount).toBe(free.filter(Boolean).length);
      }),
      { numRuns: 300 },
    );
  });

  it('setRange refuses to free a free page or take a used one (allocator invariant)', () => {
    const idx = new FreeRunIndex(100);
    idx.bootSetFree(10, 20);
    idx.rebuild();
    expect(() => idx.setRange(5, 10, false)).toThrow(/not all free/);
    expect(() => idx.setRange(12, 3, true)).toThrow(/not all used/);
    expect(() => idx.setRange(95, 10, true)).toThrow(RangeError);
    expect(idx.freeCount).toBe(20);
  });

  it('an unsatisfiable request fails at the root without a walk', () => {
    const idx = new FreeRunIndex(1 << 20);
    idx.bootSetFree(0, 1 << 20);
    idx.rebuild();
    for (let p = 0; p < 1 << 20; p += 1000) idx.setRange(p, 1, false);
    expect(idx.longestFreeRun).toBe(999);
    expect(idx.findRunDown(1000, 0, (1 << 20) - 1, 0)).toBe(FIND_FAILED);
    expect(idx.findRunDown(999, 0, (1 << 20) - 1, 0)).toBe(1_047_001);
  });

  it('a boundary that is not a power of two or is smaller than n is refused', () => {
    const idx = new FreeRunIndex(64);
    idx.bootSetFree(0, 64);
    idx.rebuild();
    expect(() => idx.findRunDown(4, 0, 63, 3)).toThrow(RangeError);
    expect(() => idx.findRunDown(8, 0, 63, 4)).toThrow(RangeError);
    expect(idx.findRunDown(8, 0, 63, 8)).toBe(56);
  });

  it('popcount counts bits', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
      expect(popcount(v)).toBe(v.toString(2).split('').filter((c) => c === '1').length);
    }));
  });
});

describe('FreeRunIndex: runs that fit exactly, across word boundaries', () => {
  it('findRunDown finds the highest run when it is exactly n pages and starts or ends anywhere in a word', () => {
    const pages = 64 * 32;
    for (let n = 1; n <= 70; n++) {
      for (let offset = 0; offset < 40; offset++) {
        const idx = new FreeRunIndex(pages);
        // Everything used, then: an exact-fit run high up, and a longer one a little lower —
        // inside the top-down scan's window, so a scan that missed the upper run would return it.
        const top = pages - 100 - offset - n;
        const lower = top - 10 - (n + 5);
        idx.setRange(top, n, true);
        idx.setRange(lower, n + 5, true);
        expect(idx.findRunDown(n, 0, pages - 1, 0), `n=${n} offset=${offset}`).toBe(top);
        // Bounded at the run's last page: still the answer; one page less: the lower run's top fit.
        expect(idx.findRunDown(n, 0, top + n - 1, 0)).toBe(top);
        expect(idx.findRunDown(n, 0, top + n - 2, 0)).toBe(lower + 5);
      }
    }
  });
});

describe('FreeRunIndex: next-fit hints under allocation and free', () => {
  // The hint for n says no run of n free pages lies above it; it must be forgotten on any free
  // (a free can create such a run anywhere) and never skip a fit after allocations.
  it('interleaved searches, allocations and frees always give the naive model answer', () => {
    // A few sizes only, so that hints are learned and reused often.
    const size = fc.constantFrom(1, 2, 5, 16, 33, 64);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('alloc' as const), n: size, hiBack: fc.nat(300) }),
      fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('query' as const), n: size, lo: fc.nat(1500), hiBack: fc.nat(1500) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 64, max: 1600 }), fc.array(op, { minLength: 10, maxLength: 150, size: 'large' }), (pages, ops) => {
        const idx = new FreeRunIndex(pages);
        idx.bootSetFree(0, pages);
        idx.rebuild();
        const free = new Array<boolean>(pages).fill(true);
        const held: [number, number][] = [];
        for (const o of ops) {
          if (o.kind === 'free') {
            if (held.length === 0) continue;
            const [f, n] = held.splice(o.pick % held.length, 1)[0]!;
            idx.setRange(f, n, true);
            for (let p = f; p < f + n; p++) free[p] = true;
            continue;
          }
          const hi = o.kind === 'alloc' && o.hiBack % 3 === 0 ? pages - 1 : pages - 1 - o.hiBack;
          const lo = o.kind === 'query' ? o.lo : 0;
          const got = idx.findRunDown(o.n, lo, hi, 0);
          expect(got).toBe(naiveRunDown(free, o.n, lo, hi, 0));
          if (o.kind === 'alloc' && got !== FIND_FAILED) {
            idx.setRange(got, o.n, false);
            for (let p = got; p < got + o.n; p++) free[p] = false;
            held.push([got, o.n]);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it('a burst of same-size allocations takes the same runs as searching from the top each time', () => {
    const pages = 4096;
    const idx = new FreeRunIndex(pages);
    const free = new Array<boolean>(pages).fill(false);
    for (let p = 0; p + 40 <= pages; p += 97) {
      idx.setRange(p, 40, true);
      for (let q = p; q < p + 40; q++) free[q] = true;
    }
    for (let i = 0; i < 200; i++) {
      const got = idx.findRunDown(16, 0, pages - 1, 0);
      expect(got).toBe(naiveRunDown(free, 16, 0, pages - 1, 0));
      if (got === FIND_FAILED) break;
      idx.setRange(got, 16, false);
      for (let q = got; q < got + 16; q++) free[q] = false;
    }
    expect(idx.findRunDown(16, 0, pages - 1, 0)).toBe(FIND_FAILED);
    // Free the first run the burst took, at the top: the hint must not hide it.
    const top = Math.floor((pages - 40) / 97) * 97 + 24;
    expect(free[top]).toBe(false);
    idx.setRange(top, 16, true);
    expect(idx.findRunDown(16, 0, pages - 1, 0)).toBe(top);
  });
});
