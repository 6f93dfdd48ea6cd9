/**
 * DeviceIoControl's Win32 results: the last error, *lpBytesReturned and the OVERLAPPED.
 * Sources: Win32 "DeviceIoControl function (ioapiset.h)" (on failure the return is FALSE and
 * GetLastError gives the error), "GetLastError function" (functions that succeed do not all reset
 * it); Wine dlls/ntoskrnl.exe/tests/ntoskrnl.c do_return_status, which records on Windows:
 * success (or a warning such as STATUS_BUFFER_OVERFLOW) leaves GetLastError as it was (the test
 * sets 0xdeadbeef first) — a warning sets it to the mapped error since the call returns FALSE;
 * an NT_ERROR status leaves *lpBytesReturned untouched; with an OVERLAPPED, an NT_ERROR status
 * that did not go pending leaves the IO_STATUS_BLOCK (Internal / InternalHigh) untouched and the event
 * unsignaled — at the Win32 level Internal then still holds the STATUS_PENDING kernel32 put there
 * before the system call (ReactOS dll/win32/kernel32 DeviceIoControl does the same).
 */
import { describe, expect, it } from 'vitest';
import {
  CreateFile, DeviceIoControl, ERROR_INSUFFICIENT_BUFFER, ERROR_IO_PENDING, ERROR_MORE_DATA, FILE_FLAG_OVERLAPPED, GENERIC_READ, GetLastError,
  GetOverlappedResult, newOverlapped, OPEN_EXISTING, SetLastError,
} from '../../src/kernel/io/index.ts';
import { ref } from '../../src/kernel/ref.ts';
import { STATUS_BUFFER_TOO_SMALL, STATUS_PENDING, STATUS_SUCCESS } from '../../src/kernel/status.ts';
import { IOCTL_ECHO, IOCTL_NEED16, IOCTL_PEND } from '../io/sample-driver.ts';
import { rig } from '../io/helpers.ts';

const open = (r: ReturnType<typeof rig>, flags = 0) =>
  r.run(() => CreateFile(r.k, '\\\\.\\Sample', GENERIC_READ, 0, null, OPEN_EXISTING, flags, null));

describe('DeviceIoControl', () => {
  it('success leaves the last error as it was (not reset to 0) and reports the bytes returned', () => {
    const r = rig('buffered');
    const h = open(r);
    r.write(r.buf, new Uint8Array([1, 2, 3]));
    r.run(() => SetLastError(r.k, 0xdeadbeef));
    const n = ref(0);
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_ECHO, r.buf, 3, r.buf + 0x100, 16, n, null))).toBe(true);
    expect(r.run(() => GetLastError(r.k))).toBe(0xdeadbeef);
    expect(n.value).toBe(3);
  });

  it('a warning (STATUS_BUFFER_OVERFLOW) is FALSE with ERROR_MORE_DATA and the bytes that fit', () => {
    const r = rig('buffered');
    const h = open(r);
    r.write(r.buf, new Uint8Array([1, 2, 3, 4, 5, 6]));
    const n = ref(0xdeadf00d);
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_ECHO, r.buf, 6, r.buf + 0x100, 4, n, null))).toBe(false);
    expect(r.run(() => GetLastError(r.k))).toBe(ERROR_MORE_DATA);
    expect(n.value).toBe(4);
  });

  it('an error leaves *lpBytesReturned untouched and sets the mapped error', () => {
    const r = rig('buffered');
    const h = open(r);
    const n = ref(0xdeadf00d);
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_NEED16, null, 0, r.buf, 8, n, null))).toBe(false);
    expect(r.run(() => GetLastError(r.k))).toBe(ERROR_INSUFFICIENT_BUFFER);
    expect(n.value).toBe(0xdeadf00d);
  });

  it('overlapped: an error that did not go pending leaves the IO_STATUS_BLOCK as kernel32 set it (Internal STATUS_PENDING, InternalHigh untouched)', () => {
    const r = rig('buffered');
    const h = open(r, FILE_FLAG_OVERLAPPED);
    const ov = newOverlapped();
    ov.Internal = 0x1111;
    ov.InternalHigh = 0x2222;
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_NEED16, null, 0, r.buf, 8, ref(0), ov))).toBe(false);
    expect(r.run(() => GetLastError(r.k))).toBe(ERROR_INSUFFICIENT_BUFFER);
    // kernel32 stores STATUS_PENDING in Internal before the call; the failed request writes nothing.
    expect([ov.Internal, ov.InternalHigh]).toEqual([STATUS_PENDING, 0x2222]);
  });

  it('overlapped: a pended request is ERROR_IO_PENDING; an error completing it later is reported in the OVERLAPPED', () => {
    const r = rig('buffered');
    const h = open(r, FILE_FLAG_OVERLAPPED);
    const ov = newOverlapped();
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_PEND, null, 0, r.buf, 8, ref(0), ov))).toBe(false);
    expect(r.run(() => GetLastError(r.k))).toBe(ERROR_IO_PENDING);
    expect(ov.Internal).toBe(STATUS_PENDING);
    r.drv.completeQueued(0, STATUS_BUFFER_TOO_SMALL, 0, 0);
    expect(ov.Internal).toBe(STATUS_BUFFER_TOO_SMALL);
    const n = ref(0);
    expect(r.run(() => GetOverlappedResult(r.k, h, ov, n, false))).toBe(false);
    expect(r.run(() => GetLastError(r.k))).toBe(ERROR_INSUFFICIENT_BUFFER);
  });

  it('overlapped success leaves the last error as it was', () => {
    const r = rig('buffered');
    const h = open(r, FILE_FLAG_OVERLAPPED);
    r.write(r.buf, new Uint8Array([9]));
    r.run(() => SetLastError(r.k, 1234));
    const ov = newOverlapped();
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_ECHO, r.buf, 1, r.buf + 0x100, 4, ref(0), ov))).toBe(true);
    expect(ov.Internal).toBe(STATUS_SUCCESS);
    expect(r.run(() => GetLastError(r.k))).toBe(1234);
  });
});
