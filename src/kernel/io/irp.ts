/**
 * IRP and IO_STACK_LOCATION. [kernel: "I/O Request Packets", "I/O Stack Locations";
 * ddi/wdm ns-wdm-_irp, ns-wdm-_io_stack_location]
 *
 * Implementation notes
 * - An IRP lives in nonpaged pool (tag 'Irp ') so pool accounting, fault injection and the
 *   address printed in bug checks (MULTIPLE_IRP_COMPLETE_REQUESTS P1) are real. The fields a
 *   driver reads are plain properties with WDK names; the I/O manager's own bookkeeping hangs
 *   off `Irp.io` and drivers must not touch it.
 * - The I/O manager sends requests with DeviceObject->StackSize locations (1 unless a driver
 *   raises it to pass requests on). CurrentLocation counts down as in Windows: a fresh IRP has
 *   CurrentLocation = StackCount + 1 and IoCallDriver moves it to StackCount.
 *   Tail.Overlay.CurrentStackLocation follows CurrentLocation (Stack[CurrentLocation - 1]); on a
 *   fresh IRP it points one past the last location, which here is null (kmtests
 *   ntos_io/IoIrp.c: "(PIO_STACK_LOCATION)(Irp + 1) + StackCount == CurrentStackLocation").
 * - The wdm.h macros (IoGetCurrentIrpStackLocation, IoGetNextIrpStackLocation,
 *   IoSkipCurrentIrpStackLocation, IoCopyCurrentIrpStackLocationToNext, IoSetNextIrpStackLocation,
 *   IoSetCompletionRoutine, IoMarkIrpPending, IoSizeOfIrp) take no kernel argument, as in C.
 */
import { ExRaiseStatus, STATUS_ACCESS_VIOLATION, type NTSTATUS } from '../status.ts';
import type { DEVICE_OBJECT } from './device-object.ts';
import type { FILE_OBJECT } from './file-object.ts';
import type { Mdl } from '../mm/mdl.ts';
import type { Process } from '../ps/process.ts';

export const IRP_MJ_CREATE = 0x00;
export const IRP_MJ_CREATE_NAMED_PIPE = 0x01;
export const IRP_MJ_CLOSE = 0x02;
export const IRP_MJ_READ = 0x03;
export const IRP_MJ_WRITE = 0x04;
export const IRP_MJ_QUERY_INFORMATION = 0x05;
export const IRP_MJ_SET_INFORMATION = 0x06;
export const IRP_MJ_FLUSH_BUFFERS = 0x09;
export const IRP_MJ_DEVICE_CONTROL = 0x0e;
export const IRP_MJ_INTERNAL_DEVICE_CONTROL = 0x0f;
export const IRP_MJ_SHUTDOWN = 0x10;
export const IRP_MJ_CLEANUP = 0x12;
export const IRP_MJ_PNP = 0x1b;
export const IRP_MJ_MAXIMUM_FUNCTION = 0x1b;

/** IO_STACK_LOCATION.Control bits. */
export const SL_PENDING_RETURNED = 0x01;
export const SL_ERROR_RETURNED = 0x02;
export const SL_INVOKE_ON_CANCEL = 0x20;
export const SL_INVOKE_ON_SUCCESS = 0x40;
export const SL_INVOKE_ON_ERROR = 0x80;

/** IRP.AllocationFlags (wdm.h). */
export const IRP_QUOTA_CHARGED = 0x01;
export const IRP_ALLOCATED_MUST_SUCCEED = 0x02;
export const IRP_ALLOCATED_FIXED_SIZE = 0x04;
export const IRP_LOOKASIDE_ALLOCATION = 0x08;

/** IRP.Flags bits (wdm.h). */
export const IRP_NOCACHE = 0x00000001;
export const IRP_SYNCHRONOUS_API = 0x00000004;
export const IRP_BUFFERED_IO = 0x00000010;
export const IRP_DEALLOCATE_BUFFER = 0x00000020;
export const IRP_INPUT_OPERATION = 0x00000040;
export const IRP_CREATE_OPERATION = 0x00000080;
export const IRP_READ_OPERATION = 0x00000100;
export const IRP_WRITE_OPERATION = 0x00000200;
export const IRP_CLOSE_OPERATION = 0x00000400;

