/**
 * IoCallDriver between drivers, completion routines and the stack-location macros.
 * Sources: WDK "IoCallDriver function (wdm.h)", "IoSetCompletionRoutine function (wdm.h)",
 * "IoSetCompletionRoutineEx function (wdm.h)", "IoGetNextIrpStackLocation", "IoSkipCurrentIrpStackLocation",
 * "IoCopyCurrentIrpStackLocationToNext", "IoCompleteRequest", kernel "Implementing an IoCompletion Routine"
 * (STATUS_MORE_PROCESSING_REQUIRED: the IRP is the routine's again; "if (Irp->PendingReturned)
 * IoMarkIrpPending(Irp)"), "Bug Check 0x35 NO_MORE_IRP_STACK_LOCATIONS";
 * Wine dlls/ntoskrnl.exe/tests/driver.c test_irp_struct (completion routine on a fresh IoAllocateIrp(1)
 * IRP after --CurrentLocation: the routine runs and CurrentLocation is 2 afterwards).
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MIB } from '../../src/bus/index.ts';
import {
  CloseHandle, CreateFile, CTL_CODE, DeviceIoControl, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, GENERIC_READ, IO_NO_INCREMENT, IoAllocateIrp,
  IoCallDriver, IoCompleteRequest, IoCopyCurrentIrpStackLocationToNext, IoCreateDevice, IoCreateSymbolicLink, IoFreeIrp,
  IoGetCurrentIrpStackLocation, IoGetNextIrpStackLocation, IoLoadDriver, IoMarkIrpPending, IoSetCompletionRoutine,
  IoSetCompletionRoutineEx, IoSetNextIrpStackLocation, IoSkipCurrentIrpStackLocation, IRP_MJ_CLOSE, IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL, METHOD_BUFFERED, OPEN_EXISTING, SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS,
  type DEVICE_OBJECT, type DRIVER_OBJECT, type IRP,
} from '../../src/kernel/io/index.ts';
import {
  STATUS_ACCESS_VIOLATION, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_DEVICE_REQUEST, STATUS_MORE_PROCESSING_REQUIRED,
  STATUS_PENDING, STATUS_SUCCESS, STATUS_UNSUCCESSFUL, type NTSTATUS,
} from '../../src/kernel/status.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/virtual-memory.ts';
import { ref } from '../../src/kernel/ref.ts';
import { poolTag } from '../../src/kernel/mm/pool.ts';
import { bugCheckOf } from '../bug-check.ts';
import { poolBlocksInUse } from './helpers.ts';

const IOCTL_WORK = CTL_CODE(0x8000, 0x900, METHOD_BUFFERED, FILE_ANY_ACCESS);

interface Lower {
  device: DEVICE_OBJECT;
  /** What the lower driver does with the next IRP. */
  mode: 'complete' | 'fail' | 'pend';
  seen: { currentLocation: number; code: number; device: DEVICE_OBJECT | null; argument: unknown }[];
  queue: IRP[];
}

/** A host with a lower driver that completes, fails or pends IOCTLs. */
function host(): { k: Kernel; lower: Lower } {
  const k = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false });
  const lower = { mode: 'complete', seen: [], queue: [] } as unknown as Lower;
  expect(IoLoadDriver(k, 'Lower', (kk, drv) => {
    const dev = ref<DEVICE_OBJECT | null>(null);
    expect(IoCreateDevice(kk, drv, 0, '\\Device\\Lower', FILE_DEVICE_UNKNOWN, 0, false, dev)).toBe(STATUS_SUCCESS);
    lower.device = dev.value!;
    drv.MajorFunction[IRP_MJ_DEVICE_CONTROL] = (d, irp) => {
      const sl = IoGetCurrentIrpStackLocation(irp);
      lower.seen.push({ currentLocation: irp.CurrentLocation, code: sl.Parameters.DeviceIoControl.IoControlCode, device: sl.DeviceObject,
        argument: sl.Parameters.Others.Argument1 });
      void d;
      if (lower.mode === 'pend') {
        IoMarkIrpPending(irp);
        lower.queue.push(irp);
        return STATUS_PENDING;
      }
      const status = lower.mode === 'complete' ? STATUS_SUCCESS : STATUS_UNSUCCESSFUL;
      irp.IoStatus.Status = status;
      irp.IoStatus.Information = lower.mode === 'complete' ? 7 : 0;
      IoCompleteRequest(kk, irp, IO_NO_INCREMENT);
      return status;
    };
    drv.DriverUnload = () => {};
    return STATUS_SUCCESS;
  })).toBe(STATUS_SUCCESS);
  return { k, lower };
}

