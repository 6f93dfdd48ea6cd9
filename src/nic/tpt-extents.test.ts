/**
 * TranslationProtectionTable.translate on precomputed extents: it must give exactly the
 * segments of a page-by-page walk, and `info` must give back the page list registered.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../bus/index.ts';
import { GENERATION_SPAN, makeKey, nextGeneration, remoteGeneration } from './keys.ts';
import { DmaRunList } from '../bus/index.ts';
import { NicAccess, TranslationProtectionTable } from './tpt.ts';

const RW = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE;

/** The reference: one segment per page piece, merged by DmaRunList.push. */
function walk(pages: Float64Array, firstByteOffset: number, offset: number, length: number, out: DmaRunList): void {
  const start = firstByteOffset + offset;
  let page = Math.floor(start / PAGE_SIZE);
  let within = start - page * PAGE_SIZE;
  let left = length;
  while (left > 0) {
    const n = Math.min(PAGE_SIZE - within, left);
    out.push(pages[page]! + within, n);
    left -= n;
    within = 0;
    page++;
  }
}

const segments = (s: DmaRunList) => Array.from({ length: s.count }, (_, i) => [s.address[i], s.length[i]]);

// Page lists made of runs: contiguous stretches, jumps, repeats and backward steps.
const pageList = fc
  .array(fc.record({ start: fc.nat(1 << 20), pages: fc.integer({ min: 1, max: 6 }) }), { minLength: 1, maxLength: 8 })
  .map((runs) => Float64Array.from(runs.flatMap((r) => Array.from({ length: r.pages }, (_, i) => (r.start + i) * PAGE_SIZE))));

describe('TranslationProtectionTable.translate (extents)', () => {
  it('gives the segments of a page-by-page walk for every range inside the region (property)', () => {
    fc.assert(
      fc.property(pageList, fc.nat(PAGE_SIZE - 1), fc.nat(), fc.nat(), fc.nat(), (pages, fbo, a, b, c) => {
        const length = pages.length * PAGE_SIZE - fbo - (a % Math.min(PAGE_SIZE, pages.length * PAGE_SIZE - fbo));
        const t = new TranslationProtectionTable(2, 1 << 30);
        const i = t.register(1, { pages, firstByteOffset: fbo, length, access: RW });
        expect(Array.from(t.info(i).pages)).toEqual(Array.from(pages));
        // Half the time start exactly on a page boundary (where extents begin).
        const onPage = Math.max(0, ((b >> 1) % pages.length) * PAGE_SIZE - fbo);
        const offset = b % 2 === 0 && onPage < length ? onPage : b % length;
        const n = 1 + (c % (length - offset));
        const got = new DmaRunList(1);
        const want = new DmaRunList(1);
        // A segment already in the list, which the first new one may extend.
        got.push(pages[0]! - 64, 64);
        want.push(pages[0]! - 64, 64);
        t.translate(i, offset, n, got);
        walk(pages, fbo, offset, n, want);
        expect(segments(got)).toEqual(segments(want));
        expect(got.total).toBe(64 + n);
      }),
      { numRuns: 500 },
    );
  });

  it('re-registration replaces the translation; deregistration drops it', () => {
    const t = new TranslationProtectionTable(1, 1 << 30);
    const first = Float64Array.of(0x10000, 0x11000, 0x20000);
    const i = t.register(1, { pages: first, firstByteOffset: 0, length: 3 * PAGE_SIZE, access: RW });
    const second = Float64Array.of(0x50000, 0x40000);
    t.reregister(i, { pages: second, firstByteOffset: 10, length: 5000, access: RW });
    const out = new DmaRunList();
    t.translate(i, 0, 5000, out);
    expect(segments(out)).toEqual([[0x5000a, PAGE_SIZE - 10], [0x40000, 5000 - (PAGE_SIZE - 10)]]);
    expect(Array.from(t.info(i).pages)).toEqual([0x50000, 0x40000]);
    const h = t.handleOf(i);
    t.deregister(i);
    expect(t.indexOfHandle(h)).toBe(-1);
  });

  it('keys kept per slot are the keys of the slot generation, through every change', () => {
    const t = new TranslationProtectionTable(3, 1 << 20);
    const pages = Float64Array.of(PAGE_SIZE);
    const spec = { pages, firstByteOffset: 0, length: PAGE_SIZE, access: RW };
    const i = t.register(1, spec);
    let g = (i * 7) % (GENERATION_SPAN - 1) + 1; // the table's starting generation of slot i
    const check = () => {
      expect(t.handleOf(i)).toBe(makeKey(i, g));
      expect(t.remoteKeyOf(i)).toBe(makeKey(i, remoteGeneration(g)));
    };
    check();
    t.reregister(i, spec);
    g = nextGeneration(g);
    check();
    const old = t.handleOf(i);
    t.deregister(i);
    g = nextGeneration(g);
    check();
    expect(t.lookup(old, false, 1, NicAccess.LOCAL_READ)).toBeLessThan(0);
  });
});
