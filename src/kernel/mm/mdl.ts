/**
 * Memory descriptor lists: IoAllocateMdl, IoFreeMdl, MmProbeAndLockPages, MmUnlockPages,
 * MmBuildMdlForNonPagedPool, MmAllocatePagesForMdlEx, MmFreePagesFromMdl and the MDL macros.
 *
 * Implementation notes
 * - An `Mdl` carries the WDK fields (Next, Size, MdlFlags, Process, MappedSystemVa, StartVa,
 *   ByteCount, ByteOffset) and its PFN array as an Int32Array (MmGetMdlPfnArray returns it;
 *   -1 = not filled in). [Using MDLs; ns-wdm-_mdl]
 * - MmProbeAndLockPages on user addresses walks the process's region typed arrays in runs:
 *   one pass checks every page's protection (and counts untouched pages), one resolves the
 *   demand-zero faults all-or-nothing, one takes the PFN references. No object per page, no
 *   map lookup per page. Any failure raises STATUS_ACCESS_VIOLATION (or the resource status)
 *   with nothing locked and nothing faulted in. [nf-wdm-mmprobeandlockpages]
 * - The lock tracker: each locked MDL of a process's pages records the driver that locked it
 *   (k.currentDriver) in the process's `lockedMdls`; process exit turns leftovers into bug
 *   check 0x76 / 0xCB (ps/process-manager.ts).
 * - Driver bugs bug-check with the codes Windows uses; where only Driver Verifier detects a
 *   bug (0xC4 subcodes), the check runs only when `k.config.verifier` is set, otherwise the
 *   free-build behaviour follows (e.g. an MDL freed while locked leaves its pages locked
 *   until the process exit bug check). Bug-check parameters that are addresses in Windows
 *   (MDL, lock tracker) are stable synthetic addresses from `mdlAddress` / `mdlTrackerAddress`.
 */
import type { Kernel } from '../kernel.ts';
import { PAGE_SIZE, spanPages } from '../../bus/address.ts';
import {
  BAD_POOL_CALLER,
  DRIVER_VERIFIER_DETECTED_VIOLATION,
  MEMORY_MANAGEMENT,
  PROCESS_HAS_LOCKED_PAGES,
} from '../bugcheck.ts';
import {
  ExRaiseStatus,
  STATUS_ACCESS_VIOLATION,
  STATUS_INVALID_PARAMETER,
  STATUS_WORKING_SET_QUOTA,
} from '../status.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../irql.ts';
import { MM_SYSTEM_RANGE_START } from './system-space.ts';
import { MM_USER_SPACE_END, type Vad, type VadRun } from '../ps/address-space.ts';
import type { Process } from '../ps/process.ts';
import { miMakeResident, miRunsAllow, miUndoResident, miUserRuns } from './virtual-memory.ts';
import { miUnmapMdlMappings } from './mdl-mapping.ts';

export const MDL_MAPPED_TO_SYSTEM_VA = 0x0001;
export const MDL_PAGES_LOCKED = 0x0002;
export const MDL_SOURCE_IS_NONPAGED_POOL = 0x0004;
export const MDL_ALLOCATED_FIXED_SIZE = 0x0008;
export const MDL_PARTIAL = 0x0010;
export const MDL_PARTIAL_HAS_BEEN_MAPPED = 0x0020;
export const MDL_IO_PAGE_READ = 0x0040;
export const MDL_WRITE_OPERATION = 0x0080;

/** KPROCESSOR_MODE. */
export const KernelMode = 0;
export const UserMode = 1;
/** LOCK_OPERATION. */
export const IoReadAccess = 0;
export const IoWriteAccess = 1;
export const IoModifyAccess = 2;

/** MmAllocatePagesForMdlEx Flags. */
export const MM_DONT_ZERO_ALLOCATION = 0x01;
export const MM_ALLOCATE_FROM_LOCAL_NODE_ONLY = 0x02;
export const MM_ALLOCATE_FULLY_REQUIRED = 0x04;
export const MM_ALLOCATE_NO_WAIT = 0x08;
export const MM_ALLOCATE_PREFER_CONTIGUOUS = 0x10;
export const MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS = 0x20;
export const MM_ALLOCATE_FAST_LARGE_PAGES = 0x40;
export const MM_ALLOCATE_TRIM_IF_NECESSARY = 0x80;
export const MM_ALLOCATE_AND_HOT_REMOVE = 0x100;
const MM_ALLOCATE_KNOWN_FLAGS = 0x1ff;

