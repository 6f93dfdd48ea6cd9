/**
 * The user-mode side: kernel32's CreateFile, CloseHandle, ReadFile, WriteFile,
 * DeviceIoControl, GetOverlappedResult, CancelIo, GetLastError / SetLastError, running in
 * the current process (k.ps.current; use k.ps.runInProcess to call them as a process).
 * Results are Win32's: a handle or INVALID_HANDLE_VALUE, TRUE/FALSE, and the thread's last
 * error (RtlNtStatusToDosError of the NTSTATUS behind the failure). A success leaves the last
 * error as it was (kernel32 sets it only on failure; Wine's dlls/ntoskrnl.exe/tests/ntoskrnl.c
 * do_return_status records GetLastError() unchanged after a successful DeviceIoControl), except
 * CreateFile, which sets 0 (or ERROR_ALREADY_EXISTS when OPEN_ALWAYS / CREATE_ALWAYS found the
 * file) as kernelbase does. DeviceIoControl writes *lpBytesReturned only for a status that is
 * not an error (the same test: after an NT_ERROR status the count is untouched); ReadFile and
 * WriteFile set their count to 0 first, as their pages say.
 * [win32: CreateFileW, DeviceIoControl, ReadFile, WriteFile, GetOverlappedResult, CancelIo]
 *
 * ```ts
 * k.ps.runInProcess(app, () => {
 *   const h = CreateFile(k, '\\\\.\\San0', GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, 0, null);
 *   const n = ref(0);
 *   if (!DeviceIoControl(k, h, IOCTL_X, inVa, 16, outVa, 64, n, null)) console.log(GetLastError(k));
 *   CloseHandle(k, h);
 * });
 * ```
 *
 * Implementation notes
 * - Only the device namespace exists: "\\.\Name" (and "\\?\Name") opens "\??\Name"; any
 *   other path fails with ERROR_PATH_NOT_FOUND (no file system is modelled).
 * - Handles opened without FILE_FLAG_OVERLAPPED are synchronous: a request the driver pends
 *   and has not completed by the time its dispatch routine returns would block the thread
 *   forever here (one thread of control), so it throws SynchronousIoWouldBlock. With
 *   FILE_FLAG_OVERLAPPED the call returns FALSE / ERROR_IO_PENDING and GetOverlappedResult
 *   reports the outcome once the driver completes the IRP; GetOverlappedResult(bWait = TRUE)
 *   on a request still pending throws SynchronousIoWouldBlock for the same reason.
 * - Returning to user mode at an IRQL above PASSIVE_LEVEL (a driver left it raised) is bug
 *   check IRQL_GT_ZERO_AT_SYSTEM_SERVICE (0x4A), as on Windows.
 */
import type { Kernel } from '../kernel.ts';
import type { Process } from '../ps/process.ts';
import type { Ref } from '../ref.ts';
import { IRQL_GT_ZERO_AT_SYSTEM_SERVICE } from '../bugcheck.ts';
import { PASSIVE_LEVEL } from '../irql.ts';
import {
  NT_SUCCESS, STATUS_ACCESS_DENIED, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER,
  STATUS_NO_SUCH_DEVICE, STATUS_PENDING, STATUS_SUCCESS, statusName, type NTSTATUS,
} from '../status.ts';
import { DO_BUFFERED_IO, DO_DIRECT_IO, DO_EXCLUSIVE } from './device-object.ts';
import {
  FILE_APPEND_DATA, FILE_OBJECT_BLOCK_BYTES, FILE_READ_DATA, FILE_WRITE_DATA, FO_HANDLE_CREATED, FO_SYNCHRONOUS_IO,
  mapFileAccess, type FILE_OBJECT,
} from './file-object.ts';
import { FILE_READ_ACCESS, FILE_WRITE_ACCESS } from './ioctl.ts';
import { allocateNonPaged, TAG_FILE } from './io-pool.ts';
import { SynchronousIoWouldBlock } from './io-manager.ts';
import {
  allocateIrp, buildDeviceControl, buildReadWrite, firstLocation, sendUserRequest, type TransferMethod,
} from './io-requests.ts';
import { IoCancelIrp } from './irp-completion.ts';
import { IO_TYPE_FILE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ, IRP_MJ_WRITE, type OVERLAPPED } from './irp.ts';
import { STATUS_OBJECT_PATH_NOT_FOUND } from './object-namespace.ts';
import { ERROR_ALREADY_EXISTS, ERROR_IO_INCOMPLETE, ERROR_SUCCESS, RtlNtStatusToDosError } from './win32-errors.ts';