/** Run `fn` as driver `name`'s code (k.currentDriver), as an upper driver's thread would. */
function asDriver<T>(k: Kernel, name: string, fn: () => T): T {
  const saved = k.currentDriver;
  k.currentDriver = name;
  try {
    return fn();
  } finally {
    k.currentDriver = saved;
  }
}

/** An IRP from IoAllocateIrp for the lower device, its next location set up as an IOCTL. */
function driverIrp(k: Kernel, lower: Lower): IRP {
  const irp = IoAllocateIrp(k, lower.device.StackSize, false)!;
  const next = IoGetNextIrpStackLocation(irp);
  next.MajorFunction = IRP_MJ_DEVICE_CONTROL;
  next.Parameters.DeviceIoControl.IoControlCode = IOCTL_WORK;
  next.Parameters.Others.Argument1 = 'payload';
  return irp;
}

describe('IoCallDriver with an IRP from IoAllocateIrp', () => {
  it('the lower driver sees its location (CurrentLocation 1, DeviceObject set); a routine returning MORE_PROCESSING_REQUIRED gets the IRP back', () => {
    const { k, lower } = host();
    const blocks = poolBlocksInUse(k);
    const calls: { device: DEVICE_OBJECT | null; status: number; info: number; location: number; context: unknown }[] = [];
    const irp = driverIrp(k, lower);
    IoSetCompletionRoutine(irp, (device, i, context) => {
      calls.push({ device, status: i.IoStatus.Status, info: i.IoStatus.Information, location: i.CurrentLocation, context });
      return STATUS_MORE_PROCESSING_REQUIRED;
    }, 'ctx', true, true, true);
    expect(IoGetNextIrpStackLocation(irp).Control).toBe(SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_CANCEL);
    expect(IoCallDriver(k, lower.device, irp)).toBe(STATUS_SUCCESS);
    expect(lower.seen[0]).toEqual({ currentLocation: 1, code: IOCTL_WORK, device: lower.device, argument: 'payload' });
    // The top location's routine gets DeviceObject NULL (no location above it); CurrentLocation is StackCount + 1.
    expect(calls).toEqual([{ device: null, status: STATUS_SUCCESS, info: 7, location: 2, context: 'ctx' }]);
    expect(irp.CurrentLocation).toBe(irp.StackCount + 1);
    IoFreeIrp(k, irp);
    expect(poolBlocksInUse(k)).toBe(blocks);
  });

  it('IoSetNextIrpStackLocation then IoCompleteRequest on a fresh IoAllocateIrp(1) runs the routine; CurrentLocation is 2 after (Wine driver.c)', () => {
    const { k } = host();
    const irp = IoAllocateIrp(k, 1, false)!;
    let ran = false;
    IoSetCompletionRoutine(irp, () => {
      ran = true;
      return STATUS_MORE_PROCESSING_REQUIRED;
    }, null, true, true, true);
    IoSetNextIrpStackLocation(irp);
    expect(irp.CurrentLocation).toBe(1);
    IoCompleteRequest(k, irp, IO_NO_INCREMENT);
    expect(ran).toBe(true);
    expect(irp.CurrentLocation).toBe(2);
    IoFreeIrp(k, irp);
  });

  it('the routine runs only for the outcomes it asked for (InvokeOnError only: called on failure)', () => {
    const { k, lower } = host();
    lower.mode = 'fail';
    const irp = driverIrp(k, lower);
    const seen: number[] = [];
    IoSetCompletionRoutine(irp, (_d, i) => {
      seen.push(i.IoStatus.Status);
      return STATUS_MORE_PROCESSING_REQUIRED;
    }, null, false, true, false);
    expect(IoCallDriver(k, lower.device, irp)).toBe(STATUS_UNSUCCESSFUL);
    expect(seen).toEqual([STATUS_UNSUCCESSFUL]);
    IoFreeIrp(k, irp);
  });

  it('an IoAllocateIrp IRP that no routine takes back reaches the I/O manager with UserIosb NULL: the write faults (0x1E in the completing driver)', () => {
    const { k, lower } = host();
    const irp = driverIrp(k, lower);
    IoSetCompletionRoutine(irp, () => STATUS_MORE_PROCESSING_REQUIRED, null, false, true, false); // not on success
    const stop = bugCheckOf(() => IoCallDriver(k, lower.device, irp));
    expect(stop.code).toBe(0x1e);
    expect(stop.parameters[0]).toBe(STATUS_ACCESS_VIOLATION);
  });

  it('a pended IRP: IoCallDriver returns STATUS_PENDING; the routine runs when the lower driver completes it, with PendingReturned TRUE', () => {
    const { k, lower } = host();
    lower.mode = 'pend';
    const irp = driverIrp(k, lower);
    const pending: boolean[] = [];
    IoSetCompletionRoutine(irp, (_d, i) => {
      pending.push(i.PendingReturned);
      return STATUS_MORE_PROCESSING_REQUIRED;
    }, null, true, true, true);
    expect(IoCallDriver(k, lower.device, irp)).toBe(STATUS_PENDING);
    expect(pending).toEqual([]);
    const q = lower.queue.pop()!;
    q.IoStatus.Status = STATUS_SUCCESS;
    IoCompleteRequest(k, q, IO_NO_INCREMENT);
    expect(pending).toEqual([true]);
    IoFreeIrp(k, irp);
  });

  it('no stack location left is NO_MORE_IRP_STACK_LOCATIONS (0x35) with P1 the IRP', () => {
    const { k, lower } = host();
    const irp = driverIrp(k, lower);
    IoSetNextIrpStackLocation(irp); // now CurrentLocation 1: nothing below
    const stop = bugCheckOf(() => IoCallDriver(k, lower.device, irp));
    expect(stop.code).toBe(0x35);
    expect(stop.parameters[0]).toBe(irp.address);
  });
});

