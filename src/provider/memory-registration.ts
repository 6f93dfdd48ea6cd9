/**
 * Memory registration: the work behind WSPRegisterMemory, WSPDeregisterMemory,
 * WSPRegisterRdmaMemory, WSPDeregisterRdmaMemory and WSPMemoryRegistrationCacheCallback
 * ("Registering Memory for Operations on a SAN", "Caching Registered Memory", "Securing and
 * Releasing Ownership of Virtual Addresses").
 *
 * Implementation notes
 * - The driver locks and registers (IOCTL_SANPROXY_REGISTER_BUFFER through channel.ts); when it
 *   answers that the NIC cannot reach the pages, a low shadow from ALLOCATE_MEMORY stands in
 *   (shadow.ts). The application holds handles from registration-handles.ts.
 * - With `cacheRegistrations` (the switch's policy), a registration whose last reference goes
 *   keeps its driver registration and is secured through the driver (MmSecureVirtualMemory);
 *   the peer loses access to RDMA memory at once. A later registration of any range a cached
 *   region contains reuses it (nic-region-cache.ts): local memory with no driver work; RDMA
 *   memory under a new remote key with no page locking — a memory window the provider binds
 *   and invalidates itself through its user port (no driver request), for a buffer registered
 *   in place and for a low shadow alike.
 * - Each registration call says what it cost: `register` answers whether the cache served it
 *   (`cacheHit`), `registerRdma` whether a cached region was re-exposed, `releaseCachedRange`
 *   how many regions it released. The switch counts from these answers.
 * - Every call validates first and asks the driver before it changes a table, so a failure
 *   leaves everything as it was.
 */
import type { Ref } from '../kernel/ref.ts';
import { PAGE_READONLY, PAGE_READWRITE } from '../kernel/ps/address-space.ts';
import { NtStatusError } from '../kernel/status.ts';
import { NicAccess, NicStatus } from '../nic/index.ts';
import {
  SANPROXY_LOCAL_READ, SANPROXY_LOCAL_WRITE, SANPROXY_REMOTE_READ, SANPROXY_REMOTE_WRITE, SANPROXY_WINDOW_BIND,
} from '../proxy/interface.ts';
import { MEM_READ, MEM_WRITE, NO_ERROR, WSAEFAULT, WSAEINVAL, WSANOTINITIALISED, wsaErrorOfNicStatus, wsaErrorOfStatus } from './errors.ts';
import { NicRegionCache, type CachedRegion } from './nic-region-cache.ts';
import type { ProviderState } from './provider-state.ts';
import { RDMA_DESCRIPTOR_BYTES, decodeRdmaDescriptor, encodeRdmaDescriptor } from './rdma-descriptor.ts';
import type { Registration, RegistrationKind } from './registration-handles.ts';
import { SHADOW_TRIGGER_STATUS, type Shadow } from './shadow.ts';
import type { SanSocket } from './socket.ts';
import { checkRegistration, isAddress, isU32, wholeUserRange } from './validation.ts';

/** What a local registration did: the handle and whether the cache served it (no driver request). */
export type LocalRegistrationResult = { error: typeof NO_ERROR; handle: number; cacheHit: boolean } | { error: number; handle: 0; cacheHit: false };

/** What an RDMA registration did: whether a cached region was re-exposed (a window bind, no page locking). */
export interface RdmaRegistrationResult {
  error: number;
  reexposed: boolean;
}

/** What a registration made through the driver consists of. */
interface DriverRegistration {
  nicHandle: number;
  remoteKey: number;
  driverId: number;
  shadow: Shadow | null;
  /** Memory window that came with the registration, 0 when none. */
  window: number;
}

const localAccess = (flags: number) => (flags & MEM_READ ? SANPROXY_LOCAL_READ : 0) | (flags & MEM_WRITE ? SANPROXY_LOCAL_WRITE : 0);
// Remote write needs local write on the NIC (verbs rule).
const remoteAccess = (flags: number) =>
  (flags & MEM_READ ? SANPROXY_REMOTE_READ : 0) | (flags & MEM_WRITE ? SANPROXY_REMOTE_WRITE | SANPROXY_LOCAL_WRITE : 0);
/** A window's rights: remote only. */
const windowAccess = (flags: number) => (flags & MEM_READ ? NicAccess.REMOTE_READ : 0) | (flags & MEM_WRITE ? NicAccess.REMOTE_WRITE : 0);

