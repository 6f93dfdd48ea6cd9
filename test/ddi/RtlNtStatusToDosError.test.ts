import { describe, expect, it } from 'vitest';
import {
  ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_FUNCTION, ERROR_INVALID_HANDLE,
  ERROR_INVALID_PARAMETER, ERROR_IO_PENDING, ERROR_MORE_DATA, ERROR_MR_MID_NOT_FOUND, ERROR_NOACCESS,
  ERROR_NO_SYSTEM_RESOURCES, ERROR_NOT_ENOUGH_MEMORY, ERROR_OPERATION_ABORTED, ERROR_SUCCESS, RtlNtStatusToDosError,
} from '../../src/kernel/io/index.ts';

describe('RtlNtStatusToDosError', () => {
  it('maps the statuses the I/O path produces to their Win32 codes', () => {
    const table: [number, number][] = [
      [0, ERROR_SUCCESS], [0x103, ERROR_IO_PENDING], [0x80000005, ERROR_MORE_DATA], [0xc0000010, ERROR_INVALID_FUNCTION],
      [0xc0000034, ERROR_FILE_NOT_FOUND], [0xc000000e, ERROR_FILE_NOT_FOUND], [0xc0000022, ERROR_ACCESS_DENIED],
      [0xc0000008, ERROR_INVALID_HANDLE], [0xc0000017, ERROR_NOT_ENOUGH_MEMORY], [0xc000000d, ERROR_INVALID_PARAMETER],
      [0xc0000023, ERROR_INSUFFICIENT_BUFFER], [0xc0000005, ERROR_NOACCESS], [0xc0000120, ERROR_OPERATION_ABORTED],
      [0xc000009a, ERROR_NO_SYSTEM_RESOURCES],
    ];
    for (const [status, error] of table) expect([status, RtlNtStatusToDosError(status)]).toEqual([status, error]);
    expect([ERROR_INVALID_FUNCTION, ERROR_FILE_NOT_FOUND, ERROR_ACCESS_DENIED, ERROR_INVALID_HANDLE, ERROR_NOT_ENOUGH_MEMORY,
      ERROR_INVALID_PARAMETER, ERROR_INSUFFICIENT_BUFFER, ERROR_NOACCESS, ERROR_IO_PENDING, ERROR_OPERATION_ABORTED,
      ERROR_NO_SYSTEM_RESOURCES, ERROR_MORE_DATA]).toEqual([1, 2, 5, 6, 8, 87, 122, 998, 997, 995, 1450, 234]);
  });

  it('FACILITY_WIN32 statuses carry their code; unknown errors are ERROR_MR_MID_NOT_FOUND; the signed form works', () => {
    expect(RtlNtStatusToDosError(0xc0070020)).toBe(0x20);
    expect(RtlNtStatusToDosError(0xc0001234)).toBe(ERROR_MR_MID_NOT_FOUND);
    expect(RtlNtStatusToDosError(0xc0000005 | 0)).toBe(ERROR_NOACCESS);
    expect(RtlNtStatusToDosError(NaN)).toBe(ERROR_MR_MID_NOT_FOUND);
  });

  // Wine dlls/ntdll/error.c records the Windows table; the entries the memory and IRP routines added.
  it('maps the memory-manager, wait and IRP statuses as Windows does (Wine dlls/ntdll/error.c table)', () => {
    const table: [number, number][] = [
      [0x102 /* STATUS_TIMEOUT */, 1460], [0xc000009a /* INSUFFICIENT_RESOURCES */, 1450], [0xc0000018 /* CONFLICTING_ADDRESSES */, 487],
      [0xc000002d /* NOT_COMMITTED */, 487], [0xc000009f /* FREE_VM_NOT_AT_BASE */, 487], [0xc00000a0 /* MEMORY_NOT_ALLOCATED */, 487],
      [0xc000001a /* UNABLE_TO_FREE_VM */, 87], [0xc000001b /* UNABLE_TO_DELETE_SECTION */, 87], [0xc0000045 /* INVALID_PAGE_PROTECTION */, 87],
      [0xc0000016 /* MORE_PROCESSING_REQUIRED */, 234], [0xc0000024 /* OBJECT_TYPE_MISMATCH */, 6], [0xc0000141 /* INVALID_ADDRESS */, 487],
    ];
    for (const [status, error] of table) expect([status, RtlNtStatusToDosError(status)]).toEqual([status, error]);
  });

  it('every STATUS_INVALID_PARAMETER_n (0xC00000EF..0xC00000FA) is ERROR_INVALID_PARAMETER', () => {
    for (let s = 0xc00000ef; s <= 0xc00000fa; s++) expect(RtlNtStatusToDosError(s)).toBe(ERROR_INVALID_PARAMETER);
  });
});
