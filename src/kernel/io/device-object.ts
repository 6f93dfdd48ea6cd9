/**
 * DEVICE_OBJECT, IoCreateDevice and IoDeleteDevice. [ddi/wdm nf-wdm-iocreatedevice,
 * nf-wdm-iodeletedevice, ns-wdm-_device_object; kernel: "Initializing a Device Object"]
 *
 * Implementation notes
 * - The device object and its extension are one zeroed nonpaged pool block (tag 'Devi'), as
 *   IoCreateDevice allocates them; DeviceExtension is the system VA of the extension (read
 *   and write it with k.mm.system), or null when DeviceExtensionSize is 0.
 * - A new device has DO_DEVICE_INITIALIZING set. The I/O manager clears it for devices made
 *   during DriverEntry; a device created later must be cleared by its driver, and until then
 *   it cannot be opened (STATUS_NO_SUCH_DEVICE). [kernel: "Initializing a Device Object"]
 * - IoDeleteDevice removes the name at once; the memory goes when the last file object on the
 *   device is closed (ReferenceCount), as the object manager keeps a referenced object.
 * - Size is sizeof(DEVICE_OBJECT) alone, 0x150 on x64: the DEVOBJ_EXTENSION that follows in the
 *   same block is not counted (kmtests/ntos_io/IoDeviceObject_drv.c: Size == 0xb8, the x86
 *   sizeof(DEVICE_OBJECT)). DeviceObjectExtension has Type 13 (IO_TYPE_DEVICE_OBJECT_EXTENSION),
 *   Size 0, the back pointer, and ExtensionFlags DOE_UNLOAD_PENDING once the driver's unload
 *   has begun (the same test, inside DriverUnload).
 */
import type { Kernel } from '../kernel.ts';
import { isUlong } from '../ulong.ts';
import type { Ref } from '../ref.ts';
import {
  ExRaiseStatus, STATUS_ACCESS_VIOLATION, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER,
  STATUS_OBJECT_NAME_COLLISION, STATUS_SUCCESS, type NTSTATUS,
} from '../status.ts';
import { PASSIVE_LEVEL } from '../irql.ts';
import type { PciDevice } from '../hal/pci.ts';
import type { DRIVER_OBJECT } from './driver-object.ts';
import { IO_TYPE_DEVICE, type IRP } from './irp.ts';
import { allocateNonPaged, TAG_DEVICE } from './io-pool.ts';
import { parseObjectName } from './object-namespace.ts';

/** DEVICE_OBJECT.Flags (wdm.h). DO_BUFFERED_IO / DO_DIRECT_IO apply to READ and WRITE only. */
export const DO_VERIFY_VOLUME = 0x00000002;
export const DO_BUFFERED_IO = 0x00000004;
export const DO_EXCLUSIVE = 0x00000008;
export const DO_DIRECT_IO = 0x00000010;
export const DO_MAP_IO_BUFFER = 0x00000020;
export const DO_DEVICE_HAS_NAME = 0x00000040;
export const DO_DEVICE_INITIALIZING = 0x00000080;
export const DO_POWER_PAGABLE = 0x00002000;

/** DeviceCharacteristics (wdm.h). */
export const FILE_REMOVABLE_MEDIA = 0x00000001;
export const FILE_READ_ONLY_DEVICE = 0x00000002;
export const FILE_DEVICE_SECURE_OPEN = 0x00000100;

/** DEVICE_TYPE values (devioctl.h); vendors use 0x8000 and above. */
export const FILE_DEVICE_DISK = 0x00000007;
export const FILE_DEVICE_NETWORK = 0x00000012;
export const FILE_DEVICE_NULL = 0x00000015;
export const FILE_DEVICE_TRANSPORT = 0x00000021;
export const FILE_DEVICE_UNKNOWN = 0x00000022;
export const FILE_DEVICE_BUS_EXTENDER = 0x0000002a;

/** AlignmentRequirement values. */
export const FILE_BYTE_ALIGNMENT = 0x00000000;
export const FILE_WORD_ALIGNMENT = 0x00000001;
export const FILE_LONG_ALIGNMENT = 0x00000003;
export const FILE_QUAD_ALIGNMENT = 0x00000007;

