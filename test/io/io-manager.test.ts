/**
 * The I/O manager driven through the sample driver: what the driver saw for each IRP path and
 * buffering method, and that nothing was left behind after completion.
 */
import { describe, expect, it } from 'vitest';
import { ref } from '../../src/kernel/ref.ts';
import { MDL_PAGES_LOCKED } from '../../src/kernel/mm/mdl.ts';
import { MM_USER_PROBE_ADDRESS } from '../../src/kernel/mm/system-space.ts';
import { STATUS_CANCELLED, STATUS_SUCCESS } from '../../src/kernel/status.ts';
import {
  CancelIo, CloseHandle, CreateFile, DeviceIoControl, ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_INSUFFICIENT_BUFFER,
  ERROR_INVALID_FUNCTION, ERROR_INVALID_HANDLE, ERROR_IO_INCOMPLETE, ERROR_IO_PENDING, ERROR_MORE_DATA, ERROR_NOACCESS,
  ERROR_OPERATION_ABORTED, ERROR_PATH_NOT_FOUND, FILE_FLAG_OVERLAPPED, GENERIC_READ, GENERIC_WRITE, GetLastError,
  GetOverlappedResult, INVALID_HANDLE_VALUE, IoCreateDevice, IoLoadDriver, IoUnloadDriver, IRP_MJ_CLEANUP, IRP_MJ_CLOSE,
  IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ, IRP_MJ_WRITE, newOverlapped, OPEN_EXISTING, ReadFile,
  SynchronousIoWouldBlock, WriteFile, FILE_DEVICE_UNKNOWN, type DEVICE_OBJECT,
} from '../../src/kernel/io/index.ts';
import { STATUS_INVALID_DEVICE_REQUEST, STATUS_OBJECT_NAME_NOT_FOUND } from '../../src/kernel/status.ts';
import {
  IOCTL_ECHO, IOCTL_IN_DIRECT, IOCTL_NEED16, IOCTL_NEITHER, IOCTL_OUT_DIRECT, IOCTL_PEND, IOCTL_PEND_DIRECT,
  IOCTL_READ_ACCESS, IOCTL_UNKNOWN, IOCTL_WRITE_ACCESS, sampleDriver,
} from './sample-driver.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READONLY, rig, snapshot, type Rig } from './helpers.ts';

const open = (r: Rig, access = GENERIC_READ | GENERIC_WRITE, flags = 0, name = '\\\\.\\Sample') =>
  r.run(() => CreateFile(r.k, name, access, 0, null, OPEN_EXISTING, flags, null));
const bytes = (...v: number[]) => new Uint8Array(v);
const last = (r: Rig) => r.drv.seen[r.drv.seen.length - 1]!;

