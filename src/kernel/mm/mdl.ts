/**
 * Memory descriptor lists: IoAllocateMdl, IoFreeMdl, MmProbeAndLockPages, MmUnlockPages,
 * MmBuildMdlForNonPagedPool, MmAllocatePagesForMdlEx, MmFreePagesFromMdl and the MDL macros.
 *
 * Why one file of this size: every routine here reads and writes the same MDL fields and flag
 * rules (MDL_PAGES_LOCKED, MDL_SOURCE_IS_NONPAGED_POOL, …); mapping (mdl-mapping.ts) and
 * secured memory (secure.ts) are apart because they add state of their own.
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
 * - An MDL is a nonpaged pool block (tag 'Mdl ', as IoAllocateMdl allocates it): one spanning
 *   up to IOP_FIXED_SIZE_MDL_PFNS (0x17 = 23) pages is a fixed-size MDL (48 + 23 * 8 = 232 bytes,
 *   MDL_ALLOCATED_FIXED_SIZE set) taken from the I/O manager's MDL lookaside list (pool on a miss),
 *   a larger one is a pool block of 48 + 8 * pages bytes (ReactOS ntoskrnl/io/iomgr/iomdl.c:
 *   "if (Size > 23)", MdlSize = sizeof(MDL) + 23 * sizeof(PFN_NUMBER) in iomgr.c). IoFreeMdl
 *   pushes a fixed-size MDL back to the list (pool when the list is at Depth) and frees any other
 *   to pool; ExFreePool(Mdl) frees the block to pool either way. Size is the CSHORT Windows
 *   stores, 48 + 8 * pages truncated to 16 bits. A zero Length gives a valid MDL with ByteCount
 *   0 (ReactOS kmtests and the IoAllocateMdl code path agree; there is no zero check).
 *   MmAllocatePagesForMdl(Ex) MDLs are pool blocks too: ExFreePool(Mdl) frees them
 *   (kmtests/ntos_mm/MmMdl.c frees them with ExFreePoolWithTag(Mdl, 0)).
 * - Driver bugs bug-check with the codes Windows uses; where only Driver Verifier detects a
 *   bug (0xC4 subcodes), the check runs only when `k.config.verifier` is set, otherwise the
 *   free-build behaviour follows (e.g. an MDL freed while locked leaves its pages locked
 *   until the process exit bug check). Bug-check parameters that are addresses in Windows
 *   (MDL, lock tracker) are stable synthetic addresses from `mdlAddress` / `mdlTrackerAddress`.
 */
