/**
 * A sample driver that exercises every IRP path and buffering method of the I/O manager and
 * records what it saw, so tests can check the I/O manager's side of each contract.
 *
 * One device per load, "\Device\<name>" with DOS name "\DosDevices\<name>", using the
 * READ/WRITE buffering method chosen at load (DO_BUFFERED_IO, DO_DIRECT_IO or neither).
 * Reads and writes go to a 64 KiB "device memory". IOCTLs (device type 0x8000):
 *   ECHO (BUFFERED): output = input; output shorter than input → STATUS_BUFFER_OVERFLOW with
 *     the bytes that fit; NEED16 (BUFFERED): output < 16 → STATUS_BUFFER_TOO_SMALL;
 *   IN_DIRECT: the device reads the MDL buffer into device memory;
 *   OUT_DIRECT: the device fills the MDL buffer with (input[0] + i) & 0xff;
 *   NEITHER: probes Type3InputBuffer / UserBuffer itself and copies input to output;
 *   PEND (BUFFERED): queued with a cancel routine; `completeQueued` finishes it later;
 *   READ_ACCESS / WRITE_ACCESS: FILE_READ_ACCESS / FILE_WRITE_ACCESS codes that just succeed;
 *   COMPLETE_TWICE, OVERREPORT, LEAVE_IRQL_RAISED: deliberate driver bugs.
 */
import type { Kernel } from '../../src/kernel/kernel.ts';
import { ref } from '../../src/kernel/ref.ts';
import { KeRaiseIrql } from '../../src/kernel/irql.ts';
import { NtStatusError, STATUS_ACCESS_VIOLATION, STATUS_BUFFER_OVERFLOW, STATUS_BUFFER_TOO_SMALL, STATUS_CANCELLED,
  STATUS_INVALID_DEVICE_REQUEST, STATUS_PENDING, STATUS_SUCCESS, type NTSTATUS } from '../../src/kernel/status.ts';
import { MDL_PAGES_LOCKED, MmGetMdlPfnArray, type Mdl } from '../../src/kernel/mm/mdl.ts';
import { MmGetSystemAddressForMdlSafe, NormalPagePriority } from '../../src/kernel/mm/mdl-mapping.ts';
import {
  CTL_CODE, DO_BUFFERED_IO, DO_DIRECT_IO, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, FILE_READ_ACCESS, FILE_WRITE_ACCESS,
  IO_NO_INCREMENT, IoCompleteRequest, IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice, IoDeleteSymbolicLink,
  IoGetCurrentIrpStackLocation, IoMarkIrpPending, IoReleaseCancelSpinLock, IoSetCancelRoutine, IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ, IRP_MJ_WRITE, METHOD_BUFFERED, METHOD_IN_DIRECT,
  METHOD_NEITHER, METHOD_OUT_DIRECT, ProbeForRead, ProbeForWrite,
  type DEVICE_OBJECT, type DRIVER_OBJECT, type IRP, type PDRIVER_INITIALIZE,
} from '../../src/kernel/io/index.ts';

const DEV = 0x8000;
export const IOCTL_ECHO = CTL_CODE(DEV, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);
export const IOCTL_NEED16 = CTL_CODE(DEV, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS);
export const IOCTL_IN_DIRECT = CTL_CODE(DEV, 0x802, METHOD_IN_DIRECT, FILE_ANY_ACCESS);
export const IOCTL_OUT_DIRECT = CTL_CODE(DEV, 0x803, METHOD_OUT_DIRECT, FILE_ANY_ACCESS);
export const IOCTL_NEITHER = CTL_CODE(DEV, 0x804, METHOD_NEITHER, FILE_ANY_ACCESS);
export const IOCTL_PEND = CTL_CODE(DEV, 0x805, METHOD_BUFFERED, FILE_ANY_ACCESS);
export const IOCTL_READ_ACCESS = CTL_CODE(DEV, 0x806, METHOD_BUFFERED, FILE_READ_ACCESS);
export const IOCTL_WRITE_ACCESS = CTL_CODE(DEV, 0x807, METHOD_BUFFERED, FILE_WRITE_ACCESS);
export const IOCTL_COMPLETE_TWICE = CTL_CODE(DEV, 0x808, METHOD_BUFFERED, FILE_ANY_ACCESS);
export const IOCTL_OVERREPORT = CTL_CODE(DEV, 0x809, METHOD_BUFFERED, FILE_ANY_ACCESS);
export const IOCTL_LEAVE_IRQL_RAISED = CTL_CODE(DEV, 0x80a, METHOD_BUFFERED, FILE_ANY_ACCESS);
export const IOCTL_PEND_DIRECT = CTL_CODE(DEV, 0x80b, METHOD_OUT_DIRECT, FILE_ANY_ACCESS);
export const IOCTL_UNKNOWN = CTL_CODE(DEV, 0xfff, METHOD_BUFFERED, FILE_ANY_ACCESS);