describe('ReadFile/WriteFile honour DO_BUFFERED_IO, DO_DIRECT_IO and neither', () => {
  it('buffered: the driver sees a system buffer holding the written bytes, never the user address', () => {
    const r = rig('buffered');
    const before = snapshot(r.k);
    const h = open(r);
    r.write(r.buf, bytes(9, 8, 7, 6, 5));
    const n = ref(-1);
    expect(r.run(() => WriteFile(r.k, h, r.buf, 5, n, null))).toBe(true);
    const w = last(r);
    expect(w.major).toBe(IRP_MJ_WRITE);
    expect(w.systemBuffer).not.toBeNull();
    expect(w.systemBuffer!).toBeGreaterThanOrEqual(0x8000_0000_0000);
    expect(Array.from(w.systemBufferBytes!)).toEqual([9, 8, 7, 6, 5]);
    expect(w.mdl).toBeNull();
    expect(n.value).toBe(5);
    const out = r.buf + 0x1000;
    r.write(out, new Uint8Array(8).fill(0xee));
    expect(r.run(() => ReadFile(r.k, h, out, 5, n, newOverlapped(0)))).toBe(true);
    const rd = last(r);
    expect(rd.major).toBe(IRP_MJ_READ);
    expect(rd.userBuffer).toBe(out);
    expect(rd.systemBuffer).not.toBeNull();
    // Exactly Information bytes come back; the byte after is untouched.
    expect(Array.from(r.read(out, 6))).toEqual([9, 8, 7, 6, 5, 0xee]);
    expect(r.run(() => CloseHandle(r.k, h))).toBe(true);
    expect(snapshot(r.k)).toEqual(before);
  });

  it('direct: the driver sees a locked MDL for the user buffer; completion unlocks and frees it', () => {
    const r = rig('direct');
    const before = snapshot(r.k);
    const h = open(r);
    const src = r.buf + 0xff0; // crosses a page boundary
    r.write(src, new Uint8Array(32).map((_, i) => i + 1));
    const n = ref(0);
    expect(r.run(() => WriteFile(r.k, h, src, 32, n, null))).toBe(true);
    const w = last(r);
    expect(w.systemBuffer).toBeNull();
    expect(w.mdl).toEqual({ present: true, locked: true, byteCount: 32, pages: 2, pfnsFilled: true });
    expect(r.drv.memory.subarray(0, 32)).toEqual(new Uint8Array(32).map((_, i) => i + 1));
    expect(r.run(() => ReadFile(r.k, h, r.buf + 0x3000, 32, n, newOverlapped(0)))).toBe(true);
    expect(last(r).mdl?.locked).toBe(true);
    expect(r.read(r.buf + 0x3000, 32)).toEqual(new Uint8Array(32).map((_, i) => i + 1));
    expect(snapshot(r.k).lockedPages).toBe(before.lockedPages);
    r.run(() => CloseHandle(r.k, h));
    expect(snapshot(r.k)).toEqual(before);
  });

  it('neither: the driver sees the raw user address and works in the caller context', () => {
    const r = rig('neither');
    const h = open(r);
    r.write(r.buf, bytes(1, 2, 3));
    const n = ref(0);
    expect(r.run(() => WriteFile(r.k, h, r.buf, 3, n, null))).toBe(true);
    const w = last(r);
    expect(w.userBuffer).toBe(r.buf);
    expect(w.systemBuffer).toBeNull();
    expect(w.mdl).toBeNull();
    expect(w.processId).toBe(r.app.ProcessId);
    // A bad address reaches the driver, whose own probe rejects it.
    expect(r.run(() => ReadFile(r.k, h, MM_USER_PROBE_ADDRESS - 1, 3, n, null))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_NOACCESS);
    expect(last(r).major).toBe(IRP_MJ_READ);
    r.run(() => CloseHandle(r.k, h));
  });

  it('synchronous handles advance CurrentByteOffset; OVERLAPPED offsets are passed as ByteOffset', () => {
    const r = rig('buffered');
    const h = open(r);
    const n = ref(0);
    r.run(() => WriteFile(r.k, h, r.buf, 10, n, null));
    r.run(() => WriteFile(r.k, h, r.buf, 10, n, null));
    expect(last(r).byteOffset).toBe(10);
    r.run(() => ReadFile(r.k, h, r.buf, 4, n, newOverlapped(0x1234, 0)));
    expect(last(r).byteOffset).toBe(0x1234);
  });
});

function GetLastErrorOf(r: Rig): number {
  return r.run(() => GetLastError(r.k));
}