describe('IoSetCompletionRoutineEx', () => {
  it('allocates its context block (nonpaged, "IoCx") until the routine runs; an injected failure is STATUS_INSUFFICIENT_RESOURCES with nothing set', () => {
    const { k, lower } = host();
    const blocks = poolBlocksInUse(k);
    const irp = driverIrp(k, lower);
    k.faults.setPolicy({ kind: 'always' }, { sites: ['IoSetCompletionRoutineEx'] });
    expect(IoSetCompletionRoutineEx(k, lower.device, irp, () => STATUS_MORE_PROCESSING_REQUIRED, null, true, true, true))
      .toBe(STATUS_INSUFFICIENT_RESOURCES);
    expect(IoGetNextIrpStackLocation(irp).CompletionRoutine).toBeNull();
    expect(poolBlocksInUse(k)).toBe(blocks + 1);
    k.faults.setPolicy({ kind: 'none' });
    let ran = 0;
    expect(IoSetCompletionRoutineEx(k, lower.device, irp, () => {
      ran++;
      return STATUS_MORE_PROCESSING_REQUIRED;
    }, null, true, true, true)).toBe(STATUS_SUCCESS);
    expect(k.mm.pool.outstanding().some((b) => b.tag === poolTag('IoCx'))).toBe(true);
    IoCallDriver(k, lower.device, irp);
    expect(ran).toBe(1);
    expect(k.mm.pool.outstanding().some((b) => b.tag === poolTag('IoCx'))).toBe(false);
    IoFreeIrp(k, irp);
    expect(poolBlocksInUse(k)).toBe(blocks);
  });
});