/** IoAllocateMdl's limit since Windows 7: 4 GiB - PAGE_SIZE. [nf-wdm-ioallocatemdl] */
export const MDL_MAX_BYTES = 0x1_0000_0000 - PAGE_SIZE;
/** sizeof(MDL) on x64; Size = sizeof(MDL) + pages * sizeof(PFN_NUMBER). */
export const SIZEOF_MDL = 48;
/** One past the highest address the model represents (x64 48-bit canonical space). */
export const ADDRESS_SPACE_END = 0x1_0000_0000_0000;

/** 0xC4 subcodes used here. [bug-check-0xc4--driver-verifier-detected-violation] */
export const VERIFIER_PROBE_IRQL = 0x70;
export const VERIFIER_UNLOCK_IRQL = 0x78;
export const VERIFIER_UNLOCK_NOT_LOCKED = 0x7c;
export const VERIFIER_UNLOCK_NONPAGED = 0x7d;
export const VERIFIER_BUILD_MDL_PAGED = 0x7f;
export const VERIFIER_PROBE_BAD_FLAGS = 0xb0;
export const VERIFIER_UNLOCK_PARTIAL = 0xb4;
export const VERIFIER_FREE_MAPPED_MDL = 0xb8;

/** The IRP fields IoAllocateMdl links to (the I/O manager's IRP satisfies this). */
export interface MdlIrpLink {
  MdlAddress: Mdl | null;
}

const MDL_ADDRESS_BASE = 0xfa80_0000_0000;
const TRACKER_ADDRESS_BASE = 0xfa90_0000_0000;

export class Mdl {
  Next: Mdl | null = null;
  readonly Size: number;
  MdlFlags = 0;
  Process: Process | null = null;
  MappedSystemVa = 0;
  readonly StartVa: number;
  ByteCount: number;
  readonly ByteOffset: number;
  /** PFN_NUMBER array after the header; -1 = not filled in. */
  readonly pfnArray: Int32Array;

  /** @internal identity for bug-check parameters. */
  readonly id: number;
  /** @internal IoFreeMdl was called. */
  freed = false;
  /** @internal the driver that locked the pages (lock tracking). */
  lockedBy: string | null = null;
  /** @internal pages locked through a system VA range (no process). */
  lockedSystemRange = false;
  /** @internal owner id of pages from MmAllocatePagesForMdlEx; 0 otherwise. */
  pagesOwner = 0;
  /** @internal user-mode mappings of this MDL's pages. */
  readonly userMappings: { process: Process; vad: Vad }[] = [];

  constructor(id: number, va: number, length: number) {
    this.id = id;
    this.StartVa = Math.floor(va / PAGE_SIZE) * PAGE_SIZE;
    this.ByteOffset = va - this.StartVa;
    this.ByteCount = length;
    const pages = spanPages(va, length);
    this.pfnArray = new Int32Array(pages).fill(-1);
    this.Size = SIZEOF_MDL + pages * 8;
  }
}

interface MdlHostState {
  nextId: number;
  live: number;
  /** System mappings lost because their MDL was freed while mapped (no verifier). */
  leakedSystemMappings: number;
}

const hostState = new WeakMap<Kernel, MdlHostState>();

/** @internal per-host MDL bookkeeping. */
export function mdlHost(k: Kernel): MdlHostState {
  let s = hostState.get(k);
  if (!s) {
    s = { nextId: 1, live: 0, leakedSystemMappings: 0 };
    hostState.set(k, s);
  }
  return s;
}

/** The synthetic kernel address of an MDL (bug-check parameters, reports). */
export const mdlAddress = (m: Mdl): number => MDL_ADDRESS_BASE + m.id * 0x100;
/** The synthetic address of an MDL's lock-tracker record (0xCB parameter 1). */
export const mdlTrackerAddress = (m: Mdl): number => TRACKER_ADDRESS_BASE + m.id * 0x40;

const verifierOn = (k: Kernel): boolean => Boolean(k.config.verifier);
const hex = (v: number) => `0x${Math.trunc(v).toString(16)}`;

