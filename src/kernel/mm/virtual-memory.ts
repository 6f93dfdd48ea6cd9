/**
 * User virtual memory: NtAllocateVirtualMemory, NtFreeVirtualMemory, NtProtectVirtualMemory
 * and the demand-zero fault path shared with MmProbeAndLockPages.
 *
 * Implementation notes
 * - A reservation becomes a `Vad` in the process's address space (ps/address-space.ts);
 *   commit only sets page protections. A committed page takes a frame on first touch
 *   (demand zero): mm.allocatePage with the process's page-table owner, which honours
 *   NOLOWMEM and fault injection, then the frame is zeroed (freed RAM keeps old bytes).
 * - Every routine checks its whole request before changing anything; a failing call leaves
 *   regions, protections and frames exactly as they were.
 * - Decommit/release of a page whose frame a driver still holds locked does not free the
 *   frame: it is marked PFN_FLAG_DELETE_PENDING (owner kept) and the last MmUnlockPages frees
 *   it. [MmProbeAndLockPages: "the pages cannot be freed and reallocated while ... in use"]
 * - A range secured by MmSecureVirtualMemory cannot be decommitted, released or made more
 *   restrictive: those calls return STATUS_INVALID_PAGE_PROTECTION, as NT's secured-VAD check
 *   does; kernel32 then runs the secure memory cache callbacks (ps/process.ts).
 *   [MmSecureVirtualMemory, AddSecureMemoryCacheCallback]
 */
import type { Kernel } from '../kernel.ts';
import { PAGE_SIZE, addressOfPfn, pageOffset } from '../../bus/address.ts';
import {
  ExRaiseStatus,
  NT_SUCCESS,
  STATUS_ACCESS_VIOLATION,
  STATUS_CONFLICTING_ADDRESSES,
  STATUS_INVALID_HANDLE,
  STATUS_INVALID_PARAMETER_2,
  STATUS_INVALID_PARAMETER_3,
  STATUS_INVALID_PARAMETER_4,
  STATUS_INVALID_PARAMETER_5,
  STATUS_INVALID_PARAMETER_6,
  STATUS_NOT_SUPPORTED,
  STATUS_FREE_VM_NOT_AT_BASE,
  STATUS_INVALID_PAGE_PROTECTION,
  STATUS_INVALID_PARAMETER,
  STATUS_MEMORY_NOT_ALLOCATED,
  STATUS_NO_MEMORY,
  STATUS_NOT_COMMITTED,
  STATUS_PROCESS_IS_TERMINATING,
  STATUS_SUCCESS,
  STATUS_UNABLE_TO_DELETE_SECTION,
  STATUS_UNABLE_TO_FREE_VM,
  type NTSTATUS,
} from '../status.ts';
import {
  ALLOCATION_GRANULARITY,
  MM_HIGHEST_USER_ADDRESS,
  MM_HIGHEST_VAD_ADDRESS,
  MM_LOWEST_USER_ADDRESS,
  MM_USER_SPACE_END,
  PAGE_NOACCESS,
  PAGE_READONLY,
  PAGE_READWRITE,
  Vad,
  type VadRun,
} from '../ps/address-space.ts';
import type { Process } from '../ps/process.ts';
import type { Ref } from '../ref.ts';

export { PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE };
export const MEM_COMMIT = 0x1000;
export const MEM_RESERVE = 0x2000;
export const MEM_DECOMMIT = 0x4000;
export const MEM_RELEASE = 0x8000;
export const MEM_RESET = 0x80000;
export const MEM_TOP_DOWN = 0x100000;
export const MEM_WRITE_WATCH = 0x200000;
export const MEM_PHYSICAL = 0x400000;
export const MEM_LARGE_PAGES = 0x20000000;
/** Page protections the model does not implement, and modifiers (winnt.h). */
export const PAGE_WRITECOPY = 0x08;
export const PAGE_EXECUTE = 0x10;
export const PAGE_EXECUTE_READ = 0x20;
export const PAGE_EXECUTE_READWRITE = 0x40;
export const PAGE_EXECUTE_WRITECOPY = 0x80;
export const PAGE_GUARD = 0x100;
export const PAGE_NOCACHE = 0x200;
export const PAGE_WRITECOMBINE = 0x400;
/** MI_MAX_ZERO_BITS: the largest ZeroBits NtAllocateVirtualMemory takes as a count. */
export const MI_MAX_ZERO_BITS = 21;

