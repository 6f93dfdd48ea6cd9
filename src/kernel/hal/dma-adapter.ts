/**
 * IoGetDmaAdapter and the DMA_ADAPTER / DMA_OPERATIONS it returns (nf-wdm-iogetdmaadapter,
 * ns-wdm-_dma_operations, nc-wdm-pput_dma_adapter, -pget_dma_alignment, -pget_dma_adapter_info).
 *
 * Implementation notes
 * - The adapter's address width is min(what the description asks for, what the PCI function's
 *   DMA engine drives): a driver cannot talk a 32-bit engine into 64-bit addressing.
 * - NumberOfMapRegisters = BYTES_TO_PAGES(MaximumLength) + 1. When the adapter may need bounce
 *   buffers (no IOMMU and RAM beyond its reach) it is capped at the HAL's per-adapter maximum
 *   (and the host's map register file), as Windows returns "that many or fewer".
 * - One DMA_OPERATIONS table per version per host; its members close over the host, so a driver
 *   calls them exactly as in C. Tables and adapters are frozen: a driver cannot patch them.
 * - A NULL PhysicalDeviceObject (legacy HalGetAdapter-style use) or one without a PCI function
 *   gets NULL: this machine has no system DMA controller and no bus but PCI.
 * - Unknown Version: NULL; with the verifier on, 0xE6 P1=0x25 (P2 = the version).
 * - PutDmaAdapter with common buffers (0x07, P2 adapter id, P3 count) or scatter/gather lists
 *   (0x0A, P2 adapter id, P3 count) outstanding stops the host with the verifier on. With it off the
 *   adapter is released anyway and what it still held stays allocated — leaked, as on Windows —
 *   and is listed by `k.hal.counters()` (leakedAdapters, byAdapter) and a finding.
 * - PutDmaAdapter with scatter/gather requests still waiting for map registers: each holds an
 *   adapter channel request, so 0xE6/0x08 (P2 adapter id, P3 count) with the verifier on; with
 *   it off a finding, and the requests are dropped with their records freed (their
 *   ExecutionRoutines never run), so nothing is leaked by them.
 */
import type { Kernel } from '../kernel.ts';
import { DISPATCH_LEVEL, PASSIVE_LEVEL } from '../irql.ts';
import type { Ref } from '../ref.ts';
import { STATUS_INVALID_PARAMETER, STATUS_NOT_SUPPORTED, STATUS_SUCCESS, type NTSTATUS } from '../status.ts';
import {
  allocateCommonBuffer,
  allocateCommonBufferEx,
  allocateCommonBufferWithBounds,
  freeCommonBuffer,
} from './common-buffer.ts';
import { createDeviceDescription, interpretDeviceDescription, type DEVICE_DESCRIPTION } from './device-description.ts';
import {
  DMA_VIOLATION_BAD_DESCRIPTION_VERSION,
  DMA_VIOLATION_PUT_ADAPTER_WITH_CHANNELS,
  DMA_VIOLATION_PUT_ADAPTER_WITH_COMMON_BUFFERS,
  DMA_VIOLATION_PUT_ADAPTER_WITH_SG_LISTS,
  type AdapterState,
} from './hal.ts';
import { reachOf } from './iommu-mapping.ts';
import type { PciDevice } from './pci.ts';
import {
  buildScatterGatherList,
  calculateScatterGatherList,
  dropQueuedRequests,
  getScatterGatherList,
  putScatterGatherList,
  serveWaitQueue,
} from './scatter-gather.ts';
import {
  DMA_ADAPTER_INFO_VERSION1,
  DMA_ADAPTER_SIZE,
  DMA_OPERATIONS_MEMBERS,
  type DMA_ADAPTER,
  type DMA_ADAPTER_INFO,
  type DMA_OPERATIONS,
} from './types.ts';

/** Largest NumberOfMapRegisters for an adapter that never needs map registers: a 4 GiB transfer. */
const MAX_TRANSFER_MAP_REGISTERS = 0x10_0001;

/**
 * IoGetDmaAdapter(PhysicalDeviceObject, DeviceDescription, NumberOfMapRegisters) at
 * PASSIVE_LEVEL. Returns the adapter or null.
 *
 *   const dd = createDeviceDescription({ Version: DEVICE_DESCRIPTION_VERSION, Master: true,
 *     ScatterGather: true, Dma64BitAddresses: true, InterfaceType: PCIBus, MaximumLength: 1 << 20 });
 *   const n = ref(0);
 *   const adapter = IoGetDmaAdapter(k, pdo, dd, n);
 */