import type { Kernel } from '../kernel.ts';
import { perHost } from '../per-host.ts';
import { PAGE_SIZE, addressOfPfn, pageOffset, pfnOf } from '../../bus/address.ts';
import { NonPagedPoolNx } from './pool.ts';
import {
  BAD_POOL_CALLER,
  DRIVER_VERIFIER_DETECTED_VIOLATION,
  IRQL_NOT_LESS_OR_EQUAL,
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

/**
 * IoAllocateMdl's limit since Windows 7: 4 GiB - PAGE_SIZE [nf-wdm-ioallocatemdl]. The same
 * page's Windows Server 2003 row (PAGE_SIZE * (65535 - sizeof(MDL)) / sizeof(ULONG_PTR)) is
 * what kmtests/ntos_io/IoMdl.c records; this model is a Windows 7+ x64 kernel.
 */
export const MDL_MAX_BYTES = 0x1_0000_0000 - PAGE_SIZE;
/** sizeof(MDL) on x64; Size = sizeof(MDL) + pages * sizeof(PFN_NUMBER). */
export const SIZEOF_MDL = 48;
/**
 * IOP_FIXED_SIZE_MDL_PFNS (0x17): MDLs spanning up to this many pages are fixed size and come from
 * the I/O manager's MDL lookaside list (232-byte entries).
 */
export const FIXED_SIZE_MDL_PAGES = 23;
/** Pool tag of MDLs ('Mdl ' in pooltag.txt: Io, Mdls). */
export const TAG_MDL = 0x206c644d;
/** ADDRESS_AND_SIZE_TO_SPAN_PAGES(Va, Size) as wdm.h computes it (an unaligned empty range spans one page). */
export const addressAndSizeToSpanPages = (va: number, size: number): number =>
  Math.floor((pageOffset(va) + size + PAGE_SIZE - 1) / PAGE_SIZE);
/** A value stored in a CSHORT (16-bit signed) field. */
const cshort = (v: number): number => ((v & 0xffff) << 16) >> 16;
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
export const VERIFIER_PAGES_FOR_MDL_IRQL = 0x7e;

/** The IRP fields IoAllocateMdl links to (the I/O manager's IRP satisfies this). */
export interface MdlIrpLink {
  MdlAddress: Mdl | null;
}

const MDL_ADDRESS_BASE = 0xfa80_0000_0000;
const TRACKER_ADDRESS_BASE = 0xfa90_0000_0000;

export class Mdl {
  Next: Mdl | null = null;
  /** CSHORT: sizeof(MDL) + 8 * span pages, truncated to 16 bits as Windows stores it. */
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
  /** @internal the pool block holding the MDL (0 for none). */
  poolAddress = 0;

  constructor(id: number, va: number, length: number) {
    this.id = id;
    this.StartVa = Math.floor(va / PAGE_SIZE) * PAGE_SIZE;
    this.ByteOffset = va - this.StartVa;
    this.ByteCount = length;
    const pages = addressAndSizeToSpanPages(va, length);
    this.pfnArray = new Int32Array(pages).fill(-1);
    this.Size = cshort(SIZEOF_MDL + pages * 8);
  }
}

interface MdlHostState {
  nextId: number;
  live: number;
  /** System mappings lost because their MDL was freed while mapped (no verifier). */
  leakedSystemMappings: number;
}

/** @internal per-host MDL bookkeeping. */
export const mdlHost = perHost((): MdlHostState => ({ nextId: 1, live: 0, leakedSystemMappings: 0 }));

/** The synthetic kernel address of an MDL (bug-check parameters, reports). */
export const mdlAddress = (m: Mdl): number => m.poolAddress !== 0 ? m.poolAddress : MDL_ADDRESS_BASE + m.id * 0x100;
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

/** @internal The entry of an Mm routine taking an MDL: the host is running and `m` is a live MDL. */
export function miEnterMdl(k: Kernel, m: Mdl, routine: string): Mdl {
  k.bugcheck.assertRunning();
  miValidateMdl(k, m, routine);
  return m;
}

/**
 * Take the MDL's pool block — a fixed-size one from the I/O manager's MDL lookaside list when it
 * has one (ExAllocateFromPPLookasideList(LookasideMdlList)), else pool — and register it with the
 * pool (ExFreePool(Mdl) frees it). Returns false when the pool has no block. The caller has asked
 * the fault injector.
 */
function miAllocateMdlBlock(k: Kernel, mdl: Mdl, fixedSize: boolean): boolean {
  const bytes = fixedSize ? SIZEOF_MDL + FIXED_SIZE_MDL_PAGES * 8 : SIZEOF_MDL + mdl.pfnArray.length * 8;
  let va = fixedSize ? k.lookaside.popSystemEntry(k.io.lookasideLists.mdl) ?? 0 : 0;
  if (va === 0) va = k.mm.pool.allocate(NonPagedPoolNx, bytes, TAG_MDL, false, false);
  if (va === 0) return false;
  mdl.poolAddress = va;
  k.mm.pool.registerObject(mdl, va, (kk, routine) => miFreeMdl(kk, mdl, routine, false));
  return true;
}

/**
 * IoAllocateMdl(k, VirtualAddress, Length, SecondaryBuffer, ChargeQuota, Irp) → MDL | null.
 * NULL for a Length above 4 GiB - PAGE_SIZE, an address outside the model's address space, or
 * an allocation failure; a zero Length is a valid MDL with ByteCount 0. MDLs of up to 23 pages
 * carry MDL_ALLOCATED_FIXED_SIZE. With an IRP, the MDL becomes Irp.MdlAddress (SecondaryBuffer
 * FALSE) or the tail of its chain (TRUE; Windows walks Irp->MdlAddress without a NULL check, so
 * a secondary buffer on an IRP with no MDL is an access violation — raised here before anything
 * is allocated). [nf-wdm-ioallocatemdl; kmtests/ntos_io/IoMdl.c]
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
  if (!Number.isSafeInteger(Length) || Length < 0 || Length > MDL_MAX_BYTES) return null;
  if (Irp !== null && (typeof Irp !== 'object' || !('MdlAddress' in Irp))) return null;
  if (Irp && SecondaryBuffer && Irp.MdlAddress === null) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoAllocateMdl: SecondaryBuffer TRUE but Irp->MdlAddress is NULL (nothing to chain to)');
  }
  const pages = addressAndSizeToSpanPages(VirtualAddress, Length);
  const fixedSize = pages <= FIXED_SIZE_MDL_PAGES;
  const bytes = fixedSize ? SIZEOF_MDL + FIXED_SIZE_MDL_PAGES * 8 : SIZEOF_MDL + pages * 8;
  if (k.faults.shouldFail({ site: 'IoAllocateMdl', tag: TAG_MDL, bytes, driver: k.currentDriver ?? undefined })) {
    return null;
  }
  const host = mdlHost(k);
  const mdl = new Mdl(host.nextId, VirtualAddress, Length);
  if (!miAllocateMdlBlock(k, mdl, fixedSize)) return null;
  host.nextId++;
  host.live++;
  if (fixedSize) mdl.MdlFlags = MDL_ALLOCATED_FIXED_SIZE;
  if (Irp) {
    if (!SecondaryBuffer) {
      Irp.MdlAddress = mdl;
    } else {
      let tail = Irp.MdlAddress!;
      while (tail.Next) tail = tail.Next;
      tail.Next = mdl;
    }
  }
  return mdl;
}

/**
 * Free an MDL structure: IoFreeMdl's work (`toLookaside`: a fixed-size MDL goes back to the MDL
 * lookaside list while it has room, as IopFreeMdlFromLookaside does), and ExFreePool's on an MDL
 * (the block goes to pool).
 */
function miFreeMdl(k: Kernel, mdl: Mdl, routine: string, toLookaside: boolean): void {
  miValidateMdl(k, mdl, routine);
  const systemMapped = (mdl.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) !== 0 && (mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL) === 0;
  if (systemMapped || mdl.userMappings.length > 0) {
    if (verifierOn(k)) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_FREE_MAPPED_MDL, mdlAddress(mdl), mdl.MdlFlags, 0,
        `${routine}: MDL ${hex(mdlAddress(mdl))} is still mapped (${systemMapped ? `system VA ${hex(mdl.MappedSystemVa)}` : ''}` +
          `${mdl.userMappings.length ? ` ${mdl.userMappings.length} user mapping(s)` : ''}); call MmUnmapLockedPages first`);
    }
    if (systemMapped) mdlHost(k).leakedSystemMappings++;
  }
  if (mdl.poolAddress !== 0) {
    k.mm.pool.unregisterObject(mdl);
    const cached = toLookaside && (mdl.MdlFlags & MDL_ALLOCATED_FIXED_SIZE) !== 0 &&
      k.lookaside.pushSystemEntry(k.io.lookasideLists.mdl, mdl.poolAddress);
    if (!cached) k.mm.pool.free(mdl.poolAddress, TAG_MDL);
  }
  mdl.freed = true;
  mdlHost(k).live--;
}