export const INVALID_HANDLE_VALUE = -1;
export const FILE_SHARE_READ = 0x1;
export const FILE_SHARE_WRITE = 0x2;
export const FILE_SHARE_DELETE = 0x4;
export const CREATE_NEW = 1;
export const CREATE_ALWAYS = 2;
export const OPEN_EXISTING = 3;
export const OPEN_ALWAYS = 4;
export const TRUNCATE_EXISTING = 5;
export const FILE_ATTRIBUTE_NORMAL = 0x80;
export const FILE_FLAG_OVERLAPPED = 0x40000000;
/** CreateFile's Options for IRP_MJ_CREATE: disposition in the top byte (FILE_OPEN = 1 ...). */
const DISPOSITION_TO_NT = [0, 2 /* FILE_CREATE */, 5 /* FILE_OVERWRITE_IF */, 1 /* FILE_OPEN */, 3 /* FILE_OPEN_IF */, 4 /* FILE_OVERWRITE */];

/** IO_STATUS_BLOCK.Information of a create (wdm.h). */
const FILE_OPENED = 1;
const FILE_OVERWRITTEN = 3;
const TWO_32 = 0x1_0000_0000;

/** A zeroed OVERLAPPED (set Offset / OffsetHigh for a positioned read or write). */
export function newOverlapped(Offset = 0, OffsetHigh = 0): OVERLAPPED {
  return { Internal: 0, InternalHigh: 0, Offset, OffsetHigh, hEvent: 0 };
}

/** The calling process; Win32 runs in a user process, never in System. */
function caller(k: Kernel, api: string): Process {
  k.bugcheck.assertRunning();
  const p = k.ps.current;
  if (p.isSystem) {
    throw new Error(`${api}: Win32 API called in the System process; run it in a user process with k.ps.runInProcess`);
  }
  return p;
}

/** Set the thread's last error from a status and return FALSE. */
function failWith(p: Process, status: NTSTATUS): false {
  p.lastStatus = status >>> 0;
  p.lastError = RtlNtStatusToDosError(status);
  return false;
}

/** A successful call: the last error stays what it was. */
function succeed(p: Process): true {
  void p;
  return true;
}

/** Back to user mode: a driver that left the IRQL raised is caught here. */
function systemServiceExit(k: Kernel, api: string): void {
  if (k.irql !== PASSIVE_LEVEL) {
    k.bugcheck.KeBugCheckEx(IRQL_GT_ZERO_AT_SYSTEM_SERVICE, 0, k.irql, 0, 0,
      `${api} returns to user mode at IRQL ${k.irql}${k.io.cancelLockHeld ? ' (cancel spin lock still held)' : ''}`);
  }
}

const isDword = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < TWO_32;
/** A DWORD of flags, also in the signed form JavaScript's `|` produces for bit 31. */
const isFlags = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v < TWO_32;
const isPointer = (v: unknown): v is number | null => v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
const isRef = (v: unknown): v is Ref<number> => typeof v === 'object' && v !== null && 'value' in v;
const isOverlapped = (v: unknown): v is OVERLAPPED =>
  typeof v === 'object' && v !== null && 'Internal' in v && 'InternalHigh' in v && 'Offset' in v;

