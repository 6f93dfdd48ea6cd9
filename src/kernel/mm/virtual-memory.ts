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
import { PAGE_SIZE } from '../../bus/address.ts';
import {
  ExRaiseStatus,
  STATUS_ACCESS_VIOLATION,
  STATUS_CONFLICTING_ADDRESSES,
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
  MM_LOWEST_USER_ADDRESS,
  MM_USER_SPACE_END,
  PAGE_NOACCESS,
  PAGE_READONLY,
  PAGE_READWRITE,
  Vad,
  type VadRun,
} from '../ps/address-space.ts';
import { Process } from '../ps/process.ts';

export { PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE };
export const MEM_COMMIT = 0x1000;
export const MEM_RESERVE = 0x2000;
export const MEM_DECOMMIT = 0x4000;
export const MEM_RELEASE = 0x8000;

export interface VirtualMemoryResult {
  status: NTSTATUS;
  /** In/out BaseAddress: the (rounded) start of the range acted on. */
  baseAddress: number;
  /** In/out RegionSize: the (rounded) size of the range acted on. */
  regionSize: number;
}

export interface ProtectResult extends VirtualMemoryResult {
  /** OldAccessProtection: the protection of the first page before the change. */
  oldProtect: number;
}

const isProtect = (p: unknown): p is number => p === PAGE_NOACCESS || p === PAGE_READONLY || p === PAGE_READWRITE;
const isSize = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const pageFloor = (va: number) => Math.floor(va / PAGE_SIZE) * PAGE_SIZE;
const pageCeil = (va: number) => Math.ceil(va / PAGE_SIZE) * PAGE_SIZE;
const fail = (status: NTSTATUS, baseAddress = 0, regionSize = 0): VirtualMemoryResult => ({ status, baseAddress, regionSize });

function checkProcess(process: unknown): NTSTATUS {
  if (!(process instanceof Process)) return STATUS_INVALID_PARAMETER;
  if (process.state !== 'running') return STATUS_PROCESS_IS_TERMINATING;
  return STATUS_SUCCESS;
}

/**
 * NtAllocateVirtualMemory(ProcessHandle, *BaseAddress, ZeroBits 0, *RegionSize, AllocationType,
 * Protect). MEM_RESERVE rounds the base down to 64 KiB; MEM_COMMIT alone commits pages of an
 * existing reservation (or reserves and commits when BaseAddress is 0).
 */
export function NtAllocateVirtualMemory(
  k: Kernel,
  process: Process,
  BaseAddress: number,
  RegionSize: number,
  AllocationType: number,
  Protect: number,
): VirtualMemoryResult {
  k.bugcheck.assertRunning();
  const ps = checkProcess(process);
  if (ps !== STATUS_SUCCESS) return fail(ps);
  if (!isSize(BaseAddress) || !isSize(RegionSize) || RegionSize === 0) return fail(STATUS_INVALID_PARAMETER);
  if (!Number.isInteger(AllocationType) || (AllocationType & ~(MEM_COMMIT | MEM_RESERVE)) !== 0 ||
      (AllocationType & (MEM_COMMIT | MEM_RESERVE)) === 0) {
    return fail(STATUS_INVALID_PARAMETER);
  }
  if (!isProtect(Protect)) return fail(STATUS_INVALID_PAGE_PROTECTION);
  const commit = (AllocationType & MEM_COMMIT) !== 0;
  const reserve = (AllocationType & MEM_RESERVE) !== 0 || BaseAddress === 0;
  const space = process.space;

  if (reserve) {
    let start: number;
    let end: number;
    if (BaseAddress !== 0) {
      start = Math.floor(BaseAddress / ALLOCATION_GRANULARITY) * ALLOCATION_GRANULARITY;
      end = pageCeil(BaseAddress + RegionSize);
      if (start < MM_LOWEST_USER_ADDRESS || end > MM_USER_SPACE_END) return fail(STATUS_INVALID_PARAMETER);
      if (!space.isFree(start, end)) return fail(STATUS_CONFLICTING_ADDRESSES, start, end - start);
    } else {
      const bytes = pageCeil(RegionSize);
      if (bytes > MM_USER_SPACE_END - MM_LOWEST_USER_ADDRESS) return fail(STATUS_NO_MEMORY);
      start = space.findFree(bytes);
      if (start === 0) return fail(STATUS_NO_MEMORY);
      end = start + bytes;
    }
    // The VAD (and, with commit, the commit charge) is an allocation.
    if (k.faults.shouldFail({ site: 'NtAllocateVirtualMemory', bytes: end - start, driver: k.currentDriver ?? undefined })) {
      return fail(STATUS_NO_MEMORY);
    }
    const vad = new Vad(start, (end - start) / PAGE_SIZE, 'private');
    if (commit) {
      vad.protect.fill(Protect);
      vad.committed = vad.pageCount;
    }
    space.insert(vad);
    return { status: STATUS_SUCCESS, baseAddress: start, regionSize: end - start };
  }

  // Commit inside an existing reservation.
  const start = pageFloor(BaseAddress);
  const end = pageCeil(BaseAddress + RegionSize);
  if (end > MM_USER_SPACE_END) return fail(STATUS_INVALID_PARAMETER);
  const vad = space.find(start);
  if (!vad || end > vad.end || vad.kind !== 'private') return fail(STATUS_CONFLICTING_ADDRESSES, start, end - start);
  // Re-committing committed pages sets their protection: the secured-range rule applies.
  if (miSecureConflict(process, start, end, Protect)) return fail(STATUS_INVALID_PAGE_PROTECTION, start, end - start);
  if (k.faults.shouldFail({ site: 'NtAllocateVirtualMemory', bytes: end - start, driver: k.currentDriver ?? undefined })) {
    return fail(STATUS_NO_MEMORY);
  }
  const first = vad.pageIndex(start);
  const last = vad.pageIndex(end - 1) + 1;
  for (let i = first; i < last; i++) {
    if (vad.protect[i] === 0) vad.committed++;
    vad.protect[i] = Protect;
  }
  return { status: STATUS_SUCCESS, baseAddress: start, regionSize: end - start };
}

