/**
 * FILE_OBJECT: one open instance of a device, what a handle names. [ddi/wdm
 * ns-wdm-_file_object; kernel: "File Objects"]
 *
 * Implementation notes
 * - A file object is a nonpaged pool block (tag 'File') that also holds the reserve IRP the
 *   I/O manager uses for IRP_MJ_CLEANUP and IRP_MJ_CLOSE. Windows must never fail a close
 *   (it allocates those IRPs "must succeed"); reserving the packet when the file is opened
 *   gets the same guarantee while every allocation still goes through the fault point.
 * - References: one per handle plus one per IRP in flight. The last handle closed sends
 *   IRP_MJ_CLEANUP (in the closing process's context); the last reference dropped sends
 *   IRP_MJ_CLOSE. So a pending IRP keeps the file object (and its device) alive.
 */
import type { Process } from '../ps/process.ts';
import type { DEVICE_OBJECT } from './device-object.ts';
import { IO_TYPE_FILE, IoSizeOfIrp, type IRP } from './irp.ts';

/** FILE_OBJECT.Flags (wdm.h). */
export const FO_SYNCHRONOUS_IO = 0x00000002;
export const FO_CLEANUP_COMPLETE = 0x00004000;
export const FO_HANDLE_CREATED = 0x00040000;

/** Access rights (winnt.h). */
export const FILE_READ_DATA = 0x0001;
export const FILE_WRITE_DATA = 0x0002;
export const FILE_APPEND_DATA = 0x0004;
export const FILE_READ_EA = 0x0008;
export const FILE_WRITE_EA = 0x0010;
export const FILE_EXECUTE = 0x0020;
export const FILE_READ_ATTRIBUTES = 0x0080;
export const FILE_WRITE_ATTRIBUTES = 0x0100;
export const DELETE = 0x00010000;
export const READ_CONTROL = 0x00020000;
export const WRITE_DAC = 0x00040000;
export const WRITE_OWNER = 0x00080000;
export const SYNCHRONIZE = 0x00100000;
export const STANDARD_RIGHTS_REQUIRED = 0x000f0000;
export const MAXIMUM_ALLOWED = 0x02000000;
export const GENERIC_ALL = 0x10000000;
export const GENERIC_EXECUTE = 0x20000000;
export const GENERIC_WRITE = 0x40000000;
export const GENERIC_READ = 0x80000000;

export const FILE_GENERIC_READ = READ_CONTROL | FILE_READ_DATA | FILE_READ_ATTRIBUTES | FILE_READ_EA | SYNCHRONIZE;
export const FILE_GENERIC_WRITE =
  READ_CONTROL | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | FILE_WRITE_EA | FILE_APPEND_DATA | SYNCHRONIZE;
export const FILE_GENERIC_EXECUTE = READ_CONTROL | FILE_READ_ATTRIBUTES | FILE_EXECUTE | SYNCHRONIZE;
export const FILE_ALL_ACCESS = STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x1ff;

/** Specific and standard rights a file handle can hold. */
const VALID_FILE_RIGHTS = FILE_ALL_ACCESS | MAXIMUM_ALLOWED;

/**
 * Map GENERIC_* through the file object type's generic mapping (RtlMapGenericMask with
 * IoFileObjectType's mapping). Returns null when reserved bits are set. Devices here have no
 * security descriptor, so MAXIMUM_ALLOWED grants FILE_ALL_ACCESS.
 */
export function mapFileAccess(desired: number): number | null {
  // Accept the signed form too: GENERIC_READ | GENERIC_WRITE is negative in JavaScript.
  if (!Number.isInteger(desired) || desired < -0x80000000 || desired > 0xffffffff) return null;
  let access = desired >>> 0;
  let granted = 0;
  if (access & GENERIC_READ) granted |= FILE_GENERIC_READ;
  if (access & GENERIC_WRITE) granted |= FILE_GENERIC_WRITE;
  if (access & GENERIC_EXECUTE) granted |= FILE_GENERIC_EXECUTE;
  if (access & GENERIC_ALL) granted |= FILE_ALL_ACCESS;
  access &= ~(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL) >>> 0;
  if ((access & ~VALID_FILE_RIGHTS) !== 0) return null;
  if (access & MAXIMUM_ALLOWED) granted |= FILE_ALL_ACCESS;
  granted |= access & ~MAXIMUM_ALLOWED;
  return granted >>> 0;
}

/** sizeof(FILE_OBJECT) on x64; the reserve IRP follows it in the same block. */
export const FILE_OBJECT_BYTES = 0xd8;
export const FILE_OBJECT_BLOCK_BYTES = FILE_OBJECT_BYTES + IoSizeOfIrp(1);

export interface FILE_OBJECT {
  readonly Type: typeof IO_TYPE_FILE;
  readonly address: number;
  readonly DeviceObject: DEVICE_OBJECT;
  /** Per-open driver context (PVOID in the WDK; any value here). */
  FsContext: unknown;
  FsContext2: unknown;
  /** The rest of the path after the device name ("\\.\San0\x" → "\x"). */
  readonly FileName: string;
  Flags: number;
  /** Position for synchronous ReadFile/WriteFile without an OVERLAPPED offset. */
  CurrentByteOffset: number;
  /** I/O manager bookkeeping; not part of the WDK structure. */
  readonly io: {
    readonly process: Process;
    handleCount: number;
    references: number;
    readonly pendingIrps: Set<IRP>;
    closed: boolean;
  };
}
