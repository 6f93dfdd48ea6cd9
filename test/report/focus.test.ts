import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FOUR_GIB, PAGE_SIZE } from '../../src/bus/index.ts';
import { CATEGORIES, FOCUS_CATEGORIES, focusStrips, isFocusCategory } from '../../src/report/index.ts';
import type { PageRuns } from '../../src/report/page-runs.ts';

const cat = (key: string) => CATEGORIES.findIndex((c) => c.key === key);
const FOUR_GIB_PAGES = FOUR_GIB / PAGE_SIZE;

/** Runs covering [0, pageCount) from (start, length, category) triples; the gaps become free runs. */
function view(pageCount: number, parts: [number, number, string][]): { runs: PageRuns; cats: Uint8Array } {
  const sorted = [...parts].sort((a, b) => a[0] - b[0]);
  const s: number[] = [];
  const l: number[] = [];
  const c: number[] = [];
  let at = 0;
  for (const [start, length, key] of sorted) {
    if (start > at) {
      s.push(at);
      l.push(start - at);
      c.push(cat('free'));
    }
    s.push(start);
    l.push(length);
    c.push(cat(key));
    at = start + length;
  }
  if (at < pageCount) {
    s.push(at);
    l.push(pageCount - at);
    c.push(cat('free'));
  }
  const n = s.length;
  return {
    runs: {
      count: n, start: Uint32Array.from(s), length: Uint32Array.from(l), state: new Uint8Array(n), owner: new Uint16Array(n),
      locked: new Uint8Array(n), cache: new Uint8Array(n),
    },
    cats: Uint8Array.from(c),
  };
}

const inside = (strips: { base: number; end: number }[], first: number, end: number) =>
  strips.some((s) => s.base <= first * PAGE_SIZE && end * PAGE_SIZE <= s.end);

