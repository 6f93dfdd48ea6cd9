/**
 * Noncached memory: MmAllocateNonCachedMemory / MmFreeNonCachedMemory.
 * [ddi/ntddk nf-ntddk-mmallocatenoncachedmemory, nf-ntddk-mmfreenoncachedmemory]
 *
 * Implementation notes
 * - Whole pages of nonpaged system space (the page says the routine "always returns a full
 *   multiple of the virtual memory page size"), physically scattered ("typically not
 *   contiguous"), mapped MmNonCached; page-aligned, so cache-line aligned too. The pages come
 *   from the general page allocator: under NOLOWMEM they are above 4 GiB.
 * - Contents are NOT initialized (the page's note): freed RAM keeps its bytes, so a driver that
 *   shows the buffer to user mode without zeroing it leaks the previous owner's data.
 * - IRQL <= APC_LEVEL for both routines; above it IRQL_NOT_LESS_OR_EQUAL.
 * - MmFreeNonCachedMemory must get the base and the NumberOfBytes of the allocation. Windows
 *   documents no bug check for a wrong pointer (it would release PTEs and pages that are not
 *   this allocation's); the model stops before anything changes: PAGE_FAULT_IN_NONPAGED_AREA
 *   (0x50) for an address that is not mapped system memory, MEMORY_MANAGEMENT (0x1A) with
 *   P1 0x411 ("a PTE has been corrupted": what freeing someone else's PTEs does) for a mapped
 *   address that is not the base of a live noncached allocation or a size that does not match.
 */
import { PAGE_SIZE, hexAddress } from '../../bus/index.ts';
import { IRQL_NOT_LESS_OR_EQUAL, MEMORY_MANAGEMENT, PAGE_FAULT_IN_NONPAGED_AREA } from '../bugcheck.ts';
import { APC_LEVEL } from '../irql.ts';
import type { Kernel } from '../kernel.ts';
import { perHost } from '../per-host.ts';
import { MmNonCached } from './contiguous.ts';
import { MM_SYSTEM_RANGE_START, hexAddressOrValue } from './system-space.ts';

interface NonCachedBlock {
  readonly bytes: number;
  readonly pfns: Int32Array;
  readonly owner: number;
}

/** Live noncached allocations of a host, by base VA. */
export const nonCachedBlocks = perHost(() => new Map<number, NonCachedBlock>());

function checkIrql(k: Kernel, routine: string): void {
  if (k.irql > APC_LEVEL) {
    k.bugcheck.KeBugCheckEx(IRQL_NOT_LESS_OR_EQUAL, 0, k.irql, 0, 0, `${routine} called at IRQL ${k.irql}; it requires IRQL <= APC_LEVEL`);
  }
}

/**
 * MmAllocateNonCachedMemory(k, NumberOfBytes) → base VA or NULL. NULL for 0 bytes, a size that
 * is not a SIZE_T, or when pages or system PTEs run out (nothing is kept then).
 */
export function MmAllocateNonCachedMemory(k: Kernel, NumberOfBytes: number): number | null {
  const site = 'MmAllocateNonCachedMemory';
  k.bugcheck.assertRunning();
  checkIrql(k, site);
  if (!Number.isSafeInteger(NumberOfBytes) || NumberOfBytes <= 0) return null;
  const pages = Math.ceil(NumberOfBytes / PAGE_SIZE);
  if (pages > k.mm.index.freeCount) return null;
  const driver = k.currentDriver;
  if (k.faults.shouldFail({ site, bytes: pages * PAGE_SIZE, ...(driver !== null ? { driver } : {}) })) return null;
  const label = `${site} ${NumberOfBytes} bytes${driver !== null ? ` for ${driver}` : ''}`;
  // Owner kind 'mdl-pages': scattered nonpaged pages a driver owns (the same nature as
  // MmAllocatePagesForMdl's; the label tells them apart in reports).
  const owner = k.mm.owners.register('mdl-pages', label, driver ?? undefined);
  if (owner === 0) return null;
  const pfns = new Int32Array(pages);
  for (let i = 0; i < pages; i++) {
    // The page allocator's own fault point is this routine's: one request, one decision.
    const p = k.mm.pages.takePage(owner, k.mm.nolowmemActive ? k.mm.lowLimitPfn : 0, k.mm.pfn.pageCount - 1, MmNonCached);
    if (p < 0) {
      for (let j = 0; j < i; j++) k.mm.freePage(pfns[j]!);
      k.mm.owners.release(owner);
      return null;
    }
    pfns[i] = p;
  }
  const va = k.mm.system.map(pfns, MmNonCached, 'noncached', label);
  if (va === 0) {
    for (let j = 0; j < pages; j++) k.mm.freePage(pfns[j]!);
    k.mm.owners.release(owner);
    return null;
  }
  nonCachedBlocks(k).set(va, { bytes: NumberOfBytes, pfns, owner });
  return va;
}

/** MmFreeNonCachedMemory(k, BaseAddress, NumberOfBytes): both must be the allocation's. */
export function MmFreeNonCachedMemory(k: Kernel, BaseAddress: number, NumberOfBytes: number): void {
  const routine = 'MmFreeNonCachedMemory';
  k.bugcheck.assertRunning();
  checkIrql(k, routine);
  const blocks = nonCachedBlocks(k);
  const b = Number.isSafeInteger(BaseAddress) ? blocks.get(BaseAddress) : undefined;
  if (!b) {
    const mapped = Number.isSafeInteger(BaseAddress) && BaseAddress >= MM_SYSTEM_RANGE_START && k.mm.system.lookup(BaseAddress) !== null;
    if (!mapped) {
      k.bugcheck.KeBugCheckEx(PAGE_FAULT_IN_NONPAGED_AREA, Number.isSafeInteger(BaseAddress) ? BaseAddress : 0, 0, 0, 0,
        `${routine}(${hexAddressOrValue(BaseAddress)}): not mapped system memory`);
    }
    k.bugcheck.KeBugCheckEx(MEMORY_MANAGEMENT, 0x411, BaseAddress, 0, 0,
      `${routine}(${hexAddress(BaseAddress)}): not the base of memory from MmAllocateNonCachedMemory`);
  }
  if (NumberOfBytes !== b.bytes) {
    k.bugcheck.KeBugCheckEx(MEMORY_MANAGEMENT, 0x411, BaseAddress, Number.isSafeInteger(NumberOfBytes) ? NumberOfBytes : 0, b.bytes,
      `${routine}(${hexAddress(BaseAddress)}): NumberOfBytes ${String(NumberOfBytes)} does not match the ${b.bytes} allocated`);
  }
  blocks.delete(BaseAddress);
  k.mm.system.unmap(BaseAddress);
  for (let i = 0; i < b.pfns.length; i++) k.mm.freePage(b.pfns[i]!);
  k.mm.owners.release(b.owner);
}