/**
 * CreateFile(lpFileName, dwDesiredAccess, dwShareMode, lpSecurityAttributes,
 * dwCreationDisposition, dwFlagsAndAttributes, hTemplateFile) → handle | INVALID_HANDLE_VALUE.
 */
export function CreateFile(
  k: Kernel,
  lpFileName: string,
  dwDesiredAccess: number,
  dwShareMode: number,
  lpSecurityAttributes: null,
  dwCreationDisposition: number,
  dwFlagsAndAttributes: number,
  hTemplateFile: number | null,
): number {
  const p = caller(k, 'CreateFile');
  const io = k.io;
  const bad = (status: NTSTATUS) => (failWith(p, status), INVALID_HANDLE_VALUE);
  if (typeof lpFileName !== 'string' || !isDword(dwShareMode) || dwShareMode > 7 || lpSecurityAttributes !== null ||
      !isDword(dwCreationDisposition) || dwCreationDisposition < 1 || dwCreationDisposition > 5 ||
      !isFlags(dwFlagsAndAttributes) || (hTemplateFile !== null && hTemplateFile !== 0)) {
    return bad(STATUS_INVALID_PARAMETER);
  }
  const m = /^\\\\[.?]\\(.+)$/.exec(lpFileName);
  if (!m) return bad(STATUS_OBJECT_PATH_NOT_FOUND);
  const granted = mapFileAccess(dwDesiredAccess);
  if (granted === null) return bad(STATUS_ACCESS_DENIED);
  const resolved = io.namespace.resolve(`\\??\\${m[1]}`);
  if (typeof resolved === 'number') return bad(resolved);
  const device = resolved.device;
  if (!io.openable(device)) return bad(STATUS_NO_SUCH_DEVICE);
  if ((device.Flags & DO_EXCLUSIVE) !== 0 && device.ReferenceCount > 0) return bad(STATUS_ACCESS_DENIED);

  const address = allocateNonPaged(k, FILE_OBJECT_BLOCK_BYTES, TAG_FILE, true);
  if (address === null) return bad(STATUS_INSUFFICIENT_RESOURCES);
  const fo: FILE_OBJECT = {
    Type: IO_TYPE_FILE,
    address,
    DeviceObject: device,
    FsContext: null,
    FsContext2: null,
    FileName: resolved.remainder,
    Flags: (dwFlagsAndAttributes & FILE_FLAG_OVERLAPPED) === 0 ? FO_SYNCHRONOUS_IO : 0,
    CurrentByteOffset: 0,
    // The creation reference: becomes the handle's, or is dropped if the open fails.
    io: { process: p, handleCount: 0, references: 1, pendingIrps: new Set(), closed: false },
  };
  device.ReferenceCount++;
  io.fileObjects.add(fo);

  const irp = allocateIrp(k, device.StackSize);
  if (irp === null) {
    io.dereferenceFileObject(fo);
    return bad(STATUS_INSUFFICIENT_RESOURCES);
  }
  const sl = firstLocation(irp);
  sl.MajorFunction = IRP_MJ_CREATE;
  sl.FileObject = fo;
  sl.Parameters.Create.SecurityContext.DesiredAccess = granted;
  sl.Parameters.Create.Options = DISPOSITION_TO_NT[dwCreationDisposition]! << 24;
  sl.Parameters.Create.FileAttributes = dwFlagsAndAttributes & 0xffff;
  sl.Parameters.Create.ShareAccess = dwShareMode;
  const { status, record } = sendUserRequest(k, p, fo, irp, null, null);
  systemServiceExit(k, 'CreateFile');
  if (status === STATUS_PENDING && !record.done) {
    throw new SynchronousIoWouldBlock(
      `${device.DriverObject.DriverName} left IRP_MJ_CREATE pending; CreateFile would wait forever`);
  }
  const final = status === STATUS_PENDING ? record.status : status;
  if (!NT_SUCCESS(final)) {
    io.dereferenceFileObject(fo);
    return bad(final);
  }
  const handle = io.handleTable(p).insert(fo, granted);
  fo.io.handleCount = 1;
  fo.Flags |= FO_HANDLE_CREATED;
  if (handle === 0) {
    // Handle table full after a successful open: the file is closed again (cleanup, close).
    io.abandonFileObject(fo, p);
    return bad(STATUS_INSUFFICIENT_RESOURCES);
  }
  // kernelbase: 0, or ERROR_ALREADY_EXISTS when OPEN_ALWAYS opened (FILE_OPENED) / CREATE_ALWAYS
  // overwrote (FILE_OVERWRITTEN) an existing file, as the driver reported in Information.
  const information = record.done ? record.information : 0;
  p.lastStatus = STATUS_SUCCESS;
  p.lastError = (dwCreationDisposition === OPEN_ALWAYS && information === FILE_OPENED) ||
    (dwCreationDisposition === CREATE_ALWAYS && information === FILE_OVERWRITTEN) ? ERROR_ALREADY_EXISTS : ERROR_SUCCESS;
  return handle;
}

