import { describe, expect, it } from 'vitest';
import { FOUR_GIB, MIB } from '../../src/bus/index.ts';
import { MAXULONG64, MmAllocateContiguousMemory, MmFreeContiguousMemory, MmGetPhysicalAddress } from '../../src/kernel/mm/index.ts';
import { big, fingerprint } from './helpers.ts';

describe('MmAllocateContiguousMemory', () => {
  it('allocates cached memory below HighestAcceptableAddress', () => {
    const k = big();
    const va = MmAllocateContiguousMemory(k, MIB, 0x00ff_ffff)!;
    expect(MmGetPhysicalAddress(k, va) + MIB - 1).toBeLessThanOrEqual(0x00ff_ffff);
    expect(k.mm.pfn.cacheType(MmGetPhysicalAddress(k, va) / 4096)).toBe(1);
    const anywhere = MmAllocateContiguousMemory(k, MIB, MAXULONG64)!;
    expect(MmGetPhysicalAddress(k, anywhere)).toBeGreaterThanOrEqual(FOUR_GIB);
  });

  it('bad input returns NULL and changes nothing; it has its own fault-injection site', () => {
    const k = big();
    const before = fingerprint(k);
    for (const [n, h] of [[0, MAXULONG64], [-1, MAXULONG64], [1.5, MAXULONG64], [4096, NaN], [4096, -7]] as const) {
      expect(MmAllocateContiguousMemory(k, n, h)).toBeNull();
    }
    k.faults.setPolicy({ kind: 'always' }, { sites: ['MmAllocateContiguousMemory'] });
    expect(MmAllocateContiguousMemory(k, 4096, MAXULONG64)).toBeNull();
    expect(fingerprint(k)).toBe(before);
  });

  it('MmFreeContiguousMemory frees it without size or cache type', () => {
    const k = big();
    const before = fingerprint(k);
    MmFreeContiguousMemory(k, MmAllocateContiguousMemory(k, 3 * MIB, MAXULONG64)!);
    expect(fingerprint(k)).toBe(before);
  });
});
