/**
 * Secured user memory: MmSecureVirtualMemory / MmUnsecureVirtualMemory.
 *
 * Implementation notes
 * - A secure entry is a (start, end, ProbeMode) record on the current process, found by an
 *   opaque handle that is never reused on the host. While it exists NtFreeVirtualMemory
 *   refuses to decommit or release any page of it, and NtProtectVirtualMemory refuses a
 *   protection more restrictive than ProbeMode (PAGE_READWRITE: not NOACCESS/READONLY;
 *   PAGE_READONLY: not NOACCESS), both with STATUS_INVALID_PAGE_PROTECTION.
 * - The range must be committed with a protection ProbeMode allows, in ordinary private
 *   memory; otherwise NULL. Pages are not faulted in: securing pins the address range, not
 *   frames (locking is MmProbeAndLockPages' job).
 * - A process's entries vanish when it exits (automatic unsecure). Unsecuring with a handle
 *   that is not a live secure of the current process is a driver bug: MEMORY_MANAGEMENT
 *   0x1A with P1 0x15000 (never a secure handle here) or 0x15001 (already unsecured, or it
 *   belongs to another process / one that exited).
 *   [nf-ntddk-mmsecurevirtualmemory, nf-ntddk-mmunsecurevirtualmemory, bug-check-0x1a]
 */
import type { Kernel } from '../kernel.ts';
import { perHost } from '../per-host.ts';
import { PAGE_SIZE, pageOffset } from '../../bus/address.ts';
import { MEMORY_MANAGEMENT } from '../bugcheck.ts';
import { PAGE_READONLY, PAGE_READWRITE } from '../ps/address-space.ts';
import { miRunsAllow, miUserRuns } from './virtual-memory.ts';

/** Handles live in a range that cannot be a user or system address of the model. */
const SECURE_HANDLE_BASE = 0x5ec0_0000_0000;

interface SecureHostState {
  next: number;
  /** Every handle ever issued on this host: process id that owned it. */
  issued: Map<number, number>;
}
const host = perHost((): SecureHostState => ({ next: 1, issued: new Map() }));

/**
 * MmSecureVirtualMemory(k, Address, Size, ProbeMode) → handle | null, for the current
 * process's user range [Address, Address + Size).
 */
export function MmSecureVirtualMemory(k: Kernel, Address: number, Size: number, ProbeMode: number): number | null {
  k.bugcheck.assertRunning();
  if (ProbeMode !== PAGE_READWRITE && ProbeMode !== PAGE_READONLY) return null;
  const process = k.ps.current;
  if (process.state !== 'running') return null;
  const runs = miUserRuns(process, Address, Size);
  if (!runs) return null;
  for (const r of runs) if (r.vad.kind !== 'private') return null;
  if (!miRunsAllow(runs, ProbeMode === PAGE_READWRITE)) return null;
  if (k.faults.shouldFail({ site: 'MmSecureVirtualMemory', bytes: Size, driver: k.currentDriver ?? undefined })) return null;
  const h = host(k);
  const handle = SECURE_HANDLE_BASE + h.next++ * 8;
  const start = Address - pageOffset(Address);
  const end = Math.ceil((Address + Size) / PAGE_SIZE) * PAGE_SIZE;
  process.secureEntries.set(handle, { handle, start, end, probeMode: ProbeMode });
  h.issued.set(handle, process.ProcessId);
  return handle;
}

/** MmUnsecureVirtualMemory(k, SecureHandle), in the context of the securing process. */
export function MmUnsecureVirtualMemory(k: Kernel, SecureHandle: number): void {
  k.bugcheck.assertRunning();
  const process = k.ps.current;
  if (process.secureEntries.delete(SecureHandle)) return;
  const owner = host(k).issued.get(SecureHandle);
  const hx = typeof SecureHandle === 'number' ? `0x${SecureHandle.toString(16)}` : String(SecureHandle);
  if (owner === undefined) {
    k.bugcheck.KeBugCheckEx(MEMORY_MANAGEMENT, 0x15000, Number.isSafeInteger(SecureHandle) ? SecureHandle : 0, process.ProcessId, 0,
      `MmUnsecureVirtualMemory(${hx}): not a handle returned by MmSecureVirtualMemory`);
  }
  k.bugcheck.KeBugCheckEx(MEMORY_MANAGEMENT, 0x15001, SecureHandle, process.ProcessId, owner,
    `MmUnsecureVirtualMemory(${hx}): no longer secured in process ${process.ProcessId} ` +
      (owner === process.ProcessId ? '(already unsecured)' : `(it was secured in process ${owner})`));
}
