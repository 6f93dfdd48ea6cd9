/**
 * Building and sending the IRPs of user-mode requests: the buffer handling of
 * NtReadFile / NtWriteFile / NtDeviceIoControlFile for each transfer method.
 * [kernel: "Methods for Accessing Data Buffers", "Using Buffered I/O", "Using Direct I/O",
 * "Using Neither Buffered Nor Direct I/O", "Buffer Descriptions for I/O Control Codes"]
 *
 * Implementation notes
 * - Order as in Windows: access check, probe of the user buffers (in the caller's context),
 *   then the packet, then the system buffer / MDL. Any failure before the driver is called
 *   releases what was taken in reverse order, so the request leaves nothing behind and the
 *   driver never sees it. A bad user buffer is STATUS_ACCESS_VIOLATION (ERROR_NOACCESS).
 * - Buffered: one nonpaged system buffer (tag 'IoSb'); the input is copied in; the bytes past
 *   the input are NOT initialized (the WDK warns drivers about exactly this); the completion
 *   copies IoStatus.Information bytes back.
 * - Direct: an MDL for the user buffer, probed and locked with the access the driver will
 *   use on it (reading into the buffer = IoWriteAccess), unlocked and freed at completion.
 * - Neither: the raw user addresses (Irp->UserBuffer, Type3InputBuffer); the driver probes.
 */
import type { Kernel } from '../kernel.ts';
import type { Process } from '../ps/process.ts';
import { IoReadAccess, IoWriteAccess, MmProbeAndLockPages } from '../mm/mdl.ts';
import { NtStatusError, STATUS_INSUFFICIENT_RESOURCES, STATUS_PENDING, STATUS_SUCCESS, type NTSTATUS } from '../status.ts';
import type { FILE_OBJECT } from './file-object.ts';
import { attachMdl, attachSystemBuffer, releaseIrpBuffers } from './irp-buffers.ts';
import { miAllocateIrp } from './irp-alloc.ts';
import { IoCallDriver } from './io-manager.ts';
import { METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_NEITHER, METHOD_OUT_DIRECT } from './ioctl.ts';
import {
  IRP_INPUT_OPERATION, UserMode, setDeviceControl,
  type IO_STACK_LOCATION, type IRP, type OVERLAPPED, type UserRequestRecord,
} from './irp.ts';
import { ProbeForRead, ProbeForWrite } from './probe.ts';

/** A status, or the thing asked for. */
export type Result<T> = { ok: true; value: T } | { ok: false; status: NTSTATUS };
const fail = <T>(status: NTSTATUS): Result<T> => ({ ok: false, status: status >>> 0 });

/** Run a probe / copy that raises; a raised status becomes a failed result. */
function guarded(fn: () => void): NTSTATUS {
  try {
    fn();
    return STATUS_SUCCESS;
  } catch (e) {
    if (e instanceof NtStatusError) return e.status >>> 0;
    throw e;
  }
}

/**
 * IoAllocateIrp for the I/O manager's own requests (fault point 'IoAllocateIrp'; a packet from
 * the IRP lookaside lists). ChargeQuota FALSE, as ReactOS's NtDeviceIoControlFile / NtReadFile
 * allocate them (Windows charges the process quota for asynchronous ones; process pool quota is
 * not modelled).
 */
export function allocateIrp(k: Kernel, stackSize: number): IRP | null {
  return miAllocateIrp(k, stackSize, 'user', false);
}

/** Release a packet that never reached a driver, with whatever buffers it holds. */
export function discardIrp(k: Kernel, irp: IRP): void {
  const io = k.io;
  releaseIrpBuffers(k, irp);
  irp.io.state = 'freed';
  io.irpsInFlight.delete(irp);
  io.irpsFreed++;
  io.freeIrpMemory(irp);
}

/** The stack location the driver will see (the packet's only one). */
export const firstLocation = (irp: IRP): IO_STACK_LOCATION => irp.Stack[irp.StackCount - 1]!;

/** Allocate a system buffer of `size` bytes and copy `inLen` bytes from the user's `inVa`. */
function copyInSystemBuffer(k: Kernel, process: Process, irp: IRP, size: number, inVa: number, inLen: number): NTSTATUS {
  if (!attachSystemBuffer(k, irp, size)) return STATUS_INSUFFICIENT_RESOURCES;
  if (inLen === 0) return STATUS_SUCCESS;
  const bytes = new Uint8Array(inLen);
  const status = guarded(() => process.readMemory(inVa, bytes));
  if (status !== STATUS_SUCCESS) return status;
  k.mm.system.write(irp.AssociatedIrp.SystemBuffer!, bytes);
  return STATUS_SUCCESS;
}

/** Describe, probe and lock a user buffer for direct I/O as Irp->MdlAddress. */
function lockUserMdl(k: Kernel, irp: IRP, va: number, length: number, operation: number): NTSTATUS {
  if (length === 0) return STATUS_SUCCESS;
  const mdl = attachMdl(k, irp, va, length);
  if (mdl === null) return STATUS_INSUFFICIENT_RESOURCES;
  // Unlocked on failure by discardIrp (it frees whatever hangs off MdlAddress).
  return guarded(() => MmProbeAndLockPages(k, mdl, UserMode, operation));
}

export type TransferMethod = 'buffered' | 'direct' | 'neither';
type Built = Result<{ irp: IRP; copyOut: UserRequestRecord['copyOut'] }>;