/** IO_TYPE_* object type codes (the Type field of I/O objects). */
export const IO_TYPE_DRIVER = 4;
export const IO_TYPE_DEVICE = 3;
export const IO_TYPE_FILE = 5;
export const IO_TYPE_IRP = 6;

/** KPROCESSOR_MODE. */
export const KernelMode = 0;
export const UserMode = 1;

/** PriorityBoost values for IoCompleteRequest. */
export const IO_NO_INCREMENT = 0;
export const IO_NETWORK_INCREMENT = 2;

/** x64 sizes: sizeof(IRP) and sizeof(IO_STACK_LOCATION) (IoSizeOfIrp = IRP + n * location). */
export const SIZEOF_IRP = 0xd0;
export const SIZEOF_IO_STACK_LOCATION = 0x48;
/**
 * IoSizeOfIrp(StackSize): the wdm.h macro, ((USHORT)(sizeof(IRP) + StackSize *
 * sizeof(IO_STACK_LOCATION))) — x64 0xD0 + 0x48 per location, truncated to 16 bits as the cast does.
 */
export const IoSizeOfIrp = (StackSize: number): number => (SIZEOF_IRP + StackSize * SIZEOF_IO_STACK_LOCATION) & 0xffff;

export interface IO_STATUS_BLOCK {
  Status: NTSTATUS;
  Information: number;
}

export type PDRIVER_CANCEL = (DeviceObject: DEVICE_OBJECT, Irp: IRP) => void;
/**
 * IO_COMPLETION_ROUTINE: (DeviceObject, Irp, Context) → STATUS_MORE_PROCESSING_REQUIRED to stop
 * the completion, anything else to let it continue. DeviceObject is NULL for a routine set by the
 * IRP's allocator on the location above all drivers.
 */
export type PIO_COMPLETION_ROUTINE = (DeviceObject: DEVICE_OBJECT | null, Irp: IRP, Context: unknown) => NTSTATUS;

/** The Parameters union; only the member matching MajorFunction is meaningful. */
export interface IoStackParameters {
  Create: { SecurityContext: { DesiredAccess: number }; Options: number; FileAttributes: number; ShareAccess: number; EaLength: number };
  Read: { Length: number; Key: number; ByteOffset: number };
  Write: { Length: number; Key: number; ByteOffset: number };
  DeviceIoControl: { OutputBufferLength: number; InputBufferLength: number; IoControlCode: number; Type3InputBuffer: number | null };
  /** Parameters.Others.Argument1..4 (what internal device controls pass). */
  Others: { Argument1: unknown; Argument2: unknown; Argument3: unknown; Argument4: unknown };
}

export interface IO_STACK_LOCATION {
  MajorFunction: number;
  MinorFunction: number;
  Flags: number;
  Control: number;
  Parameters: IoStackParameters;
  DeviceObject: DEVICE_OBJECT | null;
  FileObject: FILE_OBJECT | null;
  CompletionRoutine: PIO_COMPLETION_ROUTINE | null;
  Context: unknown;
}

/**
 * Who owns the packet and what completion does at the end: 'user' (a Win32 request: results go
 * to the requester), 'reserve' (a file object's cleanup/close packet), 'threaded'
 * (IoBuildDeviceIoControlRequest: UserIosb, UserEvent, then the I/O manager frees it), 'driver'
 * (IoAllocateIrp: the driver's completion routine takes it back with
 * STATUS_MORE_PROCESSING_REQUIRED and frees it with IoFreeIrp), 'initialized' (IoInitializeIrp on
 * the driver's own memory).
 */
export type IrpKind = 'user' | 'reserve' | 'threaded' | 'driver' | 'initialized';