const KNOWN_ALLOCATION_TYPES = MEM_COMMIT | MEM_RESERVE | MEM_RESET | MEM_PHYSICAL | MEM_TOP_DOWN | MEM_WRITE_WATCH | MEM_LARGE_PAGES;
const BASE_PROTECTIONS = [PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOPY, PAGE_EXECUTE, PAGE_EXECUTE_READ,
  PAGE_EXECUTE_READWRITE, PAGE_EXECUTE_WRITECOPY];

/** What the internal Mi routines report (the Nt routines copy it to their out parameters). */
export interface VirtualMemoryResult {
  status: NTSTATUS;
  /** The (rounded) start of the range acted on. */
  baseAddress: number;
  /** The (rounded) size of the range acted on. */
  regionSize: number;
}

export interface ProtectResult extends VirtualMemoryResult {
  /** OldAccessProtection: the protection of the first page before the change. */
  oldProtect: number;
}

const isProtect = (p: unknown): p is number => p === PAGE_NOACCESS || p === PAGE_READONLY || p === PAGE_READWRITE;
const isSize = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isRef = (r: unknown): r is Ref<number> => typeof r === 'object' && r !== null && 'value' in r;
const pageFloor = (va: number) => Math.floor(va / PAGE_SIZE) * PAGE_SIZE;
const pageCeil = (va: number) => Math.ceil(va / PAGE_SIZE) * PAGE_SIZE;
const fail = (status: NTSTATUS, baseAddress = 0, regionSize = 0): VirtualMemoryResult => ({ status, baseAddress, regionSize });

/**
 * MiMakeProtectionMask's verdict on Protect: the model's protection (PAGE_NOACCESS, _READONLY,
 * _READWRITE; the cache modifiers PAGE_NOCACHE / PAGE_WRITECOMBINE are accepted on an
 * accessible page and not modelled further — user pages are cached), or the status Windows
 * gives: STATUS_INVALID_PAGE_PROTECTION for no or several base protections, an unknown bit, a
 * modifier on PAGE_NOACCESS or two modifiers; STATUS_NOT_SUPPORTED for valid protections the
 * model does not implement (execute, copy-on-write, guard pages).
 */
function protectionOf(Protect: unknown): number | { status: NTSTATUS } {
  if (!Number.isInteger(Protect) || (Protect as number) < 0 || (Protect as number) > 0xffff_ffff) {
    return { status: STATUS_INVALID_PAGE_PROTECTION };
  }
  const p = Protect as number;
  const base = p & 0xff;
  const modifiers = p & ~0xff;
  if (!BASE_PROTECTIONS.includes(base) || (modifiers & ~(PAGE_GUARD | PAGE_NOCACHE | PAGE_WRITECOMBINE)) !== 0) {
    return { status: STATUS_INVALID_PAGE_PROTECTION };
  }
  const count = (modifiers & PAGE_GUARD ? 1 : 0) + (modifiers & PAGE_NOCACHE ? 1 : 0) + (modifiers & PAGE_WRITECOMBINE ? 1 : 0);
  if (count > 1 || (base === PAGE_NOACCESS && count > 0)) return { status: STATUS_INVALID_PAGE_PROTECTION };
  if (!isProtect(base) || (modifiers & PAGE_GUARD) !== 0) return { status: STATUS_NOT_SUPPORTED };
  return base;
}

/** The process behind a handle: STATUS_INVALID_HANDLE for anything that is not a process. */
function checkProcess(k: Kernel, process: unknown): NTSTATUS {
  if (!k.ps.isProcess(process)) return STATUS_INVALID_HANDLE;
  if (process.state !== 'running') return STATUS_PROCESS_IS_TERMINATING;
  return STATUS_SUCCESS;
}

