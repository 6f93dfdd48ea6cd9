/**
 * IoCompleteRequest, the I/O manager's completion work, and IRP cancellation.
 * [ddi/wdm nf-wdm-iocompleterequest, nf-wdm-iocancelirp, nf-wdm-ioacquirecancelspinlock;
 * kernel: "Completing IRPs", "Canceling IRPs", "Methods for Accessing Data Buffers"]
 *
 * Implementation notes
 * - Completion does at once what Windows splits between IoCompleteRequest and the special
 *   kernel APC in the requesting thread (IopCompleteRequest): copy buffered output back to
 *   the requester's buffer, free the system buffer, unlock and free every MDL on
 *   Irp->MdlAddress, post the result to the requester's IO_STATUS_BLOCK / OVERLAPPED, drop
 *   the file object reference, free the packet. The copy targets the requesting process
 *   directly, so completing from any context (a DPC, another process) works.
 * - Buffered output is copied only for a status that is not an error (NT_ERROR), so
 *   STATUS_BUFFER_OVERFLOW still returns the bytes that fit; a copy that faults (the user
 *   freed the buffer meanwhile) turns the status into the access violation, as the APC's
 *   exception handler does.
 * - Completion walks the stack as IofCompleteRequest does: for each location from the current
 *   one up, PendingReturned takes the location's SL_PENDING_RETURNED, CurrentLocation moves up
 *   one, and the location's completion routine runs when its Control asks for the outcome
 *   (SL_INVOKE_ON_SUCCESS / _ERROR / _CANCEL) with the device of the location above (NULL above
 *   the top); STATUS_MORE_PROCESSING_REQUIRED stops the walk and the IRP belongs to that routine
 *   again (Wine dlls/ntoskrnl.exe/tests/driver.c test_irp_struct: the routine runs and
 *   CurrentLocation is StackCount + 1 afterwards). Without a routine a pending mark propagates to
 *   the location above. Finished locations are zeroed (ZeroIrpStackLocation). Then, by kind: a
 *   user request goes back to its requester, a threaded request (IoBuildDeviceIoControlRequest)
 *   copies buffered output to its UserBuffer, sets *UserIosb, signals UserEvent and is freed.
 *   An IoAllocateIrp packet that reaches the end with no UserIosb is the I/O manager writing
 *   through a NULL UserIosb: an access violation (STATUS_ACCESS_VIOLATION raised).
 * - The requester's IO_STATUS_BLOCK (OVERLAPPED, UserIosb) and event are left alone when the
 *   request failed (NT_ERROR) without going pending: the status came back from the call itself.
 * - A second completion is bug check MULTIPLE_IRP_COMPLETE_REQUESTS (0x44, P1 the IRP): a freed
 *   packet, or CurrentLocation already past StackCount + 1.
 *   With the verifier on, the I/O verification checks of bug check 0xC9 apply: completion
 *   with STATUS_PENDING (0x06), with a cancel routine still set (0x07), above DISPATCH_LEVEL
 *   (0x0E). Without it, completion above DISPATCH_LEVEL is IRQL_NOT_LESS_OR_EQUAL.
 * - Cancellation is the classic cancel-spin-lock protocol: IoCancelIrp takes the lock, sets
 *   Irp->Cancel, swaps out the cancel routine and calls it with the lock held; the routine
 *   must release it with IoReleaseCancelSpinLock(Irp->CancelIrql) and complete the IRP with
 *   STATUS_CANCELLED.
 */
import type { Kernel } from '../kernel.ts';
import {
  DRIVER_RETURNED_HOLDING_CANCEL_LOCK, DRIVER_VERIFIER_DETECTED_VIOLATION, DRIVER_VERIFIER_IOMANAGER_VIOLATION, IRQL_NOT_LESS_OR_EQUAL,
  MULTIPLE_IRP_COMPLETE_REQUESTS, SPIN_LOCK_ALREADY_OWNED, SPIN_LOCK_NOT_OWNED,
} from '../bugcheck.ts';
import { DISPATCH_LEVEL, KeLowerIrql, KeRaiseIrql } from '../irql.ts';
import type { Ref } from '../ref.ts';
import type { Process } from '../ps/process.ts';
import {
  ExRaiseStatus, NT_SUCCESS, NtStatusError, STATUS_ACCESS_VIOLATION, STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING,
  STATUS_SUCCESS, type NTSTATUS,
} from '../status.ts';
import { MM_SYSTEM_RANGE_START } from '../mm/system-space.ts';
import type { DEVICE_OBJECT } from './device-object.ts';
import { releaseIrpBuffers } from './irp-buffers.ts';
import {
  IO_TYPE_IRP, IRP_BUFFERED_IO, IRP_INPUT_OPERATION, SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_ERROR,
  SL_INVOKE_ON_SUCCESS, SL_PENDING_RETURNED, isIrp, zeroIrpStackLocation, type IRP, type PIO_COMPLETION_ROUTINE,
} from './irp.ts';

