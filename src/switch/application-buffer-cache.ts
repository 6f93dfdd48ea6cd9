/**
 * The switch's cache of application-buffer registrations: every buffer the session protocol
 * registers (a large send's, a receive's RDMA target) goes through it ("Caching Registered
 * Memory", "Securing and Releasing Ownership of Virtual Addresses").
 *
 * Implementation notes
 * - Mechanism and policy are split as WSD splits them. The provider (created with
 *   cacheRegistrations) keeps deregistered memory registered and secured through the proxy
 *   (MmSecureVirtualMemory), RDMA memory invalidated so the peer loses access, and serves any
 *   later registration of a range a cached region contains (its cache of NIC-registered
 *   regions, src/provider/nic-region-cache.ts). This file is the policy: the LRU bounds
 *   (bytes, entries) handed to the provider, when everything goes (memory pressure,
 *   WSACleanup), and the secured-range notification.
 * - Hits are the provider's answer, not a guess: each registration call says whether the
 *   provider's cache served it (a local registration with no driver request) or re-exposed a
 *   cached region (an RDMA registration under a new remote key: a memory-window bind from user
 *   mode, no page locking — counted as a re-exposure, never as a hit), and the release of a
 *   secured range says how many cached regions went.
 * - The process's secured-range notification (AddSecureMemoryCacheCallback) fires when the
 *   application frees or re-protects memory that is secured; the switch calls
 *   WSPMemoryRegistrationCacheCallback before VirtualFree completes, so a reallocated range
 *   never reaches stale physical pages (AddSecureMemoryCacheCallback, "Securing and Releasing
 *   Ownership of Virtual Addresses").
 */
import type { Process } from '../kernel/ps/process.ts';
import { ref } from '../kernel/ref.ts';
import { NO_ERROR, RDMA_DESCRIPTOR_BYTES, WSAENOBUFS, type SanServiceProvider } from '../provider/index.ts';

export interface ApplicationBufferCacheOptions {
  /** Bytes idle cached buffers may keep pinned. Default 64 MiB. */
  maxBytes?: number;
  /** Idle cached buffers kept at most. Default 64. */
  maxEntries?: number;
}

export interface CacheStats {
  /** Registrations that needed the driver to lock and register pages (cache misses). */
  registrations: number;
  /** Local registrations served from the cache with no driver request. */
  cacheHits: number;
  /** RDMA registrations re-exposed from the cache under a new key (no page locking). */
  rdmaReexposures: number;
  /** Idle regions the provider released to stay within the bounds. */
  evictions: number;
  /** Idle regions released by the secured-range notification. */
  invalidations: number;
  cachedBytes: number;
  cachedEntries: number;
}

export class ApplicationBufferCache {
  readonly maxBytes: number;
  readonly maxEntries: number;
  private readonly stats = { registrations: 0, cacheHits: 0, rdmaReexposures: 0, invalidations: 0 };
  private readonly onRelease: (Addr: number, Range: number) => boolean;
  private readonly lpErrno = ref(0);
  private readonly lpLength = ref(0);
  private hooked = false;

  constructor(
    private readonly provider: SanServiceProvider,
    private readonly process: Process,
    options: ApplicationBufferCacheOptions = {},
  ) {
    if (!provider.cacheRegistrations) throw new RangeError('ApplicationBufferCache: the provider must be created with cacheRegistrations');
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.maxEntries = options.maxEntries ?? 64;
    if (provider.setCachePolicy(this.maxBytes, this.maxEntries) !== NO_ERROR) {
      throw new RangeError(`ApplicationBufferCache: maxBytes ${this.maxBytes} and maxEntries ${this.maxEntries} must be integers >= 0`);
    }
    this.onRelease = (Addr, Range) => this.securedRangeReleased(Addr, Range);
  }

  /** Hook the process's secured-range notification (AddSecureMemoryCacheCallback). Idempotent. */
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
    const c = this.provider.counters;
    return { ...this.stats, evictions: c.cacheEvictions, cachedBytes: c.cachedBytes, cachedEntries: c.cached };
  }

  /**
   * WSPRegisterMemory through the cache. On WSAENOBUFS with idle regions pinned, the cache is
   * emptied and the registration tried once more (memory pressure beats caching).
   */
  register(s: number, address: number, length: number, flags: number): { handle: number; hit: boolean } | { error: number } {
    const first = this.tryRegister(s, address, length, flags);
    if ('handle' in first || first.error !== WSAENOBUFS || this.provider.counters.cached === 0) return first;
    this.flush();
    return this.tryRegister(s, address, length, flags);
  }

  /** WSPDeregisterMemory through the cache: the provider keeps the region within the bounds. */
  deregister(s: number, handle: number): number {
    return this.provider.WSPDeregisterMemory(s, handle, this.lpErrno) === 0 ? NO_ERROR : this.lpErrno.value;
  }

  /**
   * WSPRegisterRdmaMemory through the cache; the descriptor goes into `descriptor`. Returns
   * NO_ERROR or the WSA error (after one retry with the cache emptied on WSAENOBUFS).
   */
  registerRdma(s: number, address: number, length: number, flags: number, descriptor: Uint8Array): number {
    let e = this.tryRegisterRdma(s, address, length, flags, descriptor);
    if (e === WSAENOBUFS && this.provider.counters.cached > 0) {
      this.flush();
      e = this.tryRegisterRdma(s, address, length, flags, descriptor);
    }
    return e;
  }

  /** WSPDeregisterRdmaMemory: the peer loses access now; the pages may stay cached. */
  deregisterRdma(s: number, descriptor: Uint8Array): number {
    return this.provider.WSPDeregisterRdmaMemory(s, descriptor, RDMA_DESCRIPTOR_BYTES, this.lpErrno) === 0 ? NO_ERROR : this.lpErrno.value;
  }

  /** Release every idle region (WSACleanup, memory pressure). */
  flush(): number {
    return this.provider.flushRegistrationCache();
  }

  private tryRegister(s: number, address: number, length: number, flags: number): { handle: number; hit: boolean } | { error: number } {
    const r = this.provider.registerMemory(s, address, length, flags);
    if (r.error !== NO_ERROR) return { error: r.error };
    if (r.cacheHit) this.stats.cacheHits++;
    else this.stats.registrations++;
    return { handle: r.handle, hit: r.cacheHit };
  }

  private tryRegisterRdma(s: number, address: number, length: number, flags: number, descriptor: Uint8Array): number {
    this.lpLength.value = RDMA_DESCRIPTOR_BYTES;
    const r = this.provider.registerRdmaMemory(s, address, length, flags, descriptor, this.lpLength);
    if (r.error !== NO_ERROR) return r.error;
    if (r.reexposed) this.stats.rdmaReexposures++;
    else this.stats.registrations++;
    return NO_ERROR;
  }

  /**
   * SecureMemoryCacheCallback: the application is freeing or re-protecting [Addr, Addr+Range).
   * TRUE when something the switch had secured there was released, so the OS retries.
   */
  private securedRangeReleased(Addr: number, Range: number): boolean {
    const r = this.provider.releaseCachedRange(Addr, Range);
    this.stats.invalidations += r.released;
    return r.error === NO_ERROR;
  }
}