/** The in/out BaseAddress and RegionSize of an Nt*VirtualMemory call, written only on success. */
function writeBack(r: VirtualMemoryResult, BaseAddress: Ref<number>, RegionSize: Ref<number>): NTSTATUS {
  if (NT_SUCCESS(r.status)) {
    BaseAddress.value = r.baseAddress;
    RegionSize.value = r.regionSize;
  }
  return r.status;
}

/**
 * NtAllocateVirtualMemory(k, ProcessHandle, BaseAddress, ZeroBits, RegionSize, AllocationType,
 * Protect) → NTSTATUS; BaseAddress and RegionSize are in/out (Ref). [ddi/ntifs
 * nf-ntifs-ntallocatevirtualmemory; kmtests/ntos_mm/ZwAllocateVirtualMemory.c]
 * Checks in Windows' order, each naming its parameter: ZeroBits above 21 →
 * STATUS_INVALID_PARAMETER_3; AllocationType with an unknown bit, none of COMMIT / RESERVE /
 * RESET, RESET with anything else, MEM_PHYSICAL without RESERVE (or with COMMIT), WRITE_WATCH
 * without RESERVE, LARGE_PAGES without COMMIT → _5; a bad Protect →
 * STATUS_INVALID_PAGE_PROTECTION; BaseAddress above MM_HIGHEST_VAD_ADDRESS → _2; a RegionSize of
 * 0 or running past MM_HIGHEST_VAD_ADDRESS → _4; then the process (STATUS_INVALID_HANDLE).
 * MEM_RESERVE (or a blind MEM_COMMIT with BaseAddress 0) rounds the base down to 64 KiB and the
 * end up to pages; MEM_TOP_DOWN picks the highest free range; ZeroBits n limits a blind
 * allocation below 2^(32-n). MEM_COMMIT alone commits pages of an existing reservation.
 * Reset, AWE (MEM_PHYSICAL), write watch and large pages are valid but not modelled:
 * STATUS_NOT_SUPPORTED.
 */
export function NtAllocateVirtualMemory(
  k: Kernel,
  ProcessHandle: Process,
  BaseAddress: Ref<number>,
  ZeroBits: number,
  RegionSize: Ref<number>,
  AllocationType: number,
  Protect: number,
): NTSTATUS {
  k.bugcheck.assertRunning();
  if (!isRef(BaseAddress) || !isRef(RegionSize)) return STATUS_ACCESS_VIOLATION;
  const r = miAllocateVirtualMemory(k, ProcessHandle, BaseAddress.value, ZeroBits, RegionSize.value, AllocationType, Protect);
  return writeBack(r, BaseAddress, RegionSize);
}