/** @internal a live MDL or a bug check (use after IoFreeMdl touches freed pool). */
export function miValidateMdl(k: Kernel, m: unknown, routine: string): asserts m is Mdl {
  if (!(m instanceof Mdl)) {
    k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x99, 0, 0, 0, `${routine}: argument is not an MDL (${String(m)})`);
  }
  if (m.freed) {
    k.verifier?.freedMdlUsed(m);
    k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x07, 0, mdlAddress(m), 0, `${routine}: MDL ${hex(mdlAddress(m))} was already freed by IoFreeMdl`);
  }
}

/**
 * IoAllocateMdl(k, VirtualAddress, Length, SecondaryBuffer, ChargeQuota, Irp) → MDL | null.
 * NULL for a zero or too-large Length (> 4 GiB - PAGE_SIZE), an address outside the
 * model's address space, or an allocation failure. With an IRP, the MDL becomes
 * Irp.MdlAddress (SecondaryBuffer FALSE) or the tail of its chain (TRUE).
 */
export function IoAllocateMdl(
  k: Kernel,
  VirtualAddress: number,
  Length: number,
  SecondaryBuffer: boolean,
  ChargeQuota: boolean,
  Irp: MdlIrpLink | null,
): Mdl | null {
  k.bugcheck.assertRunning();
  void ChargeQuota; // reserved for the system; drivers pass FALSE
  if (!Number.isSafeInteger(VirtualAddress) || VirtualAddress < 0 || VirtualAddress >= ADDRESS_SPACE_END) return null;
  if (!Number.isSafeInteger(Length) || Length <= 0 || Length > MDL_MAX_BYTES) return null;
  if (Irp !== null && (typeof Irp !== 'object' || !('MdlAddress' in Irp))) return null;
  const pages = spanPages(VirtualAddress, Length);
  if (k.faults.shouldFail({ site: 'IoAllocateMdl', bytes: SIZEOF_MDL + pages * 8, driver: k.currentDriver ?? undefined })) {
    return null;
  }
  const host = mdlHost(k);
  const mdl = new Mdl(host.nextId++, VirtualAddress, Length);
  host.live++;
  if (Irp) {
    if (!SecondaryBuffer || Irp.MdlAddress === null) {
      Irp.MdlAddress = mdl;
    } else {
      let tail = Irp.MdlAddress;
      while (tail.Next) tail = tail.Next;
      tail.Next = mdl;
    }
  }
  return mdl;
}

/**
 * IoFreeMdl. Unlock and unmap first: an MDL still mapped is 0xC4/0xB8 under the verifier
 * (without it the mapping is leaked); an MDL freed with its pages locked leaves them locked,
 * which surfaces as 0x76 / 0xCB when the process exits. [nf-wdm-iofreemdl]
 */
export function IoFreeMdl(k: Kernel, Mdl_: Mdl): void {
  k.bugcheck.assertRunning();
  miValidateMdl(k, Mdl_, 'IoFreeMdl');
  const mdl = Mdl_;
  const systemMapped = (mdl.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) !== 0 && (mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) === 0;
  if (systemMapped || mdl.userMappings.length > 0) {
    if (verifierOn(k)) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_FREE_MAPPED_MDL, mdlAddress(mdl), mdl.MappedSystemVa, 0,
        `IoFreeMdl: MDL ${hex(mdlAddress(mdl))} is still mapped (${systemMapped ? `system VA ${hex(mdl.MappedSystemVa)}` : ''}` +
          `${mdl.userMappings.length ? ` ${mdl.userMappings.length} user mapping(s)` : ''}); call MmUnmapLockedPages first`);
    }
    if (systemMapped) mdlHost(k).leakedSystemMappings++;
  }
  mdl.freed = true;
  mdlHost(k).live--;
}

/**
 * MmProbeAndLockPages(k, Mdl, AccessMode, Operation). Makes the pages resident, checks them
 * against Operation, takes a lock reference on each frame and fills the PFN array. Raises
 * STATUS_ACCESS_VIOLATION for a range that is not wholly valid (a UserMode range must lie in
 * user space), with nothing locked. Call it inside try/catch. [nf-wdm-mmprobeandlockpages]
 */
