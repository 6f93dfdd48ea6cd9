/**
 * Common buffers: memory the CPU and the device share for the life of an adapter
 * ("Using Common-Buffer Bus-Master DMA"; nc-wdm-pallocate_common_buffer, -pfree_common_buffer,
 * -pallocate_common_buffer_ex, -pallocate_common_buffer_with_bounds).
 *
 * Implementation notes
 * - A common buffer is whole pages (at least one; only Length bytes are the driver's), mapped at
 *   a system VA, and contiguous as the device sees it at LogicalAddress.
 * - Without an IOMMU the logical address is the physical one, so the pages are one physically
 *   contiguous run below the adapter's reach: for a 32-bit adapter that is an explicit request
 *   below 4 GiB, which the memory manager grants even under NOLOWMEM (the SAN proxy page's
 *   point). With the IOMMU on, pages come from anywhere (general allocations, above 4 GiB under
 *   NOLOWMEM) and are mapped contiguously in the device's domain below its reach; the logical
 *   address is that IOVA and differs from any physical address.
 * - Contents are not initialised: freed pages keep their bytes (as MmAllocateContiguousMemory).
 * - CacheEnabled is ignored by AllocateCommonBuffer (x86/x64 DMA is cache-coherent, the page
 *   says so) and honoured by AllocateCommonBufferEx.
 * - FreeCommonBuffer must match Length, LogicalAddress and VirtualAddress exactly (and
 *   CacheEnabled for an Ex buffer, where it mattered). Misuse, verifier on: double free → 0xE6/03,
 *   any other mismatch → 0xE6/1F. Verifier off: a double free or an address that is no common
 *   buffer reaches MmFreeContiguousMemory with a bad pointer → BAD_POOL_CALLER 0xC2/0x60 (P2 = the
 *   VA), as on Windows; a live buffer freed with the wrong Length/LogicalAddress/adapter is refused
 *   (stays allocated) and recorded as a finding.
 * - Fault injection: one `k.faults.shouldFail` per call with site = the routine's name, before
 *   any state changes; the memory manager's own calls use "<routine>:pages".
 */
import { PAGE_SIZE, hexAddress } from '../../bus/index.ts';
import { BAD_POOL_CALLER } from '../bugcheck.ts';
import type { Kernel } from '../kernel.ts';
import { isUlong } from '../ulong.ts';
import { PASSIVE_LEVEL } from '../irql.ts';
import { MmCached, MmNonCached } from '../mm/contiguous.ts';
import type { Ref } from '../ref.ts';
import {
  DMA_VIOLATION_COMMON_BUFFER_DOUBLE_FREE,
  DMA_VIOLATION_INVALID_BUFFER,
  DMA_VIOLATION_ZERO_LENGTH,
  type AdapterState,
  type CommonBufferRecord,
} from './hal.ts';
import { IOMMU_READ, IOMMU_WRITE, mapLogical, unmapLogical } from './iommu-mapping.ts';
import { DOMAIN_COMMON_BUFFER_LARGE_PAGE, type DMA_OPERATIONS } from './types.ts';

type Routine = CommonBufferRecord['routine'];

const isRef = (r: unknown): r is Ref<number> => r !== null && typeof r === 'object';
const isAddress = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Checks shared by the three allocators; returns the adapter or null (nothing changed). */
function enterAllocate(k: Kernel, adapter: unknown, routine: Routine, Length: unknown, LogicalAddress: unknown): AdapterState | null {
  const hal = k.hal;
  const state = hal.enterAdapter(adapter, routine, PASSIVE_LEVEL);
  if (!state) return null;
  if (Length === 0) {
    hal.misuse(DMA_VIOLATION_ZERO_LENGTH, state.id, 0, 0, routine, state.id, 'zero-length', 'Length is 0');
    return null;
  }
  if (!isUlong(Length)) {
    hal.note('invalid-parameter', routine, state.id, `Length ${String(Length)} is not a ULONG`);
    return null;
  }
  if (!isRef(LogicalAddress)) {
    hal.note('invalid-parameter', routine, state.id, 'LogicalAddress is not a PHYSICAL_ADDRESS out parameter');
    return null;
  }
  return state;
}