export class MemoryRegistration {
  private readonly regions = new NicRegionCache();
  /** Secure handles taken for the switch through secureMemory(). */
  private readonly switchSecures = new Set<number>();
  private readonly cacheStats = { hits: 0, rdmaReexposures: 0, evictions: 0 };

  constructor(private readonly st: ProviderState) {}

  get counters(): { cached: number; cachedBytes: number; cacheHits: number; rdmaReexposures: number; cacheEvictions: number } {
    return {
      cached: this.regions.idleCount,
      cachedBytes: this.regions.idleBytes,
      cacheHits: this.cacheStats.hits,
      rdmaReexposures: this.cacheStats.rdmaReexposures,
      cacheEvictions: this.cacheStats.evictions,
    };
  }

  /** The switch's cache policy; WSAEINVAL for bounds that are not integers >= 0; shrinking evicts now. */
  setCachePolicy(maxBytes: number, maxEntries: number): number {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0 || !Number.isSafeInteger(maxEntries) || maxEntries < 0) return WSAEINVAL;
    this.regions.policy = { maxBytes, maxEntries };
    this.enforceBound();
    return NO_ERROR;
  }

  // ───────────────────────────── local memory ─────────────────────────────

  /**
   * WSPRegisterMemory's work. The handle is valid only in this process and on this socket;
   * the same buffer and flags registered again on the socket returns the same handle with one
   * more reference.
   */
  register(sock: SanSocket, lpBuffer: number, dwBufferLength: number, dwFlags: number): LocalRegistrationResult {
    const check = checkRegistration(sock, lpBuffer, dwBufferLength, dwFlags, null);
    if (check !== NO_ERROR) return refused(check);
    const cache = this.st.cacheRegistrations;
    const region = cache ? this.regions.find('local', sock.nicIndex, lpBuffer, dwBufferLength, dwFlags) : null;
    if (!this.pagesUsable(lpBuffer, dwBufferLength, dwFlags, region)) return refused(WSAEFAULT);
    const handles = this.st.handles;
    const existing = handles.find(sock.handle, 'local', lpBuffer, dwBufferLength, dwFlags);
    if (existing !== null) {
      existing.refCount++;
      return { error: NO_ERROR, handle: existing.handle, cacheHit: false };
    }
    if (region !== null) {
      // A hit: a cached region contains the buffer, its pages locked and registered — no
      // driver work ("Caching Registered Memory"). The buffer is an offset into it.
      this.regions.use(region);
      this.cacheStats.hits++;
      const reg = handles.insert({
        socket: sock.handle, kind: 'local', address: lpBuffer, length: dwBufferLength, flags: dwFlags,
        nicIndex: region.nicIndex, nicHandle: region.nicHandle, remoteKey: 0, driverId: region.driverId, shadow: region.shadow,
        region, regionOffset: lpBuffer - region.address,
      });
      return { error: NO_ERROR, handle: reg.handle, cacheHit: true };
    }
    const made = this.driverRegister(sock.nicIndex, localAccess(dwFlags), lpBuffer, dwBufferLength, 0);
    if (typeof made === 'number') return refused(made);
    const reg = handles.insert({
      socket: sock.handle, kind: 'local', address: lpBuffer, length: dwBufferLength, flags: dwFlags,
      nicIndex: sock.nicIndex, nicHandle: made.nicHandle, remoteKey: made.remoteKey, driverId: made.driverId, shadow: made.shadow,
      region: this.track('local', sock, lpBuffer, dwBufferLength, dwFlags, made),
    });
    return { error: NO_ERROR, handle: reg.handle, cacheHit: false };
  }

  /** WSPDeregisterMemory's work: WSAEINVAL for an unknown handle or one a transfer uses. */
  deregister(sock: SanSocket, handle: number): number {
    const reg = this.st.handles.get(handle);
    if (reg === null || reg.socket !== sock.handle || reg.kind !== 'local' || reg.inUse > 0) return WSAEINVAL;
    if (reg.refCount > 1) {
      reg.refCount--;
      return NO_ERROR;
    }
    return this.retire(reg);
  }

  // ───────────────────────────── RDMA memory ─────────────────────────────

  /**
   * WSPRegisterRdmaMemory's work: the descriptor lets only the peer of s's connection reach
   * the buffer — bound to s's endpoint, so the NIC refuses it on any other connection.
   * MEM_READ lets the peer RDMA-read it, MEM_WRITE RDMA-write it.
   */
  registerRdma(sock: SanSocket, lpBuffer: number, dwBufferLength: number, dwFlags: number, lpRdmaBufferDescriptor: unknown,
    lpdwDescriptorLength: Ref<number>): RdmaRegistrationResult {
    if (!isU32(lpdwDescriptorLength.value) || lpdwDescriptorLength.value < RDMA_DESCRIPTOR_BYTES ||
        !(lpRdmaBufferDescriptor instanceof Uint8Array) || lpRdmaBufferDescriptor.length < RDMA_DESCRIPTOR_BYTES) {
      lpdwDescriptorLength.value = RDMA_DESCRIPTOR_BYTES;
      return { error: WSAEFAULT, reexposed: false };
    }
    const check = checkRegistration(sock, lpBuffer, dwBufferLength, dwFlags, this.isConnected(sock));
    if (check !== NO_ERROR) return { error: check, reexposed: false };
    const region = this.st.cacheRegistrations ? this.regions.find('rdma', sock.nicIndex, lpBuffer, dwBufferLength, dwFlags) : null;
    if (!this.pagesUsable(lpBuffer, dwBufferLength, dwFlags, region)) return { error: WSAEFAULT, reexposed: false };
    let reg = this.st.handles.find(sock.handle, 'rdma', lpBuffer, dwBufferLength, dwFlags);
    let reexposed = false;
    if (reg !== null) {
      reg.refCount++;
    } else {
      const made = region !== null ? this.reexpose(region, sock, lpBuffer, dwBufferLength, dwFlags) : this.exposeNew(sock, lpBuffer, dwBufferLength, dwFlags);
      if (typeof made === 'number') return { error: made, reexposed: false };
      reg = made;
      reexposed = region !== null;
    }
    encodeRdmaDescriptor({
      remoteKey: reg.remoteKey, offset: reg.nicOffset, length: reg.length, sanAddress: this.st.ports[reg.nicIndex]!.sanAddress,
    }, lpRdmaBufferDescriptor);
    lpdwDescriptorLength.value = RDMA_DESCRIPTOR_BYTES;
    return { error: NO_ERROR, reexposed };
  }

  /** WSPDeregisterRdmaMemory's work. */
  deregisterRdma(sock: SanSocket, lpRdmaBufferDescriptor: unknown, dwDescriptorLength: unknown): number {
    const d = decodeRdmaDescriptor(lpRdmaBufferDescriptor, dwDescriptorLength);
    const reg = d === null ? null : this.st.handles.findRemote(sock.handle, d.remoteKey);
    if (reg === null || reg.length !== d!.length || reg.nicOffset !== d!.offset) return WSAEINVAL;
    if (reg.refCount > 1) {
      reg.refCount--;
      return NO_ERROR;
    }
    // The peer has written into the shadow: the application gets the bytes before it goes.
    if (reg.shadow !== null && (reg.flags & MEM_WRITE) !== 0 &&
        !guarded(() => this.st.copier.fromShadow(this.st.process, reg.address - reg.regionOffset, reg.shadow!, reg.regionOffset, reg.length))) {
      return WSAEFAULT;
    }
    return this.retire(reg);
  }

  // ───────────────────────────── the cache and secured ranges ─────────────────────────────

  /**
   * WSPMemoryRegistrationCacheCallback's work: the switch is about to let the range's
   * virtual-to-physical mapping change. Every cached registration overlapping it is dropped
   * from the NIC and unsecured. WSAEINVAL: nothing of the range was cached; WSAEFAULT: part of
   * it is cached but cannot be released (registered and in use again). `released` counts the
   * regions that went.
   */
  releaseCachedRange(lpvAddress: unknown, Size: unknown): { error: number; released: number } {
    if (!this.st.started) return { error: WSANOTINITIALISED, released: 0 };
    if (!isAddress(lpvAddress) || !isAddress(Size) || Size === 0) return { error: WSAEINVAL, released: 0 };
    let found = false;
    let error = NO_ERROR;
    let released = 0;
    for (const region of this.regions.overlapping(lpvAddress, Size)) {
      // A live region never parked was never secured: the callback is not about it.
      if (region.secureHandle === 0) continue;
      found = true;
      // Registered and in use again: it cannot go now.
      if (!this.regions.isIdle(region) || this.releaseRegion(region) !== NO_ERROR) error = WSAEFAULT;
      else released++;
    }
    if (!found) return { error: WSAEINVAL, released: 0 };
    return { error, released };
  }

  /** Release every idle cached region (memory pressure, WSACleanup). Returns the first WSA error. */
  flush(): number {
    let error = NO_ERROR;
    for (const region of this.regions.idleRegions()) {
      const e = this.releaseRegion(region);
      if (e !== NO_ERROR && error === NO_ERROR) error = e;
    }
    return error;
  }

  /** Secure a range through the proxy (MmSecureVirtualMemory) for the switch's cache. */
  secureMemory(address: number, length: number, probeMode: number): { handle: number } | { error: number } {
    if (!this.st.started) return { error: WSANOTINITIALISED };
    if (!isAddress(address) || !isAddress(length) || length === 0 || (probeMode !== PAGE_READWRITE && probeMode !== PAGE_READONLY)) {
      return { error: WSAEINVAL };
    }
    const r = this.st.channel.secureMemory(address, length, probeMode);
    if (!r.ok) return { error: wsaErrorOfStatus(r.status) };
    this.switchSecures.add(r.handle);
    return { handle: r.handle };
  }

  /** Undo secureMemory (MmUnsecureVirtualMemory). */
  unsecureMemory(handle: number): number {
    if (!this.switchSecures.has(handle)) return WSAEINVAL;
    const status = this.st.channel.unsecureMemory(handle);
    if (status !== 0) return wsaErrorOfStatus(status);
    this.switchSecures.delete(handle);
    return NO_ERROR;
  }

  /**
   * A socket is closing: release every registration made on it, then the cached RDMA memory
   * last exposed on its connection ("Caching Registered Memory": cached buffers go before the
   * connection does). Keeps going past driver errors; returns the first.
   */
  releaseSocket(sock: SanSocket): number {
    let firstError = NO_ERROR;
    const handles = this.st.handles;
    for (const reg of handles.ofSocket(sock.handle)) {
      const r = this.releaseRegistration(reg);
      if (r !== NO_ERROR) {
        if (firstError === NO_ERROR) firstError = r;
        // Keep the books straight even when the driver refused: the handle dies with the socket.
        if (handles.get(reg.handle) === reg) handles.remove(reg);
      }
    }
    for (const region of this.regions.idleRegions()) {
      if (region.kind !== 'rdma' || region.socket !== sock.handle) continue;
      const r = this.releaseRegion(region);
      if (r !== NO_ERROR && firstError === NO_ERROR) firstError = r;
    }
    return firstError;
  }

  /** WSPCleanup's share: every idle region and every range secured for the switch. */
  releaseAll(): number {
    const error = this.flush();
    for (const h of [...this.switchSecures]) {
      if (this.st.channel.unsecureMemory(h) === 0) this.switchSecures.delete(h);
    }
    return error;
  }

  // ───────────────────────────── internals ─────────────────────────────

  private isConnected(sock: SanSocket): boolean {
    if (sock.state !== 'connected') return false;
    const info = this.st.ports[sock.nicIndex]!.endpointInfo(sock.endpoint);
    return typeof info === 'object' && info.state === 'connected';
  }

  /**
   * The pages of a buffer that passed checkRegistration are usable (else WSAEFAULT, before any
   * driver request). A cached region that serves it and is secured vouches for them: the
   * process cannot free or re-protect secured pages without the switch's callback releasing
   * the region first, so the page walk is skipped on such hits.
   */
  private pagesUsable(address: number, length: number, flags: number, region: CachedRegion | null): boolean {
    if (region !== null && region.secureHandle !== 0) return true;
    return wholeUserRange(this.st.process, address, length, (flags & MEM_WRITE) !== 0);
  }

  /**
   * Register through the driver (REGISTER_BUFFER); when the NIC cannot reach the pages, a low
   * shadow (ALLOCATE_MEMORY) instead, registered with `shadowAccess` and `shadowBind`.
   */
  private driverRegister(
    nicIndex: number, access: number, address: number, length: number, bind: number,
    shadowAccess = access, shadowBind = bind,
  ): DriverRegistration | number {
    const channel = this.st.channel;
    const r = channel.registerBuffer(nicIndex, access, address, length, bind);
    if (r.ok) {
      const g = r.registration;
      return { nicHandle: g.handle, remoteKey: g.remoteKey, driverId: g.id, shadow: null, window: g.window };
    }
    if (r.status >>> 0 !== SHADOW_TRIGGER_STATUS) return wsaErrorOfStatus(r.status);
    const a = channel.allocateMemory(nicIndex, shadowAccess, length, shadowBind);
    if (!a.ok) return wsaErrorOfStatus(a.status);
    const m = a.allocation;
    return {
      nicHandle: m.handle, remoteKey: m.remoteKey, driverId: m.id,
      shadow: { userAddress: m.userAddress, bytes: m.bytes, id: m.id }, window: m.window,
    };
  }

  private releaseDriver(shadow: Shadow | null, driverId: number): number {
    const channel = this.st.channel;
    const status = shadow !== null ? channel.releaseMemory(shadow.id) : channel.deregisterBuffer(driverId);
    return status === 0 ? NO_ERROR : wsaErrorOfStatus(status);
  }

  /** Release a registration's driver objects (or its share of a region) and forget it; nothing changes on failure. */
  private releaseRegistration(reg: Registration): number {
    const region = reg.region;
    if (region === null) {
      const e = this.releaseDriver(reg.shadow, reg.driverId);
      if (e !== NO_ERROR) return e;
    } else if (region.users === 1) {
      const e = this.releaseRegion(region);
      if (e !== NO_ERROR) return e;
    } else {
      region.users--;
    }
    this.st.handles.remove(reg);
    return NO_ERROR;
  }

  /** The last reference to a registration went: its region stays cached when it can, else everything goes. */
  private retire(reg: Registration): number {
    const region = reg.region;
    if (region === null || region.users > 1) return this.releaseRegistration(reg);
    if (!this.park(region)) return this.releaseRegistration(reg);
    this.st.handles.remove(reg);
    this.enforceBound();
    return NO_ERROR;
  }

  /** With caching on, a region for what the driver just registered (one user); else null. */
  private track(kind: RegistrationKind, sock: SanSocket, address: number, length: number, flags: number, made: DriverRegistration): CachedRegion | null {
    if (!this.st.cacheRegistrations) return null;
    const region: CachedRegion = {
      kind, nicIndex: sock.nicIndex, address, length, flags, nicHandle: made.nicHandle, remoteKey: made.remoteKey,
      driverId: made.driverId, shadow: made.shadow, window: made.window, secureHandle: 0, users: 0, invalidated: false, socket: sock.handle,
    };
    this.regions.add(region);
    this.regions.use(region);
    return region;
  }

  /**
   * A new RDMA registration through the driver. With caching, the NIC region gets local rights
   * only and a memory window; the window, bound to the socket's connection over the buffer,
   * is what the peer reaches, so the region can later be hidden and re-exposed from user mode
   * with no driver request; a low shadow (a NIC that cannot reach the pages) comes with a
   * window the same way. Without caching the region itself carries the remote rights, bound
   * to the connection.
   */
  private exposeNew(sock: SanSocket, address: number, length: number, flags: number): Registration | number {
    const windowed = localAccess(flags) | SANPROXY_WINDOW_BIND;
    const made = this.st.cacheRegistrations
      ? this.driverRegister(sock.nicIndex, windowed, address, length, 0, windowed, 0)
      : this.driverRegister(sock.nicIndex, remoteAccess(flags), address, length, sock.endpoint);
    if (typeof made === 'number') return made;
    // The peer may read it as soon as it is exposed: the shadow must hold the application's
    // bytes before the window opens.
    if (made.shadow !== null && (flags & MEM_READ) !== 0 &&
        !guarded(() => this.st.copier.toShadow(this.st.process, address, made.shadow!, 0, length))) {
      this.releaseDriver(made.shadow, made.driverId);
      return WSAEFAULT;
    }
    if (made.window !== 0) {
      const b = this.st.ports[sock.nicIndex]!.bindWindow(sock.endpoint, made.window, made.nicHandle, 0, length, windowAccess(flags));
      if (b.status !== NicStatus.SUCCESS) {
        this.releaseDriver(made.shadow, made.driverId);
        return wsaErrorOfNicStatus(b.status);
      }
      made.remoteKey = b.remoteKey;
    }
    return this.st.handles.insert({
      socket: sock.handle, kind: 'rdma', address, length, flags, nicIndex: sock.nicIndex, nicHandle: made.nicHandle,
      remoteKey: made.remoteKey, driverId: made.driverId, shadow: made.shadow, region: this.track('rdma', sock, address, length, flags, made),
    });
  }

  /**
   * A cached RDMA region contains the buffer: expose it again — its window bound over exactly
   * the buffer, to this socket's connection, with only the rights asked for, from user mode;
   * the keys of its last exposure stay dead. A shadow is brought up to date first, so the peer
   * never reads a stale copy through it.
   */
  private reexpose(region: CachedRegion, sock: SanSocket, address: number, length: number, flags: number): Registration | number {
    if (region.window === 0) throw new Error(`provider invariant: cached RDMA region at 0x${region.address.toString(16)} has no window`);
    const offset = address - region.address;
    if (region.shadow !== null && (flags & MEM_READ) !== 0 &&
        !guarded(() => this.st.copier.toShadow(this.st.process, region.address, region.shadow!, offset, length))) {
      return WSAEFAULT;
    }
    const b = this.st.ports[region.nicIndex]!.bindWindow(sock.endpoint, region.window, region.nicHandle, offset, length, windowAccess(flags));
    if (b.status !== NicStatus.SUCCESS) return wsaErrorOfNicStatus(b.status);
    region.remoteKey = b.remoteKey;
    region.invalidated = false;
    region.socket = sock.handle;
    this.regions.use(region);
    this.cacheStats.rdmaReexposures++;
    // The window's key names exactly the buffer: offset 0 in the descriptor.
    return this.st.handles.insert({
      socket: sock.handle, kind: 'rdma', address, length, flags, nicIndex: region.nicIndex, nicHandle: region.nicHandle,
      remoteKey: b.remoteKey, driverId: region.driverId, shadow: region.shadow, region, regionOffset: offset, nicOffset: 0,
    });
  }

  /**
   * Keep an unused region registered for reuse: secured, so the application cannot change the
   * range under it unnoticed; an RDMA region also invalidated on the NIC, so the peer loses
   * access now. False: it cannot be kept (release it instead).
   */
  private park(region: CachedRegion): boolean {
    if (region.kind === 'rdma' && !region.invalidated) {
      if (this.st.ports[region.nicIndex]!.invalidateWindow(region.window) !== NicStatus.SUCCESS) return false;
      region.invalidated = true;
    }
    if (region.secureHandle === 0) {
      const probe = (region.flags & MEM_WRITE) !== 0 ? PAGE_READWRITE : PAGE_READONLY;
      const r = this.st.channel.secureMemory(region.address, region.length, probe);
      // Cannot secure (e.g. the range is read-only for a writable registration): release instead.
      if (!r.ok) return false;
      region.secureHandle = r.handle;
    }
    region.users = 0;
    this.regions.park(region);
    return true;
  }

  /** Evict least recently used idle regions beyond the policy's bounds. */
  private enforceBound(): void {
    for (let victim = this.regions.overBound(); victim !== null; victim = this.regions.overBound()) {
      if (this.releaseRegion(victim) !== NO_ERROR) return;
      this.cacheStats.evictions++;
    }
  }

  /** Deregister a region from the driver, unsecure it and forget it; nothing changes when the driver refuses. */
  private releaseRegion(region: CachedRegion): number {
    const e = this.releaseDriver(region.shadow, region.driverId);
    if (e !== NO_ERROR) return e;
    this.regions.remove(region);
    if (region.secureHandle === 0) return NO_ERROR;
    const secure = region.secureHandle;
    region.secureHandle = 0;
    // The registration is gone already; a failed unsecure leaves only a secured range, which
    // the process's exit releases. Report it.
    return this.st.channel.unsecureMemory(secure) === 0 ? NO_ERROR : WSAEFAULT;
  }
}

function refused(error: number): LocalRegistrationResult {
  return { error, handle: 0, cacheHit: false };
}

/** Run a user-memory copy; an access violation becomes `false` (secured buffers are touched inside try/except). */
export function guarded(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof NtStatusError) return false;
    throw e;
  }
}