/** CloseHandle: ERROR_INVALID_HANDLE for a handle that is not open in this process. */
export function CloseHandle(k: Kernel, hObject: number): boolean {
  const p = caller(k, 'CloseHandle');
  if (!k.io.closeHandle(p, hObject)) return failWith(p, STATUS_INVALID_HANDLE);
  systemServiceExit(k, 'CloseHandle');
  return succeed(p);
}

function lookup(k: Kernel, p: Process, h: unknown): { fo: FILE_OBJECT; granted: number } | null {
  const entry = k.io.existingHandleTable(p)?.lookup(h) ?? null;
  return entry && !entry.object.io.closed ? { fo: entry.object, granted: entry.grantedAccess } : null;
}

/** Finish a user request the way kernel32 does for its BOOL APIs. */
function finish(
  k: Kernel, p: Process, api: string, fo: FILE_OBJECT, status: NTSTATUS, record: { done: boolean; status: NTSTATUS; information: number },
  out: Ref<number> | null, advancePosition: boolean,
): boolean {
  systemServiceExit(k, api);
  let final = status;
  if (status === STATUS_PENDING) {
    if ((fo.Flags & FO_SYNCHRONOUS_IO) === 0) return failWith(p, STATUS_PENDING);
    if (!record.done) {
      throw new SynchronousIoWouldBlock(
        `${fo.DeviceObject.DriverObject.DriverName} left the ${api} IRP pending on a synchronous handle; the thread would wait forever`);
    }
    final = record.status;
  } else if (!record.done) {
    k.io.findings.push({ driver: fo.DeviceObject.DriverObject.DriverExtension.ServiceKeyName,
      message: `${api}: dispatch returned ${statusName(status)} without completing the IRP (it stays outstanding)` });
  }
  const information = record.done ? record.information : 0;
  // Success and warnings (STATUS_BUFFER_OVERFLOW) report the byte count; errors do not.
  const isError = final >>> 0 >= 0xc0000000;
  if (out && !isError) out.value = information;
  if (advancePosition && !isError && (fo.Flags & FO_SYNCHRONOUS_IO) !== 0) fo.CurrentByteOffset += information;
  return NT_SUCCESS(final) ? succeed(p) : failWith(p, final);
}

function transferMethod(flags: number): TransferMethod {
  if (flags & DO_BUFFERED_IO) return 'buffered';
  if (flags & DO_DIRECT_IO) return 'direct';
  return 'neither';
}

