/**
 * Mapping an MDL's pages: MmMapLockedPagesSpecifyCache, MmGetSystemAddressForMdlSafe,
 * MmUnmapLockedPages.
 *
 * Implementation notes
 * - KernelMode: a system VA range from mm.system (one system mapping per MDL, recorded in
 *   MappedSystemVa with MDL_MAPPED_TO_SYSTEM_VA); failure returns NULL.
 * - UserMode: a new 'locked-pages' region in the current process's address space whose page
 *   array is a copy of the MDL's PFN array (the frames stay the MDL's; the process never
 *   frees them). Failure raises. The region goes away with MmUnmapLockedPages, with
 *   MmUnlockPages of the MDL, or when the process exits. Always no-execute.
 * - Every page mapped goes through mm.noteMapping, which records a conflict when the page
 *   already has a different cache attribute (one attribute per physical page — B4).
 *   [nf-wdm-mmmaplockedpagesspecifycache, nf-wdm-mmunmaplockedpages]
 */
import type { Kernel } from '../kernel.ts';
import { PAGE_SIZE, pageOffset } from '../../bus/address.ts';
import { DRIVER_VERIFIER_DETECTED_VIOLATION, MEMORY_MANAGEMENT, NO_MORE_SYSTEM_PTES } from '../bugcheck.ts';
import {
  ExRaiseStatus,
  STATUS_CONFLICTING_ADDRESSES,
  STATUS_INSUFFICIENT_RESOURCES,
  STATUS_INVALID_ADDRESS,
  STATUS_INVALID_PARAMETER,
  STATUS_PROCESS_IS_TERMINATING,
} from '../status.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../irql.ts';
import { MM_SYSTEM_RANGE_START } from './system-space.ts';
import { MM_HIGHEST_VAD_ADDRESS, MM_LOWEST_USER_ADDRESS, PAGE_READONLY, PAGE_READWRITE, Vad } from '../ps/address-space.ts';
import type { Process } from '../ps/process.ts';
import {
  KernelMode,
  MDL_MAPPED_TO_SYSTEM_VA,
  MDL_PAGES_LOCKED,
  MDL_SOURCE_IS_NONPAGED_POOL,
  UserMode,
  mdlAddress,
  miRemoveUserMapping,
  miEnterMdl,
  type Mdl,
} from './mdl.ts';

import { MmCached, MmMaximumCacheType } from './contiguous.ts';
/** MEMORY_CACHING_TYPE (one definition, in contiguous.ts). */
export { MmNonCached, MmCached, MmWriteCombined, MmMaximumCacheType } from './contiguous.ts';
/** MM_PAGE_PRIORITY and its flags. */
export const LowPagePriority = 0;
export const NormalPagePriority = 16;
export const HighPagePriority = 32;
export const MdlMappingNoWrite = 0x8000_0000;
export const MdlMappingNoExecute = 0x4000_0000;

export const VERIFIER_MAP_IRQL_KERNEL = 0x76;
export const VERIFIER_MAP_IRQL_USER = 0x77;
export const VERIFIER_UNMAP_IRQL_KERNEL = 0x79;
export const VERIFIER_UNMAP_IRQL_USER = 0x7a;
export const VERIFIER_BUGCHECK_ON_FAILURE = 0x82;
export const VERIFIER_MAP_UNLOCKED = 0xb3;
export const VERIFIER_UNMAP_NOT_MAPPED = 0xb6;

const verifierOn = (k: Kernel): boolean => Boolean(k.config.verifier);
const hex = (v: number) => `0x${Math.trunc(v).toString(16)}`;

/**
 * MmMapLockedPagesSpecifyCache(k, Mdl, AccessMode, CacheType, RequestedAddress,
 * BugCheckOnFailure, Priority) → VA of the buffer (StartVa's page mapped + ByteOffset).
 * KernelMode: NULL on failure. UserMode: raises on failure; maps into the current process.
 */
