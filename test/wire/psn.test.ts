import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PSN_MASK, psnAdd, psnDiff } from '../../src/wire/index.ts';

const psn = fc.integer({ min: 0, max: PSN_MASK });
const HALF = 0x800000;

describe('PSN arithmetic (roce-v2.md §6; rxe_verbs.h psn_compare)', () => {
  it('psnAdd wraps at 2^24 both ways', () => {
    expect(psnAdd(0xffffff, 1)).toBe(0);
    expect(psnAdd(0xfffffe, 5)).toBe(3);
    expect(psnAdd(0, -1)).toBe(0xffffff);
    expect(psnAdd(5, 3 * 0x1000000 + 2)).toBe(7);
  });

  it('psnAdd is addition modulo 2^24 for any safe step (property)', () => {
    fc.assert(fc.property(psn, fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), (a, n) => {
      expect(psnAdd(a, n)).toBe(Number(((BigInt(a) + BigInt(n)) % 0x1000000n + 0x1000000n) % 0x1000000n));
    }));
  });

  it('psnDiff recovers any step in (−2^23, 2^23), across the wrap (property)', () => {
    fc.assert(fc.property(psn, fc.integer({ min: -HALF + 1, max: HALF - 1 }), (b, d) => {
      expect(psnDiff(psnAdd(b, d), b)).toBe(d);
    }));
  });

  it('psnDiff is antisymmetric except at exactly half the space, which counts as behind both ways (property)', () => {
    fc.assert(fc.property(psn, psn, (a, b) => {
      const d = psnDiff(a, b);
      expect(d).toBeGreaterThanOrEqual(-HALF);
      expect(d).toBeLessThan(HALF);
      if (d === -HALF) expect(psnDiff(b, a)).toBe(-HALF);
      else expect(psnDiff(b, a)).toBe(0 - d);
      expect(d === 0).toBe(a === b);
    }));
    expect(psnDiff(psnAdd(10, HALF), 10)).toBe(-HALF);
    expect(psnDiff(0, 0xffffff)).toBe(1);
    expect(psnDiff(0xffffff, 0)).toBe(-1);
    expect(psnDiff(psnAdd(7, HALF - 1), 7)).toBe(HALF - 1);
  });
});
