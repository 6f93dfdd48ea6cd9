/**
 * DriverEntry, AddDevice and DriverUnload of the SAN proxy driver.
 * [network: "Initializing and Unloading a SAN Proxy Driver", "Allocating and Releasing Memory
 * for a SAN Proxy Driver"]
 *
 * DriverEntry creates the control device \Device\SanProxy that the SAN service provider opens,
 * sets DO_DIRECT_IO in its Flags so the Windows Sockets switch can move control messages and
 * do RDMA on user buffers, fills MajorFunction and DriverUnload, and subscribes to IP address
 * changes. It initializes the lookaside lists its per-request records come from (records.ts;
 * Parameters\LookasideLists = 0 keeps them off). AddDevice runs once per SAN NIC (its PDO): it
 * obtains the NIC's DMA adapter from a zero-initialized DEVICE_DESCRIPTION (nic-adapter.ts).
 * DriverUnload puts the adapters, deletes the device and then the lookaside lists; the I/O manager
 * only unloads once every handle is closed, and each handle's IRP_MJ_CLEANUP has released what it
 * held, so nothing is left and every record is back in its list before the list is deleted.
 */
import {
  DO_DEVICE_INITIALIZING,
  DO_DIRECT_IO,
  IRP_MJ_CLEANUP,
  IRP_MJ_CLOSE,
  IRP_MJ_CREATE,
  IRP_MJ_DEVICE_CONTROL,
  IoCreateDevice,
  IoCreateSymbolicLink,
  IoDeleteDevice,
  IoDeleteSymbolicLink,
  type DEVICE_OBJECT,
  type DRIVER_OBJECT,
} from '../kernel/io/index.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { MibAddInstance, type UnicastAddress } from '../kernel/net/ip-addresses.ts';
import { ref } from '../kernel/ref.ts';
import {
  NT_SUCCESS,
  STATUS_INSUFFICIENT_RESOURCES,
  STATUS_INVALID_PARAMETER,
  STATUS_NOT_SUPPORTED,
  STATUS_SUCCESS,
  type NTSTATUS,
} from '../kernel/status.ts';
import {
  LOOKASIDE_LISTS_OFF, LOOKASIDE_LISTS_ON, LOW_MEMORY_STRATEGY_COMMON_BUFFER, LOW_MEMORY_STRATEGY_CONTIGUOUS, SANPROXY_PARAMETERS_KEY,
} from './constants.ts';
import { dispatchCleanup, dispatchClose, dispatchCreate, dispatchDeviceControl } from './dispatch.ts';
import { FILE_DEVICE_SANPROXY, SANPROXY_DEVICE_NAME, SANPROXY_DOS_NAME } from './interface.ts';
import { openNicAdapter } from './nic-adapter.ts';
import { ProxyDriverState, setProxyState } from './state.ts';