/** @internal NtAllocateVirtualMemory's work with the in/out values passed by value. */
export function miAllocateVirtualMemory(
  k: Kernel,
  process: Process,
  BaseAddress: number,
  ZeroBits: number,
  RegionSize: number,
  AllocationType: number,
  Protect: number,
): VirtualMemoryResult {
  k.bugcheck.assertRunning();
  if (!Number.isInteger(ZeroBits) || ZeroBits < 0 || ZeroBits > MI_MAX_ZERO_BITS) return fail(STATUS_INVALID_PARAMETER_3);
  const t = AllocationType;
  if (!Number.isInteger(t) || t < 0 || t > 0xffff_ffff || (t & ~KNOWN_ALLOCATION_TYPES) !== 0 ||
      (t & (MEM_COMMIT | MEM_RESERVE | MEM_RESET)) === 0 || ((t & MEM_RESET) !== 0 && t !== MEM_RESET) ||
      ((t & MEM_LARGE_PAGES) !== 0 && ((t & MEM_COMMIT) === 0 || (t & (MEM_PHYSICAL | MEM_WRITE_WATCH)) !== 0)) ||
      ((t & MEM_WRITE_WATCH) !== 0 && (t & MEM_RESERVE) === 0) ||
      ((t & MEM_PHYSICAL) !== 0 && ((t & MEM_RESERVE) === 0 || (t & ~(MEM_RESERVE | MEM_TOP_DOWN | MEM_PHYSICAL)) !== 0))) {
    return fail(STATUS_INVALID_PARAMETER_5);
  }
  if ((t & MEM_PHYSICAL) !== 0 && Protect !== PAGE_READWRITE) return fail(STATUS_INVALID_PARAMETER_6);
  const protection = protectionOf(Protect);
  const copyOnWrite = Number.isInteger(Protect) && (Protect & (PAGE_WRITECOPY | PAGE_EXECUTE_WRITECOPY)) !== 0;
  if (typeof protection !== 'number' && protection.status === STATUS_INVALID_PAGE_PROTECTION) return fail(protection.status);
  if (!isSize(BaseAddress) || BaseAddress > MM_HIGHEST_VAD_ADDRESS) return fail(STATUS_INVALID_PARAMETER_2);
  if (!isSize(RegionSize) || MM_HIGHEST_VAD_ADDRESS + 1 - BaseAddress < RegionSize || RegionSize === 0) {
    return fail(STATUS_INVALID_PARAMETER_4);
  }
  const ps = checkProcess(k, process);
  if (ps !== STATUS_SUCCESS) return fail(ps);
  const commit = (t & MEM_COMMIT) !== 0;
  const reserve = (t & MEM_RESERVE) !== 0 || BaseAddress === 0;
  // Copy-on-write is not allowed for private memory (kmtests: PAGE_WRITECOPY with MEM_RESERVE).
  if (reserve && copyOnWrite) return fail(STATUS_INVALID_PAGE_PROTECTION);
  if ((t & (MEM_RESET | MEM_PHYSICAL | MEM_WRITE_WATCH | MEM_LARGE_PAGES)) !== 0) return fail(STATUS_NOT_SUPPORTED);
  if (typeof protection !== 'number') return fail(protection.status);
  const space = process.space;

  if (reserve) {
    let start: number;
    let end: number;
    if (BaseAddress !== 0) {
      start = Math.floor(BaseAddress / ALLOCATION_GRANULARITY) * ALLOCATION_GRANULARITY;
      end = pageCeil(BaseAddress + RegionSize);
      if (start < MM_LOWEST_USER_ADDRESS) return fail(STATUS_CONFLICTING_ADDRESSES, start, end - start);
      if (!space.isFree(start, end)) return fail(STATUS_CONFLICTING_ADDRESSES, start, end - start);
    } else {
      const bytes = pageCeil(RegionSize);
      // ZeroBits n: the range must lie below 2^(32 - n) (the count form; kmtests: 21 leaves no room).
      const limit = ZeroBits === 0 ? MM_HIGHEST_VAD_ADDRESS + 1 : Math.min(MM_HIGHEST_VAD_ADDRESS + 1, 2 ** (32 - ZeroBits));
      start = space.findFree(bytes, ALLOCATION_GRANULARITY, limit, (t & MEM_TOP_DOWN) !== 0);
      if (start === 0) return fail(STATUS_NO_MEMORY);
      end = start + bytes;
    }
    // The VAD (and, with commit, the commit charge) is an allocation.
    if (k.faults.shouldFail({ site: 'NtAllocateVirtualMemory', bytes: end - start, driver: k.currentDriver ?? undefined })) {
      return fail(STATUS_NO_MEMORY);
    }
    const vad = new Vad(start, (end - start) / PAGE_SIZE, 'private');
    if (commit) {
      vad.protect.fill(protection);
      vad.committed = vad.pageCount;
    }
    space.insert(vad);
    return { status: STATUS_SUCCESS, baseAddress: start, regionSize: end - start };
  }

  // Commit inside an existing reservation.
  const start = pageFloor(BaseAddress);
  const end = pageCeil(BaseAddress + RegionSize);
  const vad = space.find(start);
  if (!vad || end > vad.end || vad.kind !== 'private') return fail(STATUS_CONFLICTING_ADDRESSES, start, end - start);
  // Re-committing committed pages sets their protection: the secured-range rule applies.
  if (miSecureConflict(process, start, end, protection)) return fail(STATUS_INVALID_PAGE_PROTECTION, start, end - start);
  if (k.faults.shouldFail({ site: 'NtAllocateVirtualMemory', bytes: end - start, driver: k.currentDriver ?? undefined })) {
    return fail(STATUS_NO_MEMORY);
  }
  const first = vad.pageIndex(start);
  const last = vad.pageIndex(end - 1) + 1;
  for (let i = first; i < last; i++) {
    if (vad.protect[i] === 0) vad.committed++;
    vad.protect[i] = protection;
  }
  return { status: STATUS_SUCCESS, baseAddress: start, regionSize: end - start };
}