/**
 * Allocate `Length` bytes reachable in [lowest, highest] (logical addresses, inclusive) for the
 * adapter. Returns the VA or null; on null nothing was allocated.
 */
function allocate(
  k: Kernel,
  state: AdapterState,
  routine: Routine,
  Length: number,
  LogicalAddress: Ref<number>,
  lowest: number,
  highest: number,
  cacheType: number,
  cacheEnabled: boolean,
): number | null {
  const hal = k.hal;
  if (k.faults.shouldFail({ site: routine, bytes: Length, driver: k.currentDriver ?? undefined })) return null;
  const pages = Math.ceil(Length / PAGE_SIZE);
  const top = Math.min(highest, state.reach - 1);
  const lowestPage = Math.ceil(lowest / PAGE_SIZE);
  const limitPage = Math.floor((top + 1) / PAGE_SIZE); // one past the last usable logical page
  if (limitPage - lowestPage < pages) return null;
  const domain = state.pci.iommuDomain;
  const site = `${routine}:pages`;
  let pfns: Int32Array;
  let runFirstPfn = -1;
  let iovaBase = -1;
  let logical: number;
  if (!domain) {
    const first = k.mm.allocateRun(pages, lowestPage, limitPage - 1, 0, state.commonOwner, site, cacheType);
    if (first < 0) return null;
    runFirstPfn = first;
    pfns = new Int32Array(pages);
    for (let i = 0; i < pages; i++) pfns[i] = first + i;
    logical = first * PAGE_SIZE;
  } else {
    pfns = new Int32Array(pages);
    for (let i = 0; i < pages; i++) {
      const p = k.mm.allocatePage(state.commonOwner, site);
      if (p < 0) {
        for (let j = 0; j < i; j++) k.mm.freePage(pfns[j]!);
        return null;
      }
      pfns[i] = p;
    }
    const base = mapLogical(domain, pfns, IOMMU_READ | IOMMU_WRITE, limitPage * PAGE_SIZE, lowestPage * PAGE_SIZE);
    if (base === null) {
      for (let j = 0; j < pages; j++) k.mm.freePage(pfns[j]!);
      return null;
    }
    for (let i = 0; i < pages; i++) k.mm.noteMapping(pfns[i]!, cacheType, `${routine} (${state.pci.name})`);
    iovaBase = base;
    logical = base;
  }
  const id = hal.nextCommonBufferId++;
  const va = k.mm.system.map(pfns, cacheType, 'common-buffer', `common buffer ${id} of adapter ${state.id} (${state.pci.name})`);
  if (va === 0) {
    if (domain) {
      unmapLogical(domain, iovaBase);
      for (let j = 0; j < pages; j++) k.mm.freePage(pfns[j]!);
    } else k.mm.freeRun(runFirstPfn, pages);
    return null;
  }
  const record: CommonBufferRecord = {
    id,
    adapter: state,
    routine,
    virtualAddress: va,
    logicalAddress: logical,
    length: Length,
    pages,
    pfns,
    runFirstPfn,
    iovaBase,
    cacheEnabled,
    cacheType,
  };
  hal.commonBuffers.set(va, record);
  state.commonBuffers.add(record);
  state.commonBufferBytes += pages * PAGE_SIZE;
  LogicalAddress.value = logical;
  return va;
}

