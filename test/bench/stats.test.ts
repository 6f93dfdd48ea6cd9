/**
 * The rounding and range helpers of the benchmarks (bench/stats.ts). Pure functions: no
 * clock is read here.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { durationRangeText, durationText, median, plain, rangeText, sig, sizeText } from '../../bench/stats.ts';

describe('sig', () => {
  it('never rounds a positive measurement to 0 and keeps it within half a unit of its third figure', () => {
    fc.assert(fc.property(fc.double({ min: Number.MIN_VALUE, max: 1e300, noNaN: true }), (v) => {
      const r = sig(v);
      expect(r).toBeGreaterThan(0);
      expect(Math.abs(r - v)).toBeLessThanOrEqual(Math.abs(v) * 5e-3 * (1 + 1e-12));
    }));
  });

  it('keeps three significant figures where two decimals would print 0', () => {
    expect(sig(0.004_123)).toBe(0.004_12);
    expect(sig(0.000_012_345)).toBe(0.000_012_3);
    expect(sig(431_234)).toBe(431_000);
    expect(sig(7.602_1, 4)).toBe(7.602);
  });

  it('passes 0 and non-finite values through', () => {
    expect(sig(0)).toBe(0);
    expect(sig(Number.POSITIVE_INFINITY)).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(sig(Number.NaN))).toBe(true);
  });
});

describe('ranges and units', () => {
  it('median takes the middle value, the upper middle for an even count', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(() => median([])).toThrow(/no values/);
  });

  it('rangeText prints one value when the runs agree and min–max otherwise', () => {
    expect(rangeText([0.5, 0.5, 0.5])).toBe('0.5');
    expect(rangeText([0.47, 0.39, 0.42])).toBe('0.39–0.47');
    expect(rangeText([41, 48], plain, ' ms')).toBe('41–48 ms');
    expect(plain(1_922_445)).toBe('1 920 000');
  });

  it('sizes read as B, KiB, MiB and GiB', () => {
    expect([2, 4096, 65536, 2 ** 20, 2 ** 30].map(sizeText)).toEqual(['2 B', '4 KiB', '64 KiB', '1 MiB', '1 GiB']);
    expect(sizeText(13 * 2 ** 30 + 4096)).toBe('13.0 GiB');
    expect(sizeText(1536)).toBe('1.50 KiB');
  });

  it('durations take the unit that keeps them short', () => {
    expect(durationText(23.6)).toBe('23.6 ns');
    expect(durationText(7053)).toBe('7.05 µs');
    expect(durationText(1_016_397)).toBe('1.02 ms');
    expect(durationRangeText([51, 98])).toBe('51–98 ns');
    expect(durationRangeText([980, 1200])).toBe('980 ns–1.2 µs');
  });
});
