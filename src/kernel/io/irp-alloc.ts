/**
 * IRPs a driver builds: IoAllocateIrp, IoFreeIrp, IoInitializeIrp, IoReuseIrp,
 * IoBuildDeviceIoControlRequest and IoSetCompletionRoutineEx. [ddi/wdm nf-wdm-ioallocateirp,
 * nf-wdm-iofreeirp, nf-wdm-ioinitializeirp, nf-wdm-ioreuseirp, nf-wdm-iobuilddeviceiocontrolrequest,
 * nf-wdm-iosetcompletionroutineex; kernel: "Creating IRPs for Lower-Level Drivers"]
 *
 * Implementation notes
 * - IoAllocateIrp(StackSize, ChargeQuota): a packet from the I/O manager's small- or large-IRP
 *   lookaside list, or a nonpaged pool block (tag 'Irp ') when it is too big for them or the list
 *   is empty — the rules, sizes and AllocationFlags (IRP_ALLOCATED_FIXED_SIZE,
 *   IRP_LOOKASIDE_ALLOCATION, IRP_QUOTA_CHARGED) are in io-lookaside.ts — initialized as
 *   IoInitializeIrp does: Type IO_TYPE_IRP (6), Size (the entry size for a listed packet),
 *   StackCount, CurrentLocation StackCount + 1, CurrentStackLocation one past the last location
 *   (kmtests/ntos_io/IoIrp.c; Wine's driver.c test_irp_struct: IoAllocateIrp(1, FALSE)->
 *   AllocationFlags == IRP_ALLOCATED_FIXED_SIZE, CurrentLocation 2).
 * - IoFreeIrp gives the packet back to its list or to pool (io-lookaside.ts). A packet already freed (or a pointer whose Type is not
 *   IO_TYPE_IRP) is MULTIPLE_IRP_COMPLETE_REQUESTS (0x44, P1 the IRP), as IopFreeIrp stops.
 *   ExFreePool on an IRP instead of IoFreeIrp is Driver Verifier's 0xC4/0x105 (P2 the IRP);
 *   without the verifier the pool block is freed like any other.
 * - IoBuildDeviceIoControlRequest builds a threaded request for the device's StackSize, sets
 *   up the next location (IRP_MJ_DEVICE_CONTROL or _INTERNAL_DEVICE_CONTROL, the lengths and the
 *   code), and the buffers by the code's method: METHOD_BUFFERED a nonpaged system buffer of
 *   max(in, out) with the input copied in (the output copied to OutputBuffer at completion);
 *   the direct methods the input in a system buffer and an MDL for OutputBuffer probed and locked
 *   (KernelMode, IoReadAccess for METHOD_IN_DIRECT, IoWriteAccess for METHOD_OUT_DIRECT);
 *   METHOD_NEITHER Type3InputBuffer / UserBuffer. RequestorMode is KernelMode. Any failure
 *   releases what was taken and returns NULL. The I/O manager completes and frees the packet:
 *   IoFreeIrp on it is a driver bug (the page says so; recorded as an I/O finding).
 * - IoSetCompletionRoutineEx allocates its context (nonpaged pool, tag 'IoCx'; the fault point
 *   is the routine's name), returns STATUS_INSUFFICIENT_RESOURCES when it cannot, and frees it
 *   when the routine has run.
 */