/**
 * NtFreeVirtualMemory(k, ProcessHandle, BaseAddress, RegionSize, FreeType) → NTSTATUS;
 * BaseAddress and RegionSize are in/out (Ref). [ddi/ntifs nf-ntifs-ntfreevirtualmemory]
 * FreeType other than exactly MEM_DECOMMIT or MEM_RELEASE → STATUS_INVALID_PARAMETER_4;
 * BaseAddress above MM_HIGHEST_USER_ADDRESS → _2 (kmtests: a system address); a range running
 * past MmUserProbeAddress → _3; then the process. MEM_DECOMMIT with RegionSize 0 decommits to
 * the end of the region; MEM_RELEASE needs the region's base (STATUS_FREE_VM_NOT_AT_BASE) and
 * RegionSize 0 or the whole region (releasing part of a region is STATUS_UNABLE_TO_FREE_VM here).
 */
export function NtFreeVirtualMemory(
  k: Kernel,
  ProcessHandle: Process,
  BaseAddress: Ref<number>,
  RegionSize: Ref<number>,
  FreeType: number,
): NTSTATUS {
  k.bugcheck.assertRunning();
  if (!isRef(BaseAddress) || !isRef(RegionSize)) return STATUS_ACCESS_VIOLATION;
  const r = miFreeVirtualMemory(k, ProcessHandle, BaseAddress.value, RegionSize.value, FreeType);
  return writeBack(r, BaseAddress, RegionSize);
}

/** @internal NtFreeVirtualMemory's work; `baseAddress` / `regionSize` of a refusal say what was refused. */
export function miFreeVirtualMemory(
  k: Kernel,
  process: Process,
  BaseAddress: number,
  RegionSize: number,
  FreeType: number,
): VirtualMemoryResult {
  k.bugcheck.assertRunning();
  if (FreeType !== MEM_DECOMMIT && FreeType !== MEM_RELEASE) return fail(STATUS_INVALID_PARAMETER_4);
  if (!isSize(BaseAddress) || BaseAddress > MM_HIGHEST_USER_ADDRESS) return fail(STATUS_INVALID_PARAMETER_2);
  if (!isSize(RegionSize) || MM_USER_SPACE_END - BaseAddress < RegionSize) return fail(STATUS_INVALID_PARAMETER_3);
  const ps = checkProcess(k, process);
  if (ps !== STATUS_SUCCESS) return fail(ps);
  const vad = process.space.find(BaseAddress);
  if (!vad) return fail(STATUS_MEMORY_NOT_ALLOCATED);
  if (vad.kind !== 'private') return fail(STATUS_UNABLE_TO_DELETE_SECTION);

  let start: number;
  let end: number;
  if (FreeType === MEM_RELEASE) {
    if (BaseAddress !== vad.start) return fail(STATUS_FREE_VM_NOT_AT_BASE);
    if (RegionSize !== 0 && pageCeil(BaseAddress + RegionSize) !== vad.end) return fail(STATUS_UNABLE_TO_FREE_VM);
    start = vad.start;
    end = vad.end;
  } else {
    start = pageFloor(BaseAddress);
    end = RegionSize === 0 ? vad.end : pageCeil(BaseAddress + RegionSize);
    if (end > vad.end) return fail(STATUS_UNABLE_TO_FREE_VM);
  }
  if (miSecureConflict(process, start, end, 0)) return fail(STATUS_INVALID_PAGE_PROTECTION, start, end - start);

  miDeletePages(k, vad, vad.pageIndex(start), vad.pageIndex(end - 1) + 1);
  if (FreeType === MEM_RELEASE) process.space.remove(vad);
  return { status: STATUS_SUCCESS, baseAddress: start, regionSize: end - start };
}