function readOrWrite(
  k: Kernel, api: 'ReadFile' | 'WriteFile', isRead: boolean, hFile: number, lpBuffer: number | null, length: number,
  lpCount: Ref<number> | null, lpOverlapped: OVERLAPPED | null,
): boolean {
  const p = caller(k, api);
  if (lpCount !== null && !isRef(lpCount)) return failWith(p, STATUS_INVALID_PARAMETER);
  if (lpCount) lpCount.value = 0;
  const h = lookup(k, p, hFile);
  if (!h) return failWith(p, STATUS_INVALID_HANDLE);
  if (!isPointer(lpBuffer) || !isDword(length) || (lpOverlapped !== null && !isOverlapped(lpOverlapped))) {
    return failWith(p, STATUS_INVALID_PARAMETER);
  }
  const { fo, granted } = h;
  const synchronous = (fo.Flags & FO_SYNCHRONOUS_IO) !== 0;
  if (!synchronous && lpOverlapped === null) return failWith(p, STATUS_INVALID_PARAMETER);
  const needed = isRead ? FILE_READ_DATA : FILE_WRITE_DATA | FILE_APPEND_DATA;
  if ((granted & needed) === 0) return failWith(p, STATUS_ACCESS_DENIED);
  let byteOffset = fo.CurrentByteOffset;
  if (lpOverlapped) {
    if (!isDword(lpOverlapped.Offset) || !isDword(lpOverlapped.OffsetHigh)) return failWith(p, STATUS_INVALID_PARAMETER);
    byteOffset = lpOverlapped.OffsetHigh * TWO_32 + lpOverlapped.Offset;
  }
  const built = buildReadWrite(k, p, fo, isRead ? IRP_MJ_READ : IRP_MJ_WRITE, isRead,
    transferMethod(fo.DeviceObject.Flags), lpBuffer ?? 0, length, byteOffset);
  if (!built.ok) return failWith(p, built.status);
  const { status, record } = sendUserRequest(k, p, fo, built.value.irp, built.value.copyOut, synchronous ? null : lpOverlapped);
  return finish(k, p, api, fo, status, record, lpCount, lpOverlapped === null);
}

/** ReadFile(hFile, lpBuffer, nNumberOfBytesToRead, lpNumberOfBytesRead, lpOverlapped). */
export function ReadFile(
  k: Kernel, hFile: number, lpBuffer: number | null, nNumberOfBytesToRead: number,
  lpNumberOfBytesRead: Ref<number> | null, lpOverlapped: OVERLAPPED | null,
): boolean {
  return readOrWrite(k, 'ReadFile', true, hFile, lpBuffer, nNumberOfBytesToRead, lpNumberOfBytesRead, lpOverlapped);
}

/** WriteFile(hFile, lpBuffer, nNumberOfBytesToWrite, lpNumberOfBytesWritten, lpOverlapped). */
export function WriteFile(
  k: Kernel, hFile: number, lpBuffer: number | null, nNumberOfBytesToWrite: number,
  lpNumberOfBytesWritten: Ref<number> | null, lpOverlapped: OVERLAPPED | null,
): boolean {
  return readOrWrite(k, 'WriteFile', false, hFile, lpBuffer, nNumberOfBytesToWrite, lpNumberOfBytesWritten, lpOverlapped);
}

/**
 * DeviceIoControl(hDevice, dwIoControlCode, lpInBuffer, nInBufferSize, lpOutBuffer,
 * nOutBufferSize, lpBytesReturned, lpOverlapped). The code's RequiredAccess bits must be
 * granted to the handle (FILE_READ_ACCESS → FILE_READ_DATA, FILE_WRITE_ACCESS →
 * FILE_WRITE_DATA) or the call fails with ERROR_ACCESS_DENIED before any buffer is touched.
 */