import type { Kernel } from '../kernel.ts';
import { isUlong } from '../ulong.ts';
import { DRIVER_VERIFIER_DETECTED_VIOLATION, MULTIPLE_IRP_COMPLETE_REQUESTS } from '../bugcheck.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../irql.ts';
import { IoReadAccess, IoWriteAccess, MmProbeAndLockPages } from '../mm/mdl.ts';
import { MM_SYSTEM_RANGE_START } from '../mm/system-space.ts';
import { ExAllocatePool2, POOL_FLAG_NON_PAGED, POOL_FLAG_USE_QUOTA, poolTag } from '../mm/pool.ts';
import type { KEVENT } from '../ke/event.ts';
import {
  ExRaiseStatus, NtStatusError, STATUS_ACCESS_VIOLATION, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, type NTSTATUS,
} from '../status.ts';
import { isDeviceObject, type DEVICE_OBJECT } from './device-object.ts';
import { iopFreeIrpPacket, irpLookasideFor, takeCachedPacket } from './io-lookaside.ts';
import { allocateNonPaged, freePool, TAG_IRP } from './io-pool.ts';
import { attachMdl, attachSystemBuffer, releaseIrpBuffers } from './irp-buffers.ts';
import { METHOD_BUFFERED, METHOD_FROM_CTL_CODE, METHOD_IN_DIRECT, METHOD_OUT_DIRECT } from './ioctl.ts';
import {
  IO_TYPE_IRP, IoSetCompletionRoutine, IoSizeOfIrp, IRP_ALLOCATED_FIXED_SIZE,
  IRP_INPUT_OPERATION, IRP_LOOKASIDE_ALLOCATION, IRP_MJ_DEVICE_CONTROL, IRP_MJ_INTERNAL_DEVICE_CONTROL, IRP_QUOTA_CHARGED, isIrp,
  KernelMode, newIrp, newStackLocation, reinitializeIrp, setDeviceControl, zeroIrpHeader, type IO_STATUS_BLOCK, type IRP, type IrpKind, type PIO_COMPLETION_ROUTINE,
} from './irp.ts';

/** Largest StackSize a CCHAR holds. */
export const MAXIMUM_IRP_STACK_SIZE = 127;
/** 0xC4 Parameter 1: an IRP freed with ExFreePool instead of IoFreeIrp. */
export const VERIFIER_IRP_FREED_WITH_EXFREEPOOL = 0x105;
const TAG_COMPLETION_CONTEXT = poolTag('IoCx');
/** sizeof(IO_COMPLETION_CONTEXT)-like block IoSetCompletionRoutineEx allocates. */
const COMPLETION_CONTEXT_BYTES = 0x20;

const hex = (v: number) => `0x${Math.trunc(v).toString(16)}`;

function checkIrql(k: Kernel, max: number, routine: string): void {
  k.io.checkIrql(max, routine);
}

/**
 * @internal The shared allocator (IopAllocateIrpPrivate): fault point 'IoAllocateIrp', then a
 * packet from the small- or large-IRP lookaside list or, on a miss or for a packet too big for
 * them, a nonpaged pool block of the same size (quota charged with `chargeQuota`); the IRP is
 * registered with the pool (ExFreePool on it is 0xC4/0x105 under the verifier) and counted in
 * flight. Null when the allocation fails (nothing kept; a list miss still counts, as in Windows).
 */
export function miAllocateIrp(k: Kernel, stackSize: number, kind: IrpKind, chargeQuota: boolean): IRP | null {
  const packetSize = IoSizeOfIrp(stackSize);
  if (k.faults.shouldFail({ site: 'IoAllocateIrp', tag: TAG_IRP, bytes: packetSize, driver: k.currentDriver ?? undefined })) return null;
  const lists = k.io.lookasideLists;
  const listed = irpLookasideFor(lists, stackSize, chargeQuota);
  const allocateSize = listed?.size ?? packetSize;
  let flags = listed !== null ? IRP_ALLOCATED_FIXED_SIZE : 0;
  let address = listed !== null ? k.lookaside.popSystemEntry(listed.list) : null;
  let irp: IRP | undefined;
  if (address !== null) {
    // IopInitializeIrp zeroes the whole packet (the SLIST link of the cached entry included);
    // the IRP object describing that memory is zeroed with it.
    k.mm.system.fill(address, allocateSize, 0);
    irp = takeCachedPacket(lists, address);
    if (irp !== undefined) reinitializeIrp(irp, stackSize, allocateSize, kind);
    if (chargeQuota) {
      flags |= IRP_LOOKASIDE_ALLOCATION;
      lists.lookasideIrpFloat--;
    }
  } else {
    address = chargeQuota
      ? ExAllocatePool2(k, POOL_FLAG_NON_PAGED | POOL_FLAG_USE_QUOTA, allocateSize, TAG_IRP)
      : allocateNonPaged(k, allocateSize, TAG_IRP, true);
    if (address === null || address === 0) return null;
    if (chargeQuota) flags |= IRP_QUOTA_CHARGED;
  }
  irp ??= newIrp(address, stackSize, false, allocateSize, kind);
  irp.AllocationFlags = flags;
  irp.io.allocatedBy = k.currentDriver;
  k.mm.pool.registerObject(irp, address, (kk, routine) => exFreePoolOfIrp(kk, irp, routine));
  k.io.irpsAllocated++;
  k.io.irpsInFlight.add(irp);
  return irp;
}

