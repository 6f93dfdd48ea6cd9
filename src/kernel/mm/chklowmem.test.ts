import { describe, expect, it } from 'vitest';
import { DeviceDmaView, FOUR_GIB, GIB, PAGE_SIZE } from '../../bus/index.ts';
import { Kernel } from '../kernel.ts';
import { MAXULONG64, MmAllocateContiguousMemorySpecifyCache, MmCached, MmFreeContiguousMemory, MmGetPhysicalAddress } from './index.ts';

describe('chklowmem', () => {
  it('reports a low page written while free: a 32-bit device truncating a high address', () => {
    const k = Kernel.boot({ ramBytes: 6 * GIB, nolowmem: true });
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    const pa = MmGetPhysicalAddress(k, va);
    expect(pa).toBeGreaterThanOrEqual(FOUR_GIB);
    const nic = new DeviceDmaView(k.memory, k.mm.layout.installed, { name: 'nic32', addressBits: 32 });
    nic.write(pa, new Uint8Array([1, 2, 3])); // lands at pa - 4 GiB
    expect(k.mm.chklowmem()).toEqual({ violations: 1, pfns: [(pa - FOUR_GIB) / PAGE_SIZE] });
    // Writes to pages somebody owns are not violations.
    k.mm.system.write(va, new Uint8Array(8));
    const low = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, FOUR_GIB - 1, 0, MmCached)!;
    k.mm.system.write(low, new Uint8Array(8).fill(9));
    expect(k.mm.chklowmem().violations).toBe(1);
    // The evidence persists across allocation and free, until reset.
    MmFreeContiguousMemory(k, va);
    expect(k.mm.chklowmem().violations).toBe(1);
    k.mm.resetChklowmem();
    expect(k.mm.chklowmem()).toEqual({ violations: 0, pfns: [] });
  });

  it('is off without NOLOWMEM (no pattern is laid down)', () => {
    const k = Kernel.boot({ ramBytes: 6 * GIB, nolowmem: false });
    k.memory.write(0x200_0000, new Uint8Array(4).fill(1));
    expect(k.mm.chklowmem().violations).toBe(0);
  });
});