/**
 * NtProtectVirtualMemory(k, ProcessHandle, BaseAddress, NumberOfBytesToProtect,
 * NewAccessProtection, OldAccessProtection) → NTSTATUS; BaseAddress and
 * NumberOfBytesToProtect in/out, OldAccessProtection out. A bad protection →
 * STATUS_INVALID_PAGE_PROTECTION; BaseAddress above MM_HIGHEST_USER_ADDRESS → _2; a size of 0
 * or running past MmUserProbeAddress → _3 (ReactOS ntoskrnl/mm/ARM3/virtual.c checks in this
 * order). All pages must be committed (STATUS_NOT_COMMITTED) and in one private region.
 */
export function NtProtectVirtualMemory(
  k: Kernel,
  ProcessHandle: Process,
  BaseAddress: Ref<number>,
  NumberOfBytesToProtect: Ref<number>,
  NewAccessProtection: number,
  OldAccessProtection: Ref<number>,
): NTSTATUS {
  k.bugcheck.assertRunning();
  if (!isRef(BaseAddress) || !isRef(NumberOfBytesToProtect) || !isRef(OldAccessProtection)) return STATUS_ACCESS_VIOLATION;
  const r = miProtectVirtualMemory(k, ProcessHandle, BaseAddress.value, NumberOfBytesToProtect.value, NewAccessProtection);
  const status = writeBack(r, BaseAddress, NumberOfBytesToProtect);
  if (NT_SUCCESS(status)) OldAccessProtection.value = r.oldProtect;
  return status;
}

/** @internal NtProtectVirtualMemory's work. */
export function miProtectVirtualMemory(
  k: Kernel,
  process: Process,
  BaseAddress: number,
  RegionSize: number,
  NewProtect: number,
): ProtectResult {
  k.bugcheck.assertRunning();
  const failP = (status: NTSTATUS, base = 0, size = 0): ProtectResult => ({ status, baseAddress: base, regionSize: size, oldProtect: 0 });
  const protection = protectionOf(NewProtect);
  if (typeof protection !== 'number' && protection.status === STATUS_INVALID_PAGE_PROTECTION) return failP(protection.status);
  if (!isSize(BaseAddress) || BaseAddress > MM_HIGHEST_USER_ADDRESS) return failP(STATUS_INVALID_PARAMETER_2);
  if (!isSize(RegionSize) || MM_USER_SPACE_END - BaseAddress < RegionSize || RegionSize === 0) {
    return failP(STATUS_INVALID_PARAMETER_3);
  }
  const ps = checkProcess(k, process);
  if (ps !== STATUS_SUCCESS) return failP(ps);
  if (typeof protection !== 'number') return failP(protection.status);
  const start = pageFloor(BaseAddress);
  const end = pageCeil(BaseAddress + RegionSize);
  const vad = process.space.find(start);
  if (!vad) return failP(STATUS_MEMORY_NOT_ALLOCATED);
  // A user mapping of locked pages keeps the protection it was mapped with.
  if (end > vad.end || vad.kind !== 'private') return failP(STATUS_CONFLICTING_ADDRESSES, start, end - start);
  const first = vad.pageIndex(start);
  const last = vad.pageIndex(end - 1) + 1;
  for (let i = first; i < last; i++) if (vad.protect[i] === 0) return failP(STATUS_NOT_COMMITTED, start, end - start);
  if (miSecureConflict(process, start, end, protection)) return failP(STATUS_INVALID_PAGE_PROTECTION, start, end - start);
  const oldProtect = vad.protect[first]!;
  vad.protect.fill(protection, first, last);
  return { status: STATUS_SUCCESS, baseAddress: start, regionSize: end - start, oldProtect };
}

