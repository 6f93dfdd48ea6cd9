/**
 * IRP and IO_STACK_LOCATION. [kernel: "I/O Request Packets", "I/O Stack Locations";
 * ddi/wdm ns-wdm-_irp, ns-wdm-_io_stack_location]
 *
 * Implementation notes
 * - An IRP lives in nonpaged pool (tag 'Irp ') so pool accounting, fault injection and the
 *   address printed in bug checks (MULTIPLE_IRP_COMPLETE_REQUESTS P1) are real. The fields a
 *   driver reads are plain properties with WDK names; the I/O manager's own bookkeeping hangs
 *   off `Irp.io` and drivers must not touch it.
 * - The I/O manager sends requests with one stack location per device (StackSize 1: no filter
 *   drivers are modelled). CurrentLocation counts down as in Windows: a fresh IRP has
 *   CurrentLocation = StackCount + 1 and IoCallDriver moves it to StackCount.
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
export const IoSizeOfIrp = (StackSize: number): number => SIZEOF_IRP + StackSize * SIZEOF_IO_STACK_LOCATION;

export interface IO_STATUS_BLOCK {
  Status: NTSTATUS;
  Information: number;
}

export type PDRIVER_CANCEL = (DeviceObject: DEVICE_OBJECT, Irp: IRP) => void;

/** The Parameters union; only the member matching MajorFunction is meaningful. */
export interface IoStackParameters {
  Create: { SecurityContext: { DesiredAccess: number }; Options: number; FileAttributes: number; ShareAccess: number; EaLength: number };
  Read: { Length: number; Key: number; ByteOffset: number };
  Write: { Length: number; Key: number; ByteOffset: number };
  DeviceIoControl: { OutputBufferLength: number; InputBufferLength: number; IoControlCode: number; Type3InputBuffer: number | null };
}

export interface IO_STACK_LOCATION {
  MajorFunction: number;
  MinorFunction: number;
  Flags: number;
  Control: number;
  Parameters: IoStackParameters;
  DeviceObject: DEVICE_OBJECT | null;
  FileObject: FILE_OBJECT | null;
}

/** The I/O manager's private view of an IRP it built for a user request. */
export interface IrpBookkeeping {
  /** allocated → dispatched → completed → freed. */
  state: 'allocated' | 'dispatched' | 'completed' | 'freed';
  /** Set for requests from user mode; completion hands the result to it. */
  request: UserRequestRecord | null;
  /** The reserve IRP of a file object (cleanup/close), not a pool block of its own. */
  reserve: boolean;
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
  readonly Type: typeof IO_TYPE_IRP;
  readonly Size: number;
  /** Pool address of the packet (what a debugger prints for the IRP). */
  readonly address: number;
  MdlAddress: Mdl | null;
  Flags: number;
  AssociatedIrp: { SystemBuffer: number | null };
  IoStatus: IO_STATUS_BLOCK;
  RequestorMode: number;
  PendingReturned: boolean;
  readonly StackCount: number;
  CurrentLocation: number;
  Cancel: boolean;
  CancelIrql: number;
  CancelRoutine: PDRIVER_CANCEL | null;
  /** User output buffer (buffered read/ioctl copy-out target, METHOD_NEITHER output, neither-I/O read/write). */
  UserBuffer: number | null;
  Tail: {
    Overlay: {
      /** The requesting thread; this emulator has one thread per process, so the process. */
      Thread: Process | null;
      OriginalFileObject: FILE_OBJECT | null;
      CurrentStackLocation: IO_STACK_LOCATION | null;
    };
  };
  /** IRP stack locations, index 0 = the lowest driver's (location number 1). */
  readonly Stack: IO_STACK_LOCATION[];
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
    },
    DeviceObject: null,
    FileObject: null,
  };
}

/** An IRP object (the packet's memory is the caller's business: pool or a reserve). */
export function newIrp(address: number, StackSize: number, reserve: boolean): IRP {
  const Stack: IO_STACK_LOCATION[] = [];
  for (let i = 0; i < StackSize; i++) Stack.push(newStackLocation());
  return {
    Type: IO_TYPE_IRP,
    Size: IoSizeOfIrp(StackSize),
    address,
    MdlAddress: null,
    Flags: 0,
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
    Tail: { Overlay: { Thread: null, OriginalFileObject: null, CurrentStackLocation: null } },
    Stack,
    io: { state: 'allocated', request: null, reserve },
  };
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