/** What the driver saw in one IRP. */
export interface Seen {
  major: number;
  irql: number;
  currentDriver: string | null;
  processId: number;
  fileName: string;
  ioControlCode?: number;
  inputLength?: number;
  outputLength?: number;
  length?: number;
  byteOffset?: number;
  systemBuffer: number | null;
  /** Bytes of the system buffer on arrival (input length for IOCTLs, Length for writes). */
  systemBufferBytes?: Uint8Array;
  /** Size of the pool block behind SystemBuffer, while the driver holds the IRP. */
  systemBufferPoolBytes?: number;
  mdl: { present: boolean; locked: boolean; byteCount: number; pages: number; pfnsFilled: boolean } | null;
  userBuffer: number | null;
  type3InputBuffer: number | null;
}

export interface SampleDriver {
  readonly name: string;
  driverObject: DRIVER_OBJECT | null;
  device: DEVICE_OBJECT | null;
  readonly seen: Seen[];
  readonly memory: Uint8Array;
  readonly queue: IRP[];
  /** Complete queued IRP `i` (DPC-like, from whatever context the test is in). */
  completeQueued(i: number, status: NTSTATUS, fill: number, information: number): void;
  /** Register no DriverUnload (a driver that cannot be stopped). */
  noUnload: boolean;
  /** Fail IRP_MJ_CREATE with this status when set. */
  failCreate: NTSTATUS | null;
  /** On IRP_MJ_CLEANUP cancel queued IRPs of the file (true) or leave them (false). */
  cancelOnCleanup: boolean;
  entry: PDRIVER_INITIALIZE;
}

