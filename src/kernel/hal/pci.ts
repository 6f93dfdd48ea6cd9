/**
 * PCI functions: one per bus-master device on a host. A function knows how many address bits
 * its DMA engine drives and owns the device's view of memory (a bus DeviceDmaView). When the
 * host's IOMMU is on (KernelConfig.iommu), the function also gets its own IommuDomain: every
 * address the device emits is then a logical address (IOVA) translated by that domain, and the
 * HAL hands out logical addresses from it.
 *
 * The NIC model receives `dmaView` and nothing else; the driver's PDO carries `pciDevice`
 * (DEVICE_OBJECT.pciDevice), which IoGetDmaAdapter reads.
 */
import { DeviceDmaView, IommuDomain } from '../../bus/index.ts';
import type { Kernel } from '../kernel.ts';
import { PCIBus } from './device-description.ts';

export interface PciDevice {
  /** Small id for reports. */
  readonly id: number;
  readonly name: string;
  /** Address bits the device's DMA engine drives (it truncates wider addresses). */
  readonly dmaAddressBits: number;
  readonly interfaceType: typeof PCIBus;
  /** The device's view of memory; give this to the device model. */
  readonly dmaView: DeviceDmaView;
  /** The device's translation domain when the host's IOMMU is on, else null. */
  readonly iommuDomain: IommuDomain | null;
  /**
   * What the function decodes at its BARs: the device model's register (privileged) interface,
   * set by the host when it plugs the device in. A real driver reaches it through the memory
   * resources it is given at start; the kernel never looks inside (it is typed unknown here).
   */
  registers: unknown;
}

export interface PciDeviceOptions {
  name: string;
  /** 24..64. Real PCI bus masters drive 32 or 64 bits; 24 models an ISA-era engine behind a bridge. */
  dmaAddressBits: number;
}

/**
 * Add a bus-master PCI function to the host. Configuration errors (machine assembly, not a WDK
 * call) throw a RangeError that quotes the value.
 *
 *   const nic = createPciDevice(k, { name: 'san0', dmaAddressBits: 32 });
 *   new SanNic(nic.dmaView, ...);  pdo.pciDevice = nic;
 */
export function createPciDevice(k: Kernel, options: PciDeviceOptions): PciDevice {
  const { name, dmaAddressBits } = options ?? ({} as PciDeviceOptions);
  if (typeof name !== 'string' || name.length === 0) {
    throw new RangeError(`createPciDevice: name must be a non-empty string, got ${String(name)}`);
  }
  if (!Number.isInteger(dmaAddressBits) || dmaAddressBits < 24 || dmaAddressBits > 64) {
    throw new RangeError(`createPciDevice ${name}: dmaAddressBits must be an integer 24..64, got ${dmaAddressBits}`);
  }
  if (k.hal.pciDevices.some((d) => d.name === name)) {
    throw new RangeError(`createPciDevice: a PCI function named "${name}" already exists on host ${k.name}`);
  }
  const iommuDomain = k.config.iommu ? new IommuDomain(`${k.name}:${name}`) : null;
  const dmaView = new DeviceDmaView(k.memory, k.mm.layout.ranges, {
    name: `${k.name}:${name}`,
    addressBits: dmaAddressBits,
    iommu: iommuDomain,
  });
  const device: PciDevice = {
    id: k.hal.pciDevices.length + 1,
    name,
    dmaAddressBits,
    interfaceType: PCIBus,
    dmaView,
    iommuDomain,
    registers: null,
  };
  k.hal.pciDevices.push(device);
  k.verifier?.watchDevice(dmaView, device.id);
  return device;
}