describe('DeviceIoControl decodes CTL_CODE and handles each method', () => {
  it('METHOD_BUFFERED: one system buffer of max(in, out) holding the input; Information bytes copied out', () => {
    const r = rig('buffered');
    const before = snapshot(r.k);
    const h = open(r);
    r.write(r.buf, bytes(1, 2, 3, 4, 5, 6));
    const out = r.buf + 0x2000;
    r.write(out, new Uint8Array(16).fill(0xaa));
    const n = ref(0);
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_ECHO, r.buf, 6, out, 10, n, null))).toBe(true);
    const s = last(r);
    expect(s.major).toBe(IRP_MJ_DEVICE_CONTROL);
    expect(s.ioControlCode).toBe(IOCTL_ECHO);
    expect([s.inputLength, s.outputLength]).toEqual([6, 10]);
    expect(Array.from(s.systemBufferBytes!)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(s.systemBufferPoolBytes).toBeGreaterThanOrEqual(10);
    expect(r.k.mm.pool.blockAt(s.systemBuffer!)).toBeNull(); // freed at completion
    expect(n.value).toBe(6);
    expect(Array.from(r.read(out, 8))).toEqual([1, 2, 3, 4, 5, 6, 0xaa, 0xaa]);
    r.run(() => CloseHandle(r.k, h));
    expect(snapshot(r.k)).toEqual(before);
  });

  it('output buffers too small: STATUS_BUFFER_OVERFLOW returns the bytes that fit (ERROR_MORE_DATA); BUFFER_TOO_SMALL leaves the count untouched', () => {
    const r = rig('buffered');
    const h = open(r);
    r.write(r.buf, bytes(1, 2, 3, 4, 5, 6));
    const out = r.buf + 0x2000;
    const n = ref(0);
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_ECHO, r.buf, 6, out, 4, n, null))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_MORE_DATA);
    expect(n.value).toBe(4);
    expect(Array.from(r.read(out, 4))).toEqual([1, 2, 3, 4]);
    // An NT_ERROR status leaves *lpBytesReturned as it was (Wine dlls/ntoskrnl.exe/tests/ntoskrnl.c,
    // do_return_status: size stays 0xdeadf00d when NT_ERROR(status)).
    n.value = 0xdeadf00d;
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_NEED16, null, 0, out, 8, n, null))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_INSUFFICIENT_BUFFER);
    expect(n.value).toBe(0xdeadf00d);
  });

  it('METHOD_IN_DIRECT / METHOD_OUT_DIRECT: SystemBuffer = input, MdlAddress = locked second buffer', () => {
    const r = rig('buffered');
    const before = snapshot(r.k);
    const h = open(r);
    r.write(r.buf, bytes(40));
    const second = r.buf + 0x4000;
    r.write(second, new Uint8Array(100).fill(7));
    const n = ref(0);
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_IN_DIRECT, r.buf, 1, second, 100, n, null))).toBe(true);
    let s = last(r);
    expect(Array.from(s.systemBufferBytes!)).toEqual([40]);
    expect(s.mdl).toMatchObject({ present: true, locked: true, byteCount: 100 });
    expect(r.drv.memory.subarray(0, 100)).toEqual(new Uint8Array(100).fill(7));
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_OUT_DIRECT, r.buf, 1, second, 300, n, null))).toBe(true);
    s = last(r);
    expect(s.mdl).toMatchObject({ locked: true, byteCount: 300 });
    expect(n.value).toBe(300);
    expect(r.read(second, 300)).toEqual(new Uint8Array(300).map((_, i) => (40 + i) & 0xff));
    r.run(() => CloseHandle(r.k, h));
    expect(snapshot(r.k)).toEqual(before);
  });

  it('METHOD_OUT_DIRECT on a read-only output buffer fails with ERROR_NOACCESS before the driver runs', () => {
    const r = rig('buffered');
    const ro = r.app.VirtualAlloc(0, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY);
    const h = open(r);
    const before = snapshot(r.k);
    const seen = r.drv.seen.length;
    const n = ref(0);
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_OUT_DIRECT, r.buf, 1, ro, 16, n, null))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_NOACCESS);
    expect(r.drv.seen.length).toBe(seen);
    expect(snapshot(r.k)).toEqual(before);
    // IN_DIRECT only reads the buffer: a read-only page is fine.
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_IN_DIRECT, r.buf, 1, ro, 16, n, null))).toBe(true);
  });

  it('METHOD_NEITHER: Type3InputBuffer and UserBuffer are the raw user addresses; the driver probes', () => {
    const r = rig('buffered');
    const h = open(r);
    r.write(r.buf, bytes(5, 6, 7));
    const n = ref(0);
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_NEITHER, r.buf, 3, r.buf + 0x100, 3, n, null))).toBe(true);
    const s = last(r);
    expect(s.type3InputBuffer).toBe(r.buf);
    expect(s.userBuffer).toBe(r.buf + 0x100);
    expect(s.systemBuffer).toBeNull();
    expect(s.mdl).toBeNull();
    expect(Array.from(r.read(r.buf + 0x100, 3))).toEqual([5, 6, 7]);
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_NEITHER, 0x10, 3, r.buf, 3, n, null))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_NOACCESS);
  });

  it('unknown IOCTL codes reach the driver and fail with ERROR_INVALID_FUNCTION', () => {
    const r = rig('buffered');
    const h = open(r);
    const n = ref(0);
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_UNKNOWN, null, 0, null, 0, n, null))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_INVALID_FUNCTION);
  });

  it('FILE_READ_ACCESS / FILE_WRITE_ACCESS in the code are checked against the handle', () => {
    const r = rig('buffered');
    const ro = open(r, GENERIC_READ);
    const none = open(r, 0);
    const n = ref(0);
    const seen = r.drv.seen.length;
    expect(r.run(() => DeviceIoControl(r.k, ro, IOCTL_WRITE_ACCESS, null, 0, null, 0, n, null))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_ACCESS_DENIED);
    expect(r.run(() => DeviceIoControl(r.k, none, IOCTL_READ_ACCESS, null, 0, null, 0, n, null))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_ACCESS_DENIED);
    expect(r.run(() => WriteFile(r.k, ro, r.buf, 1, n, null))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_ACCESS_DENIED);
    expect(r.drv.seen.length).toBe(seen);
    expect(r.run(() => DeviceIoControl(r.k, ro, IOCTL_READ_ACCESS, null, 0, null, 0, n, null))).toBe(true);
    expect(r.run(() => DeviceIoControl(r.k, none, IOCTL_ECHO, null, 0, null, 0, n, null))).toBe(true);
  });

  it('bad user buffers (unmapped, wrapping, kernel addresses) fail with ERROR_NOACCESS before the driver, leaking nothing', () => {
    for (const method of ['buffered', 'direct'] as const) {
      const r = rig(method);
      const h = open(r);
      const before = snapshot(r.k);
      const seen = r.drv.seen.length;
      const n = ref(0);
      const bad: [number, number][] = [
        [0x7000_0000, 16], // nothing mapped there
        [r.buf + r.bytes - 8, 16], // runs off the end of the allocation
        [MM_USER_PROBE_ADDRESS - 8, 16], // crosses into kernel space
        [Number.MAX_SAFE_INTEGER - 4, 16], // wraps
        [0x8000_0000_1000, 16], // a kernel address
      ];
      for (const [va, len] of bad) {
        expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_ECHO, va, len, r.buf, len, n, null))).toBe(false);
        expect(GetLastErrorOf(r)).toBe(ERROR_NOACCESS);
        expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_ECHO, r.buf, len, va, len, n, null))).toBe(false);
        expect(r.run(() => ReadFile(r.k, h, va, len, n, null))).toBe(false);
        expect(GetLastErrorOf(r)).toBe(ERROR_NOACCESS);
        expect(r.run(() => WriteFile(r.k, h, va, len, n, null))).toBe(false);
        expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_OUT_DIRECT, r.buf, 1, va, len, n, null))).toBe(false);
      }
      expect(r.drv.seen.length).toBe(seen);
      expect(snapshot(r.k)).toEqual(before);
    }
  });
});

