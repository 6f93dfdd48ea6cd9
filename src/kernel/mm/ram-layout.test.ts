import { describe, expect, it } from 'vitest';
import { FOUR_GIB, GIB, MIB } from '../../bus/index.ts';
import { computeRamLayout } from './ram-layout.ts';

describe('computeRamLayout', () => {
  it('puts RAM below the MMIO hole, remaps the rest above 4 GiB and reserves the first 1 MiB', () => {
    const l = computeRamLayout(8 * GIB);
    expect(l.installed).toEqual([{ base: 0, length: 3 * GIB }, { base: FOUR_GIB, length: 5 * GIB }]);
    expect(l.ranges).toEqual([{ base: MIB, length: 3 * GIB - MIB }, { base: FOUR_GIB, length: 5 * GIB }]);
    expect(l.mmioHole).toEqual({ base: 3 * GIB, length: GIB });
    expect(l.topOfMemory).toBe(9 * GIB);
    expect([l.lowRamBytes, l.highRamBytes, l.usableBytes]).toEqual([3 * GIB, 5 * GIB, 8 * GIB - MIB]);
  });

  it('NOLOWMEM is ignored, and says so, when there is no RAM above 4 GiB', () => {
    const l = computeRamLayout(2 * GIB, { nolowmem: true });
    expect(l.nolowmemRequested).toBe(true);
    expect(l.nolowmemActive).toBe(false);
    expect(l.nolowmemNote).toMatch(/ignored/);
    expect(computeRamLayout(4 * GIB, { nolowmem: true }).nolowmemActive).toBe(true);
  });

  it('refuses impossible sizes with a message quoting the value', () => {
    for (const bad of [0, -GIB, 1.5 * MIB + 1, NaN, 8 * MIB, 2 ** 50]) expect(() => computeRamLayout(bad)).toThrow(RangeError);
    expect(() => computeRamLayout(GIB, { mmioHoleBytes: 4095 })).toThrow(/MMIO hole 4095/);
  });
});