export function MmMapLockedPagesSpecifyCache(
  k: Kernel,
  MemoryDescriptorList: Mdl,
  AccessMode: number,
  CacheType: number,
  RequestedAddress: number | null,
  BugCheckOnFailure: boolean,
  Priority: number,
): number | null {
  const mdl = miEnterMdl(k, MemoryDescriptorList, 'MmMapLockedPagesSpecifyCache');
  const verifier = verifierOn(k);
  const user = AccessMode === UserMode;
  if (AccessMode !== KernelMode && !user) return null;
  if (!Number.isInteger(CacheType) || CacheType < 0 || CacheType >= MmMaximumCacheType) {
    if (user) ExRaiseStatus(STATUS_INVALID_PARAMETER, `MmMapLockedPagesSpecifyCache: CacheType ${String(CacheType)}`);
    return null;
  }
  if (!Number.isInteger(Priority)) return user ? ExRaiseStatus(STATUS_INVALID_PARAMETER, 'MmMapLockedPagesSpecifyCache: Priority') : null;
  if (verifier) {
    const max = user ? APC_LEVEL : DISPATCH_LEVEL;
    if (k.irql > max) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, user ? VERIFIER_MAP_IRQL_USER : VERIFIER_MAP_IRQL_KERNEL,
        k.irql, mdlAddress(mdl), 0, `MmMapLockedPagesSpecifyCache(${user ? 'UserMode' : 'KernelMode'}) at IRQL ${k.irql} (max ${max})`);
    }
    if (BugCheckOnFailure === true) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_BUGCHECK_ON_FAILURE, mdlAddress(mdl), 0, 0,
        'MmMapLockedPagesSpecifyCache with BugCheckOnFailure TRUE');
    }
  }
  if ((mdl.MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL)) === 0) {
    if (verifier) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_MAP_UNLOCKED, mdlAddress(mdl), mdl.MdlFlags, 0,
        `MmMapLockedPagesSpecifyCache: MDL ${hex(mdlAddress(mdl))} is neither locked nor built for nonpaged pool`);
    }
    k.bugcheck.KeBugCheckEx(MEMORY_MANAGEMENT, 0x1236, mdlAddress(mdl), 0, mdl.pfnArray[0] ?? -1,
      `MmMapLockedPagesSpecifyCache: MDL ${hex(mdlAddress(mdl))} describes unlocked pages`);
  }
  const pages = Math.ceil((mdl.ByteOffset + mdl.ByteCount) / PAGE_SIZE);
  const pfns = mdl.pfnArray.subarray(0, pages);
  const failed = (why: string): null => {
    if (BugCheckOnFailure === true) {
      k.bugcheck.KeBugCheckEx(NO_MORE_SYSTEM_PTES, 0, pages, 0, 0, `MmMapLockedPagesSpecifyCache: ${why}`);
    }
    if (user) ExRaiseStatus(STATUS_INSUFFICIENT_RESOURCES, `MmMapLockedPagesSpecifyCache(UserMode): ${why}`);
    return null;
  };
  if (pages === 0) return failed('the MDL describes no pages');

  if (!user) {
    if (RequestedAddress !== null && RequestedAddress !== 0) return null;
    // An MDL built for nonpaged pool already has its system address. [B9]
    if (mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) return mdl.MappedSystemVa;
    if (k.faults.shouldFail({ site: 'MmMapLockedPagesSpecifyCache', bytes: pages * PAGE_SIZE, driver: k.currentDriver ?? undefined })) {
      return failed('no system PTEs (fault injection)');
    }
    const va = k.mm.system.map(pfns, CacheType, 'mdl', `MDL ${hex(mdlAddress(mdl))}`, mdl.ByteOffset);
    if (va === 0) return failed('system PTEs exhausted');
    for (let i = 0; i < pages; i++) k.mm.noteMapping(pfns[i]!, CacheType, `MmMapLockedPagesSpecifyCache MDL ${hex(mdlAddress(mdl))}`);
    if (mdl.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) {
      // One system mapping per MDL [B11]. A second request replaces the first, whose VA
      // becomes invalid (a stale pointer to it faults) instead of silently leaking PTEs.
      k.mm.system.unmap(mdl.MappedSystemVa);
    }
    mdl.MappedSystemVa = va;
    mdl.MdlFlags |= MDL_MAPPED_TO_SYSTEM_VA;
    return va;
  }

  const process = k.ps.current;
  if (process.state !== 'running') ExRaiseStatus(STATUS_PROCESS_IS_TERMINATING, `MmMapLockedPagesSpecifyCache: process ${process.ProcessId} is ${process.state}`);
  const bytes = pages * PAGE_SIZE;
  let start: number;
  if (RequestedAddress !== null && RequestedAddress !== 0) {
    // Windows: a RequestedAddress that is not page-aligned (or not in the user region range)
    // raises STATUS_INVALID_ADDRESS; one that overlaps a region raises
    // STATUS_CONFLICTING_ADDRESSES. [kmtests/ntos_mm/MmMapLockedPagesSpecifyCache_user.c:
    // "ask for an unaligned address" expects STATUS_INVALID_ADDRESS]
    const bad = !Number.isSafeInteger(RequestedAddress) || pageOffset(RequestedAddress) !== 0 ||
      RequestedAddress < MM_LOWEST_USER_ADDRESS || RequestedAddress + bytes > MM_HIGHEST_VAD_ADDRESS + 1;
    if (bad || !process.space.isFree(RequestedAddress, RequestedAddress + bytes)) {
      const why = bad ? 'is not a page-aligned address of the user region range' : 'overlaps memory already in use';
      if (BugCheckOnFailure === true) failed(`RequestedAddress ${hex(Number(RequestedAddress))} ${why}`);
      ExRaiseStatus(bad ? STATUS_INVALID_ADDRESS : STATUS_CONFLICTING_ADDRESSES,
        `MmMapLockedPagesSpecifyCache: RequestedAddress ${hex(Number(RequestedAddress))} ${why}`);
    }
    start = RequestedAddress;
  } else {
    start = process.space.findFree(bytes);
    if (start === 0) return failed('no free user address range');
  }
  if (k.faults.shouldFail({ site: 'MmMapLockedPagesSpecifyCache', bytes, driver: k.currentDriver ?? undefined })) {
    return failed('allocation refused (fault injection)');
  }
  k.verifier?.checkUserMapping(pfns, mdlAddress(mdl), start);
  const vad = new Vad(start, pages, 'locked-pages', mdl);
  vad.pfn.set(pfns);
  vad.protect.fill((Priority & MdlMappingNoWrite) !== 0 ? PAGE_READONLY : PAGE_READWRITE);
  vad.committed = pages;
  process.space.insert(vad);
  process.lockedPageMappings.add(vad);
  mdl.userMappings.push({ process, vad });
  for (let i = 0; i < pages; i++) k.mm.noteMapping(pfns[i]!, CacheType, `MmMapLockedPagesSpecifyCache(UserMode) MDL ${hex(mdlAddress(mdl))}`);
  return start + mdl.ByteOffset;
}