describe('handles', () => {
  it('a closed handle and a handle of another process are ERROR_INVALID_HANDLE', () => {
    const r = rig('buffered');
    const h = open(r);
    const other = r.k.ps.createProcess('other.exe');
    const n = ref(0);
    expect(r.k.ps.runInProcess(other, () => DeviceIoControl(r.k, h, IOCTL_ECHO, null, 0, null, 0, n, null))).toBe(false);
    expect(r.k.ps.runInProcess(other, () => GetLastError(r.k))).toBe(ERROR_INVALID_HANDLE);
    expect(r.k.ps.runInProcess(other, () => CloseHandle(r.k, h))).toBe(false);
    expect(r.run(() => CloseHandle(r.k, h))).toBe(true);
    expect(r.run(() => CloseHandle(r.k, h))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_INVALID_HANDLE);
    expect(r.run(() => ReadFile(r.k, h, r.buf, 1, n, null))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_INVALID_HANDLE);
    for (const junk of [0, -1, 4, 1.5, NaN, 2 ** 40]) {
      expect(r.run(() => DeviceIoControl(r.k, junk, IOCTL_ECHO, null, 0, null, 0, n, null))).toBe(false);
      expect(GetLastErrorOf(r)).toBe(ERROR_INVALID_HANDLE);
    }
  });

  it('the last CloseHandle sends IRP_MJ_CLEANUP in the closer context, then IRP_MJ_CLOSE; the driver runs as itself at PASSIVE_LEVEL', () => {
    const r = rig('buffered');
    const h1 = open(r);
    const h2 = open(r);
    expect(r.drv.seen.map((s) => s.major)).toEqual([IRP_MJ_CREATE, IRP_MJ_CREATE]);
    r.run(() => CloseHandle(r.k, h1));
    r.run(() => CloseHandle(r.k, h2));
    expect(r.drv.seen.map((s) => s.major)).toEqual([IRP_MJ_CREATE, IRP_MJ_CREATE, IRP_MJ_CLEANUP, IRP_MJ_CLOSE, IRP_MJ_CLEANUP, IRP_MJ_CLOSE]);
    expect(r.drv.seen.filter((s) => s.major === IRP_MJ_CLEANUP).every((s) => s.processId === r.app.ProcessId)).toBe(true);
    expect(r.drv.seen.every((s) => s.currentDriver === 'Sample' && s.irql === 0)).toBe(true);
    expect(r.k.currentDriver).toBeNull();
  });

  it('CreateFile failures: unknown name, non-device path, driver refusing IRP_MJ_CREATE (no cleanup/close sent)', () => {
    const r = rig('buffered');
    expect(open(r, GENERIC_READ, 0, '\\\\.\\Nope')).toBe(INVALID_HANDLE_VALUE);
    expect(GetLastErrorOf(r)).toBe(ERROR_FILE_NOT_FOUND);
    expect(open(r, GENERIC_READ, 0, 'C:\\file.txt')).toBe(INVALID_HANDLE_VALUE);
    expect(GetLastErrorOf(r)).toBe(ERROR_PATH_NOT_FOUND);
    const before = snapshot(r.k);
    r.drv.failCreate = STATUS_INVALID_DEVICE_REQUEST;
    expect(open(r)).toBe(INVALID_HANDLE_VALUE);
    expect(GetLastErrorOf(r)).toBe(ERROR_INVALID_FUNCTION);
    expect(r.drv.seen.map((s) => s.major)).toEqual([IRP_MJ_CREATE]);
    expect(snapshot(r.k)).toEqual(before);
    r.drv.failCreate = null;
    const h = open(r, GENERIC_READ, 0, '\\\\.\\sample\\sub\\path');
    expect(h).not.toBe(INVALID_HANDLE_VALUE);
    expect(last(r).fileName).toBe('\\sub\\path');
  });
});

