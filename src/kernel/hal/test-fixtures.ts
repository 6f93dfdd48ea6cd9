/**
 * Test fixtures for the HAL (tests only; not exported from index.ts): a host with a 32-bit and a
 * 64-bit PCI bus master, and adapters built from zeroed descriptions.
 */
import { GIB } from '../../bus/index.ts';
import { Kernel } from '../kernel.ts';
import { ref } from '../ref.ts';
import { createDeviceDescription, DEVICE_DESCRIPTION_VERSION3, PCIBus, type DEVICE_DESCRIPTION } from './device-description.ts';
import { IoGetDmaAdapter } from './dma-adapter.ts';
import { createPciDevice, type PciDevice } from './pci.ts';
import type { DMA_ADAPTER } from './types.ts';

export interface HostOptions {
  ramBytes?: number;
  nolowmem?: boolean;
  iommu?: boolean;
  verifier?: boolean;
  name?: string;
}

export interface Host {
  k: Kernel;
  nic32: PciDevice;
  nic64: PciDevice;
  pdo32: { pciDevice: PciDevice };
  pdo64: { pciDevice: PciDevice };
}

/** 6 GiB by default: 3 GiB below the MMIO hole, 3 GiB above 4 GiB. */
export function bootHost(o: HostOptions = {}): Host {
  const k = Kernel.boot({
    ramBytes: o.ramBytes ?? 6 * GIB,
    nolowmem: o.nolowmem ?? false,
    iommu: o.iommu ?? false,
    verifier: o.verifier ?? false,
    name: o.name ?? 'hal-test',
  });
  const nic32 = createPciDevice(k, { name: 'nic32', dmaAddressBits: 32 });
  const nic64 = createPciDevice(k, { name: 'nic64', dmaAddressBits: 64 });
  return { k, nic32, nic64, pdo32: { pciDevice: nic32 }, pdo64: { pciDevice: nic64 } };
}

/** A version-3 bus-master description with DmaAddressWidth = bits. */
export function v3Description(bits: number, maximumLength = 1 << 20, extra: Partial<DEVICE_DESCRIPTION> = {}): DEVICE_DESCRIPTION {
  return createDeviceDescription({
    Version: DEVICE_DESCRIPTION_VERSION3,
    Master: true,
    ScatterGather: true,
    InterfaceType: PCIBus,
    DmaAddressWidth: bits,
    MaximumLength: maximumLength,
    ...extra,
  });
}

export function getAdapter(k: Kernel, pdo: { pciDevice: PciDevice }, dd: DEVICE_DESCRIPTION): { adapter: DMA_ADAPTER; mapRegisters: number } {
  const n = ref(0);
  const adapter = IoGetDmaAdapter(k, pdo, dd, n);
  if (!adapter) throw new Error(`IoGetDmaAdapter failed: ${JSON.stringify(k.hal.findings.at(-1))}`);
  return { adapter, mapRegisters: n.value };
}

/**
 * Counters that must return to their boot values once every DMA resource is released. Pages
 * that only lookaside-cached pool blocks hold count as free (the lists' to give back, not a leak:
 * host/accounting.ts explains why the caches are not flushed to compare).
 */
export function memorySnapshot(k: Kernel) {
  const c = k.mm.counters();
  return {
    freePages: c.freePages + c.lookasideReclaimablePages,
    activePages: c.activePages - c.lookasideReclaimablePages,
    freeLowPages: c.freeLowPages + c.lookasideReclaimableLowPages,
    ownersLive: c.ownersLive,
    systemMappings: c.systemMappings - c.lookasideReclaimableMappings,
    systemMappedPages: c.systemMappedPages - c.lookasideReclaimablePages,
    iommuMappings: k.hal.pciDevices.map((d) => d.iommuDomain?.mappingCount ?? 0),
    mapRegistersInUse: k.hal.counters().mapRegistersInUse,
  };
}