/** sizeof(DEVICE_OBJECT) on x64: DEVICE_OBJECT.Size. */
export const SIZEOF_DEVICE_OBJECT = 0x150;
/** sizeof(DEVICE_OBJECT) + sizeof(DEVOBJ_EXTENSION) on x64: the block; the device extension follows. */
const DEVICE_OBJECT_BYTES = SIZEOF_DEVICE_OBJECT + 0x70;
/** DEVOBJ_EXTENSION.Type. */
export const IO_TYPE_DEVICE_OBJECT_EXTENSION = 13;
/** DEVOBJ_EXTENSION.ExtensionFlags: the driver is being unloaded. */
export const DOE_UNLOAD_PENDING = 0x1;
export const DOE_DELETE_PENDING = 0x2;

/** DEVOBJ_EXTENSION (the fields a driver or a debugger reads). */
export interface DEVOBJ_EXTENSION {
  readonly Type: typeof IO_TYPE_DEVICE_OBJECT_EXTENSION;
  readonly Size: number;
  readonly DeviceObject: DEVICE_OBJECT;
  ExtensionFlags: number;
  AttachedTo: DEVICE_OBJECT | null;
  StartIoCount: number;
  StartIoKey: number;
  StartIoFlags: number;
}

export interface DEVICE_OBJECT {
  readonly Type: typeof IO_TYPE_DEVICE;
  readonly Size: number;
  /** Open file objects on the device (the object manager's references that keep it alive). */
  ReferenceCount: number;
  readonly DriverObject: DRIVER_OBJECT;
  NextDevice: DEVICE_OBJECT | null;
  AttachedDevice: DEVICE_OBJECT | null;
  CurrentIrp: IRP | null;
  Flags: number;
  Characteristics: number;
  /** System VA of the zeroed DeviceExtensionSize bytes, or null. */
  readonly DeviceExtension: number | null;
  /** The DEVOBJ_EXTENSION the I/O manager keeps after the device object. */
  readonly DeviceObjectExtension: DEVOBJ_EXTENSION;
  readonly DeviceType: number;
  StackSize: number;
  AlignmentRequirement: number;
  /** For a PCI physical device object: the HAL's PCI function (what IoGetDmaAdapter reads). */
  pciDevice: PciDevice | null;
  /** The object name ("\Device\San0") or null for an unnamed device. */
  readonly DeviceName: string | null;
  /** Pool address of the object (what a debugger shows as the device object). */
  readonly address: number;
  /** I/O manager bookkeeping; not part of the WDK structure. */
  readonly io: { deletePending: boolean; freed: boolean; createdDuringDriverEntry: boolean };
}

export function isDeviceObject(value: unknown): value is DEVICE_OBJECT {
  return typeof value === 'object' && value !== null && (value as DEVICE_OBJECT).Type === IO_TYPE_DEVICE &&
    typeof (value as DEVICE_OBJECT).io === 'object';
}


/**
 * IoCreateDevice (IRQL = PASSIVE_LEVEL).
 * ```ts
 * const dev = ref<DEVICE_OBJECT | null>(null);
 * const s = IoCreateDevice(k, DriverObject, 64, '\\Device\\San0', FILE_DEVICE_NETWORK, 0, false, dev);
 * ```
 * STATUS_OBJECT_NAME_COLLISION for a name in use, STATUS_OBJECT_NAME_INVALID /
 * STATUS_OBJECT_PATH_NOT_FOUND for a bad name, STATUS_INSUFFICIENT_RESOURCES when the pool
 * block cannot be had. On failure nothing is created and DeviceObject is not written.
 */