/** ExFreePool handed an IRP: Driver Verifier stops (0xC4/0x105); otherwise the block is freed. */
function exFreePoolOfIrp(k: Kernel, irp: IRP, routine: string): void {
  if (k.config.verifier) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_IRP_FREED_WITH_EXFREEPOOL, irp.address, 0, 0,
      `${routine}: IRP ${hex(irp.address)} must be freed with IoFreeIrp`);
  }
  // ExFreePool frees the pool block itself: no lookaside list sees it.
  releaseIrp(k, irp, 'pool');
}

/**
 * The packet is gone: out of the in-flight set, its memory back to its lookaside list or pool
 * ('io', IoFreeIrp's rule), straight to pool ('pool', ExFreePool's) or left alone ('none').
 */
function releaseIrp(k: Kernel, irp: IRP, memory: 'io' | 'pool' | 'none'): void {
  irp.io.state = 'freed';
  if (k.io.irpsInFlight.delete(irp)) k.io.irpsFreed++;
  if (memory === 'io') {
    iopFreeIrpPacket(k, irp);
    return;
  }
  irp.Type = 0;
  k.mm.pool.unregisterObject(irp);
  if (memory === 'pool') freePool(k, irp.address, TAG_IRP);
}

/**
 * IoAllocateIrp(k, StackSize, ChargeQuota) → IRP | NULL (IRQL <= DISPATCH_LEVEL). StackSize is a
 * CCHAR: 1..127 (anything else, NULL here). See the notes for the fields it sets.
 */
export function IoAllocateIrp(k: Kernel, StackSize: number, ChargeQuota: boolean): IRP | null {
  k.bugcheck.assertRunning();
  checkIrql(k, DISPATCH_LEVEL, 'IoAllocateIrp');
  if (!Number.isInteger(StackSize) || StackSize < 1 || StackSize > MAXIMUM_IRP_STACK_SIZE) return null;
  return miAllocateIrp(k, StackSize, 'driver', ChargeQuota === true);
}

/**
 * IoFreeIrp(k, Irp) (IRQL <= DISPATCH_LEVEL): frees an IRP from IoAllocateIrp. MDLs still on
 * Irp->MdlAddress are the driver's to free first; they are not touched. A packet already freed
 * is 0x44 MULTIPLE_IRP_COMPLETE_REQUESTS.
 */