/** DMA_OPERATIONS.AllocateCommonBuffer (PASSIVE_LEVEL). */
export function allocateCommonBuffer(
  k: Kernel,
  DmaAdapter: unknown,
  Length: number,
  LogicalAddress: Ref<number>,
  CacheEnabled: boolean,
): number | null {
  const state = enterAllocate(k, DmaAdapter, 'AllocateCommonBuffer', Length, LogicalAddress);
  if (!state) return null;
  if (typeof CacheEnabled !== 'boolean') {
    k.hal.note('invalid-parameter', 'AllocateCommonBuffer', state.id, 'CacheEnabled is not a BOOLEAN');
    return null;
  }
  // CacheEnabled is ignored: DMA is cache-coherent on x86/x64, the buffer is always cached.
  return allocate(k, state, 'AllocateCommonBuffer', Length, LogicalAddress, 0, Number.MAX_SAFE_INTEGER, MmCached, CacheEnabled);
}

/** DMA_OPERATIONS.AllocateCommonBufferEx (version 3; PASSIVE_LEVEL). MaximumAddress bounds the logical address. */
export function allocateCommonBufferEx(
  k: Kernel,
  DmaAdapter: unknown,
  MaximumAddress: Ref<number> | null,
  Length: number,
  LogicalAddress: Ref<number>,
  CacheEnabled: boolean,
  PreferredNode: number,
): number | null {
  const routine = 'AllocateCommonBufferEx';
  const state = enterAllocate(k, DmaAdapter, routine, Length, LogicalAddress);
  if (!state) return null;
  if (typeof CacheEnabled !== 'boolean' || !isUlong(PreferredNode) ||
      (MaximumAddress !== null && (!isRef(MaximumAddress) || !isAddress(MaximumAddress.value)))) {
    k.hal.note('invalid-parameter', routine, state.id, 'CacheEnabled, PreferredNode or MaximumAddress is malformed');
    return null;
  }
  // One NUMA node: PreferredNode is a preference, so any node number is accepted.
  const highest = MaximumAddress === null ? Number.MAX_SAFE_INTEGER : MaximumAddress.value;
  return allocate(k, state, routine, Length, LogicalAddress, 0, highest, CacheEnabled ? MmCached : MmNonCached, CacheEnabled);
}

/** DMA_OPERATIONS.AllocateCommonBufferWithBounds (version 3; PASSIVE_LEVEL). Bounds are logical, inclusive. */
export function allocateCommonBufferWithBounds(
  k: Kernel,
  ...[DmaAdapter, MinimumAddress, MaximumAddress, Length, Flags, CacheType, PreferredNode, LogicalAddress]:
    Parameters<NonNullable<DMA_OPERATIONS['AllocateCommonBufferWithBounds']>>
): number | null {
  const routine = 'AllocateCommonBufferWithBounds';
  const state = enterAllocate(k, DmaAdapter, routine, Length, LogicalAddress);
  if (!state) return null;
  const hal = k.hal;
  const bad = (why: string) => {
    hal.note('invalid-parameter', routine, state.id, why);
    return null;
  };
  if (!isUlong(Flags) || (Flags & ~DOMAIN_COMMON_BUFFER_LARGE_PAGE) !== 0) return bad(`Flags ${String(Flags)} has undefined bits`);
  if (Flags & DOMAIN_COMMON_BUFFER_LARGE_PAGE) {
    // Not modelled: large-page common buffers. Refused openly rather than silently given small pages.
    return bad('DOMAIN_COMMON_BUFFER_LARGE_PAGE is not supported by this emulation');
  }
  if (!isUlong(PreferredNode)) return bad('PreferredNode is not a ULONG');
  if (MinimumAddress !== null && (!isRef(MinimumAddress) || !isAddress(MinimumAddress.value))) return bad('MinimumAddress is malformed');
  if (MaximumAddress !== null && (!isRef(MaximumAddress) || !isAddress(MaximumAddress.value))) return bad('MaximumAddress is malformed');
  let cacheType = MmCached;
  if (CacheType !== null) {
    if (!isRef(CacheType) || (CacheType.value !== MmNonCached && CacheType.value !== MmCached)) {
      return bad('CacheType must point to MmNonCached or MmCached');
    }
    cacheType = CacheType.value;
  }
  const lowest = MinimumAddress?.value ?? 0;
  const highest = MaximumAddress?.value ?? Number.MAX_SAFE_INTEGER;
  if (lowest > highest) return bad(`MinimumAddress ${hexAddress(lowest)} is above MaximumAddress ${hexAddress(highest)}`);
  return allocate(k, state, routine, Length, LogicalAddress, lowest, highest, cacheType, cacheType === MmCached);
}