describe('pending IRPs', () => {
  it('an overlapped request reports ERROR_IO_PENDING; GetOverlappedResult returns the final result after IoCompleteRequest', () => {
    const r = rig('buffered');
    const before = snapshot(r.k);
    const h = open(r, GENERIC_READ | GENERIC_WRITE, FILE_FLAG_OVERLAPPED);
    const ov = newOverlapped();
    const n = ref(0);
    const out = r.buf + 0x800;
    expect(r.run(() => DeviceIoControl(r.k, h, IOCTL_PEND, null, 0, out, 8, n, ov))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_IO_PENDING);
    expect(r.run(() => GetOverlappedResult(r.k, h, ov, n, false))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_IO_INCOMPLETE);
    expect(() => r.run(() => GetOverlappedResult(r.k, h, ov, n, true))).toThrow(SynchronousIoWouldBlock);
    expect(r.k.io.counters().irpsOutstanding).toBe(1);
    r.drv.completeQueued(0, STATUS_SUCCESS, 0x5a, 8); // from the System context, like a DPC
    expect(r.run(() => GetOverlappedResult(r.k, h, ov, n, true))).toBe(true);
    expect(n.value).toBe(8);
    expect(r.read(out, 8)).toEqual(new Uint8Array(8).fill(0x5a));
    r.run(() => CloseHandle(r.k, h));
    expect(snapshot(r.k)).toEqual(before);
  });

  it('a synchronous handle cannot wait for a pending IRP (SynchronousIoWouldBlock), but one completed before return is fine', () => {
    const r = rig('buffered');
    const h = open(r);
    const n = ref(0);
    expect(() => r.run(() => DeviceIoControl(r.k, h, IOCTL_PEND, null, 0, r.buf, 4, n, null))).toThrow(SynchronousIoWouldBlock);
    r.drv.completeQueued(0, STATUS_SUCCESS, 1, 4);
    expect(r.k.io.counters().irpsOutstanding).toBe(0);
  });

  it('IRP_MJ_CLEANUP cancels the file object pending IRPs: STATUS_CANCELLED, locked MDL released', () => {
    const r = rig('buffered');
    const before = snapshot(r.k);
    const h = open(r, GENERIC_READ | GENERIC_WRITE, FILE_FLAG_OVERLAPPED);
    const ov1 = newOverlapped();
    const ov2 = newOverlapped();
    const n = ref(0);
    r.run(() => DeviceIoControl(r.k, h, IOCTL_PEND, null, 0, r.buf, 4, n, ov1));
    r.run(() => DeviceIoControl(r.k, h, IOCTL_PEND_DIRECT, null, 0, r.buf + 0x1000, 0x2000, n, ov2));
    expect(snapshot(r.k).lockedPages).toBe(before.lockedPages + 2);
    r.run(() => CloseHandle(r.k, h));
    expect(ov1.Internal).toBe(STATUS_CANCELLED);
    expect(ov2.Internal).toBe(STATUS_CANCELLED);
    expect(snapshot(r.k)).toEqual(before);
  });

  it('CancelIo calls the cancel routine; the request ends with ERROR_OPERATION_ABORTED', () => {
    const r = rig('buffered');
    const h = open(r, GENERIC_READ | GENERIC_WRITE, FILE_FLAG_OVERLAPPED);
    const ov = newOverlapped();
    const n = ref(0);
    r.run(() => DeviceIoControl(r.k, h, IOCTL_PEND, null, 0, r.buf, 4, n, ov));
    expect(r.run(() => CancelIo(r.k, h))).toBe(true);
    expect(r.drv.queue.length).toBe(0);
    expect(r.run(() => GetOverlappedResult(r.k, h, ov, n, false))).toBe(false);
    expect(GetLastErrorOf(r)).toBe(ERROR_OPERATION_ABORTED);
    expect(r.k.io.cancelLockHeld).toBe(false);
    expect(r.k.irql).toBe(0);
  });

  it('process exit cancels its IRPs and closes its handles (cleanup, close): no locked pages left, no bug check', () => {
    const r = rig('direct');
    const before = snapshot(r.k);
    const h = open(r, GENERIC_READ | GENERIC_WRITE, FILE_FLAG_OVERLAPPED);
    open(r);
    const n = ref(0);
    r.drv.cancelOnCleanup = false; // only the exit-time IoCancelIrp can end it
    r.run(() => DeviceIoControl(r.k, h, IOCTL_PEND_DIRECT, null, 0, r.buf, 0x3000, n, newOverlapped()));
    expect(r.k.ps.terminateProcess(r.app, 0)).toBe(STATUS_SUCCESS);
    expect(r.k.bugcheck.crashed).toBeNull();
    const majors = r.drv.seen.map((s) => s.major);
    expect(majors.filter((m) => m === IRP_MJ_CLEANUP).length).toBe(2);
    expect(majors.filter((m) => m === IRP_MJ_CLOSE).length).toBe(2);
    expect(snapshot(r.k)).toEqual(before);
  });
});