export function IoFreeIrp(k: Kernel, Irp: IRP): void {
  k.bugcheck.assertRunning();
  checkIrql(k, DISPATCH_LEVEL, 'IoFreeIrp');
  // A freed packet has Type 0 (IopFreeIrp clears it): still this I/O manager's packet, so the
  // second free is the 0x44 stop rather than a wild pointer.
  const packet = typeof Irp === 'object' && Irp !== null && typeof (Irp as IRP).io === 'object' && Array.isArray((Irp as IRP).Stack);
  if (!packet) ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoFreeIrp: Irp is not an IRP');
  if (Irp.io.state === 'freed' || Irp.Type !== IO_TYPE_IRP) {
    k.bugcheck.KeBugCheckEx(MULTIPLE_IRP_COMPLETE_REQUESTS, Irp.address, 0, 0, 0, `IoFreeIrp: IRP ${hex(Irp.address)} was already freed`);
  }
  if (Irp.io.kind === 'threaded' || Irp.io.kind === 'user' || Irp.io.kind === 'reserve') {
    k.io.findings.push({ driver: k.currentDriver ?? '?',
      message: `IoFreeIrp on IRP ${hex(Irp.address)} that the I/O manager owns (${Irp.io.kind}); complete it with IoCompleteRequest` });
  }
  if (Irp.io.kind === 'initialized' || Irp.io.reserve) {
    // Not a packet allocated by IoAllocateIrp (AllocationFlags 0): Windows frees the pointer
    // with ExFreePool, which stops (0xC2) unless it is the start of a pool block.
    k.mm.pool.free(Irp.address, null);
    releaseIrp(k, Irp, 'none');
    return;
  }
  releaseIrp(k, Irp, 'io');
}

/**
 * IoInitializeIrp(k, Irp, PacketSize, StackSize) for a packet in the driver's own memory:
 * `Irp` is the address of that memory (nonpaged, PacketSize bytes) or an IRP object to
 * reinitialize; returns the IRP. Every field is zeroed, then Type, Size = PacketSize, StackCount,
 * CurrentLocation = StackCount + 1 (kmtests/ntos_io/IoIrp.c: Type 6, Size, StackCount 5,
 * CurrentLocation 6). A PacketSize below IoSizeOfIrp(StackSize) would put the locations past the
 * packet: raised here as the access violation it leads to.
 */
export function IoInitializeIrp(k: Kernel, Irp: number | IRP, PacketSize: number, StackSize: number): IRP {
  k.bugcheck.assertRunning();
  if (!Number.isInteger(StackSize) || StackSize < 0 || StackSize > MAXIMUM_IRP_STACK_SIZE ||
      !Number.isInteger(PacketSize) || PacketSize < 0 || PacketSize > 0xffff) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `IoInitializeIrp: PacketSize ${String(PacketSize)} / StackSize ${String(StackSize)} out of range`);
  }
  if (PacketSize < IoSizeOfIrp(StackSize)) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION,
      `IoInitializeIrp: ${StackSize} stack locations need ${IoSizeOfIrp(StackSize)} bytes, the packet has ${PacketSize}`);
  }
  if (isIrp(Irp)) {
    reinitialize(Irp, PacketSize, StackSize);
    return Irp;
  }
  if (typeof Irp !== 'number' || !Number.isSafeInteger(Irp) || Irp < MM_SYSTEM_RANGE_START) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `IoInitializeIrp: ${String(Irp)} is not nonpaged system memory`);
  }
  // RtlZeroMemory(Irp, PacketSize): the whole packet must be mapped (0x50 otherwise).
  k.mm.system.fill(Irp, PacketSize, 0);
  const irp = newIrp(Irp, StackSize, false, PacketSize, 'initialized');
  irp.io.allocatedBy = k.currentDriver;
  return irp;
}

/** Zero an IRP object in place and set what IoInitializeIrp sets. */
function reinitialize(irp: IRP, PacketSize: number, StackSize: number): void {
  const fresh = newIrp(irp.address, StackSize, irp.io.reserve, PacketSize, irp.io.kind);
  zeroIrpHeader(irp, PacketSize, StackSize);
  irp.Stack = fresh.Stack;
  irp.io.state = irp.io.state === 'freed' ? 'freed' : 'allocated';
  irp.io.request = null;
}

/**
 * IoReuseIrp(k, Irp, Iostatus): reinitialize an IRP the driver allocated, keeping its
 * AllocationFlags, with IoStatus.Status = Iostatus (Wine driver.c test_irp_struct:
 * CurrentLocation back to StackCount + 1, AllocationFlags kept).
 */
