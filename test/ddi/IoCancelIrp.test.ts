/**
 * IoCancelIrp with and without a cancel routine, and completion routines of a cancelled IRP.
 * Sources: WDK "IoCancelIrp function (wdm.h)" (returns TRUE when the cancel routine was called;
 * sets Irp->Cancel), "IoSetCancelRoutine", "Bug Check 0x11B DRIVER_RETURNED_HOLDING_CANCEL_LOCK"
 * (P1 the IRP, P2 the cancel routine); Wine dlls/ntoskrnl.exe/tests/driver.c test_cancel_irp, whose
 * assertions on Windows are carried over: no cancel routine → FALSE with Cancel set, twice; with a
 * routine → TRUE, the routine sees Cancel TRUE and CancelRoutine NULL, a second cancel returns FALSE
 * without calling it; a cancelled IRP (status STATUS_CANCELLED) runs a completion routine set with
 * InvokeOnCancel or InvokeOnError, and not one set for success only.
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MIB } from '../../src/bus/index.ts';
import {
  CTL_CODE, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, IO_NO_INCREMENT, IoAllocateIrp, IoBuildDeviceIoControlRequest, IoCallDriver, IoCancelIrp,
  IoCompleteRequest, IoCreateDevice, IoFreeIrp, IoGetCurrentIrpStackLocation, IoLoadDriver, IoMarkIrpPending, IoReleaseCancelSpinLock,
  IoSetCancelRoutine, IoSetCompletionRoutine, IRP_MJ_DEVICE_CONTROL, METHOD_NEITHER, type DEVICE_OBJECT, type IRP, type PDRIVER_CANCEL,
} from '../../src/kernel/io/index.ts';
import { STATUS_CANCELLED, STATUS_PENDING, STATUS_SUCCESS } from '../../src/kernel/status.ts';
import { ref } from '../../src/kernel/ref.ts';
import { bugCheckOf } from '../bug-check.ts';

const IOCTL_PEND = CTL_CODE(0x8000, 0x910, METHOD_NEITHER, FILE_ANY_ACCESS);

/** A driver that pends every IOCTL (no cancel routine of its own). */
function host() {
  const k = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false });
  let device!: DEVICE_OBJECT;
  expect(IoLoadDriver(k, 'Pender', (kk, drv) => {
    const dev = ref<DEVICE_OBJECT | null>(null);
    IoCreateDevice(kk, drv, 0, '\\Device\\Pender', FILE_DEVICE_UNKNOWN, 0, false, dev);
    device = dev.value!;
    drv.MajorFunction[IRP_MJ_DEVICE_CONTROL] = (_d, irp) => {
      IoMarkIrpPending(irp);
      return STATUS_PENDING;
    };
    return STATUS_SUCCESS;
  })).toBe(STATUS_SUCCESS);
  const send = (): IRP => {
    const irp = IoBuildDeviceIoControlRequest(k, IOCTL_PEND, device, null, 0, null, 0, false, null, { Status: 0, Information: 0 })!;
    expect(IoCallDriver(k, device, irp)).toBe(STATUS_PENDING);
    return irp;
  };
  return { k, device: () => device, send };
}

describe('IoCancelIrp', () => {
  it('an IRP with no cancel routine: FALSE, Cancel set; again FALSE (Wine test_cancel_irp)', () => {
    const { k } = host();
    const irp = IoAllocateIrp(k, 1, false)!;
    expect(IoCancelIrp(k, irp)).toBe(false);
    expect(irp.Cancel).toBe(true);
    expect(IoCancelIrp(k, irp)).toBe(false);
    IoFreeIrp(k, irp);
  });

  it('with a cancel routine: TRUE; the routine runs once with Cancel TRUE and CancelRoutine NULL; a second cancel is FALSE', () => {
    const h = host();
    const irp = h.send();
    expect(irp.CurrentLocation).toBe(1);
    expect(IoGetCurrentIrpStackLocation(irp).DeviceObject).toBe(h.device());
    const seen: { cancel: boolean; routine: unknown }[] = [];
    const cancel: PDRIVER_CANCEL = (_d, i) => {
      IoReleaseCancelSpinLock(h.k, i.CancelIrql);
      seen.push({ cancel: i.Cancel, routine: i.CancelRoutine });
      i.IoStatus.Status = STATUS_CANCELLED;
    };
    IoSetCancelRoutine(irp, cancel);
    expect(IoCancelIrp(h.k, irp)).toBe(true);
    expect(irp.Cancel).toBe(true);
    expect(seen).toEqual([{ cancel: true, routine: null }]);
    expect(IoCancelIrp(h.k, irp)).toBe(false);
    expect(seen).toHaveLength(1);
    IoCompleteRequest(h.k, irp, IO_NO_INCREMENT);
    expect(h.k.io.irpsInFlight.size).toBe(0);
  });

  for (const [onSuccess, onError, onCancel, called] of [
    [true, false, true, true], [true, true, false, true], [true, false, false, false],
  ] as const) {
    it(`a cancelled IRP runs a completion routine set (${onSuccess}, ${onError}, ${onCancel}): ${called ? 'called' : 'not called'} (Wine test_cancel_irp)`, () => {
      const h = host();
      const irp = IoBuildDeviceIoControlRequest(h.k, IOCTL_PEND, h.device(), null, 0, null, 0, false, null, { Status: 0, Information: 0 })!;
      let completion = false;
      IoSetCompletionRoutine(irp, () => {
        completion = true;
        return STATUS_SUCCESS;
      }, null, onSuccess, onError, onCancel);
      expect(IoCallDriver(h.k, h.device(), irp)).toBe(STATUS_PENDING);
      IoSetCancelRoutine(irp, (_d, i) => {
        IoReleaseCancelSpinLock(h.k, i.CancelIrql);
        i.IoStatus.Status = STATUS_CANCELLED;
        i.IoStatus.Information = 0;
      });
      expect(IoCancelIrp(h.k, irp)).toBe(true);
      IoCompleteRequest(h.k, irp, IO_NO_INCREMENT);
      expect(completion).toBe(called);
    });
  }

  it('a cancel routine that returns holding the cancel spin lock is DRIVER_RETURNED_HOLDING_CANCEL_LOCK (0x11B), P1 the IRP', () => {
    const h = host();
    const irp = h.send();
    IoSetCancelRoutine(irp, () => undefined);
    const stop = bugCheckOf(() => IoCancelIrp(h.k, irp));
    expect(stop.code).toBe(0x11b);
    expect(stop.parameters[0]).toBe(irp.address);
  });
});
