/** The proxy driver's per-host state: what DriverEntry creates and DriverUnload tears down. */
import type { DEVICE_OBJECT } from '../kernel/io/index.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { newLowMemoryCounters, type LowMemoryCounters, type LowMemoryStrategy } from './low-memory.ts';
import type { ProxyNic } from './nic-adapter.ts';
import type { ProxyOpen } from './open-context.ts';

export interface ProxyCounters {
  ioctls: number;
  registrations: number;
  registrationFailures: number;
  /** Objects IRP_MJ_CLEANUP had to release because the caller left them. */
  cleanupReleases: number;
}

export class ProxyDriverState {
  readonly nics: ProxyNic[] = [];
  readonly opens = new Set<ProxyOpen>();
  readonly lowMemory: LowMemoryCounters = newLowMemoryCounters();
  readonly counters: ProxyCounters = { ioctls: 0, registrations: 0, registrationFailures: 0, cleanupReleases: 0 };
  control: DEVICE_OBJECT | null = null;
  addressNotification = 0;
  private lastId = 0;
  /** Ids for allocations and registrations: unique per driver, never reused. */
  readonly nextId = (): number => ++this.lastId;

  constructor(
    readonly k: Kernel,
    readonly strategy: LowMemoryStrategy,
  ) {}
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