export function sampleDriver(name: string, method: 'buffered' | 'direct' | 'neither'): SampleDriver {
  const d: SampleDriver = {
    name,
    driverObject: null,
    device: null,
    seen: [],
    memory: new Uint8Array(65536),
    queue: [],
    noUnload: false,
    failCreate: null,
    cancelOnCleanup: true,
    completeQueued: () => undefined,
    entry: () => STATUS_SUCCESS,
  };
  let kernel: Kernel;

  const complete = (irp: IRP, status: NTSTATUS, information: number): NTSTATUS => {
    irp.IoStatus.Status = status;
    irp.IoStatus.Information = information;
    IoCompleteRequest(kernel, irp, IO_NO_INCREMENT);
    return status;
  };

  const mdlInfo = (mdl: Mdl | null): Seen['mdl'] =>
    mdl === null ? null : {
      present: true,
      locked: (mdl.MdlFlags & MDL_PAGES_LOCKED) !== 0,
      byteCount: mdl.ByteCount,
      pages: MmGetMdlPfnArray(mdl).length,
      pfnsFilled: Array.from(MmGetMdlPfnArray(mdl)).every((p) => p > 0),
    };

  const record = (irp: IRP): Seen => {
    const sl = IoGetCurrentIrpStackLocation(irp);
    const s: Seen = {
      major: sl.MajorFunction,
      irql: kernel.irql,
      currentDriver: kernel.currentDriver,
      processId: kernel.ps.current.ProcessId,
      fileName: sl.FileObject?.FileName ?? '',
      systemBuffer: irp.AssociatedIrp.SystemBuffer,
      mdl: mdlInfo(irp.MdlAddress),
      userBuffer: irp.UserBuffer,
      type3InputBuffer: null,
    };
    d.seen.push(s);
    return s;
  };

  const readSystem = (va: number, n: number): Uint8Array => {
    const b = new Uint8Array(n);
    if (n > 0) kernel.mm.system.read(va, b);
    return b;
  };

  const cancelRoutine = (_dev: DEVICE_OBJECT, irp: IRP): void => {
    const i = d.queue.indexOf(irp);
    if (i >= 0) d.queue.splice(i, 1);
    IoReleaseCancelSpinLock(kernel, irp.CancelIrql);
    complete(irp, STATUS_CANCELLED, 0);
  };

  d.completeQueued = (i, status, fill, information) => {
    const irp = d.queue[i];
    if (!irp) throw new Error(`no queued IRP ${i}`);
    if (IoSetCancelRoutine(irp, null) === null) return; // being cancelled
    d.queue.splice(i, 1);
    const sl = IoGetCurrentIrpStackLocation(irp);
    const out = sl.Parameters.DeviceIoControl.OutputBufferLength;
    if (irp.AssociatedIrp.SystemBuffer !== null && out > 0) kernel.mm.system.write(irp.AssociatedIrp.SystemBuffer, new Uint8Array(out).fill(fill));
    if (irp.MdlAddress) {
      const va = MmGetSystemAddressForMdlSafe(kernel, irp.MdlAddress, NormalPagePriority);
      if (va !== null) kernel.mm.system.write(va, new Uint8Array(irp.MdlAddress.ByteCount).fill(fill));
    }
    complete(irp, status, information);
  };

  const dispatchCreate = (_dev: DEVICE_OBJECT, irp: IRP): NTSTATUS => {
    record(irp);
    return complete(irp, d.failCreate ?? STATUS_SUCCESS, 0);
  };
  const dispatchCloseOrCleanup = (_dev: DEVICE_OBJECT, irp: IRP): NTSTATUS => {
    const s = record(irp);
    if (s.major === IRP_MJ_CLEANUP && d.cancelOnCleanup) {
      const fo = IoGetCurrentIrpStackLocation(irp).FileObject;
      for (const q of [...d.queue]) {
        if (IoGetCurrentIrpStackLocation(q).FileObject !== fo) continue;
        if (IoSetCancelRoutine(q, null) === null) continue;
        d.queue.splice(d.queue.indexOf(q), 1);
        complete(q, STATUS_CANCELLED, 0);
      }
    }
    return complete(irp, STATUS_SUCCESS, 0);
  };

  const dispatchReadWrite = (_dev: DEVICE_OBJECT, irp: IRP): NTSTATUS => {
    const s = record(irp);
    const sl = IoGetCurrentIrpStackLocation(irp);
    const isRead = sl.MajorFunction === IRP_MJ_READ;
    const p = isRead ? sl.Parameters.Read : sl.Parameters.Write;
    s.length = p.Length;
    s.byteOffset = p.ByteOffset;
    const off = p.ByteOffset % d.memory.length;
    const n = Math.min(p.Length, d.memory.length - off);
    if (!isRead && irp.AssociatedIrp.SystemBuffer !== null) s.systemBufferBytes = readSystem(irp.AssociatedIrp.SystemBuffer, p.Length);
    try {
      if (method === 'buffered') {
        if (n > 0) {
          if (isRead) kernel.mm.system.write(irp.AssociatedIrp.SystemBuffer!, d.memory.subarray(off, off + n));
          else d.memory.set(readSystem(irp.AssociatedIrp.SystemBuffer!, n), off);
        }
      } else if (method === 'direct') {
        if (n > 0) {
          const va = MmGetSystemAddressForMdlSafe(kernel, irp.MdlAddress!, NormalPagePriority);
          if (va === null) return complete(irp, 0xc000009a, 0);
          if (isRead) kernel.mm.system.write(va, d.memory.subarray(off, off + n));
          else d.memory.set(readSystem(va, n), off);
        }
      } else if (n > 0) {
        // Neither: the user address in the caller's context; probe first.
        const ub = irp.UserBuffer!;
        if (isRead) {
          ProbeForWrite(kernel, ub, n, 1);
          kernel.ps.current.writeMemory(ub, d.memory.subarray(off, off + n));
        } else {
          ProbeForRead(kernel, ub, n, 1);
          const b = new Uint8Array(n);
          kernel.ps.current.readMemory(ub, b);
          d.memory.set(b, off);
        }
      }
    } catch (e) {
      if (e instanceof NtStatusError) return complete(irp, e.status, 0);
      throw e;
    }
    return complete(irp, STATUS_SUCCESS, n);
  };

  const dispatchIoctl = (_dev: DEVICE_OBJECT, irp: IRP): NTSTATUS => {
    const s = record(irp);
    const sl = IoGetCurrentIrpStackLocation(irp);
    const pr = sl.Parameters.DeviceIoControl;
    s.ioControlCode = pr.IoControlCode;
    s.inputLength = pr.InputBufferLength;
    s.outputLength = pr.OutputBufferLength;
    s.type3InputBuffer = pr.Type3InputBuffer;
    const sys = irp.AssociatedIrp.SystemBuffer;
    if (sys !== null) {
      s.systemBufferBytes = readSystem(sys, pr.InputBufferLength);
      s.systemBufferPoolBytes = kernel.mm.pool.blockAt(sys)?.bytes ?? -1;
    }
    const inLen = pr.InputBufferLength;
    const outLen = pr.OutputBufferLength;
    switch (pr.IoControlCode) {
      case IOCTL_ECHO: {
        const n = Math.min(inLen, outLen);
        // In and out share the one system buffer: the input already sits where the output goes.
        return complete(irp, outLen < inLen ? STATUS_BUFFER_OVERFLOW : STATUS_SUCCESS, n);
      }
      case IOCTL_NEED16:
        if (outLen < 16) return complete(irp, STATUS_BUFFER_TOO_SMALL, 0);
        kernel.mm.system.write(sys!, new Uint8Array(16).fill(0x16));
        return complete(irp, STATUS_SUCCESS, 16);
      case IOCTL_IN_DIRECT: {
        if (!irp.MdlAddress) return complete(irp, STATUS_SUCCESS, 0);
        const va = MmGetSystemAddressForMdlSafe(kernel, irp.MdlAddress, NormalPagePriority);
        if (va === null) return complete(irp, 0xc000009a, 0);
        d.memory.set(readSystem(va, irp.MdlAddress.ByteCount), 0);
        return complete(irp, STATUS_SUCCESS, 0);
      }
      case IOCTL_OUT_DIRECT: {
        if (!irp.MdlAddress) return complete(irp, STATUS_SUCCESS, 0);
        const seed = s.systemBufferBytes && s.systemBufferBytes.length > 0 ? s.systemBufferBytes[0]! : 0;
        const va = MmGetSystemAddressForMdlSafe(kernel, irp.MdlAddress, NormalPagePriority);
        if (va === null) return complete(irp, 0xc000009a, 0);
        const b = new Uint8Array(irp.MdlAddress.ByteCount);
        for (let i = 0; i < b.length; i++) b[i] = (seed + i) & 0xff;
        kernel.mm.system.write(va, b);
        return complete(irp, STATUS_SUCCESS, b.length);
      }
      case IOCTL_NEITHER: {
        try {
          ProbeForRead(kernel, pr.Type3InputBuffer ?? 0, inLen, 1);
          ProbeForWrite(kernel, irp.UserBuffer ?? 0, outLen, 1);
          const n = Math.min(inLen, outLen);
          const b = new Uint8Array(n);
          if (n > 0) {
            kernel.ps.current.readMemory(pr.Type3InputBuffer!, b);
            kernel.ps.current.writeMemory(irp.UserBuffer!, b);
          }
          return complete(irp, STATUS_SUCCESS, n);
        } catch (e) {
          if (e instanceof NtStatusError) return complete(irp, e.status, 0);
          throw e;
        }
      }
      case IOCTL_PEND:
      case IOCTL_PEND_DIRECT:
        IoMarkIrpPending(irp);
        IoSetCancelRoutine(irp, cancelRoutine);
        d.queue.push(irp);
        return STATUS_PENDING;
      case IOCTL_READ_ACCESS:
      case IOCTL_WRITE_ACCESS:
        return complete(irp, STATUS_SUCCESS, 0);
      case IOCTL_COMPLETE_TWICE:
        complete(irp, STATUS_SUCCESS, 0);
        return complete(irp, STATUS_SUCCESS, 0);
      case IOCTL_OVERREPORT:
        return complete(irp, STATUS_SUCCESS, outLen + 100);
      case IOCTL_LEAVE_IRQL_RAISED:
        KeRaiseIrql(kernel, 2);
        return complete(irp, STATUS_SUCCESS, 0);
      default:
        return complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
    }
  };

  d.entry = (k, DriverObject) => {
    kernel = k;
    d.driverObject = DriverObject;
    const dev = ref<DEVICE_OBJECT | null>(null);
    const status = IoCreateDevice(k, DriverObject, 32, `\\Device\\${name}`, FILE_DEVICE_UNKNOWN, 0, false, dev);
    if (status !== STATUS_SUCCESS) return status;
    d.device = dev.value!;
    d.device.Flags |= method === 'buffered' ? DO_BUFFERED_IO : method === 'direct' ? DO_DIRECT_IO : 0;
    const link = IoCreateSymbolicLink(k, `\\DosDevices\\${name}`, `\\Device\\${name}`);
    if (link !== STATUS_SUCCESS) {
      IoDeleteDevice(k, d.device);
      return link;
    }
    DriverObject.MajorFunction[IRP_MJ_CREATE] = dispatchCreate;
    DriverObject.MajorFunction[IRP_MJ_CLOSE] = dispatchCloseOrCleanup;
    DriverObject.MajorFunction[IRP_MJ_CLEANUP] = dispatchCloseOrCleanup;
    DriverObject.MajorFunction[IRP_MJ_READ] = dispatchReadWrite;
    DriverObject.MajorFunction[IRP_MJ_WRITE] = dispatchReadWrite;
    DriverObject.MajorFunction[IRP_MJ_DEVICE_CONTROL] = dispatchIoctl;
    if (!d.noUnload) {
      DriverObject.DriverUnload = (drv) => {
        IoDeleteSymbolicLink(k, `\\DosDevices\\${name}`);
        if (drv.DeviceObject) IoDeleteDevice(k, drv.DeviceObject);
      };
    }
    return STATUS_SUCCESS;
  };
  void STATUS_ACCESS_VIOLATION;
  return d;
}
