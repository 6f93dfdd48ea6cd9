/** The proxy driver's per-host state: what DriverEntry creates and DriverUnload tears down. */
import type { DEVICE_OBJECT } from '../kernel/io/index.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { newLowMemoryCounters, type LowMemoryCounters, type LowMemoryStrategy } from './low-memory.ts';
import type { ProxyNic } from './nic-adapter.ts';
import type { ProxyOpen } from './open-context.ts';
import { ProxyRecords } from './records.ts';

export interface ProxyCounters {
  ioctls: number;
  /** REGISTER_BUFFER requests that succeeded (user buffers registered in place). */
  registrations: number;
  /** REGISTER_BUFFER requests that failed, for any reason (refusals below included). */
  registrationFailures: number;
  /**
   * NIC registrations: memory regions the driver registered with a NIC — REGISTER_BUFFER and
   * ALLOCATE_MEMORY requests that succeeded (each leaves exactly one region in the NIC's
   * table until it is deregistered or released). The one count the demo, the report and the
   * trace show.
   */
  nicRegistrations: number;
  /**
   * REGISTER_BUFFER requests refused with STATUS_NOT_SUPPORTED: the NIC cannot reach a page of
   * the buffer (a 32-bit NIC without DMA remapping, a page above 4 GiB). Expected, not an
   * error: the provider stages such buffers through low memory from ALLOCATE_MEMORY
   * (interface.ts).
   */
  registrationsRefusedUnreachable: number;
  /** Objects IRP_MJ_CLEANUP had to release because the caller left them. */
  cleanupReleases: number;
}

export class ProxyDriverState {
  readonly nics: ProxyNic[] = [];
  readonly opens = new Set<ProxyOpen>();
  readonly lowMemory: LowMemoryCounters = newLowMemoryCounters();
  readonly counters: ProxyCounters = {
    ioctls: 0, registrations: 0, registrationFailures: 0, nicRegistrations: 0, registrationsRefusedUnreachable: 0, cleanupReleases: 0,
  };
  control: DEVICE_OBJECT | null = null;
  addressNotification = 0;
  /** Per-request records: the driver's lookaside lists, or pool (Parameters\LookasideLists). */
  readonly records: ProxyRecords;
  private lastId = 0;
  /** Ids for allocations and registrations: unique per driver, never reused. */
  readonly nextId = (): number => ++this.lastId;

  constructor(
    readonly k: Kernel,
    readonly strategy: LowMemoryStrategy,
    lookasideLists = true,
  ) {
    this.records = new ProxyRecords(k, lookasideLists);
  }
}

const states = new WeakMap<Kernel, ProxyDriverState>();

export function setProxyState(k: Kernel, state: ProxyDriverState | null): void {
  if (state === null) states.delete(k);
  else states.set(k, state);
}

/** The loaded proxy driver's state on host `k` (for reports and tests), or null. */
export function sanProxyState(k: Kernel): ProxyDriverState | null {
  return states.get(k) ?? null;
}