export function MmProbeAndLockPages(k: Kernel, MemoryDescriptorList: Mdl, AccessMode: number, Operation: number): void {
  k.bugcheck.assertRunning();
  miValidateMdl(k, MemoryDescriptorList, 'MmProbeAndLockPages');
  const mdl = MemoryDescriptorList;
  if (AccessMode !== KernelMode && AccessMode !== UserMode) {
    ExRaiseStatus(STATUS_INVALID_PARAMETER, `MmProbeAndLockPages: AccessMode ${String(AccessMode)} is not KernelMode/UserMode`);
  }
  if (Operation !== IoReadAccess && Operation !== IoWriteAccess && Operation !== IoModifyAccess) {
    ExRaiseStatus(STATUS_INVALID_PARAMETER, `MmProbeAndLockPages: Operation ${String(Operation)} is not a LOCK_OPERATION`);
  }
  const va = mdl.StartVa + mdl.ByteOffset;
  const length = mdl.ByteCount;
  const userRange = va < MM_SYSTEM_RANGE_START;
  if (verifierOn(k)) {
    if (mdl.MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL | MDL_PARTIAL | MDL_MAPPED_TO_SYSTEM_VA)) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_PROBE_BAD_FLAGS, mdlAddress(mdl), mdl.MdlFlags, 0,
        `MmProbeAndLockPages: MDL ${hex(mdlAddress(mdl))} already has flags ${hex(mdl.MdlFlags)} (locked, built for nonpaged pool, partial or mapped)`);
    }
    // Pageable (user) memory: <= APC_LEVEL; otherwise <= DISPATCH_LEVEL.
    const maxIrql = userRange ? APC_LEVEL : DISPATCH_LEVEL;
    if (k.irql > maxIrql) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_PROBE_IRQL, k.irql, mdlAddress(mdl), va,
        `MmProbeAndLockPages at IRQL ${k.irql} on ${userRange ? 'pageable user' : 'system'} memory (max ${maxIrql})`);
    }
  }
  const what = `MmProbeAndLockPages [${hex(va)}, +${hex(length)})`;
  if (length === 0 || va + length > ADDRESS_SPACE_END) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what}: empty or wrapping range`);
  if (k.faults.shouldFail({ site: 'MmProbeAndLockPages', bytes: length, driver: k.currentDriver ?? undefined })) {
    ExRaiseStatus(STATUS_WORKING_SET_QUOTA, `${what}: lock refused (fault injection)`);
  }
  const write = Operation !== IoReadAccess;
  if (userRange) {
    if (va + length > MM_USER_SPACE_END) {
      ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what}: a user buffer must lie below ${hex(MM_USER_SPACE_END)}`);
    }
    lockUserRange(k, mdl, va, length, write, what);
  } else {
    if (AccessMode === UserMode) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what}: kernel address probed for UserMode`);
    lockSystemRange(k, mdl, va, length, what);
  }
  mdl.MdlFlags |= MDL_PAGES_LOCKED | (write ? MDL_WRITE_OPERATION : 0);
  mdl.lockedBy = k.currentDriver;
}

function lockUserRange(k: Kernel, mdl: Mdl, va: number, length: number, write: boolean, what: string): void {
  const process = k.ps.current;
  if (process.state !== 'running') ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what}: process ${process.ProcessId} is ${process.state}`);
  const runs = miUserRuns(process, va, length);
  if (!runs) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what}: not wholly inside allocated memory of process ${process.ProcessId}`);
  if (!miRunsAllow(runs, write)) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what}: a page is not committed or does not allow ${write ? 'write' : 'read'} access`);
  }
  const fresh = miMakeResident(k, process, runs, 'MmProbeAndLockPages');
  if (!fresh) ExRaiseStatus(STATUS_WORKING_SET_QUOTA, `${what}: no free page for a demand-zero fault`);
  const out = mdl.pfnArray;
  const locked = lockRuns(k, runs, out);
  if (locked < out.length) {
    for (let j = 0; j < locked; j++) k.mm.unlockPage(out[j]!);
    out.fill(-1);
    miUndoResident(k, runs, fresh);
    ExRaiseStatus(STATUS_WORKING_SET_QUOTA, `${what}: page lock count limit reached`);
  }
  mdl.Process = process;
  process.lockedPages += out.length;
  process.lockedMdls.add(mdl);
}