export function IoGetDmaAdapter(
  k: Kernel,
  PhysicalDeviceObject: { pciDevice?: unknown } | null,
  DeviceDescription: DEVICE_DESCRIPTION,
  NumberOfMapRegisters: Ref<number>,
): DMA_ADAPTER | null {
  k.bugcheck.assertRunning();
  const hal = k.hal;
  const routine = 'IoGetDmaAdapter';
  hal.checkIrql(routine, PASSIVE_LEVEL, 0);
  if (NumberOfMapRegisters === null || typeof NumberOfMapRegisters !== 'object') {
    hal.note('invalid-parameter', routine, 0, 'NumberOfMapRegisters is not a PULONG out parameter');
    return null;
  }
  const pci = PhysicalDeviceObject !== null && typeof PhysicalDeviceObject === 'object'
    ? (PhysicalDeviceObject.pciDevice as PciDevice | null | undefined)
    : undefined;
  if (!pci || !hal.pciDevices.includes(pci)) {
    hal.note('no-pci-device', routine, 0, 'PhysicalDeviceObject has no PCI function on this host');
    return null;
  }
  const reading = interpretDeviceDescription(DeviceDescription, pci.interfaceType);
  if ('reject' in reading) {
    const detail = `DEVICE_DESCRIPTION rejected (${reading.reject}${reading.member ? `: ${reading.member} = ${String(reading.value)}` : ''})`;
    if (reading.reject === 'unsupported-version') {
      hal.misuse(DMA_VIOLATION_BAD_DESCRIPTION_VERSION, Number(reading.value), 0, 0, routine, 0, 'unsupported-version', detail);
    } else hal.note(reading.reject, routine, 0, detail);
    return null;
  }
  if (reading.ignoredNonZero.length > 0) {
    hal.note('description-not-zeroed', routine, 0,
      `members ignored for Version ${DeviceDescription.Version} hold non-zero values: ${reading.ignoredNonZero.join(', ')} ` +
      '(was the DEVICE_DESCRIPTION zeroed with RtlZeroMemory?)');
  }
  if (k.faults.shouldFail({ site: routine, bytes: DMA_ADAPTER_SIZE, driver: k.currentDriver ?? undefined })) return null;

  const addressBits = Math.min(reading.addressBits, pci.dmaAddressBits);
  const reach = reachOf(addressBits);
  const mayBounce = pci.iommuDomain === null && reach < k.mm.layout.topOfMemory;
  const cap = mayBounce ? Math.min(hal.maxMapRegistersPerAdapter, hal.mapRegisters.capacity) : MAX_TRANSFER_MAP_REGISTERS;
  const numberOfMapRegisters = Math.min(reading.mapRegistersWanted, cap);

  const id = hal.nextAdapterId;
  const driver = k.currentDriver ?? null;
  const commonOwner = k.mm.owners.register('common-buffer', `adapter ${id} (${pci.name})`, driver ?? undefined);
  if (commonOwner === 0) return null;
  const bounceOwner = k.mm.owners.register('bounce', `adapter ${id} (${pci.name})`, driver ?? undefined);
  if (bounceOwner === 0) {
    k.mm.owners.release(commonOwner);
    return null;
  }
  hal.nextAdapterId++;
  const adapter: DMA_ADAPTER = Object.freeze({
    Version: 1 as const,
    Size: DMA_ADAPTER_SIZE,
    DmaOperations: operationsFor(k, reading.operationsVersion),
  });
  const state: AdapterState = {
    id,
    adapter,
    pci,
    driver,
    operationsVersion: reading.operationsVersion,
    addressBits,
    reach,
    numberOfMapRegisters,
    description: Object.freeze(createDeviceDescription(DeviceDescription)),
    commonBuffers: new Set(),
    sgLists: new Set(),
    commonBufferBytes: 0,
    mapRegistersInUse: 0,
    commonOwner,
    bounceOwner,
    put: false,
    waitHead: null,
    waitTail: null,
    waitCount: 0,
    nextWaiting: null,
    waiting: false,
  };
  hal.adapters.set(id, state);
  hal.byObject.set(adapter, state);
  NumberOfMapRegisters.value = numberOfMapRegisters;
  return adapter;
}

/** DMA_OPERATIONS.PutDmaAdapter (<= DISPATCH_LEVEL). */
export function putDmaAdapter(k: Kernel, DmaAdapter: unknown): void {
  const hal = k.hal;
  const routine = 'PutDmaAdapter';
  const state = hal.enterAdapter(DmaAdapter, routine, DISPATCH_LEVEL);
  if (!state) return;
  const buffers = state.commonBuffers.size;
  const lists = state.sgLists.size;
  const queued = state.waitCount;
  if (buffers > 0) {
    hal.misuse(DMA_VIOLATION_PUT_ADAPTER_WITH_COMMON_BUFFERS, state.id, buffers, 0, routine, state.id, 'put-with-common-buffers',
      `adapter ${state.id} still has ${buffers} common buffer(s) (${state.commonBufferBytes} bytes); they are leaked`);
  }
  if (queued > 0) {
    hal.misuse(DMA_VIOLATION_PUT_ADAPTER_WITH_CHANNELS, state.id, queued, 0, routine, state.id, 'put-with-queued-sg-requests',
      `adapter ${state.id} still has ${queued} scatter/gather request(s) waiting for map registers; they are dropped and ` +
      'their ExecutionRoutines will never run');
  }
  if (lists > 0) {
    hal.misuse(DMA_VIOLATION_PUT_ADAPTER_WITH_SG_LISTS, state.id, lists, 0, routine, state.id, 'put-with-sg-lists',
      `adapter ${state.id} still has ${lists} scatter/gather list(s) holding ${state.mapRegistersInUse} map register(s); they are leaked`);
  }
  state.put = true;
  if (buffers === 0 && lists === 0) {
    k.mm.owners.release(state.commonOwner);
    k.mm.owners.release(state.bounceOwner);
    hal.adapters.delete(state.id);
  }
  // The dropped requests may have held the head of the host's wait queue: serve what now fits.
  if (queued > 0 && dropQueuedRequests(k, state) > 0 && hal.waitingHead !== null) serveWaitQueue(k);
}

