/**
 * MmAllocateNonCachedMemory / MmFreeNonCachedMemory.
 * Sources: WDK "MmAllocateNonCachedMemory function (ntddk.h)" (whole pages, not contiguous, not
 * initialized, IRQL <= APC_LEVEL, NULL when it cannot), "MmFreeNonCachedMemory function (ntddk.h)"
 * (BaseAddress and NumberOfBytes of the allocation, IRQL <= APC_LEVEL);
 * ReactOS kmtests modules/rostests/kmtests/ntos_mm/MmMapLockedPagesSpecifyCache_user.c (a
 * noncached buffer described with MmBuildMdlForNonPagedPool and mapped).
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import { MmAllocateNonCachedMemory, MmFreeNonCachedMemory } from '../../src/kernel/mm/noncached.ts';
import { MmNonCached } from '../../src/kernel/mm/contiguous.ts';
import { IoAllocateMdl, IoFreeMdl, MDL_SOURCE_IS_NONPAGED_POOL, MmBuildMdlForNonPagedPool, MmGetMdlPfnArray } from '../../src/kernel/mm/mdl.ts';
import { MmGetPhysicalAddress } from '../../src/kernel/mm/index.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../../src/kernel/irql.ts';
import { IRQL_NOT_LESS_OR_EQUAL, MEMORY_MANAGEMENT, PAGE_FAULT_IN_NONPAGED_AREA } from '../../src/kernel/bugcheck.ts';
import { ExAllocatePool2, POOL_FLAG_NON_PAGED, poolTag } from '../../src/kernel/mm/pool.ts';
import { expectBugCheck, fingerprint, small } from './helpers.ts';

describe('MmAllocateNonCachedMemory', () => {
  it('returns page-aligned nonpaged system memory mapped MmNonCached, whole pages; MmFreeNonCachedMemory returns everything', () => {
    const k = small();
    const before = fingerprint(k);
    const va = MmAllocateNonCachedMemory(k, PAGE_SIZE + 1)!;
    expect(va).not.toBeNull();
    expect(va % PAGE_SIZE).toBe(0);
    const m = k.mm.system.lookup(va)!;
    expect(m.cacheType).toBe(MmNonCached);
    expect(m.pages).toBe(2);
    // Both pages are usable: the routine rounds up to whole pages.
    k.mm.system.write(va + 2 * PAGE_SIZE - 4, new Uint8Array([1, 2, 3, 4]));
    MmFreeNonCachedMemory(k, va, PAGE_SIZE + 1);
    expect(fingerprint(k)).toBe(before);
    expect(k.mm.system.lookup(va)).toBeNull();
  });

  it('the contents are not initialized: a freed page\'s old bytes show through', () => {
    const k = small();
    const first = MmAllocateNonCachedMemory(k, PAGE_SIZE)!;
    const pa = MmGetPhysicalAddress(k, first);
    k.mm.system.write(first, new Uint8Array(16).fill(0x5a));
    MmFreeNonCachedMemory(k, first, PAGE_SIZE);
    // Take pages until the same frame comes back; its bytes were never cleared.
    const held: number[] = [];
    let found = false;
    for (let i = 0; i < 64 && !found; i++) {
      const va = MmAllocateNonCachedMemory(k, PAGE_SIZE)!;
      held.push(va);
      if (MmGetPhysicalAddress(k, va) === pa) {
        const b = new Uint8Array(16);
        k.mm.system.read(va, b);
        expect(Array.from(b)).toEqual(new Array(16).fill(0x5a));
        found = true;
      }
    }
    expect(found).toBe(true);
    for (const va of held) MmFreeNonCachedMemory(k, va, PAGE_SIZE);
  });

  it('the buffer can be described by MmBuildMdlForNonPagedPool (kmtests MmMapLockedPagesSpecifyCache_user.c)', () => {
    const k = small();
    const va = MmAllocateNonCachedMemory(k, 2 * PAGE_SIZE)!;
    const mdl = IoAllocateMdl(k, va, 2 * PAGE_SIZE, false, false, null)!;
    MmBuildMdlForNonPagedPool(k, mdl);
    expect(mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL).toBe(MDL_SOURCE_IS_NONPAGED_POOL);
    expect(MmGetMdlPfnArray(mdl)[1]! * PAGE_SIZE).toBe(MmGetPhysicalAddress(k, va + PAGE_SIZE));
    IoFreeMdl(k, mdl);
    MmFreeNonCachedMemory(k, va, 2 * PAGE_SIZE);
  });

  it('0 bytes, junk sizes, more than free memory and an injected failure are NULL with nothing changed', () => {
    const k = small();
    const before = fingerprint(k);
    expect(MmAllocateNonCachedMemory(k, 0)).toBeNull();
    expect(MmAllocateNonCachedMemory(k, -1)).toBeNull();
    expect(MmAllocateNonCachedMemory(k, NaN)).toBeNull();
    expect(MmAllocateNonCachedMemory(k, 'x' as never)).toBeNull();
    expect(MmAllocateNonCachedMemory(k, 1024 * 1024 * 1024)).toBeNull();
    k.faults.setPolicy({ kind: 'always' }, { sites: ['MmAllocateNonCachedMemory'] });
    expect(MmAllocateNonCachedMemory(k, PAGE_SIZE)).toBeNull();
    expect(fingerprint(k)).toBe(before);
  });

  it('above APC_LEVEL both routines are IRQL_NOT_LESS_OR_EQUAL; at APC_LEVEL they work', () => {
    const k = small();
    k.irql = APC_LEVEL;
    const va = MmAllocateNonCachedMemory(k, PAGE_SIZE)!;
    expect(va).not.toBeNull();
    k.irql = DISPATCH_LEVEL;
    expectBugCheck(() => MmFreeNonCachedMemory(k, va, PAGE_SIZE), IRQL_NOT_LESS_OR_EQUAL);
    const k2 = small();
    k2.irql = DISPATCH_LEVEL;
    expectBugCheck(() => MmAllocateNonCachedMemory(k2, PAGE_SIZE), IRQL_NOT_LESS_OR_EQUAL);
  });
});

describe('MmFreeNonCachedMemory', () => {
  it('an address that is not mapped system memory faults (0x50) before anything is freed', () => {
    const k = small();
    const va = MmAllocateNonCachedMemory(k, PAGE_SIZE)!;
    const before = fingerprint(k);
    expectBugCheck(() => MmFreeNonCachedMemory(k, 0x1000, PAGE_SIZE), PAGE_FAULT_IN_NONPAGED_AREA, 0x1000);
    expect(fingerprint(k)).toBe(before);
    expect(k.mm.system.lookup(va)).not.toBeNull();
  });

  it('mapped memory that is not this allocation, or a NumberOfBytes that does not match, is MEMORY_MANAGEMENT 0x411', () => {
    const k = small();
    const pool = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, poolTag('Test'))!;
    expectBugCheck(() => MmFreeNonCachedMemory(k, pool, 64), MEMORY_MANAGEMENT, 0x411);
    const k2 = small();
    const va = MmAllocateNonCachedMemory(k2, PAGE_SIZE)!;
    const before = fingerprint(k2);
    expectBugCheck(() => MmFreeNonCachedMemory(k2, va, 2 * PAGE_SIZE), MEMORY_MANAGEMENT, 0x411);
    expect(fingerprint(k2)).toBe(before);
    const k3 = small();
    const va3 = MmAllocateNonCachedMemory(k3, PAGE_SIZE)!;
    MmFreeNonCachedMemory(k3, va3, PAGE_SIZE);
    expectBugCheck(() => MmFreeNonCachedMemory(k3, va3, PAGE_SIZE), PAGE_FAULT_IN_NONPAGED_AREA, va3);
  });
});
