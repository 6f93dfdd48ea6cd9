import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import { BAD_POOL_CALLER, PAGE_FAULT_IN_NONPAGED_AREA } from '../../src/kernel/bugcheck.ts';
import {
  MAXULONG64, MmAllocateContiguousMemorySpecifyCache, MmCached, MmFreeContiguousMemory,
  MmFreeContiguousMemorySpecifyCache, MmNonCached,
} from '../../src/kernel/mm/index.ts';
import { expectBugCheck, fingerprint, small } from './helpers.ts';

describe('MmFreeContiguousMemorySpecifyCache', () => {
  it('frees the pages and the mapping when address, size and cache type match', () => {
    const k = small();
    const before = fingerprint(k);
    const va = MmAllocateContiguousMemorySpecifyCache(k, 10_000, 0, MAXULONG64, 0, MmNonCached)!;
    MmFreeContiguousMemorySpecifyCache(k, va, 10_000, MmNonCached);
    expect(fingerprint(k)).toBe(before);
    expect(k.mm.system.lookup(va)).toBeNull();
  });

  it('BAD_POOL_CALLER 0x60: an address that is not the base of contiguous memory', () => {
    const k = small();
    const va = MmAllocateContiguousMemorySpecifyCache(k, 2 * PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    const before = fingerprint(k);
    const b = expectBugCheck(() => MmFreeContiguousMemorySpecifyCache(k, va + PAGE_SIZE, 2 * PAGE_SIZE, MmCached), BAD_POOL_CALLER, 0x60);
    expect(b.parameters[1]).toBe(va + PAGE_SIZE);
    expect(fingerprint(k)).toBe(before);
  });

  it('BAD_POOL_CALLER 0x60: NumberOfBytes does not match the allocation (nothing freed)', () => {
    const k = small();
    const va = MmAllocateContiguousMemorySpecifyCache(k, 2 * PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    const before = fingerprint(k);
    const b = expectBugCheck(() => MmFreeContiguousMemorySpecifyCache(k, va, PAGE_SIZE, MmCached), BAD_POOL_CALLER, 0x60);
    expect(b.message).toMatch(/NumberOfBytes/);
    expect(fingerprint(k)).toBe(before);
  });

  it('BAD_POOL_CALLER 0x60: CacheType does not match the allocation (nothing freed)', () => {
    const k = small();
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    const before = fingerprint(k);
    const b = expectBugCheck(() => MmFreeContiguousMemorySpecifyCache(k, va, PAGE_SIZE, MmNonCached), BAD_POOL_CALLER, 0x60);
    expect(b.message).toMatch(/CacheType/);
    expect(fingerprint(k)).toBe(before);
  });

  it('BAD_POOL_CALLER 0x60: double free', () => {
    const k = small();
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    MmFreeContiguousMemory(k, va);
    const b = expectBugCheck(() => MmFreeContiguousMemory(k, va), BAD_POOL_CALLER, 0x60);
    expect(b.message).toMatch(/freed contiguous/);
  });

  it('BAD_POOL_CALLER 0x60: NULL, user addresses and garbage', () => {
    for (const bad of [0, 0x1000, NaN, -1, 2 ** 60]) {
      expectBugCheck(() => MmFreeContiguousMemory(small(), bad), BAD_POOL_CALLER, 0x60);
    }
  });

  it('PAGE_FAULT_IN_NONPAGED_AREA 0x50: touching freed contiguous memory (VAs are never reused)', () => {
    const k = small();
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    MmFreeContiguousMemory(k, va);
    const b = expectBugCheck(() => k.mm.system.write(va + 8, new Uint8Array(4)), PAGE_FAULT_IN_NONPAGED_AREA, va + 8);
    expect(b.parameters[1]).toBe(2); // write
  });

  it('PAGE_FAULT_IN_NONPAGED_AREA 0x50: running off the end into the guard page changes no byte', () => {
    const k = small();
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    const b = expectBugCheck(() => k.mm.system.write(va + PAGE_SIZE - 2, new Uint8Array([1, 2, 3, 4])), PAGE_FAULT_IN_NONPAGED_AREA, va + PAGE_SIZE);
    expect(b.parameters[1]).toBe(2);
  });
});
