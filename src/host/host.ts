/**
 * An emulated host: kernel (RAM, NOLOWMEM, IOMMU, verifier), a PCI bus with one SAN NIC per
 * configured function, the NICs plugged into the fabric, the host's IP addresses, and the SAN
 * proxy driver when loaded. Several hosts share one fabric inside one Node process.
 */
import { GIB } from '../bus/index.ts';
import { createPciDevice, type PciDevice } from '../kernel/hal/index.ts';
import { IoLoadDriver, IoUnloadDriver, PnpAddDevice, type DEVICE_OBJECT } from '../kernel/io/index.ts';
import { Kernel } from '../kernel/kernel.ts';
import { parseIpv4 } from '../kernel/net/ip-addresses.ts';
import type { Process } from '../kernel/ps/index.ts';
import { NT_SUCCESS, STATUS_SUCCESS, type NTSTATUS } from '../kernel/status.ts';
import { SanNic, type Fabric, type Link, type NicCapabilities, type Scheduler, type ThreadWaits } from '../nic/index.ts';
import {
  LOW_MEMORY_STRATEGY_COMMON_BUFFER,
  LOW_MEMORY_STRATEGY_CONTIGUOUS,
  SANPROXY_PARAMETERS_KEY,
  SANPROXY_SERVICE,
  SanProxyDriverEntry,
  type LowMemoryStrategy,
} from '../proxy/index.ts';
import { PciBus } from './pci-bus-driver.ts';

export type { LowMemoryStrategy };

export interface NicSpec {
  /** DMA address width of the NIC: a 32-bit NIC truncates addresses at or above 4 GiB. */
  addressBits: 32 | 64;
  /** Dotted IPv4 address of the NIC's interface. */
  ip: string;
  /** Whether the NIC serves RDMA read (WSPRdmaRead is optional in WSD). Default true. */
  rdmaRead?: boolean;
  capabilities?: Partial<NicCapabilities>;
}

export interface HostSpec {
  name: string;
  ramBytes?: number;
  nolowmem?: boolean;
  iommu?: boolean;
  verifier?: boolean;
  trackLockedPages?: boolean;
  /** How the proxy obtains low memory for RDMA. Default contiguous. */
  strategy?: LowMemoryStrategy;
  nics: NicSpec[];
}

export interface HostNic {
  readonly index: number;
  readonly pci: PciDevice;
  readonly nic: SanNic;
  readonly pdo: DEVICE_OBJECT;
  readonly ip: number;
}

export class Host {
  readonly kernel: Kernel;
  readonly nics: HostNic[] = [];
  readonly strategy: LowMemoryStrategy;
  private readonly bus: PciBus;
  private proxyLoaded = false;

  constructor(
    readonly spec: HostSpec,
    readonly fabric: Fabric<Link>,
  ) {
    if (!Array.isArray(spec.nics)) throw new RangeError(`host ${spec.name}: nics must be an array`);
    this.strategy = spec.strategy ?? 'contiguous';
    if (this.strategy !== 'contiguous' && this.strategy !== 'common-buffer') {
      throw new RangeError(`host ${spec.name}: strategy must be contiguous or common-buffer, got ${String(spec.strategy)}`);
    }
    this.kernel = Kernel.boot({
      name: spec.name,
      ramBytes: spec.ramBytes ?? 8 * GIB,
      nolowmem: spec.nolowmem ?? true,
      iommu: spec.iommu ?? false,
      verifier: spec.verifier ?? false,
      trackLockedPages: spec.trackLockedPages ?? false,
    });
    this.bus = new PciBus(this.kernel);
    spec.nics.forEach((n, index) => this.addNic(n, index));
  }

  private addNic(n: NicSpec, index: number): void {
    const ip = parseIpv4(n.ip);
    if (ip === null) throw new RangeError(`host ${this.spec.name}: NIC ${index} ip "${n.ip}" is not a dotted IPv4 address`);
    if (n.addressBits !== 32 && n.addressBits !== 64) {
      throw new RangeError(`host ${this.spec.name}: NIC ${index} addressBits must be 32 or 64, got ${String(n.addressBits)}`);
    }
    const pci = createPciDevice(this.kernel, { name: `san${index}`, dmaAddressBits: n.addressBits });
    const nic = new SanNic({
      name: `${this.spec.name}:san${index}`,
      dma: pci.dmaView,
      capabilities: { ...n.capabilities, rdmaRead: n.rdmaRead ?? n.capabilities?.rdmaRead ?? true },
    });
    // On a fabric that reaches other processes a NIC's SAN address is its IPv4 address (fabric.ts).
    this.fabric.attach(nic, this.fabric.addressesAreIps ? ip : undefined);
    const pdo = this.bus.enumerate(pci, nic);
    this.nics.push({ index, pci, nic, pdo, ip });
    this.kernel.net.add(ip, pci.id);
  }

  /** The cluster's scheduler (the one its fabric uses). */
  get scheduler(): Scheduler {
    return this.fabric.scheduler;
  }

  /** What the host's user-mode code gets of the scheduler: block, wake, the clock. */
  get waits(): ThreadWaits {
    return this.fabric.scheduler.waits;
  }

  get proxyIsLoaded(): boolean {
    return this.proxyLoaded;
  }

  /** Load the SAN proxy driver (DriverEntry), then offer it every NIC's PDO (AddDevice). */
  loadProxy(): NTSTATUS {
    const k = this.kernel;
    k.registry.setValue(
      SANPROXY_PARAMETERS_KEY,
      'LowMemoryStrategy',
      this.strategy === 'contiguous' ? LOW_MEMORY_STRATEGY_CONTIGUOUS : LOW_MEMORY_STRATEGY_COMMON_BUFFER,
    );
    let status = IoLoadDriver(k, SANPROXY_SERVICE, SanProxyDriverEntry);
    if (!NT_SUCCESS(status)) return status;
    for (const n of this.nics) {
      status = PnpAddDevice(k, SANPROXY_SERVICE, n.pdo);
      if (!NT_SUCCESS(status)) {
        IoUnloadDriver(k, SANPROXY_SERVICE);
        return status;
      }
    }
    this.proxyLoaded = true;
    return STATUS_SUCCESS;
  }

  unloadProxy(): NTSTATUS {
    const status = IoUnloadDriver(this.kernel, SANPROXY_SERVICE);
    if (NT_SUCCESS(status)) this.proxyLoaded = false;
    return status;
  }

  createProcess(name: string): Process {
    return this.kernel.ps.createProcess(name);
  }
}