export function IoCreateDevice(
  k: Kernel,
  DriverObject: DRIVER_OBJECT,
  DeviceExtensionSize: number,
  DeviceName: string | null,
  DeviceType: number,
  DeviceCharacteristics: number,
  Exclusive: boolean,
  DeviceObject: Ref<DEVICE_OBJECT | null>,
): NTSTATUS {
  const io = k.io;
  io.checkIrql(PASSIVE_LEVEL, 'IoCreateDevice');
  if (!io.isLiveDriverObject(DriverObject)) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoCreateDevice: DriverObject is not a driver object of this host');
  }
  if (typeof DeviceObject !== 'object' || DeviceObject === null) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoCreateDevice: DeviceObject out parameter is NULL');
  }
  if (!isUlong(DeviceExtensionSize) || !isUlong(DeviceType) || !isUlong(DeviceCharacteristics) ||
      typeof Exclusive !== 'boolean') {
    return STATUS_INVALID_PARAMETER;
  }
  if (DeviceName !== null) {
    const parsed = parseObjectName(DeviceName);
    if (typeof parsed === 'number') return parsed;
    if (io.namespace.hasDevice(DeviceName)) return STATUS_OBJECT_NAME_COLLISION;
  }
  const extensionBytes = Math.ceil(DeviceExtensionSize / 16) * 16; // not & ~15: ULONG sizes exceed int32
  const size = DEVICE_OBJECT_BYTES + extensionBytes;
  if (!Number.isSafeInteger(size) || size > 0xffffffff) return STATUS_INSUFFICIENT_RESOURCES;
  const address = allocateNonPaged(k, size, TAG_DEVICE, true);
  if (address === null) return STATUS_INSUFFICIENT_RESOURCES;
  const device = {
    Type: IO_TYPE_DEVICE,
    Size: SIZEOF_DEVICE_OBJECT,
    ReferenceCount: 0,
    DriverObject,
    NextDevice: DriverObject.DeviceObject,
    AttachedDevice: null,
    CurrentIrp: null,
    Flags: DO_DEVICE_INITIALIZING | (Exclusive ? DO_EXCLUSIVE : 0) | (DeviceName !== null ? DO_DEVICE_HAS_NAME : 0),
    Characteristics: DeviceCharacteristics,
    DeviceExtension: DeviceExtensionSize > 0 ? address + DEVICE_OBJECT_BYTES : null,
    DeviceObjectExtension: null as unknown as DEVOBJ_EXTENSION,
    DeviceType,
    StackSize: 1,
    AlignmentRequirement: FILE_BYTE_ALIGNMENT,
    pciDevice: null,
    DeviceName,
    address,
    io: { deletePending: false, freed: false, createdDuringDriverEntry: io.isInDriverEntry(DriverObject) },
  } satisfies DEVICE_OBJECT as DEVICE_OBJECT;
  (device as { DeviceObjectExtension: DEVOBJ_EXTENSION }).DeviceObjectExtension = {
    Type: IO_TYPE_DEVICE_OBJECT_EXTENSION, Size: 0, DeviceObject: device, ExtensionFlags: 0, AttachedTo: null,
    StartIoCount: 0, StartIoKey: 0, StartIoFlags: 0,
  };
  if (DeviceName !== null) {
    const status = io.namespace.insertDevice(DeviceName, device);
    if (status !== STATUS_SUCCESS) {
      io.freeDeviceMemory(device);
      return status;
    }
  }
  // Windows links a new device at the head of the driver's list.
  DriverObject.DeviceObject = device;
  io.noteDeviceCreated(device);
  DeviceObject.value = device;
  return STATUS_SUCCESS;
}

/**
 * IoDeleteDevice (IRQL = PASSIVE_LEVEL): the name goes now, the memory when the last open
 * file object on the device is closed. Deleting a device twice is a driver touching a freed
 * object: the emulation raises the access violation that follows.
 */
export function IoDeleteDevice(k: Kernel, DeviceObject: DEVICE_OBJECT): void {
  const io = k.io;
  io.checkIrql(PASSIVE_LEVEL, 'IoDeleteDevice');
  if (!isDeviceObject(DeviceObject) || DeviceObject.io.freed || DeviceObject.io.deletePending ||
      !io.isLiveDriverObject(DeviceObject.DriverObject)) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoDeleteDevice: not a live device object (deleted twice?)');
  }
  io.deleteDevice(DeviceObject);
}