/** The hot loop: PFN references for each run, straight from the region's typed array. */
function lockRuns(k: Kernel, runs: readonly VadRun[], out: Int32Array): number {
  const mm = k.mm;
  let j = 0;
  for (const { vad, first, last } of runs) {
    const pfn = vad.pfn;
    for (let i = first; i < last; i++) {
      const f = pfn[i]!;
      if (!mm.lockPage(f)) return j;
      out[j++] = f;
    }
  }
  return j;
}

function lockSystemRange(k: Kernel, mdl: Mdl, va: number, length: number, what: string): void {
  const n = mdl.pfnArray.length;
  const frames = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const pa = k.mm.system.physicalAddress(mdl.StartVa + i * PAGE_SIZE);
    if (pa === null) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what}: system page ${hex(mdl.StartVa + i * PAGE_SIZE)} is not mapped`);
    frames[i] = Math.floor(pa / PAGE_SIZE);
  }
  for (let i = 0; i < n; i++) {
    if (!k.mm.lockPage(frames[i]!)) {
      for (let j = 0; j < i; j++) k.mm.unlockPage(frames[j]!);
      ExRaiseStatus(STATUS_WORKING_SET_QUOTA, `${what}: page lock count limit reached`);
    }
  }
  mdl.pfnArray.set(frames);
  mdl.Process = null;
  mdl.lockedSystemRange = true;
  void length;
}

/**
 * MmUnlockPages(k, Mdl): only for MDLs locked by MmProbeAndLockPages. Drops the system
 * mapping (and any user mapping) first. An MDL that is not locked bug-checks 0x76 P1=1
 * (verifier: 0xC4/0x7C, or 0x7D for an MDL built by MmBuildMdlForNonPagedPool).
 * [nf-wdm-mmunlockpages, bug-check-0x76]
 */
export function MmUnlockPages(k: Kernel, MemoryDescriptorList: Mdl): void {
  k.bugcheck.assertRunning();
  miValidateMdl(k, MemoryDescriptorList, 'MmUnlockPages');
  const mdl = MemoryDescriptorList;
  const verifier = verifierOn(k);
  if (verifier && k.irql > DISPATCH_LEVEL) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_UNLOCK_IRQL, k.irql, mdlAddress(mdl), 0,
      `MmUnlockPages at IRQL ${k.irql} (max DISPATCH_LEVEL)`);
  }
  if (verifier && (mdl.MdlFlags & MDL_PARTIAL)) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_UNLOCK_PARTIAL, mdlAddress(mdl), mdl.MdlFlags, 0,
      'MmUnlockPages on a partial MDL');
  }
  const probeLocked = (mdl.MdlFlags & MDL_PAGES_LOCKED) !== 0 && mdl.pagesOwner === 0;
  if (!probeLocked) {
    const nonpaged = (mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) !== 0;
    if (verifier) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, nonpaged ? VERIFIER_UNLOCK_NONPAGED : VERIFIER_UNLOCK_NOT_LOCKED,
        mdlAddress(mdl), mdl.MdlFlags, 0,
        nonpaged ? 'MmUnlockPages on an MDL built by MmBuildMdlForNonPagedPool'
          : `MmUnlockPages on MDL ${hex(mdlAddress(mdl))} whose pages are not locked (flags ${hex(mdl.MdlFlags)})`);
    }
    k.bugcheck.KeBugCheckEx(PROCESS_HAS_LOCKED_PAGES, 1, mdlAddress(mdl), k.ps.current.lockedPages, 0,
      `MmUnlockPages on MDL ${hex(mdlAddress(mdl))} whose pages are not locked by MmProbeAndLockPages (flags ${hex(mdl.MdlFlags)})`);
  }
  miUnmapMdlMappings(k, mdl);
  const pfns = mdl.pfnArray;
  const mm = k.mm;
  for (let j = 0; j < pfns.length; j++) mm.unlockPage(pfns[j]!);
  const process = mdl.Process;
  if (process && process.lockedMdls.delete(mdl)) process.lockedPages -= pfns.length;
  mdl.MdlFlags &= ~(MDL_PAGES_LOCKED | MDL_WRITE_OPERATION);
  mdl.lockedSystemRange = false;
  mdl.lockedBy = null;
}

/**
 * MmBuildMdlForNonPagedPool(k, Mdl): fill the PFN array of an MDL describing nonpaged system
 * memory; MappedSystemVa becomes the buffer address. Paged pool is 0xC4/0x7F under the
 * verifier; an address that is not mapped system memory is 0x1A/0x1240.
 * [nf-wdm-mmbuildmdlfornonpagedpool]
 */
export function MmBuildMdlForNonPagedPool(k: Kernel, MemoryDescriptorList: Mdl): void {
  k.bugcheck.assertRunning();
  miValidateMdl(k, MemoryDescriptorList, 'MmBuildMdlForNonPagedPool');
  const mdl = MemoryDescriptorList;
  const va = mdl.StartVa + mdl.ByteOffset;
  const n = mdl.pfnArray.length;
  const frames = new Int32Array(n);
  const pagedOwner = k.mm.pool.pagedOwner;
  for (let i = 0; i < n; i++) {
    const pageVa = mdl.StartVa + i * PAGE_SIZE;
    const pa = pageVa >= MM_SYSTEM_RANGE_START ? k.mm.system.physicalAddress(pageVa) : null;
    if (pa === null) {
      if (verifierOn(k)) {
        k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_BUILD_MDL_PAGED, mdlAddress(mdl), va, 0,
          `MmBuildMdlForNonPagedPool: ${hex(pageVa)} is not nonpaged system memory`);
      }
      k.bugcheck.KeBugCheckEx(MEMORY_MANAGEMENT, 0x1240, mdlAddress(mdl), pageVa, 0,
        `MmBuildMdlForNonPagedPool: ${hex(pageVa)} is not resident system memory`);
    }
    const f = Math.floor(pa / PAGE_SIZE);
    if (k.mm.pfn.owner[f] === pagedOwner && verifierOn(k)) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_BUILD_MDL_PAGED, mdlAddress(mdl), va, 0,
        `MmBuildMdlForNonPagedPool on paged pool at ${hex(pageVa)}`);
    }
    frames[i] = f;
  }
  mdl.pfnArray.set(frames);
  mdl.MdlFlags |= MDL_SOURCE_IS_NONPAGED_POOL;
  mdl.MappedSystemVa = va;
  mdl.Process = null;
}

// The MDL macros read the structure and take no kernel argument, as in wdm.h. A pointer that
// is not an MDL faults like the dereference it is: STATUS_ACCESS_VIOLATION is raised.
function macroMdl(m: unknown, macro: string): Mdl {
  if (!(m instanceof Mdl)) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${macro}: argument is not an MDL`);
  return m;
}