// ---- internal helpers (Mi*) shared with MDLs and secured memory ----------------------------

/**
 * True when a secured range overlapping [start, end) forbids the change: `newProtect` 0 means
 * decommit/release (always forbidden); otherwise the secure's ProbeMode says how restrictive
 * the protection may become. [MmSecureVirtualMemory: ProbeMode table]
 */
export function miSecureConflict(process: Process, start: number, end: number, newProtect: number): boolean {
  for (const e of process.secureEntries.values()) {
    if (e.start >= end || e.end <= start) continue;
    if (newProtect === 0) return true;
    if (e.probeMode === PAGE_READWRITE && newProtect !== PAGE_READWRITE) return true;
    if (e.probeMode === PAGE_READONLY && newProtect === PAGE_NOACCESS) return true;
  }
  return false;
}

/** Give a page's frame back: freed now, or at the last unlock when a driver holds it locked. */
export function miReleaseFrame(k: Kernel, pfn: number): void {
  // The page allocator keeps a locked frame (PFN_FLAG_DELETE_PENDING, owner kept) and frees
  // it at the last unlock.
  k.mm.freePage(pfn);
}

/** Decommit pages [first, last) of a private region. */
export function miDeletePages(k: Kernel, vad: Vad, first: number, last: number): void {
  const { pfn, protect } = vad;
  for (let i = first; i < last; i++) {
    const f = pfn[i]!;
    if (f >= 0) {
      miReleaseFrame(k, f);
      pfn[i] = -1;
    }
    if (protect[i] !== 0) {
      protect[i] = 0;
      vad.committed--;
    }
  }
}

/**
 * The regions covering [va, va+length) of a user range, or null when the range is not wholly
 * inside user space, wraps, or touches an address no region covers.
 */
export function miUserRuns(process: Process, va: number, length: number): VadRun[] | null {
  if (!isSize(va) || !isSize(length) || length === 0) return null;
  if (va < MM_LOWEST_USER_ADDRESS || va + length > MM_USER_SPACE_END) return null;
  return process.space.cover(pageFloor(va), pageCeil(va + length));
}

/** True when every page of the runs is committed and allows the access. */
export function miRunsAllow(runs: readonly VadRun[], write: boolean): boolean {
  for (const { vad, first, last } of runs) {
    const p = vad.protect;
    if (write) {
      for (let i = first; i < last; i++) if (p[i] !== PAGE_READWRITE) return false;
    } else {
      for (let i = first; i < last; i++) {
        const v = p[i];
        if (v !== PAGE_READWRITE && v !== PAGE_READONLY) return false;
      }
    }
  }
  return true;
}

/**
 * Resolve the demand-zero faults of the runs, all or nothing: every missing frame is
 * obtained (and zeroed) before any page changes. Returns the frames it put in (empty when
 * all pages were resident) — `miUndoResident` takes them back — or null when memory ran out
 * (or the fault injector said so); nothing changed then.
 */
/** What miMakeResident returns when every page was resident (shared: it is never written). */
const NO_FRAMES = new Int32Array(0);

export function miMakeResident(k: Kernel, process: Process, runs: readonly VadRun[], site: string): Int32Array | null {
  let need = 0;
  for (const { vad, first, last } of runs) {
    const pfn = vad.pfn;
    for (let i = first; i < last; i++) if (pfn[i]! < 0) need++;
  }
  if (need === 0) return NO_FRAMES;
  const frames = new Int32Array(need);
  const owner = process.pageOwner;
  for (let n = 0; n < need; n++) {
    const f = k.mm.allocatePage(owner, site);
    if (f < 0) {
      for (let m = 0; m < n; m++) k.mm.freePage(frames[m]!);
      return null;
    }
    frames[n] = f;
  }
  let n = 0;
  for (const { vad, first, last } of runs) {
    const pfn = vad.pfn;
    for (let i = first; i < last; i++) {
      if (pfn[i]! < 0) {
        const f = frames[n++]!;
        k.memory.fill(f * PAGE_SIZE, PAGE_SIZE, 0);
        pfn[i] = f;
      }
    }
  }
  return frames;
}