export function IoReuseIrp(k: Kernel, Irp: IRP, Iostatus: NTSTATUS): void {
  k.bugcheck.assertRunning();
  if (!isIrp(Irp) || Irp.io.state === 'freed') ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoReuseIrp: Irp is not a live IRP');
  const flags = Irp.AllocationFlags;
  reinitialize(Irp, Irp.Size, Irp.StackCount);
  Irp.AllocationFlags = flags;
  Irp.IoStatus.Status = Number.isInteger(Iostatus) ? Iostatus >>> 0 : 0;
}

/** Read `n` bytes at `va` (system address, or the current process's user address). */
function readBuffer(k: Kernel, va: number, n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  if (va >= MM_SYSTEM_RANGE_START) k.mm.system.read(va, bytes);
  else k.ps.current.readMemory(va, bytes);
  return bytes;
}

const isBuffer = (v: unknown): v is number | null => v === null || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);

/**
 * IoBuildDeviceIoControlRequest(k, IoControlCode, DeviceObject, InputBuffer, InputBufferLength,
 * OutputBuffer, OutputBufferLength, InternalDeviceIoControl, Event, IoStatusBlock) → IRP | NULL
 * (IRQL <= APC_LEVEL). Send it with IoCallDriver; when that returns STATUS_PENDING wait on
 * Event, then read IoStatusBlock.
 *
 * ```ts
 * const ev = new KEVENT(); KeInitializeEvent(k, ev, NotificationEvent, false);
 * const iosb = { Status: 0, Information: 0 };
 * const irp = IoBuildDeviceIoControlRequest(k, code, lower, inVa, 16, outVa, 64, false, ev, iosb);
 * let s = irp ? IoCallDriver(k, lower, irp) : STATUS_INSUFFICIENT_RESOURCES;
 * if (s === STATUS_PENDING) { KeWaitForSingleObject(k, ev, Executive, KernelMode, false, null); s = iosb.Status; }
 * ```
 */