describe('devices and drivers', () => {
  it('a device still DO_DEVICE_INITIALIZING cannot be opened; DriverEntry devices are readied', () => {
    const r = rig('buffered');
    const late = { value: null as DEVICE_OBJECT | null };
    expect(IoCreateDevice(r.k, r.drv.driverObject!, 0, '\\Device\\Late', FILE_DEVICE_UNKNOWN, 0, false, late)).toBe(STATUS_SUCCESS);
    r.k.io.namespace.insertLink('\\??\\Late', '\\Device\\Late');
    expect(open(r, GENERIC_READ, 0, '\\\\.\\Late')).toBe(INVALID_HANDLE_VALUE);
    expect(GetLastErrorOf(r)).toBe(ERROR_FILE_NOT_FOUND);
    late.value!.Flags &= ~0x80;
    expect(open(r, GENERIC_READ, 0, '\\\\.\\Late')).not.toBe(INVALID_HANDLE_VALUE);
  });

  it('unload is deferred while a device is open, then runs DriverUnload; no DriverUnload → cannot unload', () => {
    const r = rig('buffered');
    const h = open(r);
    expect(IoUnloadDriver(r.k, 'Sample')).toBe(STATUS_SUCCESS);
    expect(r.k.io.driver('Sample')).not.toBeNull();
    expect(open(r)).toBe(INVALID_HANDLE_VALUE);
    r.run(() => CloseHandle(r.k, h));
    expect(r.k.io.driver('Sample')).toBeNull();
    expect(r.k.io.counters()).toMatchObject({ devices: 0, symbolicLinks: 0, fileObjects: 0 });
    expect(IoUnloadDriver(r.k, 'Sample')).toBe(STATUS_OBJECT_NAME_NOT_FOUND);

    const d2 = sampleDriver('Pinned', 'buffered');
    d2.noUnload = true;
    expect(IoLoadDriver(r.k, 'Pinned', d2.entry)).toBe(STATUS_SUCCESS);
    expect(IoUnloadDriver(r.k, 'Pinned')).toBe(STATUS_INVALID_DEVICE_REQUEST);
  });

  it('a loaded driver can be loaded again only after unload; pool is back to where it was', () => {
    const r = rig('buffered');
    const pool = r.k.mm.pool.outstandingBlocks;
    expect(IoUnloadDriver(r.k, 'Sample')).toBe(STATUS_SUCCESS);
    expect(r.k.mm.pool.outstandingBlocks).toBeLessThan(pool);
    const again = sampleDriver('Sample', 'direct');
    expect(IoLoadDriver(r.k, 'Sample', again.entry)).toBe(STATUS_SUCCESS);
    expect(r.k.mm.pool.outstandingBlocks).toBe(pool);
    expect(again.driverObject!.MajorFunction.every((f) => typeof f === 'function')).toBe(true);
    void MDL_PAGES_LOCKED;
  });
});
