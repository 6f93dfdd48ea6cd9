/**
 * IoBuildDeviceIoControlRequest, sent with IoCallDriver and waited for with a KEVENT.
 * Sources: WDK "IoBuildDeviceIoControlRequest function (wdm.h)" (IRQL <= APC_LEVEL; the buffers by
 * the code's transfer type; the I/O manager completes and frees the IRP — the caller must not
 * call IoFreeIrp; NULL when the IRP cannot be built), "Buffer Descriptions for I/O Control Codes",
 * "IoCallDriver function (wdm.h)", "KeWaitForSingleObject function (wdm.h)";
 * Wine dlls/ntoskrnl.exe/tests/ntoskrnl.c do_return_status (a request that fails without going
 * pending leaves the IO_STATUS_BLOCK as it was and the event unsignaled; output is copied back
 * only for a status that is not an error); driver.c test_call_driver (the fields of a built IRP).
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MIB, PAGE_SIZE } from '../../src/bus/index.ts';
import {
  CTL_CODE, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, IO_NO_INCREMENT, IoBuildDeviceIoControlRequest, IoCallDriver, IoCompleteRequest,
  IoCreateDevice, IoFreeIrp, IoGetCurrentIrpStackLocation, IoGetNextIrpStackLocation, IoLoadDriver, IoMarkIrpPending,
  IRP_BUFFERED_IO, IRP_MJ_DEVICE_CONTROL, IRP_MJ_INTERNAL_DEVICE_CONTROL, KernelMode, METHOD_BUFFERED, METHOD_IN_DIRECT,
  METHOD_NEITHER, METHOD_OUT_DIRECT, type DEVICE_OBJECT, type IRP,
} from '../../src/kernel/io/index.ts';
import { Executive, KEVENT, KeInitializeEvent, KeReadStateEvent, KeWaitForSingleObject, NotificationEvent } from '../../src/kernel/ke/index.ts';
import { ExAllocatePool2, ExFreePool, POOL_FLAG_NON_PAGED, poolTag } from '../../src/kernel/mm/pool.ts';
import { MDL_PAGES_LOCKED, MDL_WRITE_OPERATION } from '../../src/kernel/mm/mdl.ts';
import { MmGetSystemAddressForMdlSafe, NormalPagePriority } from '../../src/kernel/mm/mdl-mapping.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../../src/kernel/irql.ts';
import { IRQL_NOT_LESS_OR_EQUAL } from '../../src/kernel/bugcheck.ts';
import { STATUS_BUFFER_TOO_SMALL, STATUS_PENDING, STATUS_SUCCESS } from '../../src/kernel/status.ts';
import { ref } from '../../src/kernel/ref.ts';
import { expectBugCheck, poolBlocksInUse } from './helpers.ts';

const DEV = 0x8000;
const BUFFERED = CTL_CODE(DEV, 0x900, METHOD_BUFFERED, FILE_ANY_ACCESS);
const IN_DIRECT = CTL_CODE(DEV, 0x901, METHOD_IN_DIRECT, FILE_ANY_ACCESS);
const OUT_DIRECT = CTL_CODE(DEV, 0x902, METHOD_OUT_DIRECT, FILE_ANY_ACCESS);
const NEITHER = CTL_CODE(DEV, 0x903, METHOD_NEITHER, FILE_ANY_ACCESS);
const TOO_SMALL = CTL_CODE(DEV, 0x904, METHOD_BUFFERED, FILE_ANY_ACCESS);
const PEND = CTL_CODE(DEV, 0x905, METHOD_BUFFERED, FILE_ANY_ACCESS);

interface Seen { major: number; requestorMode: number; systemBuffer: number | null; input: number[]; mdlFlags: number | null;
  type3: number | null; userBuffer: number | null; outLen: number; inLen: number }

/** A lower driver: buffered → output = input + 1 per byte; OUT_DIRECT fills the MDL with 0xAB. */
function host() {
  const k = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false });
  const seen: Seen[] = [];
  const queue: IRP[] = [];
  let device!: DEVICE_OBJECT;
  const dispatch = (_d: DEVICE_OBJECT, irp: IRP) => {
    const sl = IoGetCurrentIrpStackLocation(irp);
    const p = sl.Parameters.DeviceIoControl;
    const input = new Uint8Array(irp.AssociatedIrp.SystemBuffer !== null ? p.InputBufferLength : 0);
    if (irp.AssociatedIrp.SystemBuffer !== null) k.mm.system.read(irp.AssociatedIrp.SystemBuffer, input);
    seen.push({ major: sl.MajorFunction, requestorMode: irp.RequestorMode, systemBuffer: irp.AssociatedIrp.SystemBuffer,
      input: Array.from(input), mdlFlags: irp.MdlAddress?.MdlFlags ?? null, type3: p.Type3InputBuffer, userBuffer: irp.UserBuffer,
      outLen: p.OutputBufferLength, inLen: p.InputBufferLength });
    let status = STATUS_SUCCESS;
    let info = 0;
    if (p.IoControlCode === BUFFERED && irp.AssociatedIrp.SystemBuffer !== null) {
      k.mm.system.write(irp.AssociatedIrp.SystemBuffer!, new Uint8Array(p.OutputBufferLength).map((_, i) => (input[i] ?? 0) + 1));
      info = p.OutputBufferLength;
    } else if (p.IoControlCode === OUT_DIRECT) {
      const va = MmGetSystemAddressForMdlSafe(k, irp.MdlAddress!, NormalPagePriority)!;
      k.mm.system.write(va, new Uint8Array(p.OutputBufferLength).fill(0xab));
      info = p.OutputBufferLength;
    } else if (p.IoControlCode === TOO_SMALL) {
      status = STATUS_BUFFER_TOO_SMALL;
    } else if (p.IoControlCode === PEND) {
      IoMarkIrpPending(irp);
      queue.push(irp);
      return STATUS_PENDING;
    }
    irp.IoStatus.Status = status;
    irp.IoStatus.Information = info;
    IoCompleteRequest(k, irp, IO_NO_INCREMENT);
    return status;
  };
  expect(IoLoadDriver(k, 'Lower', (kk, drv) => {
    const dev = ref<DEVICE_OBJECT | null>(null);
    IoCreateDevice(kk, drv, 0, '\\Device\\Lower', FILE_DEVICE_UNKNOWN, 0, false, dev);
    device = dev.value!;
    drv.MajorFunction[IRP_MJ_DEVICE_CONTROL] = dispatch;
    drv.MajorFunction[IRP_MJ_INTERNAL_DEVICE_CONTROL] = dispatch;
    return STATUS_SUCCESS;
  })).toBe(STATUS_SUCCESS);
  const inBuf = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, poolTag('Test'))!;
  const outBuf = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 2 * PAGE_SIZE, poolTag('Test'))!;
  k.mm.system.write(inBuf, new Uint8Array([10, 20, 30, 40]));
  const baseline = () => ({ blocks: poolBlocksInUse(k), irps: k.io.irpsInFlight.size, locked: k.mm.counters().lockedPages });
  return { k, seen, queue, device: () => device, inBuf, outBuf, baseline };
}

