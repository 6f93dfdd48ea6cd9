/**
 * IoAllocateMdl / IoFreeMdl: the edge values and the fields Windows sets.
 * Sources: WDK "IoAllocateMdl function (wdm.h)", "Using MDLs", "MDL structure (wdm.h)";
 * ReactOS kmtests modules/rostests/kmtests/ntos_io/IoMdl.c (MDL chained on Irp->MdlAddress,
 * Next NULL, ByteCount as asked, size limit), ntos_mm/MmMdl.c (MDLs freed with ExFreePoolWithTag(Mdl, 0));
 * the MDL lookaside list: ReactOS ntoskrnl/io/iomgr/iomdl.c (IoAllocateMdl: spans of at most 23
 * pages are MDL_ALLOCATED_FIXED_SIZE from LookasideMdlList; IoFreeMdl: fixed-size MDLs back to the
 * list, others to pool) and iomgr.c (IopInitLookasideLists: MdlSize = sizeof(MDL) + 23 PFNs,
 * MaximumDepth 128); Windows Research Kernel iop.h (IOP_FIXED_SIZE_MDL_PFNS 0x17).
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import {
  FIXED_SIZE_MDL_PAGES, IoAllocateMdl, IoFreeMdl, MDL_ALLOCATED_FIXED_SIZE, MDL_MAX_BYTES, MmGetMdlByteCount,
  MmGetMdlByteOffset, MmGetMdlPfnArray, MmGetMdlVirtualAddress, SIZEOF_MDL, TAG_MDL, mdlAddress, mdlHost, type MdlIrpLink,
} from '../../src/kernel/mm/mdl.ts';
import { ExFreePool, ExFreePoolWithTag, ExQueryPoolBlockSize } from '../../src/kernel/mm/pool.ts';
import { STATUS_ACCESS_VIOLATION } from '../../src/kernel/status.ts';
import { BAD_POOL_CALLER } from '../../src/kernel/bugcheck.ts';
import { ref } from '../../src/kernel/ref.ts';
import { raisedStatus } from '../ps/fixture.ts';
import { expectBugCheck, fingerprint, poolBlocksInUse, small } from './helpers.ts';
import { lookasideCachedCount, MINIMUM_LOOKASIDE_DEPTH } from '../../src/kernel/ex/index.ts';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MIB } from '../../src/bus/index.ts';

describe('IoAllocateMdl', () => {
  it('Length 0 is a valid MDL with ByteCount 0 and no pages (WDK IoAllocateMdl; not NULL)', () => {
    const k = small();
    const m = IoAllocateMdl(k, 0x10_0123, 0, false, false, null)!;
    expect(m).not.toBeNull();
    expect(MmGetMdlByteCount(m)).toBe(0);
    expect(MmGetMdlByteOffset(m)).toBe(0x123);
    expect(MmGetMdlVirtualAddress(m)).toBe(0x10_0123);
    // ADDRESS_AND_SIZE_TO_SPAN_PAGES(Va, 0) = (BYTE_OFFSET(Va) + 0xFFF) >> 12: one page here.
    expect(MmGetMdlPfnArray(m).length).toBe(1);
    expect(m.Size).toBe(SIZEOF_MDL + 8);
    expect(m.Next).toBeNull();
    const aligned = IoAllocateMdl(k, 0x10_0000, 0, false, false, null)!;
    expect(MmGetMdlPfnArray(aligned).length).toBe(0);
    expect(aligned.Size).toBe(SIZEOF_MDL);
    expect(aligned.MdlFlags).toBe(MDL_ALLOCATED_FIXED_SIZE);
    IoFreeMdl(k, m);
    IoFreeMdl(k, aligned);
  });

  it('an MDL spanning up to 23 pages (IOP_FIXED_SIZE_MDL_PFNS 0x17) carries MDL_ALLOCATED_FIXED_SIZE (0x8), a larger one does not', () => {
    // Windows serves MDLs that fit its fixed-size lookaside (0x17 PFNs) from that list and marks
    // them (ReactOS io/iomgr/iomdl.c: "if (Size > 23)" allocates from pool without the flag).
    const k = small();
    expect(FIXED_SIZE_MDL_PAGES).toBe(0x17);
    const fits = IoAllocateMdl(k, 0x10_0000, FIXED_SIZE_MDL_PAGES * PAGE_SIZE, false, false, null)!;
    expect(fits.MdlFlags).toBe(MDL_ALLOCATED_FIXED_SIZE);
    expect(fits.MdlFlags).toBe(0x8);
    const unaligned = IoAllocateMdl(k, 0x10_0001, FIXED_SIZE_MDL_PAGES * PAGE_SIZE, false, false, null)!; // spans 24 pages
    expect(unaligned.MdlFlags & MDL_ALLOCATED_FIXED_SIZE).toBe(0);
    const big = IoAllocateMdl(k, 0x10_0000, 64 * PAGE_SIZE, false, false, null)!;
    expect(big.MdlFlags & MDL_ALLOCATED_FIXED_SIZE).toBe(0);
    for (const m of [fits, unaligned, big]) IoFreeMdl(k, m);
  });

  it('Size is sizeof(MDL) + 8 per spanned page (a CSHORT), ByteOffset the offset in the first page', () => {
    const k = small();
    const m = IoAllocateMdl(k, 0x10_0ff0, 0x20, false, false, null)!; // crosses a page boundary
    expect(MmGetMdlPfnArray(m).length).toBe(2);
    expect(m.Size).toBe(SIZEOF_MDL + 2 * 8);
    expect(m.StartVa).toBe(0x10_0000);
    expect(MmGetMdlByteOffset(m)).toBe(0xff0);
    IoFreeMdl(k, m);
  });

  it('Length above 4 GiB - PAGE_SIZE is NULL, the largest allowed length is an MDL (WDK IoAllocateMdl, Windows 7 and later row)', () => {
    // kmtests ntos_io/IoMdl.c records the older limit (2 GiB - PAGE_SIZE on Server 2003 x86).
    const k = small();
    expect(IoAllocateMdl(k, 0x10_0000, MDL_MAX_BYTES + 1, false, false, null)).toBeNull();
    const m = IoAllocateMdl(k, 0x10_0000, MDL_MAX_BYTES, false, false, null)!;
    expect(MmGetMdlByteCount(m)).toBe(MDL_MAX_BYTES);
    IoFreeMdl(k, m);
  });

  it('the MDL is a nonpaged pool block tagged "Mdl ": ExFreePoolWithTag(Mdl, 0) frees it (kmtests ntos_mm/MmMdl.c)', () => {
    const k = small();
    const before = fingerprint(k);
    const blocks = k.mm.pool.outstandingBlocks;
    const m = IoAllocateMdl(k, 0x10_0000, 3 * PAGE_SIZE, false, false, null)!;
    expect(k.mm.pool.outstandingBlocks).toBe(blocks + 1);
    expect(k.mm.pool.blockAt(mdlAddress(m))!.tag).toBe(TAG_MDL);
    const quota = ref(true);
    expect(ExQueryPoolBlockSize(k, mdlAddress(m), quota)).toBeGreaterThanOrEqual(SIZEOF_MDL + FIXED_SIZE_MDL_PAGES * 8);
    ExFreePoolWithTag(k, m, 0);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    expect(mdlHost(k).live).toBe(0);
    expect(fingerprint(k)).toBe(before);
    // ExFreePool(Mdl) too; freeing it again is a double free of the pool block.
    const m2 = IoAllocateMdl(k, 0x10_0000, 10, false, false, null)!;
    ExFreePool(k, m2);
    expect(mdlHost(k).live).toBe(0);
  });

  it('IoFreeMdl twice frees the pool block twice: BAD_POOL_CALLER 0x07 with P3 = the MDL, nothing else freed', () => {
    // IoFreeMdl ends in ExFreePool(Mdl) (WDK "Bug Check 0xC2 BAD_POOL_CALLER": 0x07, the block was already freed).
    const k = small();
    const m = IoAllocateMdl(k, 0x10_0000, 10, false, false, null)!;
    IoFreeMdl(k, m);
    const blocks = k.mm.pool.outstandingBlocks;
    const stop = expectBugCheck(() => IoFreeMdl(k, m), BAD_POOL_CALLER, 0x07);
    expect(stop.parameters[2]).toBe(mdlAddress(m));
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
  });

  it('freeing the MDL block by address with a wrong tag is BAD_POOL_CALLER 0x0A (the tag is "Mdl ")', () => {
    const k = small();
    const m = IoAllocateMdl(k, 0x10_0000, 10, false, false, null)!;
    expectBugCheck(() => ExFreePoolWithTag(k, mdlAddress(m), 0x4b4f4f42), BAD_POOL_CALLER, 0x0a);
  });

  it('with an IRP: SecondaryBuffer FALSE sets Irp->MdlAddress, TRUE appends to the chain (kmtests ntos_io/IoMdl.c)', () => {
    const k = small();
    const irp: MdlIrpLink = { MdlAddress: null };
    const a = IoAllocateMdl(k, 0x10_0000, 0x100, false, false, irp)!;
    expect(irp.MdlAddress).toBe(a);
    expect(a.Next).toBeNull();
    const b = IoAllocateMdl(k, 0x20_0000, 0x100, true, false, irp)!;
    expect(a.Next).toBe(b);
    expect(b.Next).toBeNull();
  });

  it('SecondaryBuffer TRUE on an IRP without an MDL dereferences NULL: access violation, nothing allocated', () => {
    // Windows walks Irp->MdlAddress to the chain's tail without checking it for NULL.
    const k = small();
    const before = fingerprint(k);
    const blocks = k.mm.pool.outstandingBlocks;
    expect(raisedStatus(() => IoAllocateMdl(k, 0x10_0000, 0x100, true, false, { MdlAddress: null }))).toBe(STATUS_ACCESS_VIOLATION);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    expect(fingerprint(k)).toBe(before);
  });

  it('an injected or real pool failure returns NULL and changes nothing (the IRP keeps no MDL)', () => {
    const k = small();
    const before = fingerprint(k);
    const irp: MdlIrpLink = { MdlAddress: null };
    k.faults.setPolicy({ kind: 'always' }, { sites: ['IoAllocateMdl'] });
    expect(IoAllocateMdl(k, 0x10_0000, 10, false, false, irp)).toBeNull();
    expect(irp.MdlAddress).toBeNull();
    expect(mdlHost(k).live).toBe(0);
    expect(fingerprint(k)).toBe(before);
  });

  it('junk arguments return NULL, never a JavaScript error', () => {
    const k = small();
    for (const [va, len] of [[NaN, 10], [-1, 10], [0x10_0000, -1], [0x10_0000, 1.5], ['x', 1], [2 ** 60, 1]] as const) {
      expect(IoAllocateMdl(k, va as number, len as number, false, false, null)).toBeNull();
    }
    expect(IoAllocateMdl(k, 0x10_0000, 10, false, false, 42 as never)).toBeNull();
  });
});

describe('IoAllocateMdl and IoFreeMdl use the I/O manager\'s MDL lookaside list (ReactOS io/iomgr/iomdl.c, iomgr.c)', () => {
  it('the list is a system list of sizeof(MDL) + 23 PFNs (232 bytes), tag "Mdl ", MaximumDepth 128 (IopInitLookasideLists)', () => {
    const k = small();
    const L = k.io.lookasideLists.mdl.L;
    expect([L.Size, L.Tag, L.MaximumDepth, L.Depth]).toEqual([SIZEOF_MDL + 23 * 8, TAG_MDL, 128, MINIMUM_LOOKASIDE_DEPTH]);
    expect(L.Size).toBe(232);
  });

  it('a fixed-size MDL is taken from the list (a miss goes to pool) and IoFreeMdl pushes it back; the next MDL reuses the block', () => {
    const k = small();
    const L = k.io.lookasideLists.mdl.L;
    const blocks = poolBlocksInUse(k);
    const m = IoAllocateMdl(k, 0x10_0000, 3 * PAGE_SIZE, false, false, null)!;
    expect([L.TotalAllocates, L.AllocateMisses]).toEqual([1, 1]);
    expect(k.mm.pool.blockAt(mdlAddress(m))).toMatchObject({ bytes: 232, tag: TAG_MDL, lookaside: 0 });
    const address = mdlAddress(m);
    IoFreeMdl(k, m);
    expect([L.TotalFrees, L.FreeMisses]).toEqual([1, 0]);
    expect(lookasideCachedCount(k, k.io.lookasideLists.mdl)).toBe(1);
    expect(poolBlocksInUse(k)).toBe(blocks);
    expect(k.mm.pool.blockAt(address)!.lookaside).not.toBe(0);
    const again = IoAllocateMdl(k, 0x20_0000, 10, false, false, null)!;
    expect(mdlAddress(again)).toBe(address);
    expect([L.TotalAllocates, L.AllocateMisses]).toEqual([2, 1]);
    expect(again.MdlFlags).toBe(MDL_ALLOCATED_FIXED_SIZE);
    IoFreeMdl(k, again);
  });

  it('an MDL of more than 23 pages never touches the list: a pool block of 48 + 8 per page, freed to pool', () => {
    const k = small();
    const L = k.io.lookasideLists.mdl.L;
    const before = fingerprint(k);
    const m = IoAllocateMdl(k, 0x10_0000, 24 * PAGE_SIZE, false, false, null)!;
    expect(k.mm.pool.blockAt(mdlAddress(m))!.bytes).toBe(SIZEOF_MDL + 24 * 8);
    IoFreeMdl(k, m);
    expect([L.TotalAllocates, L.TotalFrees]).toEqual([0, 0]);
    expect(fingerprint(k)).toBe(before);
  });

  it('at Depth the next IoFreeMdl is a FreeMiss and frees to pool; ExFreePool(Mdl) always frees to pool', () => {
    const k = small();
    const L = k.io.lookasideLists.mdl.L;
    const mdls = Array.from({ length: L.Depth + 2 }, (_, i) => IoAllocateMdl(k, 0x10_0000 + i * PAGE_SIZE, 10, false, false, null)!);
    ExFreePool(k, mdls.pop()!);
    expect(L.TotalFrees).toBe(0);
    for (const m of mdls) IoFreeMdl(k, m);
    expect([L.TotalFrees, L.FreeMisses]).toEqual([L.Depth + 1, 1]);
    expect(lookasideCachedCount(k, k.io.lookasideLists.mdl)).toBe(L.Depth);
    expect(mdlHost(k).live).toBe(0);
  });

  it('with Driver Verifier nothing is cached: the MDL block goes back to pool at once', () => {
    const k = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false, verifier: true });
    const before = fingerprint(k);
    IoFreeMdl(k, IoAllocateMdl(k, 0x10_0000, 10, false, false, null)!);
    expect(k.io.lookasideLists.mdl.L.FreeMisses).toBe(1);
    expect(fingerprint(k)).toBe(before);
  });
});