export function IoBuildDeviceIoControlRequest(
  k: Kernel,
  IoControlCode: number,
  DeviceObject: DEVICE_OBJECT,
  InputBuffer: number | null,
  InputBufferLength: number,
  OutputBuffer: number | null,
  OutputBufferLength: number,
  InternalDeviceIoControl: boolean,
  Event: KEVENT | null,
  IoStatusBlock: IO_STATUS_BLOCK,
): IRP | null {
  k.bugcheck.assertRunning();
  checkIrql(k, APC_LEVEL, 'IoBuildDeviceIoControlRequest');
  if (!isDeviceObject(DeviceObject) || DeviceObject.io.freed) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoBuildDeviceIoControlRequest: DeviceObject is not a live device object');
  }
  if (IoStatusBlock === null || typeof IoStatusBlock !== 'object') {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoBuildDeviceIoControlRequest: IoStatusBlock is NULL');
  }
  if (!isUlong(IoControlCode) || !isBuffer(InputBuffer) || !isUlong(InputBufferLength) || !isBuffer(OutputBuffer) ||
      !isUlong(OutputBufferLength) || (Event !== null && (typeof Event !== 'object' || !('Header' in Event)))) {
    return null;
  }
  const inLen = InputBuffer === null ? 0 : InputBufferLength;
  const outLen = OutputBuffer === null ? 0 : OutputBufferLength;
  const irp = miAllocateIrp(k, DeviceObject.StackSize, 'threaded', false);
  if (irp === null) return null;
  const sl = irp.Stack[irp.StackCount - 1] ?? newStackLocation();
  const major = InternalDeviceIoControl === true ? IRP_MJ_INTERNAL_DEVICE_CONTROL : IRP_MJ_DEVICE_CONTROL;
  const p = setDeviceControl(sl, major, IoControlCode, InputBufferLength, OutputBufferLength);
  irp.RequestorMode = KernelMode;
  irp.UserIosb = IoStatusBlock;
  irp.UserEvent = Event;
  irp.Tail.Overlay.Thread = k.ps.current;
  irp.io.outputLength = outLen;

  const undo = (): null => {
    releaseIrpBuffers(k, irp);
    releaseIrp(k, irp, 'io');
    return null;
  };
  const systemBuffer = (size: number, copyIn: number): boolean => {
    if (!attachSystemBuffer(k, irp, size)) return false;
    if (copyIn > 0) k.mm.system.write(irp.AssociatedIrp.SystemBuffer!, readBuffer(k, InputBuffer!, copyIn));
    return true;
  };
  const method = METHOD_FROM_CTL_CODE(IoControlCode);
  try {
    switch (method) {
      case METHOD_BUFFERED:
        if (!systemBuffer(Math.max(inLen, outLen), inLen)) return undo();
        if (outLen > 0) {
          irp.Flags |= IRP_INPUT_OPERATION;
          irp.UserBuffer = OutputBuffer;
        }
        break;
      case METHOD_IN_DIRECT:
      case METHOD_OUT_DIRECT: {
        if (!systemBuffer(inLen, inLen)) return undo();
        if (outLen > 0) {
          const mdl = attachMdl(k, irp, OutputBuffer!, outLen);
          if (mdl === null) return undo();
          MmProbeAndLockPages(k, mdl, KernelMode, method === METHOD_IN_DIRECT ? IoReadAccess : IoWriteAccess);
        }
        break;
      }
      default: // METHOD_NEITHER
        p.Type3InputBuffer = InputBuffer;
        irp.UserBuffer = OutputBuffer;
    }
  } catch (e) {
    // A probe (or the copy of the input) that raises: the routine gives up and returns NULL.
    if (!(e instanceof NtStatusError)) throw e;
    return undo();
  }
  return irp;
}

/**
 * IoSetCompletionRoutineEx(k, DeviceObject, Irp, CompletionRoutine, Context, InvokeOnSuccess,
 * InvokeOnError, InvokeOnCancel) → STATUS_SUCCESS or STATUS_INSUFFICIENT_RESOURCES (the context
 * block could not be allocated; nothing is set then).
 */
export function IoSetCompletionRoutineEx(
  k: Kernel,
  DeviceObject: DEVICE_OBJECT,
  Irp: IRP,
  CompletionRoutine: PIO_COMPLETION_ROUTINE,
  Context: unknown,
  InvokeOnSuccess: boolean,
  InvokeOnError: boolean,
  InvokeOnCancel: boolean,
): NTSTATUS {
  k.bugcheck.assertRunning();
  checkIrql(k, DISPATCH_LEVEL, 'IoSetCompletionRoutineEx');
  if (!isDeviceObject(DeviceObject) || !isIrp(Irp) || typeof CompletionRoutine !== 'function') {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoSetCompletionRoutineEx: DeviceObject, Irp or CompletionRoutine is not valid');
  }
  if (k.faults.shouldFail({ site: 'IoSetCompletionRoutineEx', tag: TAG_COMPLETION_CONTEXT, bytes: COMPLETION_CONTEXT_BYTES,
    driver: k.currentDriver ?? undefined })) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  const block = allocateNonPaged(k, COMPLETION_CONTEXT_BYTES, TAG_COMPLETION_CONTEXT, true);
  if (block === null) return STATUS_INSUFFICIENT_RESOURCES;
  const wrapper: PIO_COMPLETION_ROUTINE = (device, irp, context) => {
    freePool(k, block, TAG_COMPLETION_CONTEXT);
    return CompletionRoutine(device, irp, context);
  };
  IoSetCompletionRoutine(Irp, wrapper, Context, InvokeOnSuccess, InvokeOnError, InvokeOnCancel);
  return STATUS_SUCCESS;
}