/**
 * NtFreeVirtualMemory: MEM_DECOMMIT (RegionSize 0 = to the end of the region) or MEM_RELEASE
 * (BaseAddress must be the region's base, RegionSize 0 or the whole region).
 */
export function NtFreeVirtualMemory(
  k: Kernel,
  process: Process,
  BaseAddress: number,
  RegionSize: number,
  FreeType: number,
): VirtualMemoryResult {
  k.bugcheck.assertRunning();
  const ps = checkProcess(process);
  if (ps !== STATUS_SUCCESS) return fail(ps);
  if (!isSize(BaseAddress) || !isSize(RegionSize)) return fail(STATUS_INVALID_PARAMETER);
  if (FreeType !== MEM_DECOMMIT && FreeType !== MEM_RELEASE) return fail(STATUS_INVALID_PARAMETER);
  if (BaseAddress + RegionSize > MM_USER_SPACE_END) return fail(STATUS_INVALID_PARAMETER);
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

/** NtProtectVirtualMemory: all pages must be committed and in one region. */
export function NtProtectVirtualMemory(
  k: Kernel,
  process: Process,
  BaseAddress: number,
  RegionSize: number,
  NewProtect: number,
): ProtectResult {
  k.bugcheck.assertRunning();
  const failP = (status: NTSTATUS, base = 0, size = 0): ProtectResult => ({ status, baseAddress: base, regionSize: size, oldProtect: 0 });
  const ps = checkProcess(process);
  if (ps !== STATUS_SUCCESS) return failP(ps);
  if (!isSize(BaseAddress) || !isSize(RegionSize) || RegionSize === 0) return failP(STATUS_INVALID_PARAMETER);
  if (!isProtect(NewProtect)) return failP(STATUS_INVALID_PAGE_PROTECTION);
  const start = pageFloor(BaseAddress);
  const end = pageCeil(BaseAddress + RegionSize);
  if (end > MM_USER_SPACE_END) return failP(STATUS_INVALID_PARAMETER);
  const vad = process.space.find(start);
  if (!vad) return failP(STATUS_MEMORY_NOT_ALLOCATED);
  // A user mapping of locked pages keeps the protection it was mapped with.
  if (end > vad.end || vad.kind !== 'private') return failP(STATUS_CONFLICTING_ADDRESSES, start, end - start);
  const first = vad.pageIndex(start);
  const last = vad.pageIndex(end - 1) + 1;
  for (let i = first; i < last; i++) if (vad.protect[i] === 0) return failP(STATUS_NOT_COMMITTED, start, end - start);
  if (miSecureConflict(process, start, end, NewProtect)) return failP(STATUS_INVALID_PAGE_PROTECTION, start, end - start);
  const oldProtect = vad.protect[first]!;
  vad.protect.fill(NewProtect, first, last);
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
  if (!(process instanceof Process)) ExRaiseStatus(STATUS_INVALID_PARAMETER, `${site}: not a process`);
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
      const within = at % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - within, length - done);
      const pa = vad.pfn[i]! * PAGE_SIZE + within;
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