/** The I/O manager's private view of an IRP. */
export interface IrpBookkeeping {
  /** allocated → dispatched → completed → freed. */
  state: 'allocated' | 'dispatched' | 'completed' | 'freed';
  /** Set for requests from user mode; completion hands the result to it. */
  request: UserRequestRecord | null;
  /** The reserve IRP of a file object (cleanup/close), not a pool block of its own. */
  reserve: boolean;
  kind: IrpKind;
  /** The driver that allocated the packet (k.currentDriver then). */
  allocatedBy: string | null;
  /** OutputBufferLength of a threaded buffered request (the most completion copies back). */
  outputLength: number;
}

/** What the I/O manager needs at completion to finish a user request (IopCompleteRequest). */
export interface UserRequestRecord {
  readonly process: Process;
  readonly fileObject: FILE_OBJECT;
  /** Buffered output: copy Information bytes (at most `length`) from SystemBuffer to `userVa`. */
  copyOut: { userVa: number; length: number } | null;
  /** Filled at completion. */
  done: boolean;
  status: NTSTATUS;
  information: number;
  /** The OVERLAPPED of an asynchronous request (the user's IO_STATUS_BLOCK). */
  overlapped: OVERLAPPED | null;
}

/** The Win32 OVERLAPPED; Internal/InternalHigh are the request's IO_STATUS_BLOCK. */
export interface OVERLAPPED {
  Internal: NTSTATUS;
  InternalHigh: number;
  Offset: number;
  OffsetHigh: number;
  hEvent: number;
}

export interface IRP {
  Type: number;
  Size: number;
  /** Pool address of the packet (what a debugger prints for the IRP). */
  readonly address: number;
  MdlAddress: Mdl | null;
  Flags: number;
  /** IRP_ALLOCATED_FIXED_SIZE, IRP_LOOKASIDE_ALLOCATION, ... (IoAllocateIrp sets them). */
  AllocationFlags: number;
  AssociatedIrp: { SystemBuffer: number | null };
  IoStatus: IO_STATUS_BLOCK;
  RequestorMode: number;
  PendingReturned: boolean;
  StackCount: number;
  CurrentLocation: number;
  Cancel: boolean;
  CancelIrql: number;
  CancelRoutine: PDRIVER_CANCEL | null;
  /** User output buffer (buffered read/ioctl copy-out target, METHOD_NEITHER output, neither-I/O read/write). */
  UserBuffer: number | null;
  /** Where completion copies IoStatus for a threaded request (IoBuildDeviceIoControlRequest). */
  UserIosb: IO_STATUS_BLOCK | null;
  /** The event completion signals for a threaded request. */
  UserEvent: { Header: { SignalState: number } } | null;
  Tail: {
    Overlay: {
      /** The requesting thread; this emulator has one thread per process, so the process. */
      Thread: Process | null;
      OriginalFileObject: FILE_OBJECT | null;
      /** Stack[CurrentLocation - 1]: the current driver's location; null past the last one. */
      readonly CurrentStackLocation: IO_STACK_LOCATION | null;
    };
  };
  /** IRP stack locations, index 0 = the lowest driver's (location number 1). */
  Stack: IO_STACK_LOCATION[];
  /** I/O manager bookkeeping; not part of the WDK structure. */
  readonly io: IrpBookkeeping;
}

export function newStackLocation(): IO_STACK_LOCATION {
  return {
    MajorFunction: 0,
    MinorFunction: 0,
    Flags: 0,
    Control: 0,
    Parameters: {
      Create: { SecurityContext: { DesiredAccess: 0 }, Options: 0, FileAttributes: 0, ShareAccess: 0, EaLength: 0 },
      Read: { Length: 0, Key: 0, ByteOffset: 0 },
      Write: { Length: 0, Key: 0, ByteOffset: 0 },
      DeviceIoControl: { OutputBufferLength: 0, InputBufferLength: 0, IoControlCode: 0, Type3InputBuffer: null },
      Others: { Argument1: null, Argument2: null, Argument3: null, Argument4: null },
    },
    DeviceObject: null,
    FileObject: null,
    CompletionRoutine: null,
    Context: null,
  };
}

/** Zero a stack location in place (IoInitializeIrp zeroes the packet, its locations included). */
function resetStackLocation(sl: IO_STACK_LOCATION): void {
  zeroIrpStackLocation(sl);
  sl.MajorFunction = 0;
  sl.DeviceObject = null;
}