/**
 * IoFreeMdl. Unlock and unmap first: an MDL still mapped is 0xC4/0xB8 under the verifier
 * (P2 the MDL, P3 its flags; without it the mapping is leaked); an MDL freed with its pages
 * locked leaves them locked, which surfaces as 0x76 / 0xCB when the process exits.
 * [nf-wdm-iofreemdl; Bug Check 0xC4]
 */
export function IoFreeMdl(k: Kernel, Mdl_: Mdl): void {
  k.bugcheck.assertRunning();
  miFreeMdl(k, Mdl_, 'IoFreeMdl', true);
}

/**
 * MmProbeAndLockPages(k, Mdl, AccessMode, Operation). Makes the pages resident, checks them
 * against Operation, takes a lock reference on each frame and fills the PFN array. Raises
 * STATUS_ACCESS_VIOLATION for a range that is not wholly valid (a UserMode range must lie in
 * user space), with nothing locked. Call it inside try/catch. [nf-wdm-mmprobeandlockpages]
 */
export function MmProbeAndLockPages(k: Kernel, MemoryDescriptorList: Mdl, AccessMode: number, Operation: number): void {
  const mdl = miEnterMdl(k, MemoryDescriptorList, 'MmProbeAndLockPages');
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
  // The failure messages' prefix, built only on a failure (the lock path formats no string).
  const what = (): string => `MmProbeAndLockPages [${hex(va)}, +${hex(length)})`;
  if (va + length > ADDRESS_SPACE_END) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what()}: wrapping range`);
  if (mdl.pfnArray.length === 0) {
    // A page-aligned empty MDL spans no page: nothing to probe or lock (Windows' loop runs zero times).
    mdl.MdlFlags |= MDL_PAGES_LOCKED | (Operation !== IoReadAccess ? MDL_WRITE_OPERATION : 0);
    mdl.lockedBy = k.currentDriver;
    mdl.lockedSystemRange = true;
    mdl.Process = null;
    return;
  }
  if (k.faults.shouldFail({ site: 'MmProbeAndLockPages', bytes: length, driver: k.currentDriver ?? undefined })) {
    ExRaiseStatus(STATUS_WORKING_SET_QUOTA, `${what()}: lock refused (fault injection)`);
  }
  const write = Operation !== IoReadAccess;
  if (userRange) {
    if (va + length > MM_USER_SPACE_END) {
      ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what()}: a user buffer must lie below ${hex(MM_USER_SPACE_END)}`);
    }
    lockUserRange(k, mdl, va, length, write, what);
  } else {
    if (AccessMode === UserMode) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what()}: kernel address probed for UserMode`);
    lockSystemRange(k, mdl, va, length, what);
  }
  mdl.MdlFlags |= MDL_PAGES_LOCKED | (write ? MDL_WRITE_OPERATION : 0);
  mdl.lockedBy = k.currentDriver;
}

function lockUserRange(k: Kernel, mdl: Mdl, va: number, length: number, write: boolean, what: () => string): void {
  const process = k.ps.current;
  if (process.state !== 'running') ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what()}: process ${process.ProcessId} is ${process.state}`);
  // The pages the MDL spans (an unaligned empty MDL still spans the page holding its address).
  const runs = miUserRuns(process, mdl.StartVa, mdl.pfnArray.length * PAGE_SIZE);
  void va;
  void length;
  if (!runs) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what()}: not wholly inside allocated memory of process ${process.ProcessId}`);
  if (!miRunsAllow(runs, write)) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what()}: a page is not committed or does not allow ${write ? 'write' : 'read'} access`);
  }
  const fresh = miMakeResident(k, process, runs, 'MmProbeAndLockPages');
  if (!fresh) ExRaiseStatus(STATUS_WORKING_SET_QUOTA, `${what()}: no free page for a demand-zero fault`);
  const out = mdl.pfnArray;
  const locked = lockRuns(k, runs, out);
  if (locked < out.length) {
    for (let j = 0; j < locked; j++) k.mm.unlockPage(out[j]!);
    out.fill(-1);
    miUndoResident(k, runs, fresh);
    ExRaiseStatus(STATUS_WORKING_SET_QUOTA, `${what()}: page lock count limit reached`);
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

function lockSystemRange(k: Kernel, mdl: Mdl, va: number, length: number, what: () => string): void {
  const n = mdl.pfnArray.length;
  const frames = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const pa = k.mm.system.physicalAddress(mdl.StartVa + i * PAGE_SIZE);
    if (pa === null) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${what()}: system page ${hex(mdl.StartVa + i * PAGE_SIZE)} is not mapped`);
    frames[i] = pfnOf(pa);
  }
  for (let i = 0; i < n; i++) {
    if (!k.mm.lockPage(frames[i]!)) {
      for (let j = 0; j < i; j++) k.mm.unlockPage(frames[j]!);
      ExRaiseStatus(STATUS_WORKING_SET_QUOTA, `${what()}: page lock count limit reached`);
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
  const mdl = miEnterMdl(k, MemoryDescriptorList, 'MmUnlockPages');
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
  const mdl = miEnterMdl(k, MemoryDescriptorList, 'MmBuildMdlForNonPagedPool');
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
    const f = pfnOf(pa);
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

/** MAXULONG64 as a JavaScript number (2^64 - 1 rounds to 2^64), as contiguous.ts names it. */
const MAXULONG64_NUMBER = 2 ** 64 - 1;

/**
 * MmAllocatePagesForMdlEx(k, LowAddress, HighAddress, SkipBytes, TotalBytes, CacheType,
 * Flags) → MDL | null (IRQL <= DISPATCH_LEVEL; above it Driver Verifier stops with 0xC4/0x7E).
 * Pages need not be contiguous and may be fewer than asked (check MmGetMdlByteCount) unless
 * MM_ALLOCATE_FULLY_REQUIRED. Physical bounds are honoured: when [Low, High] runs dry and
 * SkipBytes is not 0, the window moves up by SkipBytes. HighAddress -1 (a PHYSICAL_ADDRESS of
 * all ones, MAXULONG64) means no upper bound, as kmtests/ntos_mm/MmMdl.c passes it. NOLOWMEM
 * applies unless HighAddress is below 4 GiB. Zeroed unless MM_DONT_ZERO_ALLOCATION. The MDL
 * describes no virtual address (MmGetMdlVirtualAddress is NULL), is not mapped, and is a pool
 * block: free the pages with MmFreePagesFromMdl, then the MDL with ExFreePool.
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
  return miAllocatePagesForMdl(k, 'MmAllocatePagesForMdlEx', LowAddress, HighAddress, SkipBytes, TotalBytes, CacheType, Flags);
}

/**
 * MmAllocatePagesForMdl(k, LowAddress, HighAddress, SkipBytes, TotalBytes): MmAllocatePagesForMdlEx
 * with MmCached and no flags (the pages are zeroed). [nf-wdm-mmallocatepagesformdl;
 * kmtests/ntos_mm/MmMdl.c TestMmAllocatePagesForMdl]
 */
export function MmAllocatePagesForMdl(k: Kernel, LowAddress: number, HighAddress: number, SkipBytes: number, TotalBytes: number): Mdl | null {
  return miAllocatePagesForMdl(k, 'MmAllocatePagesForMdl', LowAddress, HighAddress, SkipBytes, TotalBytes, 1 /* MmCached */, 0);
}

function miAllocatePagesForMdl(k: Kernel, site: string, LowAddress: number, HighAddress: number, SkipBytes: number,
                               TotalBytes: number, CacheType: number, Flags: number): Mdl | null {
  k.bugcheck.assertRunning();
  if (k.irql > DISPATCH_LEVEL) {
    if (verifierOn(k)) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_PAGES_FOR_MDL_IRQL, k.irql, DISPATCH_LEVEL, 0,
        `${site} at IRQL ${k.irql}`);
    }
    k.bugcheck.KeBugCheckEx(IRQL_NOT_LESS_OR_EQUAL, 0, k.irql, 0, 0, `${site} at IRQL ${k.irql} (max DISPATCH_LEVEL)`);
  }
  const int = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const high = HighAddress === -1 || HighAddress === MAXULONG64_NUMBER ? Number.MAX_SAFE_INTEGER : HighAddress;
  if (!int(LowAddress) || !int(high) || !int(SkipBytes) || !int(TotalBytes)) return null;
  if (LowAddress > high || TotalBytes === 0 || pageOffset(SkipBytes) !== 0) return null;
  if (!Number.isInteger(CacheType) || CacheType < 0 || CacheType > 2) return null;
  if (!Number.isInteger(Flags) || (Flags & ~MM_ALLOCATE_KNOWN_FLAGS) !== 0) return null;
  const wanted = Math.min(Math.ceil(TotalBytes / PAGE_SIZE), MDL_MAX_BYTES / PAGE_SIZE);
  const driver = k.currentDriver ?? undefined;
  if (k.faults.shouldFail({ site, bytes: wanted * PAGE_SIZE, driver })) return null;
  const owner = k.mm.owners.register('mdl-pages', site, driver);
  if (owner === 0) return null;
  // Windows creates the MDL for the whole request first (MmCreateMdl), then fills it with what
  // it finds: the MDL's pool block cannot be starved by the pages the call itself takes.
  const blockVa = k.mm.pool.allocate(NonPagedPoolNx, SIZEOF_MDL + wanted * 8, TAG_MDL, false, false);
  if (blockVa === 0) {
    k.mm.owners.release(owner);
    return null;
  }
  const frames = new Int32Array(wanted);
  let got = 0;
  const topPfn = k.mm.pfn.pageCount - 1;
  for (let skip = 0; got < wanted; skip += SkipBytes) {
    const lo = Math.ceil((LowAddress + skip) / PAGE_SIZE);
    const hi = Math.min(pfnOf(high + skip), topPfn);
    if (lo > topPfn) break;
    while (got < wanted) {
      const f = k.mm.allocatePage(owner, site, { lowestPfn: lo, highestPfn: hi });
      if (f < 0) break;
      frames[got++] = f;
    }
    if (SkipBytes === 0) break;
  }
  const host = mdlHost(k);
  if (got === 0 || (got < wanted && (Flags & MM_ALLOCATE_FULLY_REQUIRED))) {
    for (let i = 0; i < got; i++) k.mm.freePage(frames[i]!);
    k.mm.pool.free(blockVa, TAG_MDL);
    k.mm.owners.release(owner);
    return null;
  }
  const mdl = new Mdl(host.nextId, 0, Math.min(got * PAGE_SIZE, TotalBytes));
  mdl.poolAddress = blockVa;
  k.mm.pool.registerObject(mdl, blockVa, (kk, routine) => miFreeMdl(kk, mdl, routine, false));
  host.nextId++;
  host.live++;
  if ((Flags & MM_DONT_ZERO_ALLOCATION) === 0) {
    for (let i = 0; i < got; i++) k.memory.fill(addressOfPfn(frames[i]!), PAGE_SIZE, 0);
  }
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
  const mdl = miEnterMdl(k, MemoryDescriptorList, 'MmFreePagesFromMdl');
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

/**
 * @internal Remove user mapping `i` of an MDL (MmUnmapLockedPages, MmUnlockPages, process exit).
 * Kept here, beside the MDL, so the mapping module and this one do not import each other.
 */
export function miRemoveUserMapping(mdl: Mdl, i: number): void {
  const { process, vad } = mdl.userMappings[i]!;
  mdl.userMappings.splice(i, 1);
  process.lockedPageMappings.delete(vad);
  process.space.remove(vad);
}

/** @internal MmUnlockPages: the MDL's system and user mappings go before its pages unlock. */
export function miUnmapMdlMappings(k: Kernel, mdl: Mdl): void {
  if ((mdl.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) && !(mdl.MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL)) {
    k.mm.system.unmap(mdl.MappedSystemVa);
    mdl.MdlFlags &= ~MDL_MAPPED_TO_SYSTEM_VA;
  }
  while (mdl.userMappings.length > 0) miRemoveUserMapping(mdl, mdl.userMappings.length - 1);
}
