/**
 * NTSTATUS values used by the emulated kernel. Values are the real ones (ntstatus.h), held
 * as unsigned 32-bit numbers so they print as the familiar 0xC0000005.
 */
export type NTSTATUS = number;

export const STATUS_SUCCESS = 0x00000000;
export const STATUS_PENDING = 0x00000103;
export const STATUS_BUFFER_OVERFLOW = 0x80000005;
export const STATUS_UNSUCCESSFUL = 0xc0000001;
export const STATUS_NOT_IMPLEMENTED = 0xc0000002;
export const STATUS_INVALID_INFO_CLASS = 0xc0000003;
export const STATUS_ACCESS_VIOLATION = 0xc0000005;
export const STATUS_INVALID_HANDLE = 0xc0000008;
export const STATUS_INVALID_PARAMETER = 0xc000000d;
export const STATUS_NO_SUCH_DEVICE = 0xc000000e;
export const STATUS_INVALID_DEVICE_REQUEST = 0xc0000010;
export const STATUS_NO_MEMORY = 0xc0000017;
export const STATUS_CONFLICTING_ADDRESSES = 0xc0000018;
export const STATUS_NOT_MAPPED_VIEW = 0xc0000019;
export const STATUS_UNABLE_TO_FREE_VM = 0xc000001a;
export const STATUS_ACCESS_DENIED = 0xc0000022;
export const STATUS_BUFFER_TOO_SMALL = 0xc0000023;
export const STATUS_OBJECT_NAME_INVALID = 0xc0000033;
export const STATUS_OBJECT_NAME_NOT_FOUND = 0xc0000034;
export const STATUS_OBJECT_NAME_COLLISION = 0xc0000035;
export const STATUS_INVALID_PAGE_PROTECTION = 0xc0000045;
export const STATUS_MEMORY_NOT_ALLOCATED = 0xc00000a0;
export const STATUS_WORKING_SET_QUOTA = 0xc00000a1;
export const STATUS_INSUFFICIENT_RESOURCES = 0xc000009a;
export const STATUS_DEVICE_NOT_READY = 0xc00000a3;
export const STATUS_NOT_SUPPORTED = 0xc00000bb;
export const STATUS_INVALID_ADDRESS = 0xc0000141;
export const STATUS_CANCELLED = 0xc0000120;
export const STATUS_PROCESS_IS_TERMINATING = 0xc000010a;
export const STATUS_DELETE_PENDING = 0xc0000056;
export const STATUS_CONNECTION_RESET = 0xc000020d;
export const STATUS_CONNECTION_REFUSED = 0xc0000236;
export const STATUS_INVALID_DEVICE_STATE = 0xc0000184;
export const STATUS_DATATYPE_MISALIGNMENT = 0x80000002;
export const STATUS_IN_PAGE_ERROR = 0xc0000006;
export const STATUS_HOST_UNREACHABLE = 0xc000023d;
// Virtual memory: what NtFreeVirtualMemory / NtProtectVirtualMemory answer.
export const STATUS_UNABLE_TO_DELETE_SECTION = 0xc000001b;
export const STATUS_NOT_COMMITTED = 0xc000002d;
export const STATUS_FREE_VM_NOT_AT_BASE = 0xc000009f;
// The statuses that name a parameter (STATUS_INVALID_PARAMETER_n), completion routines, waits.
export const STATUS_TIMEOUT = 0x00000102;
export const STATUS_MORE_PROCESSING_REQUIRED = 0xc0000016;
export const STATUS_OBJECT_TYPE_MISMATCH = 0xc0000024;
/** STATUS_INVALID_PARAMETER_1 .. _12: the n-th parameter is the bad one (ntstatus.h 0xC00000EF + n - 1). */
export const STATUS_INVALID_PARAMETER_1 = 0xc00000ef;
export const STATUS_INVALID_PARAMETER_2 = 0xc00000f0;
export const STATUS_INVALID_PARAMETER_3 = 0xc00000f1;
export const STATUS_INVALID_PARAMETER_4 = 0xc00000f2;
export const STATUS_INVALID_PARAMETER_5 = 0xc00000f3;
export const STATUS_INVALID_PARAMETER_6 = 0xc00000f4;
export const STATUS_INVALID_PARAMETER_7 = 0xc00000f5;
export const STATUS_INVALID_PARAMETER_8 = 0xc00000f6;