/** Zero the Parameters union in place (the memory of a location is zeroed, not replaced). */
function zeroParameters(p: IoStackParameters): void {
  const c = p.Create;
  c.SecurityContext.DesiredAccess = 0;
  c.Options = 0;
  c.FileAttributes = 0;
  c.ShareAccess = 0;
  c.EaLength = 0;
  p.Read.Length = 0;
  p.Read.Key = 0;
  p.Read.ByteOffset = 0;
  p.Write.Length = 0;
  p.Write.Key = 0;
  p.Write.ByteOffset = 0;
  const d = p.DeviceIoControl;
  d.OutputBufferLength = 0;
  d.InputBufferLength = 0;
  d.IoControlCode = 0;
  d.Type3InputBuffer = null;
  const o = p.Others;
  o.Argument1 = null;
  o.Argument2 = null;
  o.Argument3 = null;
  o.Argument4 = null;
}

/**
 * @internal IoInitializeIrp on the memory of a packet the I/O manager's lookaside list held:
 * the IRP object that described that memory is zeroed in place and set up for `StackSize`
 * locations (its location objects reused), exactly as newIrp would build it — the same memory is
 * the same IRP structure, as in Windows, where a stale pointer to a freed packet sees whoever got
 * it next (Driver Verifier keeps the lists empty, so a stale pointer finds a freed packet then).
 */
export function reinitializeIrp(irp: IRP, StackSize: number, PacketSize: number, kind: IrpKind): void {
  zeroIrpHeader(irp, PacketSize, StackSize);
  const stack = irp.Stack;
  if (stack.length > StackSize) stack.length = StackSize;
  for (const sl of stack) resetStackLocation(sl);
  while (stack.length < StackSize) stack.push(newStackLocation());
  const io = irp.io;
  io.state = 'allocated';
  io.request = null;
  io.reserve = false;
  io.kind = kind;
  io.allocatedBy = null;
  io.outputLength = 0;
}

/**
 * @internal The header fields IoInitializeIrp sets on a zeroed packet of `PacketSize` bytes
 * with `StackSize` locations (the locations and the emulator's bookkeeping are the caller's).
 */
export function zeroIrpHeader(irp: IRP, PacketSize: number, StackSize: number): void {
  irp.Type = IO_TYPE_IRP;
  irp.Size = PacketSize;
  irp.MdlAddress = null;
  irp.Flags = 0;
  irp.AllocationFlags = 0;
  irp.AssociatedIrp.SystemBuffer = null;
  irp.IoStatus.Status = 0;
  irp.IoStatus.Information = 0;
  irp.RequestorMode = KernelMode;
  irp.PendingReturned = false;
  irp.StackCount = StackSize;
  irp.CurrentLocation = StackSize + 1;
  irp.Cancel = false;
  irp.CancelIrql = 0;
  irp.CancelRoutine = null;
  irp.UserBuffer = null;
  irp.UserIosb = null;
  irp.UserEvent = null;
  irp.Tail.Overlay.Thread = null;
  irp.Tail.Overlay.OriginalFileObject = null;
}

/**
 * @internal A device control request's location: `major` (IRP_MJ_DEVICE_CONTROL or the internal
 * one), the control code and both buffer lengths. Returns the parameters for the rest.
 */
export function setDeviceControl(
  sl: IO_STACK_LOCATION, major: number, IoControlCode: number, InputBufferLength: number, OutputBufferLength: number,
): IoStackParameters['DeviceIoControl'] {
  sl.MajorFunction = major;
  const p = sl.Parameters.DeviceIoControl;
  p.IoControlCode = IoControlCode;
  p.InputBufferLength = InputBufferLength;
  p.OutputBufferLength = OutputBufferLength;
  return p;
}

/** A deep copy of a location's Parameters (IoCopyCurrentIrpStackLocationToNext). */
function copyParameters(p: IoStackParameters): IoStackParameters {
  return {
    Create: { ...p.Create, SecurityContext: { ...p.Create.SecurityContext } },
    Read: { ...p.Read },
    Write: { ...p.Write },
    DeviceIoControl: { ...p.DeviceIoControl },
    Others: { ...p.Others },
  };
}