/** DMA_OPERATIONS.FreeCommonBuffer (PASSIVE_LEVEL). */
export function freeCommonBuffer(
  k: Kernel,
  DmaAdapter: unknown,
  Length: number,
  LogicalAddress: number,
  VirtualAddress: number,
  CacheEnabled: boolean,
): void {
  const hal = k.hal;
  const routine = 'FreeCommonBuffer';
  const state = hal.enterAdapter(DmaAdapter, routine, PASSIVE_LEVEL);
  if (!state) return;
  const record = hal.commonBuffers.get(VirtualAddress as number);
  if (!record) {
    const freed = hal.freedCommonBuffers.get(VirtualAddress as number);
    const what = freed
      ? `common buffer ${freed.id} at ${hexAddress(VirtualAddress)} was already freed`
      : `${typeof VirtualAddress === 'number' ? hexAddress(VirtualAddress) : String(VirtualAddress)} is not a common buffer`;
    if (hal.verifier) {
      if (freed) hal.violation(DMA_VIOLATION_COMMON_BUFFER_DOUBLE_FREE, 1, state.id, freed.id, `${routine}: ${what}`);
      hal.violation(DMA_VIOLATION_INVALID_BUFFER, state.id, isAddress(VirtualAddress) ? VirtualAddress : 0, 0, `${routine}: ${what}`);
    }
    // Windows frees a common buffer through MmFreeContiguousMemory, which stops on a pointer
    // that is not a live contiguous allocation.
    k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x60, isAddress(VirtualAddress) ? VirtualAddress : 0, 0, 0, `${routine}: ${what}`);
  }
  const mismatches: string[] = [];
  if (record.adapter !== state) mismatches.push(`it belongs to adapter ${record.adapter.id}, not ${state.id}`);
  if (Length !== record.length) mismatches.push(`Length ${String(Length)} != ${record.length}`);
  if (LogicalAddress !== record.logicalAddress) {
    mismatches.push(`LogicalAddress ${String(LogicalAddress)} != ${hexAddress(record.logicalAddress)}`);
  }
  if (record.routine === 'AllocateCommonBufferEx' && CacheEnabled !== record.cacheEnabled) {
    mismatches.push(`CacheEnabled ${String(CacheEnabled)} != ${record.cacheEnabled}`);
  }
  if (mismatches.length > 0) {
    hal.misuse(DMA_VIOLATION_INVALID_BUFFER, state.id, VirtualAddress, record.id, routine, state.id, 'free-mismatch',
      `common buffer ${record.id}: ${mismatches.join('; ')} (the parameters must match the allocation exactly)`);
    return;
  }
  releaseCommonBuffer(k, record);
}

/** Give a common buffer's VA, IOVA and pages back. Internal; the record must be live. */
export function releaseCommonBuffer(k: Kernel, record: CommonBufferRecord): void {
  const state = record.adapter;
  if (!k.mm.system.unmap(record.virtualAddress)) {
    throw new Error(`common buffer ${record.id}: system VA ${hexAddress(record.virtualAddress)} was not mapped (HAL invariant)`);
  }
  if (record.iovaBase >= 0) {
    unmapLogical(state.pci.iommuDomain!, record.iovaBase);
    for (let i = 0; i < record.pages; i++) k.mm.freePage(record.pfns[i]!);
  } else {
    k.mm.freeRun(record.runFirstPfn, record.pages);
  }
  k.hal.commonBuffers.delete(record.virtualAddress);
  state.commonBuffers.delete(record);
  state.commonBufferBytes -= record.pages * PAGE_SIZE;
  k.hal.rememberFreed(record);
}