const NAMES = new Map<number, string>(
  Object.entries({
    STATUS_SUCCESS, STATUS_PENDING, STATUS_BUFFER_OVERFLOW, STATUS_UNSUCCESSFUL, STATUS_NOT_IMPLEMENTED,
    STATUS_INVALID_INFO_CLASS, STATUS_ACCESS_VIOLATION, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER,
    STATUS_NO_SUCH_DEVICE, STATUS_INVALID_DEVICE_REQUEST, STATUS_NO_MEMORY, STATUS_CONFLICTING_ADDRESSES,
    STATUS_NOT_MAPPED_VIEW, STATUS_UNABLE_TO_FREE_VM, STATUS_ACCESS_DENIED, STATUS_BUFFER_TOO_SMALL,
    STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_OBJECT_NAME_COLLISION,
    STATUS_INVALID_PAGE_PROTECTION, STATUS_MEMORY_NOT_ALLOCATED, STATUS_WORKING_SET_QUOTA,
    STATUS_INSUFFICIENT_RESOURCES, STATUS_DEVICE_NOT_READY, STATUS_NOT_SUPPORTED, STATUS_INVALID_ADDRESS,
    STATUS_CANCELLED, STATUS_PROCESS_IS_TERMINATING, STATUS_DELETE_PENDING, STATUS_CONNECTION_RESET,
    STATUS_CONNECTION_REFUSED, STATUS_INVALID_DEVICE_STATE, STATUS_DATATYPE_MISALIGNMENT, STATUS_IN_PAGE_ERROR, STATUS_HOST_UNREACHABLE,
    STATUS_UNABLE_TO_DELETE_SECTION, STATUS_NOT_COMMITTED, STATUS_FREE_VM_NOT_AT_BASE,
    STATUS_TIMEOUT, STATUS_MORE_PROCESSING_REQUIRED, STATUS_OBJECT_TYPE_MISMATCH,
    STATUS_INVALID_PARAMETER_1, STATUS_INVALID_PARAMETER_2, STATUS_INVALID_PARAMETER_3, STATUS_INVALID_PARAMETER_4,
    STATUS_INVALID_PARAMETER_5, STATUS_INVALID_PARAMETER_6, STATUS_INVALID_PARAMETER_7, STATUS_INVALID_PARAMETER_8,
  }).map(([name, value]) => [value, name]),
);

/** NT_SUCCESS: success and informational statuses (severity bits 00 or 01). */
export function NT_SUCCESS(status: NTSTATUS): boolean {
  return status >>> 0 < 0x80000000;
}

/** "STATUS_ACCESS_VIOLATION (0xC0000005)" — for messages and reports. */
export function statusName(status: NTSTATUS): string {
  const hex = `0x${(status >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
  const name = NAMES.get(status >>> 0);
  return name ? `${name} (${hex})` : hex;
}

/**
 * A raised status: what ExRaiseStatus throws and a driver's __try/__except catches
 * (MmProbeAndLockPages, ProbeForRead, ExAllocatePool2 with POOL_FLAG_RAISE_ON_FAILURE).
 */
export class NtStatusError extends Error {
  override readonly name = 'NtStatusError';
  constructor(
    readonly status: NTSTATUS,
    detail?: string,
  ) {
    super(detail ? `${statusName(status)}: ${detail}` : statusName(status));
  }
}

/** ExRaiseStatus. */
export function ExRaiseStatus(status: NTSTATUS, detail?: string): never {
  throw new NtStatusError(status, detail);
}