describe('a two-driver stack under a user request', () => {
  /** An upper driver whose device forwards IOCTLs to the lower one, by `how`. */
  function stack(how: 'copy' | 'skip' | 'sync') {
    const { k, lower } = host();
    const routineSaw: { device: DEVICE_OBJECT | null; pendingReturned: boolean; status: number }[] = [];
    let upper!: DEVICE_OBJECT;
    expect(IoLoadDriver(k, 'Upper', (kk, drv: DRIVER_OBJECT) => {
      const dev = ref<DEVICE_OBJECT | null>(null);
      IoCreateDevice(kk, drv, 0, '\\Device\\Upper', FILE_DEVICE_UNKNOWN, 0, false, dev);
      upper = dev.value!;
      upper.StackSize = lower.device.StackSize + 1;
      IoCreateSymbolicLink(kk, '\\DosDevices\\Upper', '\\Device\\Upper');
      const ok = (_d: DEVICE_OBJECT, irp: IRP): NTSTATUS => {
        irp.IoStatus.Status = STATUS_SUCCESS;
        IoCompleteRequest(kk, irp, IO_NO_INCREMENT);
        return STATUS_SUCCESS;
      };
      drv.MajorFunction[IRP_MJ_CREATE] = ok;
      drv.MajorFunction[IRP_MJ_CLOSE] = ok;
      drv.MajorFunction[IRP_MJ_DEVICE_CONTROL] = (_d, irp) => {
        if (how === 'skip') {
          IoSkipCurrentIrpStackLocation(irp);
          return IoCallDriver(kk, lower.device, irp);
        }
        IoCopyCurrentIrpStackLocationToNext(irp);
        IoSetCompletionRoutine(irp, (device, i) => {
          routineSaw.push({ device, pendingReturned: i.PendingReturned, status: i.IoStatus.Status });
          if (how === 'sync') return STATUS_MORE_PROCESSING_REQUIRED;
          if (i.PendingReturned) IoMarkIrpPending(i);
          return STATUS_SUCCESS;
        }, null, true, true, true);
        const status = IoCallDriver(kk, lower.device, irp);
        if (how === 'sync' && status !== STATUS_PENDING) {
          // The routine kept the IRP: finish it here (the synchronous forward pattern).
          const final = irp.IoStatus.Status;
          IoCompleteRequest(kk, irp, IO_NO_INCREMENT);
          return final;
        }
        return status;
      };
      drv.DriverUnload = () => {};
      return STATUS_SUCCESS;
    })).toBe(STATUS_SUCCESS);
    const app = k.ps.createProcess('app.exe');
    const buf = app.VirtualAlloc(0, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const run = <T>(fn: () => T): T => k.ps.runInProcess(app, fn);
    const h = run(() => CreateFile(k, '\\\\.\\Upper', GENERIC_READ, 0, null, OPEN_EXISTING, 0, null));
    return { k, lower, upper, routineSaw, run, h, buf };
  }

  it('IoCopyCurrentIrpStackLocationToNext: the lower driver sees the same code at location 1; the upper routine gets the upper device', () => {
    const s = stack('copy');
    const n = ref(0);
    expect(s.run(() => DeviceIoControl(s.k, s.h, IOCTL_WORK, s.buf, 4, s.buf, 16, n, null))).toBe(true);
    expect(s.lower.seen[0]).toMatchObject({ currentLocation: 1, code: IOCTL_WORK, device: s.lower.device });
    expect(s.routineSaw).toEqual([{ device: s.upper, pendingReturned: false, status: STATUS_SUCCESS }]);
    expect(n.value).toBe(7);
    s.run(() => CloseHandle(s.k, s.h));
    expect(s.k.io.irpsInFlight.size).toBe(0);
  });

  it('IoSkipCurrentIrpStackLocation: the lower driver gets the upper location itself (location 2 is reused, CurrentLocation 2 on arrival)', () => {
    const s = stack('skip');
    const n = ref(0);
    expect(s.run(() => DeviceIoControl(s.k, s.h, IOCTL_WORK, s.buf, 4, s.buf, 16, n, null))).toBe(true);
    expect(s.lower.seen[0]).toMatchObject({ currentLocation: 2, code: IOCTL_WORK, device: s.lower.device });
    expect(s.routineSaw).toEqual([]);
  });

  it('a routine returning MORE_PROCESSING_REQUIRED stops completion; the upper driver completes the IRP again and the request finishes', () => {
    const s = stack('sync');
    s.lower.mode = 'fail';
    const n = ref(0);
    expect(s.run(() => DeviceIoControl(s.k, s.h, IOCTL_WORK, s.buf, 4, s.buf, 16, n, null))).toBe(false);
    expect(s.routineSaw).toEqual([{ device: s.upper, pendingReturned: false, status: STATUS_UNSUCCESSFUL }]);
    s.run(() => CloseHandle(s.k, s.h));
    expect(s.k.io.irpsInFlight.size).toBe(0);
  });

  it('pending below propagates: the routine sees PendingReturned and marks the upper location pending', () => {
    const s = stack('copy');
    s.lower.mode = 'pend';
    // A synchronous user request cannot wait here (the model has one thread), so a driver's own
    // IRP goes through the upper device instead.
    const irp = IoAllocateIrp(s.k, s.upper.StackSize, false)!;
    const next = IoGetNextIrpStackLocation(irp);
    next.MajorFunction = IRP_MJ_DEVICE_CONTROL;
    next.Parameters.DeviceIoControl.IoControlCode = IOCTL_WORK;
    let back = false;
    IoSetCompletionRoutine(irp, () => {
      back = true;
      return STATUS_MORE_PROCESSING_REQUIRED;
    }, null, true, true, true);
    expect(asDriver(s.k, 'Lower', () => IoCallDriver(s.k, s.upper, irp))).toBe(STATUS_PENDING);
    const q = s.lower.queue.pop()!;
    q.IoStatus.Status = STATUS_SUCCESS;
    IoCompleteRequest(s.k, q, IO_NO_INCREMENT);
    expect(s.routineSaw).toEqual([{ device: s.upper, pendingReturned: true, status: STATUS_SUCCESS }]);
    expect(back).toBe(true);
    IoFreeIrp(s.k, irp);
  });

  it('an IRP for a function the lower driver does not handle completes with STATUS_INVALID_DEVICE_REQUEST', () => {
    const { k, lower } = host();
    const irp = IoAllocateIrp(k, 1, false)!;
    IoGetNextIrpStackLocation(irp).MajorFunction = 0x05;
    IoSetCompletionRoutine(irp, () => STATUS_MORE_PROCESSING_REQUIRED, null, true, true, true);
    expect(IoCallDriver(k, lower.device, irp)).toBe(STATUS_INVALID_DEVICE_REQUEST);
    expect(irp.IoStatus.Status).toBe(STATUS_INVALID_DEVICE_REQUEST);
    IoFreeIrp(k, irp);
  });
});
