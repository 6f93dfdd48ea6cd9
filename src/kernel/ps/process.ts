/**
 * An emulated user process: its id, its user address space, the kernel state that hangs off
 * it (locked MDLs, user mappings of kernel pages, secured ranges) and its Win32 memory API.
 *
 * The Win32 wrappers (VirtualAlloc, VirtualFree, VirtualProtect) behave as kernel32 does:
 * they call the Nt* routine, return 0/false on failure and set the thread's last error; a
 * success leaves the last error as it was (kernel32 sets it only on failure). When
 * NtFreeVirtualMemory / NtProtectVirtualMemory refuse a change because a driver secured part
 * of the range (STATUS_INVALID_PAGE_PROTECTION), the wrappers run the process's secure memory
 * cache callbacks and try once more — the hook the Windows Sockets switch uses to drop its
 * registration cache. [AddSecureMemoryCacheCallback, PSECURE_MEMORY_CACHE_CALLBACK]
 */
import type { Kernel } from '../kernel.ts';
import { NT_SUCCESS, STATUS_INVALID_PAGE_PROTECTION, type NTSTATUS } from '../status.ts';
import { AddressSpace, type Vad } from './address-space.ts';
import {
  miAllocateVirtualMemory,
  miFreeVirtualMemory,
  miProtectVirtualMemory,
  miReadProcessMemory,
  miWriteProcessMemory,
} from '../mm/virtual-memory.ts';
import type { Ref } from '../ref.ts';
import type { Mdl } from '../mm/mdl.ts';
import { RtlNtStatusToDosError } from '../io/win32-errors.ts';

/** BOOLEAN SecureMemoryCacheCallback(PVOID Addr, SIZE_T Range). */
export type SecureMemoryCacheCallback = (Addr: number, Range: number) => boolean;

export interface SecureEntry {
  readonly handle: number;
  readonly start: number;
  readonly end: number;
  /** PAGE_READWRITE or PAGE_READONLY: the most restrictive protection still allowed. */
  readonly probeMode: number;
}

export type ProcessState = 'running' | 'terminating' | 'terminated';

/** Win32 error codes the wrappers set (winerror.h). */
export const ERROR_SUCCESS = 0;
export const ERROR_ACCESS_DENIED = 5;
export const ERROR_NOT_ENOUGH_MEMORY = 8;
export const ERROR_INVALID_PARAMETER = 87;
export const ERROR_INVALID_ADDRESS = 487;
export const ERROR_NOACCESS = 998;

export class Process {
  readonly space = new AddressSpace();
  state: ProcessState = 'running';
  exitStatus: NTSTATUS | null = null;
  /** GetLastError() of the process's (single) thread. */
  lastError = ERROR_SUCCESS;
  /** The NTSTATUS behind lastError, for diagnostics. */
  lastStatus: NTSTATUS = 0;
  /** Pages locked by MmProbeAndLockPages in this process and not yet unlocked. */
  lockedPages = 0;
  /** MDLs describing this process's pages that are currently locked (the lock tracker). */
  readonly lockedMdls = new Set<Mdl>();
  /** Regions mapping an MDL's pages into this process (MmMapLockedPagesSpecifyCache UserMode). */
  readonly lockedPageMappings = new Set<Vad>();
  /** MmSecureVirtualMemory entries by handle. */
  readonly secureEntries = new Map<number, SecureEntry>();
  readonly secureMemoryCacheCallbacks: SecureMemoryCacheCallback[] = [];
  private ownerId = 0;

  constructor(
    private readonly k: Kernel,
    readonly ProcessId: number,
    readonly name: string,
    /** The System process has no user address space of its own. */
    readonly isSystem = false,
  ) {}

  /** Page-table owner id in the PFN database; registered on first use. */
  get pageOwner(): number {
    if (this.ownerId === 0) this.ownerId = this.k.mm.owners.register('process', this.name);
    return this.ownerId;
  }

  get hasPageOwner(): boolean {
    return this.ownerId !== 0;
  }

  // ---- Win32 memory API (kernel32) ---------------------------------------------------------

  /** VirtualAlloc: base address of the region, or 0 with GetLastError set. */
  VirtualAlloc(lpAddress: number, dwSize: number, flAllocationType: number, flProtect: number): number {
    const r = miAllocateVirtualMemory(this.k, this, lpAddress, 0, dwSize, flAllocationType, flProtect);
    if (!this.setLastStatus(r.status)) return 0;
    return r.baseAddress;
  }