const hex = (v: number) => `0x${Math.trunc(v).toString(16)}`;
/** NT_ERROR: severity "error" (top two bits 11). */
const NT_ERROR = (status: number) => status >>> 0 >= 0xc0000000;

/**
 * IoCompleteRequest(Irp, PriorityBoost) (IRQL <= DISPATCH_LEVEL). The driver has set
 * Irp->IoStatus; after this call the IRP belongs to the I/O manager again (or to the driver whose
 * completion routine returned STATUS_MORE_PROCESSING_REQUIRED) and must not be touched.
 * PriorityBoost only affects thread scheduling, which is not modelled.
 */
export function IoCompleteRequest(k: Kernel, Irp: IRP, PriorityBoost: number): void {
  k.bugcheck.assertRunning();
  const verifier = Boolean(k.config.verifier);
  // A packet this I/O manager made, even one already freed (IopFreeIrp clears Type): completing
  // it again is the 0x44 stop below, as IoCompleteRequest checks Type != IO_TYPE_IRP.
  const packet = isIrp(Irp) ||
    (typeof Irp === 'object' && Irp !== null && typeof (Irp as IRP).io === 'object' && Array.isArray((Irp as IRP).Stack));
  if (!packet) ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoCompleteRequest: Irp is not an IRP');
  if (Irp.io.state === 'completed' || Irp.io.state === 'freed' || Irp.Type !== IO_TYPE_IRP ||
      Irp.CurrentLocation > Irp.StackCount + 1) {
    k.bugcheck.KeBugCheckEx(MULTIPLE_IRP_COMPLETE_REQUESTS, Irp.address, 0, 0, 0,
      `IoCompleteRequest: IRP ${hex(Irp.address)} was already completed`);
  }
  if (k.irql > DISPATCH_LEVEL) {
    if (verifier) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x0e, k.irql, Irp.address, 0,
        `IoCompleteRequest at IRQL ${k.irql}`);
    }
    k.bugcheck.KeBugCheckEx(IRQL_NOT_LESS_OR_EQUAL, 0, k.irql, 0, 0, `IoCompleteRequest at IRQL ${k.irql} (must be <= DISPATCH_LEVEL)`);
  }
  const status = typeof Irp.IoStatus.Status === 'number' ? Irp.IoStatus.Status >>> 0 : 0xffffffff;
  if (verifier && (status === STATUS_PENDING || status === 0xffffffff)) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x06, status, Irp.address, 0,
      `IoCompleteRequest with status ${hex(status)}`);
  }
  if (verifier && Irp.CancelRoutine !== null) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x07, 0, Irp.address, 0,
      'IoCompleteRequest with a cancel routine still set');
  }
  void PriorityBoost;
  // A packet completed before any IoCallDriver keeps the PendingReturned it had.
  while (Irp.CurrentLocation <= Irp.StackCount) {
    const sl = Irp.Stack[Irp.CurrentLocation - 1]!;
    Irp.PendingReturned = (sl.Control & SL_PENDING_RETURNED) !== 0;
    Irp.CurrentLocation++;
    const now = typeof Irp.IoStatus.Status === 'number' ? Irp.IoStatus.Status >>> 0 : 0xffffffff;
    const routine = sl.CompletionRoutine;
    const context = sl.Context;
    const invoke = routine !== null && (
      (NT_SUCCESS(now) && (sl.Control & SL_INVOKE_ON_SUCCESS) !== 0) ||
      (!NT_SUCCESS(now) && (sl.Control & SL_INVOKE_ON_ERROR) !== 0) ||
      (Irp.Cancel && (sl.Control & SL_INVOKE_ON_CANCEL) !== 0));
    zeroIrpStackLocation(sl);
    if (invoke) {
      const above = Irp.CurrentLocation <= Irp.StackCount ? Irp.Stack[Irp.CurrentLocation - 1]!.DeviceObject : null;
      const result = runCompletionRoutine(k, Irp, routine!, above, context);
      if (result === STATUS_MORE_PROCESSING_REQUIRED) return;
    } else if (Irp.PendingReturned && Irp.CurrentLocation <= Irp.StackCount) {
      Irp.Stack[Irp.CurrentLocation - 1]!.Control |= SL_PENDING_RETURNED;
    }
  }
  Irp.io.state = 'completed';
  finishIrp(k, Irp);
}

/** 0xC4 Parameter 1: a completion routine returned at another IRQL than it was called at. */
const VERIFIER_COMPLETION_ROUTINE_IRQL = 0xfa;