/**
 * An IRP object as IoInitializeIrp leaves it: zeroed, Type IO_TYPE_IRP, Size = PacketSize,
 * StackCount, CurrentLocation = StackCount + 1 (the packet's memory is the caller's business:
 * pool or a reserve).
 */
export function newIrp(address: number, StackSize: number, reserve: boolean, PacketSize = IoSizeOfIrp(StackSize),
                       kind: IrpKind = reserve ? 'reserve' : 'user'): IRP {
  const Stack: IO_STACK_LOCATION[] = [];
  for (let i = 0; i < StackSize; i++) Stack.push(newStackLocation());
  const irp: IRP = {
    Type: IO_TYPE_IRP,
    Size: PacketSize,
    address,
    MdlAddress: null,
    Flags: 0,
    AllocationFlags: 0,
    AssociatedIrp: { SystemBuffer: null },
    IoStatus: { Status: 0, Information: 0 },
    RequestorMode: KernelMode,
    PendingReturned: false,
    StackCount: StackSize,
    CurrentLocation: StackSize + 1,
    Cancel: false,
    CancelIrql: 0,
    CancelRoutine: null,
    UserBuffer: null,
    UserIosb: null,
    UserEvent: null,
    Tail: {
      Overlay: {
        Thread: null,
        OriginalFileObject: null,
        get CurrentStackLocation(): IO_STACK_LOCATION | null {
          return irp.Stack[irp.CurrentLocation - 1] ?? null;
        },
      },
    },
    Stack,
    io: { state: 'allocated', request: null, reserve, kind, allocatedBy: null, outputLength: 0 },
  };
  return irp;
}

/** True for an object that is an IRP built by this I/O manager (Type and bookkeeping present). */
export function isIrp(value: unknown): value is IRP {
  return typeof value === 'object' && value !== null && (value as IRP).Type === IO_TYPE_IRP &&
    typeof (value as IRP).io === 'object' && Array.isArray((value as IRP).Stack);
}

/**
 * IoGetCurrentIrpStackLocation: the caller's stack location. Only meaningful inside a driver
 * that received the IRP (after IoCallDriver); null for a packet no driver owns yet.
 */
export function IoGetCurrentIrpStackLocation(Irp: IRP): IO_STACK_LOCATION {
  return stackLocation(Irp, 1, 'IoGetCurrentIrpStackLocation');
}

/** IoGetNextIrpStackLocation: the location the next-lower driver will see. */
export function IoGetNextIrpStackLocation(Irp: IRP): IO_STACK_LOCATION {
  return stackLocation(Irp, 2, 'IoGetNextIrpStackLocation');
}

/**
 * These are inline macros in wdm.h: handed something that is not an IRP, or an IRP without
 * that location, the driver dereferences a bad pointer. The emulation raises the access
 * violation that would follow; the I/O manager turns an unhandled one in a driver into bug
 * check KMODE_EXCEPTION_NOT_HANDLED.
 */
