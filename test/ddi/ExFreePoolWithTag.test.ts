import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import { BAD_POOL_CALLER, PAGE_FAULT_IN_NONPAGED_AREA } from '../../src/kernel/bugcheck.ts';
import { DISPATCH_LEVEL, HIGH_LEVEL } from '../../src/kernel/irql.ts';
import {
  ExAllocatePool2, ExFreePool, ExFreePoolWithTag, MAXULONG64, MM_SYSTEM_RANGE_START,
  MmAllocateContiguousMemorySpecifyCache, MmCached, POOL_FLAG_NON_PAGED, POOL_FLAG_PAGED, poolTag,
} from '../../src/kernel/mm/index.ts';
import { expectBugCheck, fingerprint, small } from './helpers.ts';

const TAG = poolTag('Sanp');

describe('ExFreePoolWithTag', () => {
  it('after every block is freed the PFN database is back at its boot state', () => {
    const k = small();
    const before = fingerprint(k);
    const blocks = [1, 15, 16, 17, 100, 4095, 4096, 4097, 20000].map((n) => ExAllocatePool2(k, POOL_FLAG_NON_PAGED, n, TAG)!);
    for (const b of blocks) ExFreePoolWithTag(k, b, TAG);
    expect(fingerprint(k)).toBe(before);
    expect(k.mm.system.liveMappings).toBe(0);
  });

  it('BAD_POOL_CALLER 0x0A: wrong tag (nothing freed)', () => {
    const k = small();
    const p = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG)!;
    const before = fingerprint(k);
    const b = expectBugCheck(() => ExFreePoolWithTag(k, p, poolTag('Othr')), BAD_POOL_CALLER, 0x0a);
    expect(b.parameters.slice(1)).toEqual([p, TAG, poolTag('Othr')]);
    expect(fingerprint(k)).toBe(before);
  });

  it('BAD_POOL_CALLER 0x07: double free of a small block and of a large block', () => {
    const k = small();
    const keep = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG)!; // keeps the slab page alive
    const p = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG)!;
    ExFreePoolWithTag(k, p, TAG);
    const b = expectBugCheck(() => ExFreePoolWithTag(k, p, TAG), BAD_POOL_CALLER, 0x07);
    expect(b.parameters[3]).toBe(p);
    expect(keep).not.toBe(p);
    const k2 = small();
    const big = ExAllocatePool2(k2, POOL_FLAG_NON_PAGED, 3 * PAGE_SIZE, TAG)!;
    ExFreePool(k2, big);
    expectBugCheck(() => ExFreePool(k2, big), BAD_POOL_CALLER, 0x07);
    const k3 = small();
    const lone = ExAllocatePool2(k3, POOL_FLAG_NON_PAGED, 64, TAG)!; // its slab page goes away on free
    ExFreePool(k3, lone);
    expectBugCheck(() => ExFreePool(k3, lone), BAD_POOL_CALLER, 0x07);
  });

  it('BAD_POOL_CALLER 0x99: an address that is not the start of a pool block', () => {
    const k = small();
    const p = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG)!;
    expectBugCheck(() => ExFreePool(k, p + 16), BAD_POOL_CALLER, 0x99);
    const k2 = small();
    const big = ExAllocatePool2(k2, POOL_FLAG_NON_PAGED, 2 * PAGE_SIZE, TAG)!;
    expectBugCheck(() => ExFreePool(k2, big + PAGE_SIZE), BAD_POOL_CALLER, 0x99);
    const k3 = small();
    const c = MmAllocateContiguousMemorySpecifyCache(k3, PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    expectBugCheck(() => ExFreePool(k3, c), BAD_POOL_CALLER, 0x99);
    expectBugCheck(() => ExFreePool(small(), MM_SYSTEM_RANGE_START + 0x1234_5000), BAD_POOL_CALLER, 0x99);
    expectBugCheck(() => ExFreePool(small(), NaN), BAD_POOL_CALLER, 0x99);
  });

  it('BAD_POOL_CALLER 0x40: a user-mode address (NULL included)', () => {
    for (const bad of [0, 0x7ff0_0000]) {
      const b = expectBugCheck(() => ExFreePool(small(), bad), BAD_POOL_CALLER, 0x40);
      expect(b.parameters[2]).toBe(MM_SYSTEM_RANGE_START);
    }
  });

  it('BAD_POOL_CALLER 0x09: paged pool freed at DISPATCH_LEVEL, any pool above it', () => {
    const k = small();
    const paged = ExAllocatePool2(k, POOL_FLAG_PAGED, 64, TAG)!;
    const nonpaged = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG)!;
    k.irql = DISPATCH_LEVEL;
    ExFreePool(k, nonpaged); // fine
    expectBugCheck(() => ExFreePool(k, paged), BAD_POOL_CALLER, 0x09);
    const k2 = small();
    const p2 = ExAllocatePool2(k2, POOL_FLAG_NON_PAGED, 64, TAG)!;
    k2.irql = HIGH_LEVEL;
    expectBugCheck(() => ExFreePool(k2, p2), BAD_POOL_CALLER, 0x09);
  });

  it('PAGE_FAULT_IN_NONPAGED_AREA 0x50: reading a freed large block', () => {
    const k = small();
    const p = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 2 * PAGE_SIZE, TAG)!;
    ExFreePool(k, p);
    expectBugCheck(() => k.mm.system.read(p, new Uint8Array(8)), PAGE_FAULT_IN_NONPAGED_AREA, p);
  });
});
