/**
 * DRIVER_OBJECT. [ddi/wdm ns-wdm-_driver_object; kernel: "Writing a DriverEntry Routine",
 * "Writing an Unload Routine"]
 *
 * A driver is a DriverEntry function: the I/O manager creates the object, calls
 * DriverEntry(k, DriverObject, RegistryPath) at PASSIVE_LEVEL, and from then on calls the
 * routines the driver stored in MajorFunction[] and DriverUnload. Entries left NULL are
 * filled with the I/O manager's IopInvalidDeviceRequest, which completes the IRP with
 * STATUS_INVALID_DEVICE_REQUEST, as Windows does.
 */
import type { Kernel } from '../kernel.ts';
import { STATUS_INVALID_DEVICE_REQUEST, type NTSTATUS } from '../status.ts';
import type { DEVICE_OBJECT } from './device-object.ts';
import { IO_NO_INCREMENT, IO_TYPE_DRIVER, IRP_MJ_MAXIMUM_FUNCTION, type IRP } from './irp.ts';
import { IoCompleteRequest } from './irp-completion.ts';

/** DRIVER_OBJECT.Flags (the values the I/O manager sets; kmtests/ntos_io/IoDeviceObject_drv.c). */
export const DRVO_UNLOAD_INVOKED = 0x1;
export const DRVO_LEGACY_DRIVER = 0x2;
export const DRVO_BUILTIN_DRIVER = 0x4;
export const DRVO_INITIALIZED = 0x10;
/** sizeof(DRIVER_OBJECT) on x64: DRIVER_OBJECT.Size. */
export const SIZEOF_DRIVER_OBJECT = 0x150;

/** DRIVER_DISPATCH: (DeviceObject, Irp) → NTSTATUS. The driver keeps `k` from DriverEntry. */
export type PDRIVER_DISPATCH = (DeviceObject: DEVICE_OBJECT, Irp: IRP) => NTSTATUS;
/** DRIVER_UNLOAD. */
export type PDRIVER_UNLOAD = (DriverObject: DRIVER_OBJECT) => void;
/** DRIVER_ADD_DEVICE: the PnP manager hands the driver a physical device object it drives. */
export type PDRIVER_ADD_DEVICE = (DriverObject: DRIVER_OBJECT, PhysicalDeviceObject: DEVICE_OBJECT) => NTSTATUS;
/** DRIVER_INITIALIZE, with the host's kernel first (no globals: several hosts share one process). */
export type PDRIVER_INITIALIZE = (k: Kernel, DriverObject: DRIVER_OBJECT, RegistryPath: string) => NTSTATUS;

export interface DRIVER_OBJECT {
  readonly Type: typeof IO_TYPE_DRIVER;
  /** sizeof(DRIVER_OBJECT). */
  readonly Size: number;
  /** Head of the driver's device list (linked through NextDevice, newest first). */
  DeviceObject: DEVICE_OBJECT | null;
  Flags: number;
  /** "\Driver\<ServiceName>". */
  readonly DriverName: string;
  readonly DriverExtension: { readonly ServiceKeyName: string; AddDevice: PDRIVER_ADD_DEVICE | null };
  /** IRP_MJ_CREATE .. IRP_MJ_MAXIMUM_FUNCTION; never null after DriverEntry. */
  readonly MajorFunction: (PDRIVER_DISPATCH | null)[];
  DriverUnload: PDRIVER_UNLOAD | null;
  /** I/O manager bookkeeping; not part of the WDK structure. */
  readonly io: { state: 'initializing' | 'loaded' | 'unload-pending' | 'unloaded' | 'failed'; readonly invalidRequest: PDRIVER_DISPATCH };
}

/** A fresh driver object whose MajorFunction[] all point at IopInvalidDeviceRequest. */
export function newDriverObject(k: Kernel, serviceName: string): DRIVER_OBJECT {
  const invalidRequest: PDRIVER_DISPATCH = (_DeviceObject, Irp) => {
    Irp.IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST;
    Irp.IoStatus.Information = 0;
    IoCompleteRequest(k, Irp, IO_NO_INCREMENT);
    return STATUS_INVALID_DEVICE_REQUEST;
  };
  return {
    Type: IO_TYPE_DRIVER,
    Size: SIZEOF_DRIVER_OBJECT,
    DeviceObject: null,
    // A driver loaded through ZwLoadDriver is a legacy driver until it says otherwise; the I/O
    // manager adds DRVO_INITIALIZED after DriverEntry and DRVO_UNLOAD_INVOKED before DriverUnload.
    Flags: DRVO_LEGACY_DRIVER,
    DriverName: `\\Driver\\${serviceName}`,
    DriverExtension: { ServiceKeyName: serviceName, AddDevice: null },
    MajorFunction: new Array<PDRIVER_DISPATCH | null>(IRP_MJ_MAXIMUM_FUNCTION + 1).fill(invalidRequest),
    DriverUnload: null,
    io: { state: 'initializing', invalidRequest },
  };
}

export function isDriverObject(value: unknown): value is DRIVER_OBJECT {
  return typeof value === 'object' && value !== null && (value as DRIVER_OBJECT).Type === IO_TYPE_DRIVER &&
    typeof (value as DRIVER_OBJECT).io === 'object' && Array.isArray((value as DRIVER_OBJECT).MajorFunction);
}