const event = (k: Kernel) => {
  const e = new KEVENT();
  KeInitializeEvent(k, e, NotificationEvent, false);
  return e;
};

describe('IoBuildDeviceIoControlRequest', () => {
  it('builds a threaded KernelMode IRP for the device\'s StackSize with the next location set to the IOCTL', () => {
    const h = host();
    const iosb = { Status: 0, Information: 0 };
    const ev = event(h.k);
    const irp = IoBuildDeviceIoControlRequest(h.k, BUFFERED, h.device(), h.inBuf, 4, h.outBuf, 8, false, ev, iosb)!;
    expect(irp.StackCount).toBe(h.device().StackSize);
    expect(irp.CurrentLocation).toBe(irp.StackCount + 1);
    expect(irp.RequestorMode).toBe(KernelMode);
    expect([irp.UserIosb, irp.UserEvent]).toEqual([iosb, ev]);
    const next = IoGetNextIrpStackLocation(irp);
    expect(next.MajorFunction).toBe(IRP_MJ_DEVICE_CONTROL);
    expect(next.Parameters.DeviceIoControl).toMatchObject({ IoControlCode: BUFFERED, InputBufferLength: 4, OutputBufferLength: 8 });
    expect(irp.Flags & IRP_BUFFERED_IO).toBe(IRP_BUFFERED_IO);
    // As Wine's driver.c test_call_driver records for the IoBuild*FsdRequest packets on Windows:
    // not cancelled, no cancel routine, IoStatus zero, the caller's thread, the next location
    // without device, file object or completion routine, and the caller's IOSB not yet written.
    expect([irp.Cancel, irp.CancelRoutine, irp.IoStatus.Status, irp.IoStatus.Information]).toEqual([false, null, 0, 0]);
    expect(irp.Tail.Overlay.Thread).toBe(h.k.ps.current);
    expect([next.DeviceObject, next.FileObject, next.CompletionRoutine]).toEqual([null, null, null]);
    expect(iosb).toEqual({ Status: 0, Information: 0 });
    IoCallDriver(h.k, h.device(), irp);
    const internal = IoBuildDeviceIoControlRequest(h.k, BUFFERED, h.device(), null, 0, null, 0, true, null, { Status: 0, Information: 0 })!;
    expect(IoGetNextIrpStackLocation(internal).MajorFunction).toBe(IRP_MJ_INTERNAL_DEVICE_CONTROL);
    IoCallDriver(h.k, h.device(), internal);
  });

  it('METHOD_BUFFERED: a system buffer carries the input; on success the output is copied back, the IOSB set, the event signaled, the IRP freed', () => {
    const h = host();
    const before = h.baseline();
    const iosb = { Status: 0xdead, Information: 0xdead };
    const ev = event(h.k);
    const irp = IoBuildDeviceIoControlRequest(h.k, BUFFERED, h.device(), h.inBuf, 4, h.outBuf, 6, false, ev, iosb)!;
    expect(IoCallDriver(h.k, h.device(), irp)).toBe(STATUS_SUCCESS);
    expect(h.seen[0]).toMatchObject({ requestorMode: KernelMode, input: [10, 20, 30, 40], outLen: 6, inLen: 4 });
    expect(h.seen[0]!.systemBuffer).not.toBeNull();
    const out = new Uint8Array(6);
    h.k.mm.system.read(h.outBuf, out);
    expect(Array.from(out)).toEqual([11, 21, 31, 41, 1, 1]);
    expect(iosb).toEqual({ Status: STATUS_SUCCESS, Information: 6 });
    expect(KeReadStateEvent(h.k, ev)).toBe(1);
    expect(KeWaitForSingleObject(h.k, ev, Executive, KernelMode, false, null)).toBe(STATUS_SUCCESS);
    expect(h.baseline()).toEqual(before);
  });

  it('METHOD_IN_DIRECT / METHOD_OUT_DIRECT: the output buffer is an MDL probed and locked (write access for OUT_DIRECT), unlocked and freed at completion', () => {
    const h = host();
    const before = h.baseline();
    const iosb = { Status: 0, Information: 0 };
    const out = IoBuildDeviceIoControlRequest(h.k, OUT_DIRECT, h.device(), h.inBuf, 4, h.outBuf, 100, false, null, iosb)!;
    expect(out.MdlAddress!.MdlFlags & (MDL_PAGES_LOCKED | MDL_WRITE_OPERATION)).toBe(MDL_PAGES_LOCKED | MDL_WRITE_OPERATION);
    IoCallDriver(h.k, h.device(), out);
    const bytes = new Uint8Array(100);
    h.k.mm.system.read(h.outBuf, bytes);
    expect(bytes.every((b) => b === 0xab)).toBe(true);
    const inDirect = IoBuildDeviceIoControlRequest(h.k, IN_DIRECT, h.device(), h.inBuf, 4, h.outBuf, 100, false, null, iosb)!;
    expect(inDirect.MdlAddress!.MdlFlags & MDL_WRITE_OPERATION).toBe(0);
    IoCallDriver(h.k, h.device(), inDirect);
    expect(h.seen[1]!.input).toEqual([10, 20, 30, 40]);
    expect(h.baseline()).toEqual(before);
  });

  it('METHOD_NEITHER: Type3InputBuffer and UserBuffer are the caller\'s pointers, no system buffer, no MDL', () => {
    const h = host();
    const irp = IoBuildDeviceIoControlRequest(h.k, NEITHER, h.device(), h.inBuf, 4, h.outBuf, 8, false, null, { Status: 0, Information: 0 })!;
    IoCallDriver(h.k, h.device(), irp);
    expect(h.seen[0]).toMatchObject({ type3: h.inBuf, userBuffer: h.outBuf, systemBuffer: null, mdlFlags: null });
  });

  it('a failure that did not go pending leaves the IOSB as it was and the event unsignaled; IoCallDriver returns the status; nothing copied', () => {
    const h = host();
    const before = h.baseline();
    h.k.mm.system.write(h.outBuf, new Uint8Array(8).fill(0x77));
    const iosb = { Status: 0x1234, Information: 0x5678 };
    const ev = event(h.k);
    const irp = IoBuildDeviceIoControlRequest(h.k, TOO_SMALL, h.device(), h.inBuf, 4, h.outBuf, 8, false, ev, iosb)!;
    expect(IoCallDriver(h.k, h.device(), irp)).toBe(STATUS_BUFFER_TOO_SMALL);
    expect(iosb).toEqual({ Status: 0x1234, Information: 0x5678 });
    expect(KeReadStateEvent(h.k, ev)).toBe(0);
    const out = new Uint8Array(8);
    h.k.mm.system.read(h.outBuf, out);
    expect(out.every((b) => b === 0x77)).toBe(true);
    expect(h.baseline()).toEqual(before);
  });

  it('a pended request: IoCallDriver returns STATUS_PENDING; completion later sets the IOSB and signals the event', () => {
    const h = host();
    const before = h.baseline();
    const iosb = { Status: 0, Information: 0 };
    const ev = event(h.k);
    const irp = IoBuildDeviceIoControlRequest(h.k, PEND, h.device(), null, 0, null, 0, false, ev, iosb)!;
    expect(IoCallDriver(h.k, h.device(), irp)).toBe(STATUS_PENDING);
    expect(KeWaitForSingleObject(h.k, ev, Executive, KernelMode, false, ref(0))).toBe(0x102); // STATUS_TIMEOUT
    const q = h.queue.pop()!;
    q.IoStatus.Status = STATUS_BUFFER_TOO_SMALL; // even an error is reported once the request went pending
    IoCompleteRequest(h.k, q, IO_NO_INCREMENT);
    expect(KeWaitForSingleObject(h.k, ev, Executive, KernelMode, false, null)).toBe(STATUS_SUCCESS);
    expect(iosb.Status).toBe(STATUS_BUFFER_TOO_SMALL);
    expect(h.baseline()).toEqual(before);
  });

  it('an injected IRP or system-buffer allocation failure returns NULL with nothing kept', () => {
    const h = host();
    const before = h.baseline();
    h.k.faults.setPolicy({ kind: 'always' }, { sites: ['IoAllocateIrp'] });
    expect(IoBuildDeviceIoControlRequest(h.k, BUFFERED, h.device(), h.inBuf, 4, h.outBuf, 8, false, null, { Status: 0, Information: 0 }))
      .toBeNull();
    h.k.faults.setPolicy({ kind: 'always' }, { sites: ['ExAllocatePool2'] });
    expect(IoBuildDeviceIoControlRequest(h.k, BUFFERED, h.device(), h.inBuf, 4, h.outBuf, 8, false, null, { Status: 0, Information: 0 }))
      .toBeNull();
    h.k.faults.setPolicy({ kind: 'none' });
    expect(h.baseline()).toEqual(before);
  });

  it('an output buffer that cannot be probed (unmapped) makes the routine return NULL, nothing kept', () => {
    const h = host();
    const before = h.baseline();
    const gone = ExAllocatePool2(h.k, POOL_FLAG_NON_PAGED, 3 * PAGE_SIZE, poolTag('Gone'))!;
    ExFreePool(h.k, gone);
    const after = h.baseline();
    expect(IoBuildDeviceIoControlRequest(h.k, OUT_DIRECT, h.device(), null, 0, gone, 100, false, null, { Status: 0, Information: 0 }))
      .toBeNull();
    expect(h.baseline()).toEqual(after);
    void before;
  });

  it('above APC_LEVEL is IRQL_NOT_LESS_OR_EQUAL; at APC_LEVEL it works', () => {
    const h = host();
    h.k.irql = APC_LEVEL;
    const irp = IoBuildDeviceIoControlRequest(h.k, NEITHER, h.device(), null, 0, null, 0, false, null, { Status: 0, Information: 0 })!;
    expect(irp).not.toBeNull();
    h.k.irql = DISPATCH_LEVEL;
    expectBugCheck(() => IoBuildDeviceIoControlRequest(h.k, NEITHER, h.device(), null, 0, null, 0, false, null,
      { Status: 0, Information: 0 }), IRQL_NOT_LESS_OR_EQUAL);
  });

  it('IoFreeIrp on it is a driver bug (the I/O manager owns the IRP): recorded as an I/O finding', () => {
    const h = host();
    const irp = IoBuildDeviceIoControlRequest(h.k, NEITHER, h.device(), null, 0, null, 0, false, null, { Status: 0, Information: 0 })!;
    IoFreeIrp(h.k, irp);
    expect(h.k.io.findings.some((f) => /I\/O manager owns/.test(f.message))).toBe(true);
  });
});
