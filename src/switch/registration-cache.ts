/**
 * The switch's registration cache for application buffers [caching-registered-memory,
 * securing-and-releasing-ownership-of-virtual-addresses].
 *
 * Implementation notes
 * - Mechanism and policy are split as WSD splits them. The provider (created with
 *   cacheRegistrations) keeps a buffer registered on the NIC and secured through the proxy
 *   (MmSecureVirtualMemory) when the switch deregisters it; a later WSPRegisterMemory of the
 *   same buffer is a hit with no driver work. This file is the policy: which idle buffers stay
 *   cached (LRU), how many bytes they may pin (size bound), and when they go.
 * - Hits are measured, not assumed: a registration is a hit exactly when the provider's
 *   cached count dropped by one across WSPRegisterMemory (it took the entry back).
 * - Eviction and invalidation both go through WSPMemoryRegistrationCacheCallback: it
 *   deregisters from the NIC and unsecures every cached entry overlapping the range (A7).
 * - The process's secured-range notification (AddSecureMemoryCacheCallback) fires when the
 *   application frees or re-protects memory that is secured; the switch releases the range
 *   before VirtualFree completes, so a reallocated range never reaches stale physical pages.
 * - The LRU is a Map in use order (delete + set on each touch); overlap queries scan it, and it
 *   holds at most `maxEntries` entries.
 */
import type { Process } from '../kernel/ps/process.ts';
import { ref } from '../kernel/ref.ts';
import { NO_ERROR, WSAENOBUFS, type SanServiceProvider } from '../provider/index.ts';

export interface RegistrationCacheOptions {
  /** Bytes idle cached buffers may keep pinned. Default 64 MiB. */
  maxBytes?: number;
  /** Idle cached buffers kept at most. Default 64. */
  maxEntries?: number;
}

export interface CacheStats {
  /** Registrations that needed the driver (cache misses). */
  registrations: number;
  cacheHits: number;
  evictions: number;
  /** Entries released by the secured-range notification. */
  invalidations: number;
  cachedBytes: number;
  cachedEntries: number;
}

interface Idle {
  address: number;
  length: number;
}

const keyOf = (nicIndex: number, address: number, length: number, flags: number) => `${nicIndex}/${address}/${length}/${flags}`;

export class RegistrationCache {
  readonly maxBytes: number;
  readonly maxEntries: number;
  private readonly idle = new Map<string, Idle>();
  private idleBytes = 0;
  private readonly stats = { registrations: 0, cacheHits: 0, evictions: 0, invalidations: 0 };
  private readonly onRelease: (Addr: number, Range: number) => boolean;
  private hooked = false;

  constructor(
    private readonly provider: SanServiceProvider,
    private readonly process: Process,
    options: RegistrationCacheOptions = {},
  ) {
    if (!provider.cacheRegistrations) throw new RangeError('RegistrationCache: the provider must be created with cacheRegistrations');
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.maxEntries = options.maxEntries ?? 64;
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes < 0 || !Number.isSafeInteger(this.maxEntries) || this.maxEntries < 0) {
      throw new RangeError(`RegistrationCache: maxBytes ${this.maxBytes} and maxEntries ${this.maxEntries} must be integers >= 0`);
    }
    this.onRelease = (Addr, Range) => this.securedRangeReleased(Addr, Range);
  }

  /** Hook the process's secured-range notification (A15). Idempotent. */
  attach(): boolean {
    if (this.hooked) return true;
    this.hooked = this.process.AddSecureMemoryCacheCallback(this.onRelease);
    return this.hooked;
  }

  detach(): void {
    if (this.hooked) this.process.RemoveSecureMemoryCacheCallback(this.onRelease);
    this.hooked = false;
  }

  get counters(): CacheStats {
    return { ...this.stats, cachedBytes: this.idleBytes, cachedEntries: this.idle.size };
  }

  /**
   * WSPRegisterMemory through the cache. On WSAENOBUFS with idle entries pinned, the cache is
   * emptied and the registration tried once more (memory pressure beats caching).
   */
  register(s: number, nicIndex: number, address: number, length: number, flags: number): { handle: number; hit: boolean } | { error: number } {
    const first = this.tryRegister(s, nicIndex, address, length, flags);
    if ('handle' in first || first.error !== WSAENOBUFS || this.idle.size === 0) return first;
    this.flush();
    return this.tryRegister(s, nicIndex, address, length, flags);
  }

  /** WSPDeregisterMemory through the cache: the provider parks it; the LRU bound applies. */
  deregister(s: number, handle: number, nicIndex: number, address: number, length: number, flags: number): number {
    const before = this.provider.counters.cached;
    const e = ref(0);
    if (this.provider.WSPDeregisterMemory(s, handle, e) !== 0) return e.value;
    if (this.provider.counters.cached === before + 1) {
      const key = keyOf(nicIndex, address, length, flags);
      this.idle.set(key, { address, length });
      this.idleBytes += length;
      this.enforceBound();
    }
    return NO_ERROR;
  }

  /** Release every idle entry (WSACleanup, memory pressure). */
  flush(): void {
    for (const [, entry] of [...this.idle]) {
      if (this.idle.size === 0) break;
      this.release(entry.address, entry.length);
    }
  }

  private tryRegister(s: number, nicIndex: number, address: number, length: number, flags: number): { handle: number; hit: boolean } | { error: number } {
    const before = this.provider.counters.cached;
    const e = ref(0);
    const handle = this.provider.WSPRegisterMemory(s, address, length, flags, e);
    if (handle === null) return { error: e.value };
    const hit = this.provider.counters.cached === before - 1;
    if (hit) {
      this.stats.cacheHits++;
      const key = keyOf(nicIndex, address, length, flags);
      const entry = this.idle.get(key);
      if (entry !== undefined) {
        this.idle.delete(key);
        this.idleBytes -= entry.length;
      }
    } else {
      this.stats.registrations++;
    }
    return { handle, hit };
  }

  private enforceBound(): void {
    while (this.idle.size > 0 && (this.idleBytes > this.maxBytes || this.idle.size > this.maxEntries)) {
      const [, oldest] = this.idle.entries().next().value as [string, Idle];
      this.stats.evictions++;
      this.release(oldest.address, oldest.length);
    }
  }

  /** WSPMemoryRegistrationCacheCallback for the range; forget every idle entry it overlaps. */
  private release(address: number, length: number): number {
    const e = ref(0);
    const r = this.provider.WSPMemoryRegistrationCacheCallback(address, length, e);
    this.forget(address, length);
    return r === 0 ? NO_ERROR : e.value;
  }

  private forget(address: number, length: number): number {
    const end = address + length;
    let n = 0;
    for (const [key, entry] of [...this.idle]) {
      if (entry.address < end && entry.address + entry.length > address) {
        this.idle.delete(key);
        this.idleBytes -= entry.length;
        n++;
      }
    }
    return n;
  }

  /**
   * SecureMemoryCacheCallback: the application is freeing or re-protecting [Addr, Addr+Range).
   * TRUE when something the switch had secured there was released, so the OS retries.
   */
  private securedRangeReleased(Addr: number, Range: number): boolean {
    const e = ref(0);
    const r = this.provider.WSPMemoryRegistrationCacheCallback(Addr, Range, e);
    this.stats.invalidations += this.forget(Addr, Range);
    return r === 0;
  }
}
