/**
 * The slice of the PnP manager the emulation needs: when a bus driver reports a device, the
 * function driver's AddDevice(DriverObject, PhysicalDeviceObject) runs. That is how a driver
 * learns the PDO it passes to IoGetDmaAdapter. [kernel: "Writing an AddDevice Routine"]
 * Start/stop/remove IRPs are not modelled: a driver tears its per-device state down in
 * DriverUnload.
 */
import type { Kernel } from '../kernel.ts';
import { PASSIVE_LEVEL } from '../irql.ts';
import { STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_NOT_FOUND, type NTSTATUS } from '../status.ts';
import type { DEVICE_OBJECT } from './device-object.ts';

/** Offer `PhysicalDeviceObject` to the loaded driver `ServiceName` (calls its AddDevice). */
export function PnpAddDevice(k: Kernel, ServiceName: string, PhysicalDeviceObject: DEVICE_OBJECT): NTSTATUS {
  k.io.checkIrql(PASSIVE_LEVEL, 'PnpAddDevice');
  const driver = typeof ServiceName === 'string' ? k.io.driver(ServiceName) : null;
  if (driver === null) return STATUS_OBJECT_NAME_NOT_FOUND;
  if (PhysicalDeviceObject === null || typeof PhysicalDeviceObject !== 'object') return STATUS_INVALID_PARAMETER;
  const addDevice = driver.DriverExtension.AddDevice;
  if (addDevice === null) return STATUS_INVALID_DEVICE_REQUEST;
  return k.io.callDriver(driver, 'AddDevice', () => addDevice(driver, PhysicalDeviceObject));
}
