import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import {
  ExAllocatePool2, MAXULONG64, MmAllocateContiguousMemorySpecifyCache, MmCached, MmFreeContiguousMemory,
  MmGetPhysicalAddress, POOL_FLAG_NON_PAGED, poolTag,
} from '../../src/kernel/mm/index.ts';
import { small } from './helpers.ts';

describe('MmGetPhysicalAddress', () => {
  it('translates every byte of a mapped system VA, pool included', () => {
    const k = small();
    const va = MmAllocateContiguousMemorySpecifyCache(k, 2 * PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    const pa = MmGetPhysicalAddress(k, va);
    expect(MmGetPhysicalAddress(k, va + PAGE_SIZE + 123)).toBe(pa + PAGE_SIZE + 123);
    const p = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 48, poolTag('Phys'))!;
    expect(MmGetPhysicalAddress(k, p) % PAGE_SIZE).toBe(p % PAGE_SIZE);
  });

  it('returns a zero PHYSICAL_ADDRESS for an invalid VA (unmapped, freed, user, garbage)', () => {
    const k = small();
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    MmFreeContiguousMemory(k, va);
    for (const bad of [va, va + PAGE_SIZE, 0, 0x1000, NaN, -5, 2 ** 60]) expect(MmGetPhysicalAddress(k, bad)).toBe(0);
  });
});
