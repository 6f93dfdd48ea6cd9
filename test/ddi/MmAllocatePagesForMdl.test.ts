/**
 * MmAllocatePagesForMdl / MmAllocatePagesForMdlEx / MmFreePagesFromMdl, and
 * MmBuildMdlForNonPagedPool's flags.
 * Sources: WDK "MmAllocatePagesForMdl function (wdm.h)", "MmAllocatePagesForMdlEx function (wdm.h)",
 * "MmFreePagesFromMdl function (wdm.h)", "MmBuildMdlForNonPagedPool function (wdm.h)",
 * "Bug Check 0xC4 DRIVER_VERIFIER_DETECTED_VIOLATION" (0x7E: IRQL above DISPATCH_LEVEL);
 * ReactOS kmtests modules/rostests/kmtests/ntos_mm/MmMdl.c (TestMmAllocatePagesForMdl,
 * TestMmBuildMdlForNonPagedPool), whose assertions are carried over below.
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import {
  IoAllocateMdl, IoFreeMdl, MDL_MAPPED_TO_SYSTEM_VA, MDL_PAGES_LOCKED, MDL_SOURCE_IS_NONPAGED_POOL, MM_ALLOCATE_FULLY_REQUIRED,
  MmAllocatePagesForMdl, MmAllocatePagesForMdlEx, MmBuildMdlForNonPagedPool, MmFreePagesFromMdl, MmGetMdlByteCount,
  MmGetMdlPfnArray, MmGetMdlVirtualAddress, addressAndSizeToSpanPages, mdlHost, KernelMode,
} from '../../src/kernel/mm/mdl.ts';
import { MmMapLockedPagesSpecifyCache, MmUnmapLockedPages, NormalPagePriority } from '../../src/kernel/mm/mdl-mapping.ts';
import { ExAllocatePoolWithTag, ExFreePoolWithTag, NonPagedPool, PagedPool, poolTag } from '../../src/kernel/mm/pool.ts';
import { MAXULONG64, MmCached } from '../../src/kernel/mm/contiguous.ts';
import { DISPATCH_LEVEL, HIGH_LEVEL } from '../../src/kernel/irql.ts';
import { DRIVER_VERIFIER_DETECTED_VIOLATION, IRQL_NOT_LESS_OR_EQUAL } from '../../src/kernel/bugcheck.ts';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MIB } from '../../src/bus/index.ts';
import { expectBugCheck, fingerprint, small } from './helpers.ts';

const TWO_MIB = 2 * 1024 * 1024;

describe('MmAllocatePagesForMdl', () => {
  it('(0, -1, 0, 2 MiB): ByteCount 2 MiB, no virtual address, not mapped, every PFN neither 0 nor -1 (kmtests ntos_mm/MmMdl.c)', () => {
    const k = small();
    const before = fingerprint(k);
    const mdl = MmAllocatePagesForMdl(k, 0, -1, 0, TWO_MIB)!;
    expect(mdl).not.toBeNull();
    expect(MmGetMdlByteCount(mdl)).toBe(TWO_MIB);
    expect(MmGetMdlVirtualAddress(mdl)).toBe(0);
    expect(mdl.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA).toBe(0);
    const pages = addressAndSizeToSpanPages(MmGetMdlVirtualAddress(mdl), MmGetMdlByteCount(mdl));
    expect(pages).toBe(TWO_MIB / PAGE_SIZE);
    const pfns = MmGetMdlPfnArray(mdl);
    for (let i = 0; i < pages; i++) expect(pfns[i] !== 0 && pfns[i] !== -1).toBe(true);
    MmFreePagesFromMdl(k, mdl);
    ExFreePoolWithTag(k, mdl, 0); // the MDL is a pool block, freed as MmMdl.c frees it
    expect(mdlHost(k).live).toBe(0);
    expect(fingerprint(k)).toBe(before);
  });

  it('HighAddress -1 and MAXULONG64 both mean "no upper bound" (as the contiguous routines accept it)', () => {
    const k = small();
    for (const high of [-1, MAXULONG64]) {
      const mdl = MmAllocatePagesForMdlEx(k, 0, high, 0, 4 * PAGE_SIZE, MmCached, 0)!;
      expect(MmGetMdlByteCount(mdl)).toBe(4 * PAGE_SIZE);
      MmFreePagesFromMdl(k, mdl);
      ExFreePoolWithTag(k, mdl, 0);
    }
  });

  it('mapping keeps the virtual address NULL and sets MappedSystemVa and MDL_MAPPED_TO_SYSTEM_VA; unmapping clears the flag (MmMdl.c)', () => {
    const k = small();
    const before = fingerprint(k);
    const mdl = MmAllocatePagesForMdl(k, 0, -1, 0, TWO_MIB)!;
    const va = MmMapLockedPagesSpecifyCache(k, mdl, KernelMode, MmCached, null, false, NormalPagePriority)!;
    expect(va).not.toBeNull();
    expect(MmGetMdlByteCount(mdl)).toBe(TWO_MIB);
    expect(MmGetMdlVirtualAddress(mdl)).toBe(0);
    expect(mdl.MappedSystemVa).toBe(va);
    expect(mdl.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA).toBe(MDL_MAPPED_TO_SYSTEM_VA);
    MmUnmapLockedPages(k, va, mdl);
    expect(MmGetMdlByteCount(mdl)).toBe(TWO_MIB);
    expect(MmGetMdlVirtualAddress(mdl)).toBe(0);
    expect(mdl.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA).toBe(0);
    MmFreePagesFromMdl(k, mdl);
    ExFreePoolWithTag(k, mdl, 0);
    expect(fingerprint(k)).toBe(before);
  });

  it('without Driver Verifier, MmFreePagesFromMdl and ExFreePoolWithTag on a still-mapped MDL do not stop (MmMdl.c "free without unmapping")', () => {
    const k = small();
    const mdl = MmAllocatePagesForMdl(k, 0, -1, 0, TWO_MIB)!;
    expect(MmMapLockedPagesSpecifyCache(k, mdl, KernelMode, MmCached, null, false, NormalPagePriority)).not.toBeNull();
    MmFreePagesFromMdl(k, mdl);
    ExFreePoolWithTag(k, mdl, 0);
    expect(k.bugcheck.crashed).toBeNull();
    expect(mdlHost(k).live).toBe(0);
  });

  it('the pages are the MDL\'s own and resident (MDL_PAGES_LOCKED), and zeroed', () => {
    const k = small();
    const mdl = MmAllocatePagesForMdl(k, 0, -1, 0, PAGE_SIZE)!;
    expect(mdl.MdlFlags & MDL_PAGES_LOCKED).toBe(MDL_PAGES_LOCKED);
    const pa = MmGetMdlPfnArray(mdl)[0]! * PAGE_SIZE;
    const bytes = new Uint8Array(PAGE_SIZE).fill(0xff);
    k.memory.read(pa, bytes);
    expect(bytes.every((b) => b === 0)).toBe(true);
    MmFreePagesFromMdl(k, mdl);
    ExFreePoolWithTag(k, mdl, 0);
  });

  it('fewer pages than asked is success with a smaller ByteCount; MM_ALLOCATE_FULLY_REQUIRED makes it NULL', () => {
    const k = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false });
    const want = 256 * MIB;
    const partial = MmAllocatePagesForMdl(k, 0, -1, 0, want)!;
    expect(MmGetMdlByteCount(partial)).toBeLessThan(want);
    expect(MmGetMdlByteCount(partial) % PAGE_SIZE).toBe(0);
    MmFreePagesFromMdl(k, partial);
    ExFreePoolWithTag(k, partial, 0);
    const before = fingerprint(k);
    expect(MmAllocatePagesForMdlEx(k, 0, -1, 0, want, MmCached, MM_ALLOCATE_FULLY_REQUIRED)).toBeNull();
    expect(fingerprint(k)).toBe(before);
  });

  it('an injected failure returns NULL and changes nothing', () => {
    const k = small();
    const before = fingerprint(k);
    const blocks = k.mm.pool.outstandingBlocks;
    k.faults.setPolicy({ kind: 'always' }, { sites: ['MmAllocatePagesForMdl'] });
    expect(MmAllocatePagesForMdl(k, 0, -1, 0, TWO_MIB)).toBeNull();
    expect(fingerprint(k)).toBe(before);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
  });

  it('above DISPATCH_LEVEL: IRQL_NOT_LESS_OR_EQUAL, or 0xC4/0x7E under Driver Verifier (Bug Check 0xC4 page)', () => {
    const k = small();
    k.irql = HIGH_LEVEL;
    expectBugCheck(() => MmAllocatePagesForMdl(k, 0, -1, 0, PAGE_SIZE), IRQL_NOT_LESS_OR_EQUAL);
    const kv = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false, verifier: true });
    kv.irql = HIGH_LEVEL;
    const stop = expectBugCheck(() => MmAllocatePagesForMdlEx(kv, 0, -1, 0, PAGE_SIZE, MmCached, 0), DRIVER_VERIFIER_DETECTED_VIOLATION, 0x7e);
    expect(stop.parameters[1]).toBe(HIGH_LEVEL);
    const ok = small();
    ok.irql = DISPATCH_LEVEL;
    const mdl = MmAllocatePagesForMdl(ok, 0, -1, 0, PAGE_SIZE)!;
    expect(mdl).not.toBeNull();
  });

  it('junk arguments (TotalBytes 0, Low above High, unaligned SkipBytes, NaN) return NULL', () => {
    const k = small();
    const before = fingerprint(k);
    expect(MmAllocatePagesForMdl(k, 0, -1, 0, 0)).toBeNull();
    expect(MmAllocatePagesForMdl(k, 0x10_0000, 0x1000, 0, PAGE_SIZE)).toBeNull();
    expect(MmAllocatePagesForMdl(k, 0, -1, 100, PAGE_SIZE)).toBeNull();
    expect(MmAllocatePagesForMdl(k, NaN, -1, 0, PAGE_SIZE)).toBeNull();
    expect(MmAllocatePagesForMdlEx(k, 0, -1, 0, PAGE_SIZE, 99, 0)).toBeNull();
    expect(fingerprint(k)).toBe(before);
  });
});

describe('MmBuildMdlForNonPagedPool', () => {
  it('sets MDL_SOURCE_IS_NONPAGED_POOL and not MDL_PAGES_LOCKED, for nonpaged and (without the verifier) paged pool (MmMdl.c)', () => {
    const k = small();
    for (const type of [PagedPool, NonPagedPool]) {
      const page = ExAllocatePoolWithTag(k, type, PAGE_SIZE, poolTag('Test'))!;
      const mdl = IoAllocateMdl(k, page, PAGE_SIZE, false, false, null)!;
      expect(mdl.MdlFlags & MDL_PAGES_LOCKED).toBe(0);
      expect(mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL).toBe(0);
      MmBuildMdlForNonPagedPool(k, mdl);
      expect(mdl.MdlFlags & MDL_PAGES_LOCKED).toBe(0);
      expect(mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL).toBe(MDL_SOURCE_IS_NONPAGED_POOL);
      IoFreeMdl(k, mdl);
      ExFreePoolWithTag(k, page, poolTag('Test'));
    }
    expect(k.bugcheck.crashed).toBeNull();
  });
});