/** Call a completion routine in its driver's context (the driver of `device`, or the allocator). */
function runCompletionRoutine(k: Kernel, irp: IRP, routine: PIO_COMPLETION_ROUTINE, device: DEVICE_OBJECT | null,
                              context: unknown): NTSTATUS {
  const driver = device?.DriverObject ?? (irp.io.allocatedBy !== null ? k.io.driver(irp.io.allocatedBy) : null);
  const irql = k.irql;
  const call = () => routine(device, irp, context);
  const result = driver ? k.io.callDriver(driver, 'IoCompletion', call) : call();
  if (k.config.verifier && k.irql !== irql) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_COMPLETION_ROUTINE_IRQL, 0, irql, k.irql,
      `completion routine of IRP ${hex(irp.address)} returned at IRQL ${k.irql} (called at ${irql})`);
  }
  return typeof result === 'number' ? result >>> 0 : STATUS_SUCCESS;
}

/** Read `n` bytes of the system buffer and write them to `va` (a system or current-process address). */
function copyToBuffer(k: Kernel, process: Process | null, from: number, va: number, n: number): void {
  const bytes = new Uint8Array(n);
  k.mm.system.read(from, bytes);
  if (va >= MM_SYSTEM_RANGE_START) k.mm.system.write(va, bytes);
  else (process ?? k.ps.current).writeMemory(va, bytes);
}

/** IopCompleteRequest: hand the result back and release everything the request held. */
function finishIrp(k: Kernel, irp: IRP): void {
  const io = k.io;
  const rec = irp.io.request;
  const kind = irp.io.kind;
  let status = typeof irp.IoStatus.Status === 'number' ? irp.IoStatus.Status >>> 0 : 0xffffffff;
  let information = irp.IoStatus.Information;
  if (!Number.isSafeInteger(information) || information < 0) {
    io.findings.push({ driver: k.currentDriver ?? '?', message: `IRP ${hex(irp.address)} completed with Information ${String(information)}` });
    information = 0;
  }
  if ((kind === 'driver' || kind === 'initialized') && irp.UserIosb === null) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION,
      `IoCompleteRequest: IRP ${hex(irp.address)} from IoAllocateIrp reached the I/O manager (no completion routine returned ` +
        'STATUS_MORE_PROCESSING_REQUIRED) and its UserIosb is NULL');
  }

  if (rec && rec.copyOut && (irp.Flags & (IRP_BUFFERED_IO | IRP_INPUT_OPERATION)) === (IRP_BUFFERED_IO | IRP_INPUT_OPERATION) &&
      !NT_ERROR(status) && information > 0 && irp.AssociatedIrp.SystemBuffer !== null) {
    let n = information;
    if (n > rec.copyOut.length) {
      // Windows would copy Information bytes and overrun the caller's buffer; the emulator
      // copies what fits and records the driver bug.
      io.findings.push({ driver: k.currentDriver ?? '?',
        message: `IRP ${hex(irp.address)}: Information ${information} exceeds the output buffer (${rec.copyOut.length} bytes)` });
      n = rec.copyOut.length;
    }
    if (rec.process.state !== 'terminated') {
      const bytes = new Uint8Array(n);
      k.mm.system.read(irp.AssociatedIrp.SystemBuffer, bytes);
      try {
        rec.process.writeMemory(rec.copyOut.userVa, bytes);
      } catch (e) {
        if (!(e instanceof NtStatusError)) throw e;
        status = e.status >>> 0;
        information = 0;
      }
    }
  } else if (!rec && kind === 'threaded' && (irp.Flags & (IRP_BUFFERED_IO | IRP_INPUT_OPERATION)) === (IRP_BUFFERED_IO | IRP_INPUT_OPERATION) &&
      !NT_ERROR(status) && information > 0 && irp.AssociatedIrp.SystemBuffer !== null && irp.UserBuffer !== null) {
    const capacity = irp.io.outputLength;
    let n = information;
    if (n > capacity) {
      io.findings.push({ driver: k.currentDriver ?? '?',
        message: `IRP ${hex(irp.address)}: Information ${information} exceeds the output buffer (${capacity} bytes)` });
      n = capacity;
    }
    if (n > 0) copyToBuffer(k, irp.Tail.Overlay.Thread, irp.AssociatedIrp.SystemBuffer, irp.UserBuffer, n);
  }

  releaseIrpBuffers(k, irp, (mdl) => k.verifier?.irpMdlFreed(mdl));

  // The requester's IO_STATUS_BLOCK and event are written unless the request failed without
  // going pending: then the caller gets the status from the call itself and the IOSB stays as it
  // was (Wine dlls/ntoskrnl.exe/tests/ntoskrnl.c, do_return_status: "!params->pending &&
  // NT_ERROR(iosb_status)" leaves io.Status untouched and the event unsignaled).
  const report = !NT_ERROR(status) || irp.PendingReturned;
  if (rec) {
    rec.done = true;
    rec.status = status;
    rec.information = information;
    if (rec.overlapped && report) {
      rec.overlapped.Internal = status;
      rec.overlapped.InternalHigh = information;
    }
  } else if (irp.UserIosb !== null && report) {
    irp.UserIosb.Status = status;
    irp.UserIosb.Information = information;
    if (irp.UserEvent !== null) irp.UserEvent.Header.SignalState = 1;
  }

  irp.io.state = 'freed';
  io.irpsInFlight.delete(irp);
  const fo = irp.Tail.Overlay.OriginalFileObject;
  if (!irp.io.reserve) {
    io.irpsFreed++;
    io.freeIrpMemory(irp);
    if (fo && rec) {
      fo.io.pendingIrps.delete(irp);
      io.dereferenceFileObject(fo);
    }
  }
}

