/**
 * One SAN NIC as the proxy driver sees it: its PDO, its register interface, and the DMA adapter
 * obtained the way the WDK page prescribes — zero-initialize a DEVICE_DESCRIPTION, write the
 * SAN NIC's information into it, call IoGetDmaAdapter. [network: "Allocating and Releasing
 * Memory for a SAN Proxy Driver"; ddi: nf-wdm-iogetdmaadapter, ns-wdm-_device_description]
 */
import { GIB } from '../bus/index.ts';
import {
  DEVICE_DESCRIPTION_VERSION3,
  IoGetDmaAdapter,
  PCIBus,
  createDeviceDescription,
  type DMA_ADAPTER,
} from '../kernel/hal/index.ts';
import type { DEVICE_OBJECT } from '../kernel/io/index.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { ref } from '../kernel/ref.ts';
import { SanNic } from '../nic/index.ts';

export interface ProxyNic {
  /** Position among this driver's NICs: the nicIndex of the IOCTL interface. */
  readonly index: number;
  readonly pdo: DEVICE_OBJECT;
  readonly nic: SanNic;
  readonly adapter: DMA_ADAPTER;
  readonly numberOfMapRegisters: number;
  /** DMA address bits as the adapter was described. */
  readonly addressBits: number;
  /** One past the highest bus address the NIC can emit. */
  readonly reach: number;
  /** Interface index of the NIC in the host's IP address table (its PCI function id). */
  readonly interfaceIndex: number;
  /** Whether DMA remapping (IOMMU) serves this device; learned at the first registration. */
  remapping: 'unknown' | 'on' | 'off';
}

/** Largest single registration the driver describes to the HAL (DEVICE_DESCRIPTION.MaximumLength). */
const MAXIMUM_TRANSFER = GIB;

/**
 * Build the adapter for a NIC PDO. Returns null when the PDO is not a SAN NIC or the HAL
 * refuses the description.
 */
export function openNicAdapter(k: Kernel, pdo: DEVICE_OBJECT, index: number): ProxyNic | null {
  const pci = pdo?.pciDevice ?? null;
  const nic = pci?.registers;
  if (pci === null || !(nic instanceof SanNic)) return null;
  const bits = nic.capabilities.addressBits;
  // Zero-initialized first (the factory returns every member zero/FALSE), then only what
  // describes the SAN NIC: a scatter/gather bus master on PCI with its address width.
  const description = createDeviceDescription();
  description.Version = DEVICE_DESCRIPTION_VERSION3;
  description.Master = true;
  description.ScatterGather = true;
  description.InterfaceType = PCIBus;
  description.DmaAddressWidth = bits;
  description.MaximumLength = Math.min(MAXIMUM_TRANSFER, nic.capabilities.maxRegionBytes);
  const mapRegisters = ref(0);
  const adapter = IoGetDmaAdapter(k, pdo, description, mapRegisters);
  if (adapter === null) return null;
  return {
    index,
    pdo,
    nic,
    adapter,
    numberOfMapRegisters: mapRegisters.value,
    addressBits: bits,
    reach: bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits,
    interfaceIndex: pci.id,
    remapping: 'unknown',
  };
}
