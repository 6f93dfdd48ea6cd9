/**
 * ProbeForRead / ProbeForWrite: what a driver calls (inside __try) before touching a user
 * buffer it got raw, e.g. METHOD_NEITHER's Type3InputBuffer and UserBuffer.
 * [ddi/wdm nf-wdm-probeforread, nf-wdm-probeforwrite; kernel: "Using Neither Buffered Nor
 * Direct I/O"]
 * - Length 0: nothing is checked.
 * - Address not a multiple of Alignment: raises STATUS_DATATYPE_MISALIGNMENT.
 * - The range wraps or reaches MM_USER_PROBE_ADDRESS: raises STATUS_ACCESS_VIOLATION.
 * - ProbeForWrite also touches every page for writing (reads a byte and writes it back, as
 *   Windows does), so a read-only or uncommitted page raises STATUS_ACCESS_VIOLATION.
 * The probe is of the current process's address space (the caller's context).
 */
import { PAGE_SIZE } from '../../bus/index.ts';
import type { Kernel } from '../kernel.ts';
import { MM_USER_PROBE_ADDRESS } from '../mm/system-space.ts';
import { ExRaiseStatus, STATUS_ACCESS_VIOLATION, STATUS_DATATYPE_MISALIGNMENT } from '../status.ts';

const VALID_ALIGNMENTS = new Set([1, 2, 4, 8, 16]);

function probeRange(routine: string, Address: number, Length: number, Alignment: number): boolean {
  if (!Number.isSafeInteger(Length) || Length < 0) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${routine}: bad Length ${String(Length)}`);
  if (Length === 0) return false;
  if (!VALID_ALIGNMENTS.has(Alignment)) {
    ExRaiseStatus(STATUS_DATATYPE_MISALIGNMENT, `${routine}: Alignment ${String(Alignment)} is not 1, 2, 4, 8 or 16`);
  }
  if (!Number.isSafeInteger(Address) || Address < 0) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${routine}: bad Address ${String(Address)}`);
  if (Address % Alignment !== 0) {
    ExRaiseStatus(STATUS_DATATYPE_MISALIGNMENT, `${routine}: 0x${Address.toString(16)} is not ${Alignment}-byte aligned`);
  }
  const end = Address + Length;
  if (!Number.isSafeInteger(end) || end > MM_USER_PROBE_ADDRESS) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION,
      `${routine}: [0x${Address.toString(16)}, +0x${Length.toString(16)}) is not within user space (ends at or beyond 0x${MM_USER_PROBE_ADDRESS.toString(16)})`);
  }
  return true;
}

export function ProbeForRead(k: Kernel, Address: number, Length: number, Alignment: number): void {
  k.bugcheck.assertRunning();
  probeRange('ProbeForRead', Address, Length, Alignment);
}

export function ProbeForWrite(k: Kernel, Address: number, Length: number, Alignment: number): void {
  k.bugcheck.assertRunning();
  if (!probeRange('ProbeForWrite', Address, Length, Alignment)) return;
  const process = k.ps.current;
  const one = new Uint8Array(1);
  // Touch the first byte of every page in the range (and the first byte itself).
  for (let va = Address; va < Address + Length; va = (Math.floor(va / PAGE_SIZE) + 1) * PAGE_SIZE) {
    process.readMemory(va, one);
    process.writeMemory(va, one);
  }
}