/**
 * IoAcquireCancelSpinLock (IRQL <= DISPATCH_LEVEL): raises to DISPATCH_LEVEL and returns the
 * previous IRQL in Irql. Acquiring it twice deadlocks a real CPU; here it is bug check
 * SPIN_LOCK_ALREADY_OWNED (0x0F).
 */
export function IoAcquireCancelSpinLock(k: Kernel, Irql: Ref<number>): void {
  k.bugcheck.assertRunning();
  if (typeof Irql !== 'object' || Irql === null) ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoAcquireCancelSpinLock: Irql is NULL');
  k.io.checkIrql(DISPATCH_LEVEL, 'IoAcquireCancelSpinLock');
  if (k.io.cancelLockHeld) {
    k.bugcheck.KeBugCheckEx(SPIN_LOCK_ALREADY_OWNED, 0, 0, 0, 0, 'IoAcquireCancelSpinLock: the cancel spin lock is already held');
  }
  Irql.value = KeRaiseIrql(k, DISPATCH_LEVEL);
  k.io.cancelLockHeld = true;
}

/** IoReleaseCancelSpinLock(Irql): releasing a lock not held is SPIN_LOCK_NOT_OWNED (0x10). */
export function IoReleaseCancelSpinLock(k: Kernel, Irql: number): void {
  k.bugcheck.assertRunning();
  if (!k.io.cancelLockHeld) {
    k.bugcheck.KeBugCheckEx(SPIN_LOCK_NOT_OWNED, 0, 0, 0, 0, 'IoReleaseCancelSpinLock: the cancel spin lock is not held');
  }
  k.io.cancelLockHeld = false;
  KeLowerIrql(k, Irql);
}

/**
 * IoCancelIrp (IRQL <= DISPATCH_LEVEL): mark the IRP cancelled and call its cancel routine,
 * if any, with the cancel spin lock held. TRUE when a cancel routine was called. An IRP
 * that is no longer in flight (completed) is left alone and FALSE returned.
 */
export function IoCancelIrp(k: Kernel, Irp: IRP): boolean {
  k.bugcheck.assertRunning();
  if (!isIrp(Irp)) ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoCancelIrp: Irp is not an IRP');
  k.io.checkIrql(DISPATCH_LEVEL, 'IoCancelIrp');
  // A packet no longer in flight is left alone. One not yet sent (IoAllocateIrp, before
  // IoCallDriver) is still marked: Wine dlls/ntoskrnl.exe/tests/driver.c test_cancel_irp records
  // Windows setting Cancel and returning FALSE for an IRP with no cancel routine.
  if (Irp.io.state !== 'dispatched' && Irp.io.state !== 'allocated') return false;
  const irql = { value: 0 };
  IoAcquireCancelSpinLock(k, irql);
  Irp.Cancel = true;
  const routine = Irp.CancelRoutine;
  Irp.CancelRoutine = null;
  if (routine === null) {
    IoReleaseCancelSpinLock(k, irql.value);
    return false;
  }
  Irp.CancelIrql = irql.value;
  const sl = Irp.Stack[Irp.CurrentLocation - 1];
  const device = sl?.DeviceObject ?? null;
  if (device === null) {
    IoReleaseCancelSpinLock(k, irql.value);
    return false;
  }
  k.io.callDriver(device.DriverObject, 'CancelRoutine', () => routine(device, Irp));
  if (k.io.cancelLockHeld && k.irql === DISPATCH_LEVEL) {
    // A cancel routine must release the cancel spin lock; returning with it held leaves the
    // CPU at DISPATCH_LEVEL with the lock taken, which hangs the next acquirer.
    // Bug Check 0x11B DRIVER_RETURNED_HOLDING_CANCEL_LOCK: P1 the IRP, P2 the cancel routine
    // (the model has no code addresses: 0).
    k.bugcheck.KeBugCheckEx(DRIVER_RETURNED_HOLDING_CANCEL_LOCK, Irp.address, 0, 0, 0,
      `${device.DriverObject.DriverName}: cancel routine returned without IoReleaseCancelSpinLock`);
  }
  return true;
}