/** MmGetMdlPfnArray: the PFN array (valid after probe-and-lock, build or allocation). */
export function MmGetMdlPfnArray(Mdl_: Mdl): Int32Array {
  return macroMdl(Mdl_, 'MmGetMdlPfnArray').pfnArray;
}

/** MmGetMdlVirtualAddress: StartVa + ByteOffset. */
export function MmGetMdlVirtualAddress(Mdl_: Mdl): number {
  const m = macroMdl(Mdl_, 'MmGetMdlVirtualAddress');
  return m.StartVa + m.ByteOffset;
}

export function MmGetMdlByteCount(Mdl_: Mdl): number {
  return macroMdl(Mdl_, 'MmGetMdlByteCount').ByteCount;
}

export function MmGetMdlByteOffset(Mdl_: Mdl): number {
  return macroMdl(Mdl_, 'MmGetMdlByteOffset').ByteOffset;
}

/**
 * MmAllocatePagesForMdlEx(k, LowAddress, HighAddress, SkipBytes, TotalBytes, CacheType,
 * Flags) → MDL | null. Pages need not be contiguous and may be fewer than asked (check
 * MmGetMdlByteCount) unless MM_ALLOCATE_FULLY_REQUIRED. Physical bounds are honoured: when
 * [Low, High] runs dry and SkipBytes is not 0, the window moves up by SkipBytes. NOLOWMEM
 * applies unless HighAddress is below 4 GiB. Zeroed unless MM_DONT_ZERO_ALLOCATION.
 * [nf-wdm-mmallocatepagesformdlex]
 */