/** The packet of a user request, its one location set up for `major` on `fo`; null when none. */
function requestIrp(k: Kernel, fo: FILE_OBJECT, major: number): IRP | null {
  const irp = allocateIrp(k, fo.DeviceObject.StackSize);
  if (irp === null) return null;
  const sl = firstLocation(irp);
  sl.MajorFunction = major;
  sl.FileObject = fo;
  return irp;
}

/** The built packet, or (when a step failed) the failure with everything taken given back. */
function built(k: Kernel, irp: IRP, status: NTSTATUS, copyOut: UserRequestRecord['copyOut']): Built {
  if (status !== STATUS_SUCCESS) {
    discardIrp(k, irp);
    return fail(status);
  }
  return { ok: true, value: { irp, copyOut } };
}

/** IRP_MJ_READ / IRP_MJ_WRITE with the device's buffering method. */
export function buildReadWrite(
  k: Kernel, process: Process, fo: FILE_OBJECT, major: number, isRead: boolean, method: TransferMethod,
  buffer: number, length: number, byteOffset: number,
): Built {
  if (method !== 'neither') {
    const probe = guarded(() => (isRead ? ProbeForWrite(k, buffer, length, 1) : ProbeForRead(k, buffer, length, 1)));
    if (probe !== STATUS_SUCCESS) return fail(probe);
  }
  const irp = requestIrp(k, fo, major);
  if (irp === null) return fail(STATUS_INSUFFICIENT_RESOURCES);
  const sl = firstLocation(irp);
  const params = isRead ? sl.Parameters.Read : sl.Parameters.Write;
  params.Length = length;
  params.ByteOffset = byteOffset;
  let copyOut: UserRequestRecord['copyOut'] = null;
  let status: NTSTATUS = STATUS_SUCCESS;
  if (method === 'buffered') {
    status = copyInSystemBuffer(k, process, irp, length, buffer, isRead ? 0 : length);
    if (isRead && status === STATUS_SUCCESS && length > 0) {
      irp.Flags |= IRP_INPUT_OPERATION;
      irp.UserBuffer = buffer;
      copyOut = { userVa: buffer, length };
    }
  } else if (method === 'direct') {
    status = lockUserMdl(k, irp, buffer, length, isRead ? IoWriteAccess : IoReadAccess);
  } else {
    irp.UserBuffer = buffer;
  }
  return built(k, irp, status, copyOut);
}

/** IRP_MJ_DEVICE_CONTROL for a decoded IOCTL. */
export function buildDeviceControl(
  k: Kernel, process: Process, fo: FILE_OBJECT, major: number, code: number, method: number,
  inVa: number, inLen: number, outVa: number, outLen: number,
): Built {
  // METHOD_BUFFERED probes both buffers; the direct methods probe the input (the MDL probe
  // covers the output); METHOD_NEITHER probes nothing.
  if (method !== METHOD_NEITHER) {
    const probe = guarded(() => {
      ProbeForRead(k, inVa, inLen, 1);
      if (method === METHOD_BUFFERED) ProbeForWrite(k, outVa, outLen, 1);
    });
    if (probe !== STATUS_SUCCESS) return fail(probe);
  }
  const irp = requestIrp(k, fo, major);
  if (irp === null) return fail(STATUS_INSUFFICIENT_RESOURCES);
  const p = setDeviceControl(firstLocation(irp), major, code, inLen, outLen);
  let copyOut: UserRequestRecord['copyOut'] = null;
  let status: NTSTATUS = STATUS_SUCCESS;
  switch (method) {
    case METHOD_BUFFERED: // one buffer of max(in, out); the output overwrites the input.
      status = copyInSystemBuffer(k, process, irp, Math.max(inLen, outLen), inVa, inLen);
      if (status === STATUS_SUCCESS && outLen > 0) {
        irp.Flags |= IRP_INPUT_OPERATION;
        irp.UserBuffer = outVa;
        copyOut = { userVa: outVa, length: outLen };
      }
      break;
    case METHOD_IN_DIRECT: // the device reads the second buffer
    case METHOD_OUT_DIRECT: // the device writes it
      status = copyInSystemBuffer(k, process, irp, inLen, inVa, inLen);
      if (status === STATUS_SUCCESS) status = lockUserMdl(k, irp, outVa, outLen, method === METHOD_IN_DIRECT ? IoReadAccess : IoWriteAccess);
      break;
    default: // METHOD_NEITHER
      p.Type3InputBuffer = inVa;
      irp.UserBuffer = outVa;
  }
  return built(k, irp, status, copyOut);
}

/**
 * Send a built packet for a user request in the caller's context. Returns the dispatch
 * routine's status and the record that completion fills in.
 */
export function sendUserRequest(
  k: Kernel, process: Process, fo: FILE_OBJECT, irp: IRP, copyOut: UserRequestRecord['copyOut'],
  overlapped: OVERLAPPED | null,
): { status: NTSTATUS; record: UserRequestRecord } {
  const record: UserRequestRecord = {
    process, fileObject: fo, copyOut, done: false, status: STATUS_PENDING, information: 0, overlapped,
  };
  irp.io.request = record;
  irp.RequestorMode = UserMode;
  irp.Tail.Overlay.Thread = process;
  irp.Tail.Overlay.OriginalFileObject = fo;
  fo.io.pendingIrps.add(irp);
  k.io.referenceFileObject(fo);
  // kernel32 marks the OVERLAPPED pending before the system call (Internal = STATUS_PENDING);
  // InternalHigh is written only when the request reports its result.
  if (overlapped) overlapped.Internal = STATUS_PENDING;
  const status = IoCallDriver(k, fo.DeviceObject, irp);
  return { status, record };
}