/** Undo miMakeResident: the pages it faulted in become untouched again (failure paths). */
export function miUndoResident(k: Kernel, runs: readonly VadRun[], frames: Int32Array): void {
  if (frames.length === 0) return;
  const fresh = new Set(frames);
  for (const { vad, first, last } of runs) {
    for (let i = first; i < last; i++) {
      const f = vad.pfn[i]!;
      if (fresh.has(f)) {
        k.mm.freePage(f);
        vad.pfn[i] = -1;
      }
    }
  }
}

const accessText = (site: string, va: number, length: number): string =>
  `${site} [0x${Number(va).toString(16)}, +0x${length.toString(16)})`;

function accessRuns(k: Kernel, process: Process, va: number, length: number, write: boolean, site: string): VadRun[] | null {
  k.bugcheck.assertRunning();
  if (!k.ps.isProcess(process)) ExRaiseStatus(STATUS_INVALID_PARAMETER, `${site}: not a process`);
  if (process.state !== 'running') ExRaiseStatus(STATUS_PROCESS_IS_TERMINATING, `${site}: process ${process.ProcessId} is ${process.state}`);
  if (!isSize(length)) ExRaiseStatus(STATUS_INVALID_PARAMETER, `${site}: length ${String(length)} is not a size`);
  if (length === 0) return null;
  const runs = miUserRuns(process, va, length);
  // Messages are built only on failure: this runs for every access a process makes.
  if (!runs) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${accessText(site, va, length)}: not wholly inside allocated user space`);
  if (!miRunsAllow(runs, write)) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${accessText(site, va, length)}: a page is not committed or not ${write ? 'writable' : 'readable'}`);
  }
  if (!miMakeResident(k, process, runs, site)) ExRaiseStatus(STATUS_NO_MEMORY, `${accessText(site, va, length)}: no free page for a demand-zero fault`);
  return runs;
}

function copyRuns(k: Kernel, runs: readonly VadRun[], va: number, length: number, buf: Uint8Array, bufOffset: number, write: boolean): void {
  let at = va;
  let done = 0;
  for (const { vad, first, last } of runs) {
    for (let i = first; i < last && done < length; i++) {
      const within = pageOffset(at);
      const n = Math.min(PAGE_SIZE - within, length - done);
      const pa = addressOfPfn(vad.pfn[i]!) + within;
      if (write) k.memory.write(pa, buf, bufOffset + done, n);
      else k.memory.read(pa, buf, bufOffset + done, n);
      at += n;
      done += n;
    }
  }
}

function checkBuffer(buf: unknown, offset: unknown, length: unknown, site: string): void {
  if (!(buf instanceof Uint8Array) || !isSize(offset) || !isSize(length) || offset + length > buf.length) {
    ExRaiseStatus(STATUS_INVALID_PARAMETER, `${site}: buffer/offset/length do not describe bytes of a Uint8Array`);
  }
}

export function miReadProcessMemory(k: Kernel, process: Process, va: number, dst: Uint8Array, dstOffset: number, length: number): void {
  checkBuffer(dst, dstOffset, length, 'ReadProcessMemory');
  const runs = accessRuns(k, process, va, length, false, 'ReadProcessMemory');
  if (runs) copyRuns(k, runs, va, length, dst, dstOffset, false);
}

export function miWriteProcessMemory(k: Kernel, process: Process, va: number, src: Uint8Array, srcOffset: number, length: number): void {
  checkBuffer(src, srcOffset, length, 'WriteProcessMemory');
  const runs = accessRuns(k, process, va, length, true, 'WriteProcessMemory');
  if (runs) copyRuns(k, runs, va, length, src, srcOffset, true);
}