describe('focusStrips', () => {
  const pages = 9 * FOUR_GIB_PAGES / 4; // a 9 GiB address space (8 GiB host)

  it('no allocation outside pool and kernel: no strip', () => {
    expect(focusStrips([view(pages, [[0, 256, 'reserved'], [FOUR_GIB_PAGES, 4, 'pool']])], pages)).toEqual([]);
  });

  it('the demo\'s shape: low contiguous memory and high user pages become two strips, one each side of 4 GiB', () => {
    const low = FOUR_GIB_PAGES - 262144 - 2434; // just below the MMIO hole
    const v = view(pages, [
      [0, 256, 'reserved'], [low, 2434, 'contiguous'], [FOUR_GIB_PAGES - 262144, 262144, 'hole'],
      [FOUR_GIB_PAGES, 2, 'pool'], [FOUR_GIB_PAGES + 2, 1, 'process'], [FOUR_GIB_PAGES + 4, 1056, 'process'],
    ]);
    const strips = focusStrips([v], pages);
    expect(strips).toHaveLength(2);
    expect(strips[0]!.end).toBeLessThanOrEqual(FOUR_GIB);
    expect(strips[1]!.base).toBeGreaterThanOrEqual(FOUR_GIB);
    expect(inside(strips, low, low + 2434)).toBe(true);
    expect(inside(strips, FOUR_GIB_PAGES + 2, FOUR_GIB_PAGES + 1060)).toBe(true);
    // Each strip is about its cluster, not the whole space: at most twice its span plus padding.
    expect(strips[0]!.end - strips[0]!.base).toBeLessThan(2434 * PAGE_SIZE * 1.2);
  });

  it('runs a few pages apart share one strip; far apart they get their own', () => {
    const near = focusStrips([view(pages, [[FOUR_GIB_PAGES + 10, 1, 'locked'], [FOUR_GIB_PAGES + 12, 96, 'locked'], [FOUR_GIB_PAGES + 109, 247, 'locked']])], pages);
    expect(near).toHaveLength(1);
    const far = focusStrips([view(pages, [[FOUR_GIB_PAGES + 10, 64, 'locked'], [FOUR_GIB_PAGES + 500_000, 64, 'common']])], pages);
    expect(far).toHaveLength(2);
  });

  it('strips are the union over snapshots: what one snapshot holds and another does not is still zoomed', () => {
    const a = view(pages, [[1000, 64, 'contiguous']]);
    const b = view(pages, [[FOUR_GIB_PAGES + 5000, 32, 'locked']]);
    const strips = focusStrips([a, b], pages);
    expect(inside(strips, 1000, 1064)).toBe(true);
    expect(inside(strips, FOUR_GIB_PAGES + 5000, FOUR_GIB_PAGES + 5032)).toBe(true);
  });

  it('kernel pool, page tables, the kernel image, reserved RAM, the hole and free pages never draw a strip', () => {
    for (const c of CATEGORIES) expect(isFocusCategory(cat(c.key)), c.key).toBe(FOCUS_CATEGORIES.includes(c.key));
    expect(FOCUS_CATEGORIES).not.toContain('pool');
    expect(FOCUS_CATEGORIES).not.toContain('free');
  });

  it('rejects a bad cap or page count with a RangeError quoting it', () => {
    expect(() => focusStrips([], pages, { maxStrips: 0 })).toThrow(/maxStrips.*0/);
    expect(() => focusStrips([], 0)).toThrow(/pageCount.*0/);
  });

  it('property: every interesting run lies in a strip; strips are ordered, disjoint, page aligned, inside the address space, at most the cap, and none crosses 4 GiB unless its runs do', () => {
    const keys = ['process', 'locked', 'contiguous', 'common', 'pool', 'bounce', 'mdl'];
    const parts = fc.uniqueArray(fc.record({ start: fc.integer({ min: 0, max: pages - 2000 }), length: fc.integer({ min: 1, max: 1500 }), key: fc.constantFrom(...keys) }),
      { minLength: 0, maxLength: 40, selector: (p) => Math.floor(p.start / 2000) });
    fc.assert(
      fc.property(parts, fc.integer({ min: 1, max: 6 }), (ps, cap) => {
        // Non-overlapping by construction: one run per 2000-page slot, clipped to its slot.
        const triples = ps.map((p): [number, number, string] => {
          const slotEnd = (Math.floor(p.start / 2000) + 1) * 2000;
          return [p.start, Math.max(1, Math.min(p.length, slotEnd - p.start)), p.key];
        });
        const strips = focusStrips([view(pages, triples)], pages, { maxStrips: cap });
        expect(strips.length).toBeLessThanOrEqual(cap);
        for (let i = 0; i < strips.length; i++) {
          const s = strips[i]!;
          expect(s.base % PAGE_SIZE).toBe(0);
          expect(s.end % PAGE_SIZE).toBe(0);
          expect(s.base).toBeGreaterThanOrEqual(0);
          expect(s.end).toBeLessThanOrEqual(pages * PAGE_SIZE);
          expect(s.end).toBeGreaterThan(s.base);
          if (i > 0) expect(s.base).toBeGreaterThan(strips[i - 1]!.end);
          if (s.base < FOUR_GIB && s.end > FOUR_GIB) {
            const crossing = triples.some(([st, len, key]) => isFocusCategory(cat(key)) && st * PAGE_SIZE < FOUR_GIB && (st + len) * PAGE_SIZE > s.base && st * PAGE_SIZE < s.end) &&
              triples.some(([st, len, key]) => isFocusCategory(cat(key)) && (st + len) * PAGE_SIZE > FOUR_GIB && st * PAGE_SIZE < s.end);
            expect(crossing).toBe(true);
          }
        }
        for (const [st, len, key] of triples) if (isFocusCategory(cat(key))) expect(inside(strips, st, st + len)).toBe(true);
        if (!triples.some(([, , key]) => isFocusCategory(cat(key)))) expect(strips).toEqual([]);
      }),
    );
  });
});
