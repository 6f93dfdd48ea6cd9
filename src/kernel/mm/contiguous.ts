/**
 * Physically contiguous memory: MmAllocateContiguousMemorySpecifyCache, MmAllocateContiguous-
 * Memory, their frees, and MmGetPhysicalAddress. [ddi/wdm nf-wdm-mmallocatecontiguousmemory-
 * specifycache, nf-wdm-mmfreecontiguousmemoryspecifycache, nf-wdm-mmfreecontiguousmemory,
 * nf-wdm-mmgetphysicaladdress; debugger bug-check-0xc2--bad-pool-caller]
 *
 * Implementation notes
 * - The run is found by the free-run index (highest addresses first), marked START/END in
 *   the PFN database with the requested cache type, and mapped at fresh system VAs. Contents
 *   are NOT initialized: freed pages keep their bytes, so a caller that exposes the buffer
 *   without zeroing it leaks the previous owner's data, as on Windows.
 * - Bounds are bytes: every byte of the pages handed out lies in [Lowest, Highest]. A
 *   Highest beyond RAM is clamped; MAXULONG64 (or a LARGE_INTEGER of -1, which is the same
 *   64 bits) means "anywhere". The boundary rule for a run [first, last] of pages and a
 *   boundary of B pages: it crosses iff floor(first / B) !== floor(last / B).
 * - A boundary below PAGE_SIZE constrains nothing: the buffer starts page-aligned and is no
 *   longer than the boundary, so it cannot cross a multiple of it.
 * - Freeing: a BaseAddress that is not the start of a live contiguous allocation is
 *   BAD_POOL_CALLER 0xC2 / P1 0x60 / P2 address, as the bug check page documents for
 *   MmFreeContiguousMemory. What Windows does for a wrong NumberOfBytes or CacheType in
 *   MmFreeContiguousMemorySpecifyCache is not documented (the page only says they "must
 *   match"); we raise the same 0xC2 / 0x60 with P2 = address and say which field was wrong.
 */
import { PAGE_SIZE, hexAddress, pfnOf } from '../../bus/index.ts';
import { BAD_POOL_CALLER, IRQL_NOT_LESS_OR_EQUAL } from '../bugcheck.ts';
import { DISPATCH_LEVEL } from '../irql.ts';
import type { Kernel } from '../kernel.ts';
import { perHost } from '../per-host.ts';
import { MM_SYSTEM_RANGE_START, hexAddressOrValue } from './system-space.ts';

// MEMORY_CACHING_TYPE [ddi/wdm ne-wdm-_memory_caching_type]
export const MmNotMapped = -1;
export const MmNonCached = 0;
export const MmCached = 1;
export const MmWriteCombined = 2;
export const MmHardwareCoherentCached = 3;
export const MmNonCachedUnordered = 4;
export const MmUSWCCached = 5;
export const MmMaximumCacheType = 6;

/** MAXULONG64 as a JavaScript number (2^64 - 1 rounds to 2^64). */
export const MAXULONG64 = 2 ** 64 - 1;

export interface ContiguousBlock {
  va: number;
  firstPfn: number;
  pages: number;
  bytes: number;
  cacheType: number;
  owner: number;
  driver: string | null;
}

/** Live contiguous allocations of each kernel, by VA. */
export const contiguousBlocks = perHost(() => new Map<number, ContiguousBlock>());

const isAddress = (v: number) => Number.isSafeInteger(v) && v >= 0;

/** The highest acceptable byte, or null when the value is malformed. */
function highestByte(v: number): number | null {
  if (v === -1 || v === MAXULONG64) return Number.MAX_SAFE_INTEGER;
  if (Number.isInteger(v) && v >= 0) return Math.min(v, Number.MAX_SAFE_INTEGER);
  return null;
}

function checkIrql(k: Kernel, routine: string): void {
  if (k.irql > DISPATCH_LEVEL) {
    k.bugcheck.KeBugCheckEx(IRQL_NOT_LESS_OR_EQUAL, 0, k.irql, 0, 0,
      `${routine} called at IRQL ${k.irql}; it requires IRQL <= DISPATCH_LEVEL`);
  }
}

function miAllocateContiguous(k: Kernel, site: string, NumberOfBytes: number, Lowest: number, Highest: number,
                              Boundary: number, CacheType: number): number | null {
  k.bugcheck.assertRunning();
  checkIrql(k, site);
  if (!Number.isSafeInteger(NumberOfBytes) || NumberOfBytes <= 0) return null;
  if (!isAddress(Lowest)) return null;
  const high = highestByte(Highest);
  if (high === null || Lowest > high) return null;
  if (!Number.isInteger(Boundary) || Boundary < 0) return null;
  if (Boundary !== 0) {
    const log = Math.log2(Boundary);
    if (!Number.isInteger(log) || Boundary < NumberOfBytes) return null;
  }
  if (!Number.isInteger(CacheType) || CacheType < MmNonCached || CacheType >= MmMaximumCacheType) return null;

  const pages = Math.ceil(NumberOfBytes / PAGE_SIZE);
  const lowestPfn = Math.ceil(Lowest / PAGE_SIZE);
  // Last page whose every byte is <= high.
  const highestPfn = Math.min(pfnOf(high + 1) - 1, k.mm.pfn.pageCount - 1);
  if (highestPfn < lowestPfn || highestPfn - lowestPfn + 1 < pages) return null;
  const boundaryPages = Boundary >= PAGE_SIZE ? Math.min(Boundary / PAGE_SIZE, 0x4000_0000) : 0;

  const driver = k.currentDriver;
  if (k.faults.shouldFail({ site, bytes: NumberOfBytes, ...(driver !== null ? { driver } : {}) })) return null;
  const label = `${site} ${NumberOfBytes} bytes${driver !== null ? ` for ${driver}` : ''}`;
  const owner = k.mm.owners.register('contiguous', label, driver ?? undefined);
  if (owner === 0) return null;
  const first = k.mm.pages.takeRun(pages, ...effective(k, lowestPfn, highestPfn), boundaryPages >= k.mm.pfn.pageCount ? 0 : boundaryPages, owner, CacheType);
  if (first < 0) {
    k.mm.owners.release(owner);
    return null;
  }
  const pfns = new Int32Array(pages);
  for (let i = 0; i < pages; i++) pfns[i] = first + i;
  const va = k.mm.system.map(pfns, CacheType, 'contiguous', label);
  if (va === 0) {
    k.mm.pages.release(first, pages);
    k.mm.owners.release(owner);
    return null;
  }
  contiguousBlocks(k).set(va, { va, firstPfn: first, pages, bytes: NumberOfBytes, cacheType: CacheType, owner, driver });
  return va;
}

