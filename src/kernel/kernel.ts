/**
 * One emulated host's kernel: its configuration, bug-check state, fault injector, physical
 * memory, memory manager and process manager, and the IRQL of its single CPU. Drivers
 * receive it as their first argument; there are no globals, so several hosts can live in one
 * Node process and a bug check stops only its own host.
 */
import { PhysicalMemory } from '../bus/index.ts';
import type { TraceSink } from '../bus/trace.ts';
import { BugCheckState } from './bugcheck.ts';
import { FaultInjector } from './fault-injection.ts';
import { Hal } from './hal/hal.ts';
import { PASSIVE_LEVEL } from './irql.ts';
import { MemoryManager } from './mm/memory-manager.ts';
import { computeRamLayout } from './mm/ram-layout.ts';
import { ProcessManager } from './ps/process-manager.ts';
import { IoManager } from './io/io-manager.ts';
import { IpAddressTable } from './net/ip-addresses.ts';
import { Registry } from './registry.ts';
import { Verifier } from './verifier/verifier.ts';
import { LookasideManager } from './ex/lookaside.ts';

export interface KernelConfig {
  /** Installed RAM, e.g. 8 * GIB; laid out PC-like (see mm/ram-layout.ts). */
  ramBytes: number;
  /** bcdedit /set nolowmem on; ignored (and reported) when no RAM above 4 GiB. */
  nolowmem: boolean;
  /** Size of the MMIO hole that ends at 4 GiB; default 1 GiB ([3 GiB, 4 GiB)). */
  mmioHoleBytes?: number;
  /** Host name for messages. */
  name?: string;
  /** Registry TrackLockedPages = 1. */
  trackLockedPages?: boolean;
  /** Driver Verifier enabled for drivers on this host. */
  verifier?: boolean;
  /** An IOMMU (DMA remapping) translates every device access; the HAL hands out logical addresses. */
  iommu?: boolean;
}

export class Kernel {
  readonly name: string;
  readonly config: Readonly<KernelConfig>;
  readonly bugcheck: BugCheckState = new BugCheckState();
  readonly faults: FaultInjector = new FaultInjector();
  readonly memory: PhysicalMemory;
  readonly mm: MemoryManager;
  readonly ps: ProcessManager;
  /** The I/O manager (drivers, devices, handles, IRPs). */
  readonly io = new IoManager(this);
  /** HAL DMA: PCI functions, adapters, common buffers, scatter/gather, map registers (lazy; needs mm). */
  readonly hal: Hal = new Hal(this);
  /** Driver parameters (HKLM\System\CurrentControlSet\Services\<name>\Parameters). */
  readonly registry = new Registry();
  /** The host's IP addresses and their change notifications. */
  readonly net = new IpAddressTable();
  /** The executive's lookaside lists (ExInitialize*LookasideList*), system-wide as Windows keeps them. */
  readonly lookaside: LookasideManager = new LookasideManager(this);
  /** Driver Verifier for this host (KernelConfig.verifier), else null. */
  readonly verifier: Verifier | null;
  /** Current IRQL of the (single) emulated CPU. */
  irql: number = PASSIVE_LEVEL;
  /** The driver whose code is running (set by the I/O manager around dispatch calls). */
  currentDriver: string | null = null;
  /** Where spans and events go (src/report's Tracer); null = tracing off. */
  trace: TraceSink | null = null;

  private constructor(config: KernelConfig) {
    const layout = computeRamLayout(config.ramBytes, {
      nolowmem: config.nolowmem,
      ...(config.mmioHoleBytes !== undefined ? { mmioHoleBytes: config.mmioHoleBytes } : {}),
    });
    this.config = Object.freeze({ ...config });
    this.name = config.name ?? 'host';
    this.memory = new PhysicalMemory(layout.topOfMemory);
    this.mm = new MemoryManager(this, layout);
    this.ps = new ProcessManager(this);
    this.verifier = config.verifier ? new Verifier(this) : null;
    this.verifier?.install();
    // IoInitSystem: the I/O manager's IRP and MDL lookaside lists (io/io-lookaside.ts).
    this.io.initializeLookasideLists();
  }

  /** Boot a host. Throws RangeError on an impossible configuration (quoting the value). */
  static boot(config: KernelConfig): Kernel {
    if (config === null || typeof config !== 'object') throw new RangeError('Kernel.boot: config object required');
    if (typeof config.nolowmem !== 'boolean') {
      throw new RangeError(`Kernel.boot: nolowmem must be a boolean, got ${String(config.nolowmem)}`);
    }
    return new Kernel(config);
  }
}