export function MmAllocatePagesForMdlEx(
  k: Kernel,
  LowAddress: number,
  HighAddress: number,
  SkipBytes: number,
  TotalBytes: number,
  CacheType: number,
  Flags: number,
): Mdl | null {
  k.bugcheck.assertRunning();
  const int = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!int(LowAddress) || !int(HighAddress) || !int(SkipBytes) || !int(TotalBytes)) return null;
  if (LowAddress > HighAddress || TotalBytes === 0 || SkipBytes % PAGE_SIZE !== 0) return null;
  if (!Number.isInteger(CacheType) || CacheType < 0 || CacheType > 2) return null;
  if (!Number.isInteger(Flags) || (Flags & ~MM_ALLOCATE_KNOWN_FLAGS) !== 0) return null;
  const wanted = Math.min(Math.ceil(TotalBytes / PAGE_SIZE), MDL_MAX_BYTES / PAGE_SIZE);
  const driver = k.currentDriver ?? undefined;
  if (k.faults.shouldFail({ site: 'MmAllocatePagesForMdlEx', bytes: wanted * PAGE_SIZE, driver })) return null;
  const owner = k.mm.owners.register('mdl-pages', 'MmAllocatePagesForMdlEx', driver);
  if (owner === 0) return null;
  const frames = new Int32Array(wanted);
  let got = 0;
  const topPfn = k.mm.pfn.pageCount - 1;
  for (let skip = 0; got < wanted; skip += SkipBytes) {
    const lo = Math.ceil((LowAddress + skip) / PAGE_SIZE);
    const hi = Math.floor((HighAddress + skip) / PAGE_SIZE);
    if (lo > topPfn) break;
    while (got < wanted) {
      const f = k.mm.allocatePage(owner, 'MmAllocatePagesForMdlEx', { lowestPfn: lo, highestPfn: hi });
      if (f < 0) break;
      frames[got++] = f;
    }
    if (SkipBytes === 0) break;
  }
  if (got === 0 || (got < wanted && (Flags & MM_ALLOCATE_FULLY_REQUIRED))) {
    for (let i = 0; i < got; i++) k.mm.freePage(frames[i]!);
    k.mm.owners.release(owner);
    return null;
  }
  if ((Flags & MM_DONT_ZERO_ALLOCATION) === 0) {
    for (let i = 0; i < got; i++) k.memory.fill(frames[i]! * PAGE_SIZE, PAGE_SIZE, 0);
  }
  const host = mdlHost(k);
  const mdl = new Mdl(host.nextId++, 0, got * PAGE_SIZE);
  host.live++;
  mdl.pfnArray.set(frames.subarray(0, got));
  mdl.pagesOwner = owner;
  // The pages are the MDL's own and resident: it can be mapped like a locked MDL.
  mdl.MdlFlags = MDL_PAGES_LOCKED;
  return mdl;
}

/**
 * MmFreePagesFromMdl(k, MemoryDescriptorList): free the pages of an MmAllocatePagesForMdlEx
 * MDL (the MDL itself is then freed with IoFreeMdl / ExFreePool). Unmap it first: a mapped
 * MDL is 0xC4/0xB8 under the verifier. Any other MDL is 0x1A/0x1236 (its frames are not the
 * MDL's to free). [nf-wdm-mmfreepagesfrommdl]
 */
export function MmFreePagesFromMdl(k: Kernel, MemoryDescriptorList: Mdl): void {
  k.bugcheck.assertRunning();
  miValidateMdl(k, MemoryDescriptorList, 'MmFreePagesFromMdl');
  const mdl = MemoryDescriptorList;
  if (mdl.pagesOwner === 0) {
    k.bugcheck.KeBugCheckEx(MEMORY_MANAGEMENT, 0x1236, mdlAddress(mdl), 0, mdl.pfnArray[0] ?? 0,
      `MmFreePagesFromMdl: MDL ${hex(mdlAddress(mdl))} was not built by MmAllocatePagesForMdlEx (or its pages were already freed)`);
  }
  const mapped = (mdl.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) !== 0 || mdl.userMappings.length > 0;
  if (mapped && verifierOn(k)) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_FREE_MAPPED_MDL, mdlAddress(mdl), mdl.MappedSystemVa, 0,
      'MmFreePagesFromMdl: the MDL is still mapped; call MmUnmapLockedPages first');
  }
  const n = Math.ceil(mdl.ByteCount / PAGE_SIZE);
  for (let i = 0; i < n; i++) {
    k.mm.freePage(mdl.pfnArray[i]!);
    mdl.pfnArray[i] = -1;
  }
  k.mm.owners.release(mdl.pagesOwner);
  mdl.pagesOwner = 0;
  mdl.ByteCount = 0;
  mdl.MdlFlags &= ~MDL_PAGES_LOCKED;
}
