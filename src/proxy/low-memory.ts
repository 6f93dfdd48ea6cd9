/**
 * Allocating and releasing low memory for RDMA — the subject of the WDK page.
 *
 * The memory must be reachable by the NIC, including on a NOLOWMEM host where no general
 * allocation ever gets a page below 4 GiB. Two strategies, chosen per host in the registry:
 *
 * - contiguous: MmAllocateContiguousMemorySpecifyCache with HighestAcceptableAddress = the
 *   last address the NIC can emit. An explicitly bounded request may use low memory even under
 *   NOLOWMEM. The NIC is given the pages' bus addresses (physical, or IOMMU logical when the
 *   device is remapped).
 * - common-buffer: the adapter's DmaOperations->AllocateCommonBuffer, which the HAL satisfies
 *   within the adapter's reach; the NIC is given the returned LogicalAddress (never
 *   MmGetPhysicalAddress, which is wrong behind an IOMMU).
 *
 * Either way the memory is zeroed before user mode sees it (freed pages keep the previous
 * owner's bytes), described by an MDL built for nonpaged memory, mapped into the calling
 * process with MmMapLockedPagesSpecifyCache(UserMode), and registered with the NIC. Release
 * undoes it in reverse order; so does IRP_MJ_CLEANUP for whatever the caller left.
 * Runs at PASSIVE_LEVEL in the caller's context (the IOCTL's dispatch routine).
 */
import { PAGE_SIZE, bytesToPages } from '../bus/index.ts';
import type { Kernel } from '../kernel/kernel.ts';
import {
  IoAllocateMdl,
  IoFreeMdl,
  MAXULONG64,
  MmAllocateContiguousMemorySpecifyCache,
  MmBuildMdlForNonPagedPool,
  MmCached,
  MmFreeContiguousMemorySpecifyCache,
  MmMapLockedPagesSpecifyCache,
  MmUnmapLockedPages,
  UserMode,
  type Mdl,
} from '../kernel/mm/index.ts';
import { MdlMappingNoExecute, NormalPagePriority } from '../kernel/mm/mdl-mapping.ts';
import { ref } from '../kernel/ref.ts';
import { NtStatusError, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, type NTSTATUS } from '../kernel/status.ts';
import { contiguousBusPages, mapForNic, unmapForNic } from './bus-addresses.ts';
import type { ProxyNic } from './nic-adapter.ts';
import { forgetNicRegion, noNicRegion, registerWithNic, type NicRegion } from './nic-region.ts';
import type { BusMapping, LowMemoryAllocation, ProxyOpen } from './open-context.ts';
import type { ProxyRecords } from './records.ts';

export type LowMemoryStrategy = 'contiguous' | 'common-buffer';

export interface AllocateRequest {
  nic: ProxyNic;
  bytes: number;
  access: number;
  /** Endpoint to bind remote access to (0 = none). */
  bindEndpoint: number;
}

/** Low-memory figures for reports. */
export interface LowMemoryCounters {
  contiguousBytes: number;
  commonBufferBytes: number;
  allocations: number;
  releases: number;
  /** Bytes outstanding now, by strategy. */
  outstandingContiguousBytes: number;
  outstandingCommonBufferBytes: number;
}

export const newLowMemoryCounters = (): LowMemoryCounters => ({
  contiguousBytes: 0,
  commonBufferBytes: 0,
  allocations: 0,
  releases: 0,
  outstandingContiguousBytes: 0,
  outstandingCommonBufferBytes: 0,
});

/** Steps done so far, undone in reverse on failure and at release. */
interface Progress extends NicRegion {
  systemVa: number;
  logicalBase: number;
  mdl: Mdl | null;
  userVa: number;
  bus: BusMapping | null;
  recordVa: number;
}