function stackLocation(Irp: IRP, below: number, routine: string): IO_STACK_LOCATION {
  if (!isIrp(Irp)) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${routine}: argument is not an IRP`);
  const location = Irp.Stack[Irp.CurrentLocation - below];
  if (location === undefined) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION,
      `${routine}: IRP 0x${Irp.address.toString(16)} has no such stack location (CurrentLocation ${Irp.CurrentLocation}, StackCount ${Irp.StackCount})`);
  }
  return location;
}

/**
 * IoSkipCurrentIrpStackLocation(Irp): the next driver gets this driver's location as it is
 * (CurrentLocation + 1; IoCallDriver takes it back). [ddi/wdm nf-wdm-ioskipcurrentirpstacklocation]
 */
export function IoSkipCurrentIrpStackLocation(Irp: IRP): void {
  if (!isIrp(Irp)) ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoSkipCurrentIrpStackLocation: argument is not an IRP');
  Irp.CurrentLocation++;
}

/** IoSetNextIrpStackLocation(Irp): CurrentLocation - 1 (what IoCallDriver does first). */
export function IoSetNextIrpStackLocation(Irp: IRP): void {
  if (!isIrp(Irp)) ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoSetNextIrpStackLocation: argument is not an IRP');
  Irp.CurrentLocation--;
}

/**
 * IoCopyCurrentIrpStackLocationToNext(Irp): the next location gets everything of the current
 * one up to (not including) CompletionRoutine — MajorFunction, MinorFunction, Flags, Parameters,
 * DeviceObject, FileObject — and Control 0. [ddi/wdm nf-wdm-iocopycurrentirpstacklocationtonext]
 */
export function IoCopyCurrentIrpStackLocationToNext(Irp: IRP): void {
  const current = stackLocation(Irp, 1, 'IoCopyCurrentIrpStackLocationToNext');
  const next = stackLocation(Irp, 2, 'IoCopyCurrentIrpStackLocationToNext');
  next.MajorFunction = current.MajorFunction;
  next.MinorFunction = current.MinorFunction;
  next.Flags = current.Flags;
  next.Parameters = copyParameters(current.Parameters);
  next.DeviceObject = current.DeviceObject;
  next.FileObject = current.FileObject;
  next.Control = 0;
}

/**
 * IoSetCompletionRoutine(Irp, CompletionRoutine, Context, InvokeOnSuccess, InvokeOnError,
 * InvokeOnCancel): the routine runs when the next-lower driver completes the IRP, for the
 * outcomes asked for (Control = SL_INVOKE_ON_SUCCESS / _ERROR / _CANCEL on the next location).
 * [ddi/wdm nf-wdm-iosetcompletionroutine]
 */
export function IoSetCompletionRoutine(Irp: IRP, CompletionRoutine: PIO_COMPLETION_ROUTINE | null, Context: unknown,
                                       InvokeOnSuccess: boolean, InvokeOnError: boolean, InvokeOnCancel: boolean): void {
  const next = stackLocation(Irp, 2, 'IoSetCompletionRoutine');
  if (CompletionRoutine !== null && typeof CompletionRoutine !== 'function') {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoSetCompletionRoutine: CompletionRoutine is neither a routine nor NULL');
  }
  next.CompletionRoutine = CompletionRoutine;
  next.Context = Context;
  next.Control = (InvokeOnSuccess ? SL_INVOKE_ON_SUCCESS : 0) | (InvokeOnError ? SL_INVOKE_ON_ERROR : 0) |
    (InvokeOnCancel ? SL_INVOKE_ON_CANCEL : 0);
}

/**
 * ZeroIrpStackLocation, as completion leaves a finished location: MinorFunction, Flags,
 * Control, the parameters and FileObject cleared (MajorFunction and DeviceObject stay).
 */
export function zeroIrpStackLocation(sl: IO_STACK_LOCATION): void {
  sl.MinorFunction = 0;
  sl.Flags = 0;
  sl.Control = 0;
  zeroParameters(sl.Parameters);
  sl.FileObject = null;
  sl.CompletionRoutine = null;
  sl.Context = null;
}

/**
 * IoMarkIrpPending: the driver will return STATUS_PENDING and complete the IRP later.
 * [ddi/wdm nf-wdm-iomarkirppending]
 */
export function IoMarkIrpPending(Irp: IRP): void {
  IoGetCurrentIrpStackLocation(Irp).Control |= SL_PENDING_RETURNED;
}

/**
 * IoSetCancelRoutine: atomically exchange the cancel routine; returns the previous one.
 * A driver that queues an IRP sets one, and clears it (getting back non-null) before it
 * completes the IRP itself. [ddi/wdm nf-wdm-iosetcancelroutine]
 */
export function IoSetCancelRoutine(Irp: IRP, CancelRoutine: PDRIVER_CANCEL | null): PDRIVER_CANCEL | null {
  if (!isIrp(Irp)) ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoSetCancelRoutine: argument is not an IRP');
  if (CancelRoutine !== null && typeof CancelRoutine !== 'function') {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoSetCancelRoutine: CancelRoutine is neither a routine nor NULL');
  }
  const old = Irp.CancelRoutine;
  Irp.CancelRoutine = CancelRoutine;
  return old;
}
