/**
 * What one open handle of \Device\SanProxy owns (FILE_OBJECT.FsContext). Everything the driver
 * creates for a caller is recorded here, keyed by ids that are unique per driver and never
 * reused, so a request can only name its own objects and IRP_MJ_CLEANUP can undo all of them.
 */
import type { Mdl } from '../kernel/mm/index.ts';
import type { Process } from '../kernel/ps/index.ts';
import type { ProxyNic } from './nic-adapter.ts';

export interface BusMapping {
  /** Page-aligned bus address of each page the NIC was given. */
  readonly pages: Float64Array;
  /** The IOMMU logical range to unmap, or null when the pages are physical addresses. */
  readonly logicalRange: number | null;
}

/** What every NIC region of an open has: its MDL, bus mapping, NIC handle and key, and record. */
interface RegisteredRegion {
  readonly id: number;
  readonly nic: ProxyNic;
  readonly mdl: Mdl;
  readonly bus: BusMapping;
  handle: number;
  remoteKey: number;
  access: number;
  readonly recordVa: number;
  /** The memory window that came with it (SANPROXY_WINDOW_BIND), 0 when none. */
  readonly window: number;
}

/** Low memory the driver allocated, mapped into the caller and registered with the NIC. */
export interface LowMemoryAllocation extends RegisteredRegion {
  readonly strategy: 'contiguous' | 'common-buffer';
  /** Bytes requested, and the whole pages allocated. */
  readonly bytes: number;
  readonly allocatedBytes: number;
  /** System VA of the memory. */
  readonly systemVa: number;
  /** Device-visible base: physical (contiguous) or the common buffer's LogicalAddress. */
  readonly logicalBase: number;
  readonly userVa: number;
}

/** A user buffer locked in place and registered with the NIC (zero copy). */
export interface UserRegistration extends RegisteredRegion {
  readonly address: number;
  readonly length: number;
}

export interface EndpointRecord {
  readonly nic: ProxyNic;
  readonly endpoint: number;
  readonly completionQueue: number;
}

export class ProxyOpen {
  readonly allocations = new Map<number, LowMemoryAllocation>();
  readonly registrations = new Map<number, UserRegistration>();
  /** MmSecureVirtualMemory handles this open created. */
  readonly secured = new Set<number>();
  /** Keyed by `${nicIndex}:${endpoint}`. */
  readonly endpoints = new Map<string, EndpointRecord>();

  constructor(
    readonly process: Process,
    /** Pool block that backs this context (so pool tracking sees it). */
    readonly contextVa: number,
  ) {}

  get isEmpty(): boolean {
    return this.allocations.size === 0 && this.registrations.size === 0 && this.secured.size === 0 && this.endpoints.size === 0;
  }
}