  /** VirtualFree (MEM_DECOMMIT / MEM_RELEASE). */
  VirtualFree(lpAddress: number, dwSize: number, dwFreeType: number): boolean {
    let r = miFreeVirtualMemory(this.k, this, lpAddress, dwSize, dwFreeType);
    if (r.status === STATUS_INVALID_PAGE_PROTECTION && this.runSecureMemoryCacheCallbacks(r.baseAddress, r.regionSize)) {
      r = miFreeVirtualMemory(this.k, this, lpAddress, dwSize, dwFreeType);
    }
    return this.setLastStatus(r.status);
  }

  /** VirtualProtect: lpflOldProtect receives the previous protection of the first page. */
  VirtualProtect(lpAddress: number, dwSize: number, flNewProtect: number, lpflOldProtect: Ref<number>): boolean {
    // kernel32 writes *lpflOldProtect: a missing out parameter fails up front (ERROR_NOACCESS).
    if (lpflOldProtect === null || typeof lpflOldProtect !== 'object') {
      this.lastError = ERROR_NOACCESS;
      return false;
    }
    let r = miProtectVirtualMemory(this.k, this, lpAddress, dwSize, flNewProtect);
    if (r.status === STATUS_INVALID_PAGE_PROTECTION && this.runSecureMemoryCacheCallbacks(r.baseAddress, r.regionSize)) {
      r = miProtectVirtualMemory(this.k, this, lpAddress, dwSize, flNewProtect);
    }
    if (!this.setLastStatus(r.status)) return false;
    lpflOldProtect.value = r.oldProtect;
    return true;
  }

  /** AddSecureMemoryCacheCallback: FALSE for a non-function or a callback already added. */
  AddSecureMemoryCacheCallback(pfnCallBack: SecureMemoryCacheCallback): boolean {
    if (typeof pfnCallBack !== 'function' || this.secureMemoryCacheCallbacks.includes(pfnCallBack)) {
      this.lastError = ERROR_INVALID_PARAMETER;
      return false;
    }
    this.secureMemoryCacheCallbacks.push(pfnCallBack);
    return true;
  }

  /** RemoveSecureMemoryCacheCallback: FALSE when the callback was not registered. */
  RemoveSecureMemoryCacheCallback(pfnCallBack: SecureMemoryCacheCallback): boolean {
    const i = this.secureMemoryCacheCallbacks.indexOf(pfnCallBack);
    if (i < 0) {
      this.lastError = ERROR_INVALID_PARAMETER;
      return false;
    }
    this.secureMemoryCacheCallbacks.splice(i, 1);
    return true;
  }

  /**
   * The process touching its own memory. Raises STATUS_ACCESS_VIOLATION (NtStatusError) for
   * an unmapped, uncommitted or protected address; the whole range is checked (and any
   * demand-zero page obtained) before a byte moves.
   */
  readMemory(va: number, dst: Uint8Array, dstOffset = 0, length?: number): void {
    miReadProcessMemory(this.k, this, va, dst, dstOffset, length ?? defaultLength(dst, dstOffset));
  }

  writeMemory(va: number, src: Uint8Array, srcOffset = 0, length?: number): void {
    miWriteProcessMemory(this.k, this, va, src, srcOffset, length ?? defaultLength(src, srcOffset));
  }

  /** Committed pages of the process that currently hold a frame (its working set). */
  get residentPages(): number {
    let n = 0;
    for (const v of this.space.regions) {
      if (v.kind !== 'private') continue;
      for (let i = 0; i < v.pageCount; i++) if (v.pfn[i]! >= 0) n++;
    }
    return n;
  }

  /**
   * The callbacks see the range being freed or re-protected, in registration order, in the
   * process's own context. True when one of them reported it had secured part of the range.
   */
  private runSecureMemoryCacheCallbacks(addr: number, range: number): boolean {
    if (this.secureMemoryCacheCallbacks.length === 0) return false;
    let any = false;
    this.k.ps.runInProcess(this, () => {
      for (const cb of [...this.secureMemoryCacheCallbacks]) {
        if (cb(addr, range) === true) any = true;
      }
    });
    return any;
  }

  /** kernel32's BaseSetLastNTError: only a failure writes the last error. */
  private setLastStatus(status: NTSTATUS): boolean {
    if (NT_SUCCESS(status)) return true;
    this.lastStatus = status;
    this.lastError = win32ErrorOf(status);
    return false;
  }
}

/** Bytes from `offset` to the end of `buf`; NaN (rejected by the callee) when not a buffer. */
function defaultLength(buf: unknown, offset: unknown): number {
  return buf instanceof Uint8Array && typeof offset === 'number' ? buf.length - offset : Number.NaN;
}

/** The Win32 error the memory API sets for a status: RtlNtStatusToDosError (io/win32-errors.ts). */
export function win32ErrorOf(status: NTSTATUS): number {
  return RtlNtStatusToDosError(status);
}