export function SanProxyDriverEntry(k: Kernel, DriverObject: DRIVER_OBJECT, RegistryPath: string): NTSTATUS {
  const parametersKey = typeof RegistryPath === 'string' && RegistryPath.length > 0 ? `${RegistryPath}\\Parameters` : SANPROXY_PARAMETERS_KEY;
  const parameter = (name: string) => k.registry.queryValue(parametersKey, name) ?? k.registry.queryValue(SANPROXY_PARAMETERS_KEY, name);
  const strategyValue = parameter('LowMemoryStrategy') ?? LOW_MEMORY_STRATEGY_CONTIGUOUS;
  if (strategyValue !== LOW_MEMORY_STRATEGY_CONTIGUOUS && strategyValue !== LOW_MEMORY_STRATEGY_COMMON_BUFFER) {
    return STATUS_INVALID_PARAMETER;
  }
  const lookasideValue = parameter('LookasideLists') ?? LOOKASIDE_LISTS_ON;
  if (lookasideValue !== LOOKASIDE_LISTS_OFF && lookasideValue !== LOOKASIDE_LISTS_ON) return STATUS_INVALID_PARAMETER;
  const state = new ProxyDriverState(k, strategyValue === LOW_MEMORY_STRATEGY_CONTIGUOUS ? 'contiguous' : 'common-buffer',
    lookasideValue === LOOKASIDE_LISTS_ON);
  let status = state.records.initialize();
  if (!NT_SUCCESS(status)) return status;

  const device = ref<DEVICE_OBJECT | null>(null);
  status = IoCreateDevice(k, DriverObject, 0, SANPROXY_DEVICE_NAME, FILE_DEVICE_SANPROXY, 0, false, device);
  if (!NT_SUCCESS(status) || device.value === null) {
    // A failed DriverEntry is not followed by DriverUnload: delete the lists here.
    state.records.delete();
    return NT_SUCCESS(status) ? STATUS_INSUFFICIENT_RESOURCES : status;
  }
  const control = device.value;
  status = IoCreateSymbolicLink(k, SANPROXY_DOS_NAME, SANPROXY_DEVICE_NAME);
  if (!NT_SUCCESS(status)) {
    IoDeleteDevice(k, control);
    state.records.delete();
    return status;
  }
  // The page's first requirement: direct I/O on the device, so the switch can move control
  // messages and RDMA data on user buffers without the I/O manager copying them.
  control.Flags |= DO_DIRECT_IO;
  state.control = control;

  DriverObject.MajorFunction[IRP_MJ_CREATE] = (d, irp) => dispatchCreate(state, d, irp);
  DriverObject.MajorFunction[IRP_MJ_CLEANUP] = (d, irp) => dispatchCleanup(state, d, irp);
  DriverObject.MajorFunction[IRP_MJ_CLOSE] = (d, irp) => dispatchClose(state, d, irp);
  DriverObject.MajorFunction[IRP_MJ_DEVICE_CONTROL] = (d, irp) => dispatchDeviceControl(state, d, irp);
  DriverObject.DriverUnload = () => unload(state);
  DriverObject.DriverExtension.AddDevice = (_driver, pdo) => addDevice(state, pdo);

  state.addressNotification = k.net.notify((row, type) => addressChanged(state, row, type));
  setProxyState(k, state);
  control.Flags &= ~DO_DEVICE_INITIALIZING;
  return STATUS_SUCCESS;
}

function addDevice(state: ProxyDriverState, pdo: DEVICE_OBJECT): NTSTATUS {
  if (pdo === null || typeof pdo !== 'object') return STATUS_INVALID_PARAMETER;
  const pnic = openNicAdapter(state.k, pdo, state.nics.length);
  if (pnic === null) return pdo.pciDevice ? STATUS_INSUFFICIENT_RESOURCES : STATUS_NOT_SUPPORTED;
  state.nics.push(pnic);
  // Addresses already configured on the NIC's interface before the driver saw it.
  pnic.nic.setIpAddresses(state.k.net.list().filter((r) => r.interfaceIndex === pnic.interfaceIndex).map((r) => r.address));
  return STATUS_SUCCESS;
}

function addressChanged(state: ProxyDriverState, row: UnicastAddress, type: number): void {
  const pnic = state.nics.find((n) => n.interfaceIndex === row.interfaceIndex);
  if (!pnic) return;
  const current = pnic.nic.ipAddresses.filter((a) => a !== row.address);
  pnic.nic.setIpAddresses(type === MibAddInstance ? [...current, row.address] : current);
}

function unload(state: ProxyDriverState): void {
  const k = state.k;
  if (state.opens.size > 0) throw new Error('SanProxy invariant: DriverUnload with handles still open');
  k.net.cancel(state.addressNotification);
  for (const pnic of state.nics.splice(0)) {
    pnic.nic.setIpAddresses([]);
    pnic.adapter.DmaOperations.PutDmaAdapter(pnic.adapter);
  }
  IoDeleteSymbolicLink(k, SANPROXY_DOS_NAME);
  if (state.control) IoDeleteDevice(k, state.control);
  state.control = null;
  // Every record went back with its registration or allocation at IRP_MJ_CLEANUP: the lists hold
  // only cached entries, which ExDeleteLookasideListEx frees. A list left active past unload
  // would stop the next balance-set scan with 0xCE.
  const outstanding = state.records.outstanding();
  if (outstanding > 0) throw new Error(`SanProxy invariant: DriverUnload with ${outstanding} records still out of the lookaside lists`);
  state.records.delete();
  setProxyState(k, null);
}