/** DMA_OPERATIONS.GetDmaAlignment (PASSIVE_LEVEL): x86/x64 DMA needs no alignment beyond a byte. */
export function getDmaAlignment(k: Kernel, DmaAdapter: unknown): number {
  k.bugcheck.assertRunning();
  const state = k.hal.resolveAdapter(DmaAdapter, 'GetDmaAlignment');
  return state ? 1 : 0;
}

/** DMA_OPERATIONS.GetDmaAdapterInfo (version 3). */
export function getDmaAdapterInfo(k: Kernel, DmaAdapter: unknown, AdapterInfo: DMA_ADAPTER_INFO): NTSTATUS {
  k.bugcheck.assertRunning();
  const routine = 'GetDmaAdapterInfo';
  const state = k.hal.resolveAdapter(DmaAdapter, routine);
  if (!state) return STATUS_INVALID_PARAMETER;
  if (AdapterInfo === null || typeof AdapterInfo !== 'object') return STATUS_INVALID_PARAMETER;
  if (AdapterInfo.Version !== DMA_ADAPTER_INFO_VERSION1) return STATUS_NOT_SUPPORTED;
  AdapterInfo.V1 = {
    ReadDmaCounterAvailable: 0,
    ScatterGatherLimit: state.numberOfMapRegisters,
    DmaAddressWidth: state.addressBits,
    Flags: 0,
    MinimumTransferUnit: 1,
  };
  return STATUS_SUCCESS;
}

function operationsFor(k: Kernel, version: 1 | 2 | 3): DMA_OPERATIONS {
  const cached = k.hal.operations[version];
  if (cached) return cached;
  const v1 = {
    Size: 8 + 8 * DMA_OPERATIONS_MEMBERS[version],
    PutDmaAdapter: (a: DMA_ADAPTER | null) => putDmaAdapter(k, a),
    AllocateCommonBuffer: (a: DMA_ADAPTER | null, Length: number, LogicalAddress: Ref<number>, CacheEnabled: boolean) =>
      allocateCommonBuffer(k, a, Length, LogicalAddress, CacheEnabled),
    FreeCommonBuffer: (a: DMA_ADAPTER | null, Length: number, LogicalAddress: number, VirtualAddress: number, CacheEnabled: boolean) =>
      freeCommonBuffer(k, a, Length, LogicalAddress, VirtualAddress, CacheEnabled),
    GetDmaAlignment: (a: DMA_ADAPTER | null) => getDmaAlignment(k, a),
    GetScatterGatherList: (...args: Parameters<DMA_OPERATIONS['GetScatterGatherList']>) => getScatterGatherList(k, ...args),
    PutScatterGatherList: (...args: Parameters<DMA_OPERATIONS['PutScatterGatherList']>) => putScatterGatherList(k, ...args),
  };
  const v2 = version >= 2 ? {
    CalculateScatterGatherList: (...args: Parameters<NonNullable<DMA_OPERATIONS['CalculateScatterGatherList']>>) =>
      calculateScatterGatherList(k, ...args),
    BuildScatterGatherList: (...args: Parameters<NonNullable<DMA_OPERATIONS['BuildScatterGatherList']>>) =>
      buildScatterGatherList(k, ...args),
  } : {};
  const v3 = version >= 3 ? {
    GetDmaAdapterInfo: (a: DMA_ADAPTER | null, info: DMA_ADAPTER_INFO) => getDmaAdapterInfo(k, a, info),
    AllocateCommonBufferEx: (...args: Parameters<NonNullable<DMA_OPERATIONS['AllocateCommonBufferEx']>>) =>
      allocateCommonBufferEx(k, ...args),
    AllocateCommonBufferWithBounds: (...args: Parameters<NonNullable<DMA_OPERATIONS['AllocateCommonBufferWithBounds']>>) =>
      allocateCommonBufferWithBounds(k, ...args),
  } : {};
  const table: DMA_OPERATIONS = Object.freeze({ ...v1, ...v2, ...v3 });
  k.hal.operations[version] = table;
  return table;
}