/**
 * MmGetSystemAddressForMdlSafe(k, Mdl, Priority): the existing system address, or a new
 * MmCached KernelMode mapping; NULL when none can be made. [B10]
 */
export function MmGetSystemAddressForMdlSafe(k: Kernel, Mdl_: Mdl, Priority: number): number | null {
  miEnterMdl(k, Mdl_, 'MmGetSystemAddressForMdlSafe');
  if (Mdl_.MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL)) return Mdl_.MappedSystemVa;
  return MmMapLockedPagesSpecifyCache(k, Mdl_, KernelMode, MmCached, null, false, Priority);
}

/**
 * MmUnmapLockedPages(k, BaseAddress, Mdl): undo one MmMapLockedPagesSpecifyCache. A user
 * mapping must be unmapped in the process it was made in. Unmapping something the MDL does
 * not have mapped is 0xC4/0xB6 under the verifier, else 0x1A/0x1235.
 */
export function MmUnmapLockedPages(k: Kernel, BaseAddress: number, MemoryDescriptorList: Mdl): void {
  const mdl = miEnterMdl(k, MemoryDescriptorList, 'MmUnmapLockedPages');
  const verifier = verifierOn(k);
  const notMapped = (why: string): never => {
    if (verifier) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_UNMAP_NOT_MAPPED, mdlAddress(mdl), Number(BaseAddress) || 0, 0,
        `MmUnmapLockedPages(${hex(Number(BaseAddress) || 0)}): ${why}`);
    }
    return k.bugcheck.KeBugCheckEx(MEMORY_MANAGEMENT, 0x1235, mdlAddress(mdl), Number(BaseAddress) || 0, 0,
      `MmUnmapLockedPages(${hex(Number(BaseAddress) || 0)}): ${why}`);
  };
  if (!Number.isSafeInteger(BaseAddress) || BaseAddress <= 0) notMapped('not an address');
  if (BaseAddress >= MM_SYSTEM_RANGE_START) {
    if (verifier && k.irql > DISPATCH_LEVEL) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_UNMAP_IRQL_KERNEL, k.irql, mdlAddress(mdl), BaseAddress,
        `MmUnmapLockedPages (system) at IRQL ${k.irql}`);
    }
    if ((mdl.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) === 0 || (mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) !== 0 ||
        mdl.MappedSystemVa !== BaseAddress) {
      notMapped(`MDL ${hex(mdlAddress(mdl))} has no system mapping at this address`);
    }
    k.mm.system.unmap(BaseAddress);
    mdl.MdlFlags &= ~MDL_MAPPED_TO_SYSTEM_VA;
    return;
  }
  if (verifier && k.irql > APC_LEVEL) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_UNMAP_IRQL_USER, k.irql, mdlAddress(mdl), BaseAddress,
      `MmUnmapLockedPages (user) at IRQL ${k.irql} (max APC_LEVEL)`);
  }
  const current = k.ps.current;
  const i = mdl.userMappings.findIndex((m) => m.process === current && m.vad.start + mdl.ByteOffset === BaseAddress);
  if (i < 0) notMapped(`MDL ${hex(mdlAddress(mdl))} has no user mapping at this address in process ${current.ProcessId}`);
  miRemoveUserMapping(mdl, i);
}

/** @internal process exit: kernel pages mapped into the process are unmapped. */
export function miUnmapProcessLockedPageMappings(k: Kernel, process: Process): void {
  void k;
  for (const vad of [...process.lockedPageMappings]) {
    const mdl = vad.mapping as Mdl;
    const i = mdl.userMappings.findIndex((m) => m.vad === vad);
    if (i >= 0) miRemoveUserMapping(mdl, i);
    else {
      process.lockedPageMappings.delete(vad);
      process.space.remove(vad);
    }
  }
}