export function DeviceIoControl(
  k: Kernel, hDevice: number, dwIoControlCode: number, lpInBuffer: number | null, nInBufferSize: number,
  lpOutBuffer: number | null, nOutBufferSize: number, lpBytesReturned: Ref<number> | null, lpOverlapped: OVERLAPPED | null,
): boolean {
  const p = caller(k, 'DeviceIoControl');
  if (lpBytesReturned !== null && !isRef(lpBytesReturned)) return failWith(p, STATUS_INVALID_PARAMETER);
  const h = lookup(k, p, hDevice);
  if (!h) return failWith(p, STATUS_INVALID_HANDLE);
  if (!isFlags(dwIoControlCode) || !isPointer(lpInBuffer) || !isDword(nInBufferSize) || !isPointer(lpOutBuffer) ||
      !isDword(nOutBufferSize) || (lpOverlapped !== null && !isOverlapped(lpOverlapped))) {
    return failWith(p, STATUS_INVALID_PARAMETER);
  }
  const { fo, granted } = h;
  const synchronous = (fo.Flags & FO_SYNCHRONOUS_IO) !== 0;
  if (!synchronous && lpOverlapped === null) return failWith(p, STATUS_INVALID_PARAMETER);
  dwIoControlCode >>>= 0;
  const required = (dwIoControlCode >>> 14) & 3;
  if (((required & FILE_READ_ACCESS) !== 0 && (granted & FILE_READ_DATA) === 0) ||
      ((required & FILE_WRITE_ACCESS) !== 0 && (granted & FILE_WRITE_DATA) === 0)) {
    return failWith(p, STATUS_ACCESS_DENIED);
  }
  const built = buildDeviceControl(k, p, fo, IRP_MJ_DEVICE_CONTROL, dwIoControlCode >>> 0, dwIoControlCode & 3,
    lpInBuffer ?? 0, nInBufferSize, lpOutBuffer ?? 0, nOutBufferSize);
  if (!built.ok) return failWith(p, built.status);
  const { status, record } = sendUserRequest(k, p, fo, built.value.irp, built.value.copyOut, synchronous ? null : lpOverlapped);
  return finish(k, p, 'DeviceIoControl', fo, status, record, lpBytesReturned, false);
}

/**
 * GetOverlappedResult(hFile, lpOverlapped, lpNumberOfBytesTransferred, bWait): the outcome
 * of an overlapped request. Still pending: FALSE with ERROR_IO_INCOMPLETE when bWait is
 * FALSE (bWait TRUE cannot wait here; see the notes above).
 */
export function GetOverlappedResult(
  k: Kernel, hFile: number, lpOverlapped: OVERLAPPED, lpNumberOfBytesTransferred: Ref<number>, bWait: boolean,
): boolean {
  const p = caller(k, 'GetOverlappedResult');
  if (!lookup(k, p, hFile)) return failWith(p, STATUS_INVALID_HANDLE);
  if (!isOverlapped(lpOverlapped) || !isRef(lpNumberOfBytesTransferred) || typeof bWait !== 'boolean') {
    return failWith(p, STATUS_INVALID_PARAMETER);
  }
  if (lpOverlapped.Internal >>> 0 === STATUS_PENDING) {
    if (bWait) {
      throw new SynchronousIoWouldBlock('GetOverlappedResult(bWait = TRUE) on a request that is still pending would wait forever');
    }
    p.lastStatus = STATUS_PENDING;
    p.lastError = ERROR_IO_INCOMPLETE;
    return false;
  }
  lpNumberOfBytesTransferred.value = lpOverlapped.InternalHigh;
  return NT_SUCCESS(lpOverlapped.Internal) ? succeed(p) : failWith(p, lpOverlapped.Internal);
}

/** CancelIo(hFile): cancel this thread's (process's) requests in flight on the handle's file. */
export function CancelIo(k: Kernel, hFile: number): boolean {
  const p = caller(k, 'CancelIo');
  const h = lookup(k, p, hFile);
  if (!h) return failWith(p, STATUS_INVALID_HANDLE);
  for (const irp of [...h.fo.io.pendingIrps]) {
    if (irp.Tail.Overlay.Thread === p && irp.io.state === 'dispatched') IoCancelIrp(k, irp);
  }
  systemServiceExit(k, 'CancelIo');
  return succeed(p);
}

/** GetLastError of the current process's thread. */
export function GetLastError(k: Kernel): number {
  return k.ps.current.lastError;
}

/** SetLastError. */
export function SetLastError(k: Kernel, dwErrCode: number): void {
  if (isDword(dwErrCode)) k.ps.current.lastError = dwErrCode;
}