export function allocateLowMemory(
  k: Kernel,
  open: ProxyOpen,
  strategy: LowMemoryStrategy,
  request: AllocateRequest,
  nextId: () => number,
  counters: LowMemoryCounters,
  records: ProxyRecords,
): { status: NTSTATUS; allocation: LowMemoryAllocation | null } {
  const { nic: pnic, bytes, access, bindEndpoint } = request;
  const allocatedBytes = bytesToPages(bytes) * PAGE_SIZE;
  const p: Progress = { systemVa: 0, logicalBase: 0, mdl: null, userVa: 0, bus: null, ...noNicRegion(), recordVa: 0 };
  const fail = (status: NTSTATUS) => {
    undo(k, pnic, strategy, allocatedBytes, p, records);
    return { status, allocation: null };
  };

  // The per-request record: from the driver's lookaside list (records.ts).
  const recordVa = records.allocate('allocation');
  if (recordVa === null) return fail(STATUS_INSUFFICIENT_RESOURCES);
  p.recordVa = recordVa;

  if (strategy === 'contiguous') {
    const highest = pnic.reach >= Number.MAX_SAFE_INTEGER ? MAXULONG64 : pnic.reach - 1;
    const va = MmAllocateContiguousMemorySpecifyCache(k, allocatedBytes, 0, highest, 0, MmCached);
    if (va === null) return fail(STATUS_INSUFFICIENT_RESOURCES);
    p.systemVa = va;
  } else {
    const logical = ref(0);
    const va = pnic.adapter.DmaOperations.AllocateCommonBuffer(pnic.adapter, allocatedBytes, logical, true);
    if (va === null) return fail(STATUS_INSUFFICIENT_RESOURCES);
    p.systemVa = va;
    p.logicalBase = logical.value;
  }
  // Uninitialized memory holds the previous owner's bytes: zero it before user mode sees it.
  k.mm.system.fill(p.systemVa, allocatedBytes, 0);

  const mdl = IoAllocateMdl(k, p.systemVa, allocatedBytes, false, false, null);
  if (mdl === null) return fail(STATUS_INSUFFICIENT_RESOURCES);
  p.mdl = mdl;
  MmBuildMdlForNonPagedPool(k, mdl);

  if (strategy === 'contiguous') {
    const mapped = mapForNic(k, pnic, mdl, true, true);
    if (mapped.mapping === null) return fail(mapped.status);
    p.bus = mapped.mapping;
    p.logicalBase = mapped.mapping.pages[0]!;
  } else {
    p.bus = contiguousBusPages(p.logicalBase, allocatedBytes / PAGE_SIZE);
  }

  try {
    const userVa = MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmCached, null, false, NormalPagePriority | MdlMappingNoExecute);
    if (userVa === null) return fail(STATUS_INSUFFICIENT_RESOURCES);
    p.userVa = userVa;
  } catch (e) {
    // A UserMode mapping raises on failure; the driver's __except turns it into a status.
    if (e instanceof NtStatusError) return fail(e.status);
    throw e;
  }

  const spec = { pages: p.bus.pages, firstByteOffset: 0, length: bytes, access };
  const registered = registerWithNic(pnic, open.process.ProcessId, spec, bindEndpoint, p);
  if (registered !== STATUS_SUCCESS) return fail(registered);

  const allocation: LowMemoryAllocation = {
    id: nextId(),
    nic: pnic,
    strategy,
    bytes,
    allocatedBytes,
    systemVa: p.systemVa,
    logicalBase: p.logicalBase,
    mdl,
    userVa: p.userVa,
    bus: p.bus,
    handle: p.handle,
    remoteKey: p.remoteKey,
    access,
    recordVa,
    window: p.window,
  };
  open.allocations.set(allocation.id, allocation);
  counters.allocations++;
  if (strategy === 'contiguous') {
    counters.contiguousBytes += allocatedBytes;
    counters.outstandingContiguousBytes += allocatedBytes;
  } else {
    counters.commonBufferBytes += allocatedBytes;
    counters.outstandingCommonBufferBytes += allocatedBytes;
  }
  return { status: STATUS_SUCCESS, allocation };
}

/** Release one allocation of `open`. Must run in the process it was mapped into. */
export function releaseLowMemory(
  k: Kernel, open: ProxyOpen, allocation: LowMemoryAllocation, counters: LowMemoryCounters, records: ProxyRecords,
): void {
  undo(k, allocation.nic, allocation.strategy, allocation.allocatedBytes, allocation, records);
  open.allocations.delete(allocation.id);
  counters.releases++;
  if (allocation.strategy === 'contiguous') counters.outstandingContiguousBytes -= allocation.allocatedBytes;
  else counters.outstandingCommonBufferBytes -= allocation.allocatedBytes;
}

/** Reverse order of allocation: the NIC forgets the pages before they can change hands. */
function undo(k: Kernel, pnic: ProxyNic, strategy: LowMemoryStrategy, allocatedBytes: number, p: Progress, records: ProxyRecords): void {
  forgetNicRegion(pnic, p);
  if (p.mdl !== null && p.userVa !== 0) MmUnmapLockedPages(k, p.userVa, p.mdl);
  if (p.bus !== null && strategy === 'contiguous') unmapForNic(k, pnic, p.bus);
  if (p.mdl !== null) IoFreeMdl(k, p.mdl);
  if (p.systemVa !== 0) {
    if (strategy === 'contiguous') MmFreeContiguousMemorySpecifyCache(k, p.systemVa, allocatedBytes, MmCached);
    else pnic.adapter.DmaOperations.FreeCommonBuffer(pnic.adapter, allocatedBytes, p.logicalBase, p.systemVa, true);
  }
  if (p.recordVa !== 0) records.free('allocation', p.recordVa);
}