/** NOLOWMEM: keep above 4 GiB unless the request is explicitly bounded below it. */
function effective(k: Kernel, lo: number, hi: number): [number, number] {
  if (k.mm.nolowmemActive && hi >= k.mm.lowLimitPfn) lo = Math.max(lo, k.mm.lowLimitPfn);
  return [lo, hi];
}

/**
 * MmAllocateContiguousMemorySpecifyCache: nonpaged, physically contiguous, page-aligned
 * memory in [Lowest, Highest] not crossing a multiple of Boundary, mapped with CacheType.
 * Returns the system VA or null. Contents are uninitialized.
 */
export function MmAllocateContiguousMemorySpecifyCache(k: Kernel, NumberOfBytes: number, LowestAcceptableAddress: number,
  HighestAcceptableAddress: number, BoundaryAddressMultiple: number, CacheType: number): number | null {
  return miAllocateContiguous(k, 'MmAllocateContiguousMemorySpecifyCache', NumberOfBytes, LowestAcceptableAddress,
    HighestAcceptableAddress, BoundaryAddressMultiple, CacheType);
}

/** MmAllocateContiguousMemory: cached, anywhere up to HighestAcceptableAddress. */
export function MmAllocateContiguousMemory(k: Kernel, NumberOfBytes: number, HighestAcceptableAddress: number): number | null {
  return miAllocateContiguous(k, 'MmAllocateContiguousMemory', NumberOfBytes, 0, HighestAcceptableAddress, 0, MmCached);
}

function miFreeContiguous(k: Kernel, routine: string, BaseAddress: number, check?: { bytes: number; cacheType: number }): void {
  k.bugcheck.assertRunning();
  checkIrql(k, routine);
  const blocks = contiguousBlocks(k);
  const b = isAddress(BaseAddress) && BaseAddress >= MM_SYSTEM_RANGE_START ? blocks.get(BaseAddress) : undefined;
  const p2 = isAddress(BaseAddress) ? BaseAddress : 0;
  if (!b) {
    const old = isAddress(BaseAddress) ? k.mm.system.history(BaseAddress) : null;
    k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x60, p2, 0, 0,
      `${routine}(${hexAddressOrValue(BaseAddress)}): not the base of live contiguous memory` +
        (old ? ` (${old.live ? '' : 'freed '}${old.kind} "${old.label}" at ${hexAddress(old.va)})` : ''));
  }
  if (check && check.bytes !== b.bytes) {
    k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x60, p2, 0, 0,
      `${routine}(${hexAddress(BaseAddress)}): NumberOfBytes ${String(check.bytes)} does not match the ${b.bytes} allocated`);
  }
  if (check && check.cacheType !== b.cacheType) {
    k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x60, p2, 0, 0,
      `${routine}(${hexAddress(BaseAddress)}): CacheType ${String(check.cacheType)} does not match ${b.cacheType} allocated`);
  }
  blocks.delete(BaseAddress);
  k.mm.system.unmap(BaseAddress);
  k.mm.pages.release(b.firstPfn, b.pages);
  k.mm.owners.release(b.owner);
}

/** MmFreeContiguousMemorySpecifyCache: all three arguments must match the allocation. */
export function MmFreeContiguousMemorySpecifyCache(k: Kernel, BaseAddress: number, NumberOfBytes: number, CacheType: number): void {
  miFreeContiguous(k, 'MmFreeContiguousMemorySpecifyCache', BaseAddress, { bytes: NumberOfBytes, cacheType: CacheType });
}

/** MmFreeContiguousMemory: frees memory from any MmAllocateContiguousMemoryXxx routine. */
export function MmFreeContiguousMemory(k: Kernel, BaseAddress: number): void {
  miFreeContiguous(k, 'MmFreeContiguousMemory', BaseAddress);
}

/**
 * MmGetPhysicalAddress: the physical address behind a valid nonpaged system VA; 0 (a zero
 * PHYSICAL_ADDRESS, as Windows returns) for an address with no translation. User addresses
 * are not translated here (process address spaces belong to the process manager).
 */
export function MmGetPhysicalAddress(k: Kernel, BaseAddress: number): number {
  k.bugcheck.assertRunning();
  if (!isAddress(BaseAddress) || BaseAddress < MM_SYSTEM_RANGE_START) return 0;
  return k.mm.system.physicalAddress(BaseAddress) ?? 0;
}
