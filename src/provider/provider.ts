/**
 * The SAN service provider: the user-mode DLL the Windows Sockets switch loads for a SAN
 * (Windows Sockets Direct). One instance serves one process.
 *
 * Implementation notes
 * - Kernel work (endpoints, registrations, low memory, securing ranges, address translation)
 *   goes to the proxy driver through DeviceIoControl on \\.\SanProxy (channel.ts). Data moves
 *   through the NIC's user-mode queues directly (kernel bypass), naming this process as the
 *   owner — the stand-in for the doorbell page the driver mapped into it.
 * - Every routine validates first and acts after, so a failure leaves sockets, registrations,
 *   driver objects and NIC state as they were. Errors go to *lpErrno, as WSP routines do.
 * - Connection set-up waits for the fabric (the NIC's messages), so WSPConnect and WSPAccept
 *   return Promises; every other call is synchronous and transfers are overlapped.
 * - Registration caches (A11-A14, region-cache.ts): with `cacheRegistrations`, a registration
 *   whose last reference goes keeps its driver registration and is secured through the driver
 *   (MmSecureVirtualMemory); the peer loses access to RDMA memory at once. A later registration
 *   of any range the cached region contains reuses it: local memory with no driver work; RDMA
 *   memory under a new remote key with no page locking — a memory window the provider binds
 *   and invalidates itself on the NIC (no driver request), for a buffer registered in place and
 *   for a low shadow alike.
 *   WSPMemoryRegistrationCacheCallback releases cached regions overlapping a range; closing a
 *   socket releases the RDMA regions last exposed on it. The switch decides whether to cache
 *   and the bounds (setCachePolicy); the provider provides the mechanism.
 */
import type { Kernel } from '../kernel/kernel.ts';
import type { Process } from '../kernel/ps/process.ts';
import type { Ref } from '../kernel/ref.ts';
import { NtStatusError } from '../kernel/status.ts';
import { PAGE_READONLY, PAGE_READWRITE } from '../kernel/ps/address-space.ts';
import { NicAccess, NicStatus, type SanNic } from '../nic/index.ts';
import {
  SANPROXY_LOCAL_READ, SANPROXY_LOCAL_WRITE, SANPROXY_REMOTE_READ, SANPROXY_REMOTE_WRITE, SANPROXY_WINDOW_BIND, TRANSLATE_IP_TO_SAN,
  TRANSLATE_SAN_TO_IP,
} from '../proxy/interface.ts';
import { ProxyChannel, type AddressEntry } from './channel.ts';
import {
  INVALID_SOCKET, MEM_READ, MEM_READWRITE, MEM_WRITE, NO_ERROR, SOCKET_ERROR, WSA_IO_PENDING, WSAEADDRNOTAVAIL,
  WSAEAFNOSUPPORT, WSAECONNREFUSED, WSAEFAULT, WSAEINVAL, WSAEISCONN, WSAENETDOWN, WSAENETUNREACH, WSAENOTCONN,
  WSAENOTSOCK, WSAEOPNOTSUPP, WSAETIMEDOUT, WSAEWOULDBLOCK, WSANOTINITIALISED, wsaErrorOfNicStatus, wsaErrorOfStatus,
} from './errors.ts';
import {
  RDMA_DESCRIPTOR_BYTES, RegistrationTable, decodeRdmaDescriptor, encodeRdmaDescriptor, type Registration,
  type RegistrationKind,
} from './registrations.ts';
import { RegionCache, type CachedRegion } from './region-cache.ts';
import { SHADOW_TRIGGER_STATUS, ShadowCopier, type Shadow } from './shadow.ts';
import { SanSocket, SocketTable, type SockAddr } from './socket.ts';
import {
  TransferEngine, isOverlapped, isRef, type CompleteOverlappedUpcall, type TransferKind, type WSAOVERLAPPED,
} from './transfers.ts';

export const AF_INET = 2;
export const SOCK_STREAM = 1;
export const IPPROTO_TCP = 6;
export const WSAESOCKTNOSUPPORT = 10044;
/** SIO_GET_EXTENSION_FUNCTION_POINTER = _WSAIORW(IOC_WS2, 6). */
export const SIO_GET_EXTENSION_FUNCTION_POINTER = 0xc8000006;

/** Extension GUIDs of ws2san.h (A8). */
export const WSAID_REGISTERMEMORY = '{C0B422F5-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_DEREGISTERMEMORY = '{C0B422F6-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_REGISTERRDMAMEMORY = '{C0B422F7-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_DEREGISTERRDMAMEMORY = '{C0B422F8-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_RDMAWRITE = '{C0B422F9-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_RDMAREAD = '{C0B422FA-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_MEMORYREGISTRATIONCACHECALLBACK = '{E5DA4AF8-D824-48CD-A799-6337A98ED2AF}';

/** Lowest and one-past-highest user address (MM_LOWEST_USER_ADDRESS, MM_USER_PROBE_ADDRESS). */
const USER_LOW = 0x1_0000;
const USER_END = 0x7fff_ffff_0000;
const U32 = 0x1_0000_0000;
const EPHEMERAL_FIRST = 49152;

export interface SanServiceProviderOptions {
  kernel: Kernel;
  process: Process;
  /** The NICs' user-mode queue interfaces; index = the nicIndex the proxy's IOCTLs use. */
  nics: readonly SanNic[];
  /** Keep deregistered local memory registered and secured for reuse (the switch's policy). */
  cacheRegistrations?: boolean;
  /** WPUCompleteOverlappedRequest, for requests whose hEvent low bit is 0. */
  completeOverlapped?: CompleteOverlappedUpcall;
  /**
   * How long WSPConnect waits for the listener to accept (WSAETIMEDOUT after). Default 20 s,
   * about what a TCP connect waits for its retransmitted SYNs.
   */
  connectTimeoutMs?: number;
}

/** First and largest pause while a connect request waits at a listener (timer back-off, never a spin). */
const CONNECT_POLL_FIRST_MS = 1;
const CONNECT_POLL_MAX_MS = 50;

/** What a registration made through the driver consists of. */
interface DriverRegistration {
  nicHandle: number;
  remoteKey: number;
  driverId: number;
  shadow: Shadow | null;
  /** Memory window that came with the registration, 0 when none. */
  window: number;
}

const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < U32;
const isAddress = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isSockAddr = (v: unknown): v is SockAddr =>
  typeof v === 'object' && v !== null && isU32((v as SockAddr).ip) && isU32((v as SockAddr).port) && (v as SockAddr).port <= 0xffff;
const localAccess = (flags: number) => (flags & MEM_READ ? SANPROXY_LOCAL_READ : 0) | (flags & MEM_WRITE ? SANPROXY_LOCAL_WRITE : 0);
// Remote write needs local write on the NIC (verbs rule).
const remoteAccess = (flags: number) =>
  (flags & MEM_READ ? SANPROXY_REMOTE_READ : 0) | (flags & MEM_WRITE ? SANPROXY_REMOTE_WRITE | SANPROXY_LOCAL_WRITE : 0);
/** A window's rights: remote only (the NIC's REMOTE_READ / REMOTE_WRITE have the proxy's values). */
const windowAccess = (flags: number) => (flags & MEM_READ ? NicAccess.REMOTE_READ : 0) | (flags & MEM_WRITE ? NicAccess.REMOTE_WRITE : 0);

export class SanServiceProvider {
  readonly kernel: Kernel;
  readonly process: Process;
  readonly nics: readonly SanNic[];
  readonly registrations = new RegistrationTable();
  readonly copier = new ShadowCopier();
  private readonly channel: ProxyChannel;
  private readonly sockets = new SocketTable();
  private readonly transfers: TransferEngine;
  private readonly regions = new RegionCache();
  /** Secure handles taken for the switch through secureMemory(). */
  private readonly switchSecures = new Set<number>();
  private readonly cacheStats = { hits: 0, rdmaReexposures: 0, evictions: 0 };
  private addresses: AddressEntry[] = [];
  private started = false;
  private nextPort = EPHEMERAL_FIRST;
  readonly cacheRegistrations: boolean;
  readonly connectTimeoutMs: number;

  constructor(options: SanServiceProviderOptions) {
    if (options === null || typeof options !== 'object' || options.kernel === null || typeof options.kernel !== 'object' ||
        options.process === null || typeof options.process !== 'object' || !Array.isArray(options.nics)) {
      throw new TypeError('SanServiceProvider: options need { kernel, process, nics[] }');
    }
    this.kernel = options.kernel;
    this.process = options.process;
    this.nics = [...options.nics];
    this.cacheRegistrations = options.cacheRegistrations === true;
    const timeout = options.connectTimeoutMs ?? 20_000;
    if (!Number.isSafeInteger(timeout) || timeout < 0) throw new RangeError(`SanServiceProvider: connectTimeoutMs ${String(timeout)} must be an integer >= 0`);
    this.connectTimeoutMs = timeout;
    this.channel = new ProxyChannel(this.kernel, this.process);
    this.transfers = new TransferEngine({
      process: this.process,
      nics: this.nics,
      registrations: this.registrations,
      copier: this.copier,
      upcall: typeof options.completeOverlapped === 'function' ? options.completeOverlapped : null,
    });
  }

  /** Bytes copied between user buffers and shadows (the cost of a NIC that cannot reach the pages). */
  get shadowCopyBytes(): number {
    return this.copier.shadowCopyBytes;
  }

  /** Resources the provider holds, for tests and reports. */
  get counters() {
    return {
      sockets: this.sockets.size,
      registrations: this.registrations.size,
      cached: this.regions.idleCount,
      cachedBytes: this.regions.idleBytes,
      cacheHits: this.cacheStats.hits,
      rdmaReexposures: this.cacheStats.rdmaReexposures,
      cacheEvictions: this.cacheStats.evictions,
      pendingTransfers: this.transfers.pendingCount,
      driverRequests: this.channel.requests,
      shadowCopyBytes: this.copier.shadowCopyBytes,
    };
  }

  /**
   * Local registrations served from the cache so far (each one made no driver request). The
   * switch reads it around WSPRegisterMemory to count its hits.
   */
  get cacheHits(): number {
    return this.cacheStats.hits;
  }

  /** RDMA registrations re-exposed from the cache (a window bind from user mode; no page locking). */
  get rdmaReexposures(): number {
    return this.cacheStats.rdmaReexposures;
  }

  /**
   * The switch's cache policy: how many idle regions, and how many bytes of them, stay
   * registered. Returns WSAEINVAL for bounds that are not integers >= 0; shrinking evicts now.
   */
  setCachePolicy(maxBytes: number, maxEntries: number): number {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0 || !Number.isSafeInteger(maxEntries) || maxEntries < 0) return WSAEINVAL;
    this.regions.policy = { maxBytes, maxEntries };
    this.enforceBound();
    return NO_ERROR;
  }

  /** Release every idle cached region (memory pressure, WSACleanup). Returns the first WSA error. */
  flushRegistrationCache(): number {
    let error = NO_ERROR;
    for (const region of this.regions.idleRegions()) {
      const e = this.releaseRegion(region);
      if (e !== NO_ERROR && error === NO_ERROR) error = e;
    }
    return error;
  }

  /** A socket's NIC objects and state (for the switch's diagnostics and tests); null when unknown. */
  socketInfo(s: number): { state: string; nicIndex: number; endpoint: number; completionQueue: number } | null {
    const sock = this.sockets.get(s);
    return sock === null ? null
      : { state: sock.state, nicIndex: sock.nicIndex, endpoint: sock.endpoint, completionQueue: sock.completionQueue };
  }

  get localAddresses(): readonly AddressEntry[] {
    return this.addresses;
  }

  // ───────────────────────────── start-up and clean-up ─────────────────────────────

  /** WSPStartup: open the proxy and learn the NICs' addresses. Returns 0 or a WSA error. */
  WSPStartup(): number {
    if (this.started) return NO_ERROR;
    const status = this.channel.open();
    if (status !== 0) return wsaErrorOfStatus(status);
    const q = this.channel.queryAddresses();
    if (!q.ok) {
      this.channel.close();
      return wsaErrorOfStatus(q.status);
    }
    this.addresses = q.entries.filter((e) => e.nicIndex < this.nics.length);
    this.started = true;
    return NO_ERROR;
  }

  /**
   * WSPCleanup: release every resource of the process — sockets (and with them endpoints,
   * registrations, shadows, pending transfers), cached registrations, secured ranges — then
   * close the proxy handle last [cleaning-up-a-process-for-a-san]. The driver's
   * IRP_MJ_CLEANUP would release leftovers, but the provider does not rely on it.
   */
  WSPCleanup(lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    if (!this.started) return fail(lpErrno, WSANOTINITIALISED);
    let firstError = NO_ERROR;
    for (const s of this.sockets.all()) {
      const e = this.closeSocket(s, true);
      if (firstError === NO_ERROR) firstError = e;
    }
    for (const region of this.regions.idleRegions()) {
      const e = this.releaseRegion(region);
      if (firstError === NO_ERROR && e !== NO_ERROR) firstError = e;
    }
    for (const h of [...this.switchSecures]) {
      if (this.channel.unsecureMemory(h) === 0) this.switchSecures.delete(h);
    }
    this.channel.close();
    this.started = false;
    this.addresses = [];
    if (firstError !== NO_ERROR) return fail(lpErrno, firstError);
    return NO_ERROR;
  }

  // ───────────────────────────── sockets ─────────────────────────────

  /** WSPSocket(af, type, protocol, lpProtocolInfo, g, dwFlags, lpErrno) → SOCKET | INVALID_SOCKET. */
  WSPSocket(af: number, type: number, protocol: number, lpProtocolInfo: null, g: number, dwFlags: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return INVALID_SOCKET;
    if (!this.started) return failSocket(lpErrno, WSANOTINITIALISED);
    if (af !== AF_INET) return failSocket(lpErrno, WSAEAFNOSUPPORT);
    if (type !== SOCK_STREAM || (protocol !== 0 && protocol !== IPPROTO_TCP)) return failSocket(lpErrno, WSAESOCKTNOSUPPORT);
    if (lpProtocolInfo !== null || g !== 0 || !isU32(dwFlags)) return failSocket(lpErrno, WSAEINVAL);
    return this.sockets.create().handle;
  }

  /** WSPBind(s, name, lpErrno): name.ip 0 (INADDR_ANY) takes the first SAN address; port 0 an ephemeral one. */
  WSPBind(s: number, name: SockAddr, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (!isSockAddr(name)) return fail(lpErrno, WSAEFAULT);
    if (sock.state !== 'created') return fail(lpErrno, WSAEINVAL);
    const entry = name.ip === 0 ? this.addresses[0] : this.addresses.find((a) => a.ipv4 === name.ip);
    if (entry === undefined) return fail(lpErrno, WSAEADDRNOTAVAIL);
    const e = this.createEndpoint(sock, entry.nicIndex);
    if (e !== NO_ERROR) return fail(lpErrno, e);
    sock.local = { ip: entry.ipv4, port: name.port === 0 ? this.nextPort++ : name.port };
    sock.state = 'bound';
    return NO_ERROR;
  }

  /** WSPListen(s, backlog, lpErrno): the NIC starts taking connection requests on the port. */
  WSPListen(s: number, backlog: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (!isU32(backlog)) return fail(lpErrno, WSAEINVAL);
    if (sock.state === 'listening') return NO_ERROR;
    if (sock.state !== 'bound') return fail(lpErrno, sock.state === 'connected' ? WSAEISCONN : WSAEINVAL);
    const status = this.nics[sock.nicIndex]!.listen(this.owner, sock.local.port);
    if (status !== NicStatus.SUCCESS) return fail(lpErrno, wsaErrorOfNicStatus(status));
    sock.state = 'listening';
    return NO_ERROR;
  }

  /**
   * WSPConnect(s, name, lpErrno) → Promise of 0 | SOCKET_ERROR: translate the IP to the peer's
   * SAN address through the proxy, connect the endpoint, and wait for the fabric to settle.
   */
  async WSPConnect(s: number, name: SockAddr, lpErrno: Ref<number>): Promise<number> {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (!isSockAddr(name) || name.ip === 0 || name.port === 0) return fail(lpErrno, WSAEFAULT);
    if (sock.state === 'connected' || sock.state === 'connecting') return fail(lpErrno, WSAEISCONN);
    if (sock.state === 'listening') return fail(lpErrno, WSAEINVAL);
    // A bound socket resolves through its NIC; otherwise the first NIC that knows the address.
    const candidates = sock.hasEndpoint ? [sock.nicIndex] : [...new Set(this.addresses.map((a) => a.nicIndex))];
    let t: { value: number; nicIndex: number } | null = null;
    for (const nicIndex of candidates) {
      const r = this.channel.translate(TRANSLATE_IP_TO_SAN, nicIndex, name.ip);
      if (r.ok && r.nicIndex === nicIndex) {
        t = r;
        break;
      }
    }
    if (t === null) return fail(lpErrno, WSAENETUNREACH);
    let created = false;
    if (!sock.hasEndpoint) {
      const e = this.createEndpoint(sock, t.nicIndex);
      if (e !== NO_ERROR) return fail(lpErrno, e);
      created = true;
    }
    const nic = this.nics[sock.nicIndex]!;
    const status = nic.connect(this.owner, sock.endpoint, t.value, name.port);
    if (status !== NicStatus.SUCCESS) {
      if (created) this.destroyEndpoint(sock);
      return fail(lpErrno, wsaErrorOfNicStatus(status));
    }
    const previous = sock.state;
    sock.state = 'connecting';
    await this.settle(nic);
    // The request waits at the listener until it accepts (its backlog): block like a real
    // connect, pausing on timers with back-off so the acceptor's code gets to run, up to the
    // connect timeout. A refusal or an unreachable peer ends the wait at once.
    const deadline = Date.now() + this.connectTimeoutMs;
    for (let pause = CONNECT_POLL_FIRST_MS; ; pause = Math.min(pause * 2, CONNECT_POLL_MAX_MS)) {
      const now = nic.endpointInfo(this.owner, sock.endpoint);
      if (typeof now !== 'object' || now.state !== 'connecting' || sock.state !== 'connecting' || Date.now() >= deadline) break;
      await new Promise<void>((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, deadline - Date.now()))));
      await this.settle(nic);
    }
    if (this.sockets.get(sock.handle) !== sock) return fail(lpErrno, WSAENOTSOCK);
    const info = nic.endpointInfo(this.owner, sock.endpoint);
    if (typeof info === 'object' && info.state === 'connected') {
      sock.state = 'connected';
      sock.peer = { ip: name.ip, port: name.port };
      if (sock.local.port === 0) {
        const local = this.addresses.find((a) => a.nicIndex === sock.nicIndex);
        sock.local = { ip: local?.ipv4 ?? 0, port: this.nextPort++ };
      }
      return NO_ERROR;
    }
    // Refused or unreachable: the NIC put the endpoint back to idle; so do we.
    const event = typeof info === 'object' ? info.lastEvent : '';
    if (typeof info === 'object' && info.state === 'connecting') {
      // Still waiting: give up (a later reply makes the NIC tear the acceptor down).
      this.destroyEndpoint(sock);
      sock.state = 'created';
      return fail(lpErrno, WSAETIMEDOUT);
    }
    if (created) {
      this.destroyEndpoint(sock);
      sock.state = 'created';
    } else sock.state = previous;
    return fail(lpErrno, event === 'unreachable' ? WSAENETUNREACH : WSAECONNREFUSED);
  }

  /**
   * WSPAccept(s, addr, lpErrno) → Promise of a new SOCKET | INVALID_SOCKET. Takes the oldest
   * pending connection once the fabric is idle; none pending then is WSAEWOULDBLOCK (the
   * model has no blocking thread to park).
   */
  async WSPAccept(s: number, addr: Ref<SockAddr | null> | null, lpErrno: Ref<number>): Promise<number> {
    if (!isRef(lpErrno)) return INVALID_SOCKET;
    const listener = this.socketOf(s, lpErrno);
    if (listener === null) return INVALID_SOCKET;
    if (addr !== null && !isRef(addr)) return failSocket(lpErrno, WSAEFAULT);
    if (listener.state !== 'listening') return failSocket(lpErrno, WSAEINVAL);
    const nic = this.nics[listener.nicIndex]!;
    const port = listener.local.port;
    let pending = nic.pendingConnections(this.owner, port);
    if (pending === 0) {
      await this.settle(nic);
      pending = nic.pendingConnections(this.owner, port);
    }
    if (typeof pending !== 'number' || pending <= 0 || listener.state !== 'listening') return failSocket(lpErrno, WSAEWOULDBLOCK);
    const sock = this.sockets.create();
    const e = this.createEndpoint(sock, listener.nicIndex);
    if (e !== NO_ERROR) {
      this.sockets.remove(sock);
      return failSocket(lpErrno, e);
    }
    const status = nic.accept(this.owner, port, sock.endpoint);
    if (status !== NicStatus.SUCCESS) {
      this.destroyEndpoint(sock);
      this.sockets.remove(sock);
      return failSocket(lpErrno, wsaErrorOfNicStatus(status));
    }
    sock.state = 'connecting';
    sock.local = { ...listener.local };
    await this.settle(nic);
    const info = nic.endpointInfo(this.owner, sock.endpoint);
    if (typeof info !== 'object' || info.state !== 'connected') {
      this.destroyEndpoint(sock);
      this.sockets.remove(sock);
      return failSocket(lpErrno, WSAECONNREFUSED);
    }
    const ip = this.channel.translate(TRANSLATE_SAN_TO_IP, listener.nicIndex, info.peerAddress);
    sock.peer = { ip: ip.ok ? ip.value : 0, port: 0 };
    sock.state = 'connected';
    if (addr !== null) (addr as Ref<SockAddr | null>).value = { ...sock.peer };
    return sock.handle;
  }

  /**
   * WSPCloseSocket: stop the NIC (destroy the endpoint: the peer is told, outstanding requests
   * vanish), release the memory of pending operations and abort them with
   * WSA_OPERATION_ABORTED, deregister everything registered on the socket [closing-a-san-socket].
   */
  WSPCloseSocket(s: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    const e = this.closeSocket(sock, false);
    return e === NO_ERROR ? NO_ERROR : fail(lpErrno, e);
  }

  // ───────────────────────────── memory registration ─────────────────────────────

  /**
   * WSPRegisterMemory(s, lpBuffer, dwBufferLength, dwFlags, lpErrno) → HANDLE | null.
   * The handle is valid only in this process and on this socket; the same buffer and flags
   * registered again on the socket returns the same handle with one more reference.
   */
  WSPRegisterMemory(s: number, lpBuffer: number, dwBufferLength: number, dwFlags: number, lpErrno: Ref<number>): number | null {
    if (!isRef(lpErrno)) return null;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return null;
    const check = this.checkRegistration(sock, lpBuffer, dwBufferLength, dwFlags, false);
    if (check !== NO_ERROR) return failNull(lpErrno, check);
    const region = this.cacheRegistrations ? this.regions.find('local', sock.nicIndex, lpBuffer, dwBufferLength, dwFlags) : null;
    if (!this.pagesUsable(lpBuffer, dwBufferLength, dwFlags, region)) return failNull(lpErrno, WSAEFAULT);
    const existing = this.registrations.find(sock.handle, 'local', lpBuffer, dwBufferLength, dwFlags);
    if (existing !== null) {
      existing.refCount++;
      return existing.handle;
    }
    if (this.cacheRegistrations) {
      if (region !== null) {
        // A hit: a cached region contains the buffer, its pages locked and registered — no
        // driver work (A11). The buffer is an offset into it.
        this.regions.use(region);
        this.cacheStats.hits++;
        return this.registrations.insert({
          socket: sock.handle, kind: 'local', address: lpBuffer, length: dwBufferLength, flags: dwFlags,
          nicIndex: region.nicIndex, nicHandle: region.nicHandle, remoteKey: 0, driverId: region.driverId, shadow: region.shadow,
          region, regionOffset: lpBuffer - region.address,
        }).handle;
      }
    }
    const made = this.driverRegister(sock.nicIndex, localAccess(dwFlags), lpBuffer, dwBufferLength, 0);
    if (typeof made === 'number') return failNull(lpErrno, made);
    return this.registrations.insert({
      socket: sock.handle, kind: 'local', address: lpBuffer, length: dwBufferLength, flags: dwFlags,
      nicIndex: sock.nicIndex, nicHandle: made.nicHandle, remoteKey: made.remoteKey, driverId: made.driverId, shadow: made.shadow,
      region: this.track('local', sock, lpBuffer, dwBufferLength, dwFlags, made),
    }).handle;
  }

  /** WSPDeregisterMemory(s, handle, lpErrno): WSAEINVAL for an unknown handle or one a transfer uses. */
  WSPDeregisterMemory(s: number, handle: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    const reg = this.registrations.get(handle);
    if (reg === null || reg.socket !== sock.handle || reg.kind !== 'local' || reg.inUse > 0) return fail(lpErrno, WSAEINVAL);
    if (reg.refCount > 1) {
      reg.refCount--;
      return NO_ERROR;
    }
    const e = this.retire(reg);
    return e === NO_ERROR ? NO_ERROR : fail(lpErrno, e);
  }

  /**
   * WSPRegisterRdmaMemory(s, lpBuffer, dwBufferLength, dwFlags, lpRdmaBufferDescriptor,
   * lpdwDescriptorLength, lpErrno): the descriptor lets only the peer of s's connection reach
   * the buffer — the driver registers it bound to s's endpoint, so the NIC refuses it on any
   * other connection. MEM_READ lets the peer RDMA-read it, MEM_WRITE RDMA-write it.
   */
  WSPRegisterRdmaMemory(
    s: number, lpBuffer: number, dwBufferLength: number, dwFlags: number, lpRdmaBufferDescriptor: Uint8Array,
    lpdwDescriptorLength: Ref<number>, lpErrno: Ref<number>,
  ): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (!isRef(lpdwDescriptorLength)) return fail(lpErrno, WSAEFAULT);
    if (!isU32(lpdwDescriptorLength.value) || lpdwDescriptorLength.value < RDMA_DESCRIPTOR_BYTES ||
        !(lpRdmaBufferDescriptor instanceof Uint8Array) || lpRdmaBufferDescriptor.length < RDMA_DESCRIPTOR_BYTES) {
      lpdwDescriptorLength.value = RDMA_DESCRIPTOR_BYTES;
      return fail(lpErrno, WSAEFAULT);
    }
    const check = this.checkRegistration(sock, lpBuffer, dwBufferLength, dwFlags, true);
    if (check !== NO_ERROR) return fail(lpErrno, check);
    const region = this.cacheRegistrations ? this.regions.find('rdma', sock.nicIndex, lpBuffer, dwBufferLength, dwFlags) : null;
    if (!this.pagesUsable(lpBuffer, dwBufferLength, dwFlags, region)) return fail(lpErrno, WSAEFAULT);
    let reg = this.registrations.find(sock.handle, 'rdma', lpBuffer, dwBufferLength, dwFlags);
    if (reg !== null) {
      reg.refCount++;
    } else {
      const made = region !== null ? this.reexpose(region, sock, lpBuffer, dwBufferLength, dwFlags) : this.exposeNew(sock, lpBuffer, dwBufferLength, dwFlags);
      if (typeof made === 'number') return fail(lpErrno, made);
      reg = made;
    }
    encodeRdmaDescriptor({
      remoteKey: reg.remoteKey, offset: reg.nicOffset, length: reg.length, sanAddress: this.nics[reg.nicIndex]!.sanAddress,
    }, lpRdmaBufferDescriptor);
    lpdwDescriptorLength.value = RDMA_DESCRIPTOR_BYTES;
    return NO_ERROR;
  }

  /** WSPDeregisterRdmaMemory(s, lpRdmaBufferDescriptor, dwDescriptorLength, lpErrno). */
  WSPDeregisterRdmaMemory(s: number, lpRdmaBufferDescriptor: Uint8Array, dwDescriptorLength: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    const d = decodeRdmaDescriptor(lpRdmaBufferDescriptor, dwDescriptorLength);
    const reg = d === null ? null : this.registrations.findRemote(sock.handle, d.remoteKey);
    if (reg === null || reg.length !== d!.length || reg.nicOffset !== d!.offset) return fail(lpErrno, WSAEINVAL);
    if (reg.refCount > 1) {
      reg.refCount--;
      return NO_ERROR;
    }
    // The peer has written into the shadow: the application gets the bytes before it goes.
    if (reg.shadow !== null && (reg.flags & MEM_WRITE) !== 0 &&
        !guarded(() => this.copier.fromShadow(this.process, reg.address - reg.regionOffset, reg.shadow!, reg.regionOffset, reg.length))) {
      return fail(lpErrno, WSAEFAULT);
    }
    const e = this.retire(reg);
    return e === NO_ERROR ? NO_ERROR : fail(lpErrno, e);
  }

  /**
   * WSPMemoryRegistrationCacheCallback(lpvAddress, Size, lpErrno): the switch is about to let
   * the range's virtual-to-physical mapping change (A12). Every cached registration overlapping
   * it is dropped from the NIC and unsecured. WSAEINVAL: nothing of the range was cached;
   * WSAEFAULT: part of it is cached but cannot be released (registered and in use again).
   */
  WSPMemoryRegistrationCacheCallback(lpvAddress: number, Size: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    if (!this.started) return fail(lpErrno, WSANOTINITIALISED);
    if (!isAddress(lpvAddress) || !isAddress(Size) || Size === 0) return fail(lpErrno, WSAEINVAL);
    let found = false;
    let error = NO_ERROR;
    for (const region of this.regions.overlapping(lpvAddress, Size)) {
      // A live region never parked was never secured: the callback is not about it.
      if (region.secureHandle === 0) continue;
      found = true;
      // Registered and in use again: it cannot go now.
      if (!this.regions.isIdle(region) || this.releaseRegion(region) !== NO_ERROR) error = WSAEFAULT;
    }
    if (!found) return fail(lpErrno, WSAEINVAL);
    return error === NO_ERROR ? NO_ERROR : fail(lpErrno, error);
  }

  /** Secure a range through the proxy (MmSecureVirtualMemory) for the switch's cache. */
  secureMemory(address: number, length: number, probeMode: number = PAGE_READWRITE): { handle: number } | { error: number } {
    if (!this.started) return { error: WSANOTINITIALISED };
    if (!isAddress(address) || !isAddress(length) || length === 0 || (probeMode !== PAGE_READWRITE && probeMode !== PAGE_READONLY)) {
      return { error: WSAEINVAL };
    }
    const r = this.channel.secureMemory(address, length, probeMode);
    if (!r.ok) return { error: wsaErrorOfStatus(r.status) };
    this.switchSecures.add(r.handle);
    return { handle: r.handle };
  }

  /** Undo secureMemory (MmUnsecureVirtualMemory). */
  unsecureMemory(handle: number): number {
    if (!this.switchSecures.has(handle)) return WSAEINVAL;
    const status = this.channel.unsecureMemory(handle);
    if (status !== 0) return wsaErrorOfStatus(status);
    this.switchSecures.delete(handle);
    return NO_ERROR;
  }

  // ───────────────────────────── transfers ─────────────────────────────

  /** WSPSend(s, lpBuffers, dwBufferCount, lpNumberOfBytesSent, dwFlags, lpOverlapped, lpCompletionRoutine, lpThreadId, lpErrno). */
  WSPSend(
    s: number, lpBuffers: readonly { len: number; buf: number; handle: number }[], dwBufferCount: number,
    lpNumberOfBytesSent: Ref<number> | null, dwFlags: number, lpOverlapped: WSAOVERLAPPED, lpCompletionRoutine: null,
    lpThreadId: unknown, lpErrno: Ref<number>,
  ): number {
    if (!isU32(dwFlags) || dwFlags !== 0) return this.transferError(lpErrno, WSAEOPNOTSUPP);
    return this.transfer(s, 'send', lpBuffers, dwBufferCount, lpNumberOfBytesSent, lpOverlapped, lpCompletionRoutine, null, lpErrno);
  }

  /** WSPRecv(s, lpBuffers, dwBufferCount, lpNumberOfBytesRecvd, lpFlags, lpOverlapped, lpCompletionRoutine, lpThreadId, lpErrno). */
  WSPRecv(
    s: number, lpBuffers: readonly { len: number; buf: number; handle: number }[], dwBufferCount: number,
    lpNumberOfBytesRecvd: Ref<number> | null, lpFlags: Ref<number>, lpOverlapped: WSAOVERLAPPED, lpCompletionRoutine: null,
    lpThreadId: unknown, lpErrno: Ref<number>,
  ): number {
    if (!isRef(lpFlags) || lpFlags.value !== 0) return this.transferError(lpErrno, isRef(lpFlags) ? WSAEOPNOTSUPP : WSAEFAULT);
    return this.transfer(s, 'recv', lpBuffers, dwBufferCount, lpNumberOfBytesRecvd, lpOverlapped, lpCompletionRoutine, null, lpErrno);
  }

  /** WSPRdmaWrite(s, lpBuffers, dwBufferCount, lpTargetBufferDescriptor, dwTargetDescriptorLength, dwTargetBufferOffset, lpdwNumberOfBytesWritten, dwFlags, lpOverlapped, lpCompletionRoutine, lpThreadId, lpErrno). */
  WSPRdmaWrite(
    s: number, lpBuffers: readonly { len: number; buf: number; handle: number }[], dwBufferCount: number,
    lpTargetBufferDescriptor: Uint8Array, dwTargetDescriptorLength: number, dwTargetBufferOffset: number,
    lpdwNumberOfBytesWritten: Ref<number> | null, dwFlags: number, lpOverlapped: WSAOVERLAPPED, lpCompletionRoutine: null,
    lpThreadId: unknown, lpErrno: Ref<number>,
  ): number {
    if (!isU32(dwFlags) || dwFlags !== 0) return this.transferError(lpErrno, WSAEOPNOTSUPP);
    return this.transfer(s, 'rdma-write', lpBuffers, dwBufferCount, lpdwNumberOfBytesWritten, lpOverlapped, lpCompletionRoutine,
      { descriptor: lpTargetBufferDescriptor, descriptorLength: dwTargetDescriptorLength, offset: dwTargetBufferOffset }, lpErrno);
  }

  /** WSPRdmaRead: same shape as WSPRdmaWrite; the peer's buffer is read into the local ones. */
  WSPRdmaRead(
    s: number, lpBuffers: readonly { len: number; buf: number; handle: number }[], dwBufferCount: number,
    lpTargetBufferDescriptor: Uint8Array, dwTargetDescriptorLength: number, dwTargetBufferOffset: number,
    lpdwNumberOfBytesRead: Ref<number> | null, dwFlags: number, lpOverlapped: WSAOVERLAPPED, lpCompletionRoutine: null,
    lpThreadId: unknown, lpErrno: Ref<number>,
  ): number {
    if (!isU32(dwFlags) || dwFlags !== 0) return this.transferError(lpErrno, WSAEOPNOTSUPP);
    return this.transfer(s, 'rdma-read', lpBuffers, dwBufferCount, lpdwNumberOfBytesRead, lpOverlapped, lpCompletionRoutine,
      { descriptor: lpTargetBufferDescriptor, descriptorLength: dwTargetDescriptorLength, offset: dwTargetBufferOffset }, lpErrno);
  }

  /**
   * WSPGetOverlappedResult(s, lpOverlapped, lpcbTransfer, fWait, lpdwFlags, lpErrno) → TRUE |
   * FALSE. FALSE with WSA_IO_INCOMPLETE while the request is pending; FALSE with the
   * request's error when it failed.
   */
  WSPGetOverlappedResult(
    s: number, lpOverlapped: WSAOVERLAPPED, lpcbTransfer: Ref<number>, fWait: boolean, lpdwFlags: Ref<number>, lpErrno: Ref<number>,
  ): boolean {
    if (!isRef(lpErrno)) return false;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return false;
    if (!isOverlapped(lpOverlapped) || typeof fWait !== 'boolean') return (lpErrno.value = WSAEINVAL, false);
    if (!isRef(lpcbTransfer) || !isRef(lpdwFlags)) return (lpErrno.value = WSAEFAULT, false);
    const error = this.transfers.result(sock, lpOverlapped, fWait);
    if (error !== NO_ERROR) return (lpErrno.value = error, false);
    lpcbTransfer.value = lpOverlapped.InternalHigh;
    lpdwFlags.value = lpOverlapped.Offset;
    return true;
  }

  // ───────────────────────────── WSPIoctl ─────────────────────────────

  /**
   * WSPIoctl(s, dwIoControlCode, lpvInBuffer, cbInBuffer, lpvOutBuffer, cbOutBuffer,
   * lpcbBytesReturned, lpOverlapped, lpCompletionRoutine, lpThreadId, lpErrno). Only
   * SIO_GET_EXTENSION_FUNCTION_POINTER: lpvInBuffer is the GUID (string form), lpvOutBuffer
   * receives the function. WSPRdmaRead is optional in WSD: when the socket's NIC (or, for a
   * socket not yet on a NIC, any of the provider's NICs) cannot serve RDMA read, its GUID
   * fails with WSAEOPNOTSUPP and the switch uses the RDMA-write path (A6, A8, A21).
   */
  WSPIoctl(
    s: number, dwIoControlCode: number, lpvInBuffer: string, cbInBuffer: number, lpvOutBuffer: Ref<unknown>,
    cbOutBuffer: number, lpcbBytesReturned: Ref<number>, lpOverlapped: WSAOVERLAPPED | null, lpCompletionRoutine: null,
    lpThreadId: unknown, lpErrno: Ref<number>,
  ): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (dwIoControlCode >>> 0 !== SIO_GET_EXTENSION_FUNCTION_POINTER) return fail(lpErrno, WSAEINVAL);
    if (typeof lpvInBuffer !== 'string' || cbInBuffer !== 16 || !isRef(lpvOutBuffer) || !isRef(lpcbBytesReturned) ||
        !isU32(cbOutBuffer) || cbOutBuffer < 8) {
      return fail(lpErrno, WSAEFAULT);
    }
    if (lpOverlapped !== null || lpCompletionRoutine !== null) return fail(lpErrno, WSAEINVAL);
    const fn = this.extension(lpvInBuffer.toUpperCase(), sock);
    if (typeof fn === 'number') return fail(lpErrno, fn);
    (lpvOutBuffer as Ref<unknown>).value = fn;
    lpcbBytesReturned.value = 8;
    return NO_ERROR;
  }

  // ───────────────────────────── internals ─────────────────────────────

  private get owner(): number {
    return this.process.ProcessId;
  }

  private extension(guid: string, sock: SanSocket): unknown {
    switch (guid) {
      case WSAID_REGISTERMEMORY:
        return this.WSPRegisterMemory.bind(this);
      case WSAID_DEREGISTERMEMORY:
        return this.WSPDeregisterMemory.bind(this);
      case WSAID_REGISTERRDMAMEMORY:
        return this.WSPRegisterRdmaMemory.bind(this);
      case WSAID_DEREGISTERRDMAMEMORY:
        return this.WSPDeregisterRdmaMemory.bind(this);
      case WSAID_RDMAWRITE:
        return this.WSPRdmaWrite.bind(this);
      case WSAID_RDMAREAD: {
        const nics = sock.nicIndex >= 0 ? [this.nics[sock.nicIndex]!] : this.nics;
        if (nics.length === 0 || nics.some((n) => !n.capabilities.rdmaRead)) return WSAEOPNOTSUPP;
        return this.WSPRdmaRead.bind(this);
      }
      case WSAID_MEMORYREGISTRATIONCACHECALLBACK:
        return this.WSPMemoryRegistrationCacheCallback.bind(this);
      default:
        return WSAEINVAL;
    }
  }

  private socketOf(s: number, lpErrno: Ref<number>): SanSocket | null {
    if (!this.started) {
      lpErrno.value = WSANOTINITIALISED;
      return null;
    }
    const sock = this.sockets.get(s);
    if (sock === null) lpErrno.value = WSAENOTSOCK;
    return sock;
  }

  private transferError(lpErrno: Ref<number>, error: number): number {
    if (isRef(lpErrno)) lpErrno.value = error;
    return SOCKET_ERROR;
  }

  private transfer(
    s: number, kind: TransferKind, lpBuffers: unknown, dwBufferCount: unknown, lpCount: Ref<number> | null, lpOverlapped: unknown,
    lpCompletionRoutine: unknown, target: { descriptor: unknown; descriptorLength: unknown; offset: unknown } | null,
    lpErrno: Ref<number>,
  ): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (lpCount !== null && !isRef(lpCount)) return fail(lpErrno, WSAEFAULT);
    const e = this.transfers.post(sock, kind, lpBuffers, dwBufferCount, lpOverlapped, lpCompletionRoutine, target);
    if (e !== NO_ERROR) return fail(lpErrno, e);
    if (lpCount !== null) lpCount.value = 0;
    return fail(lpErrno, WSA_IO_PENDING);
  }

  /** Argument and state checks shared by both registration routines. */
  private checkRegistration(sock: SanSocket, lpBuffer: unknown, length: unknown, flags: unknown, rdma: boolean): number {
    if (flags !== MEM_READ && flags !== MEM_WRITE && flags !== MEM_READWRITE) return WSAEINVAL;
    if (!isU32(length) || length === 0) return WSAEINVAL;
    if (!sock.hasEndpoint) return WSAENOTCONN;
    if (rdma && !this.isConnected(sock)) return WSAENOTCONN;
    if (!isAddress(lpBuffer) || lpBuffer < USER_LOW || lpBuffer + length > USER_END) return WSAEFAULT;
    return NO_ERROR;
  }

  /**
   * The pages of a buffer that passed checkRegistration are usable (else WSAEFAULT, before any
   * driver request). A cached region that serves it and is secured vouches for them: the
   * process cannot free or re-protect secured pages without the switch's callback releasing
   * the region first (A12), so the page walk is skipped on such hits.
   */
  private pagesUsable(address: number, length: number, flags: number, region: CachedRegion | null): boolean {
    if (region !== null && region.secureHandle !== 0) return true;
    return this.wholeUserRange(address, length, (flags & MEM_WRITE) !== 0);
  }

  /**
   * Is [address, address+length) wholly valid user memory of this process, writable when
   * asked? What VirtualQuery would tell the DLL: committed, not PAGE_NOACCESS, not read-only
   * for a writable registration. Checked before the driver is bothered (A1: WSAEFAULT).
   */
  private wholeUserRange(address: number, length: number, write: boolean): boolean {
    if (address < USER_LOW || address + length > USER_END) return false;
    const start = Math.floor(address / 4096) * 4096;
    const end = Math.ceil((address + length) / 4096) * 4096;
    const runs = this.process.space.cover(start, end);
    if (runs === null) return false;
    for (const r of runs) {
      const prot = r.vad.protect;
      if (r.vad.kind !== 'private') return false;
      for (let i = r.first; i < r.last; i++) {
        const p = prot[i]!;
        if (p === 0 || p === 1 /* PAGE_NOACCESS */ || (write && p !== PAGE_READWRITE)) return false;
      }
    }
    return true;
  }

  private isConnected(sock: SanSocket): boolean {
    if (sock.state !== 'connected') return false;
    const info = this.nics[sock.nicIndex]!.endpointInfo(this.owner, sock.endpoint);
    return typeof info === 'object' && info.state === 'connected';
  }

  /**
   * REGISTER_BUFFER, or — when the driver answers that the NIC cannot reach the pages — a
   * low shadow from ALLOCATE_MEMORY (shadow.ts). Returns the WSA error on failure.
   */
  /**
   * Register through the driver; when the NIC cannot reach the pages, a low shadow instead,
   * registered with `shadowAccess` and `shadowBind` (a shadow comes without a window).
   */
  private driverRegister(
    nicIndex: number, access: number, address: number, length: number, bind: number,
    shadowAccess = access, shadowBind = bind,
  ): DriverRegistration | number {
    const r = this.channel.registerBuffer(nicIndex, access, address, length, bind);
    if (r.ok) {
      const g = r.registration;
      return { nicHandle: g.handle, remoteKey: g.remoteKey, driverId: g.id, shadow: null, window: g.window };
    }
    if (r.status >>> 0 !== SHADOW_TRIGGER_STATUS) return wsaErrorOfStatus(r.status);
    const a = this.channel.allocateMemory(nicIndex, shadowAccess, length, shadowBind);
    if (!a.ok) return wsaErrorOfStatus(a.status);
    const m = a.allocation;
    return {
      nicHandle: m.handle, remoteKey: m.remoteKey, driverId: m.id,
      shadow: { userAddress: m.userAddress, bytes: m.bytes, id: m.id }, window: m.window,
    };
  }

  private releaseDriver(shadow: Shadow | null, driverId: number): number {
    const status = shadow !== null ? this.channel.releaseMemory(shadow.id) : this.channel.deregisterBuffer(driverId);
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
    this.registrations.remove(reg);
    return NO_ERROR;
  }

  /**
   * The last reference to a registration went (WSPDeregisterMemory / WSPDeregisterRdmaMemory):
   * its region stays cached when it can, else everything goes.
   */
  private retire(reg: Registration): number {
    const region = reg.region;
    if (region === null || region.users > 1) return this.releaseRegistration(reg);
    if (!this.park(region)) return this.releaseRegistration(reg);
    this.registrations.remove(reg);
    this.enforceBound();
    return NO_ERROR;
  }

  /** With caching on, a region for what the driver just registered (one user); else null. */
  private track(kind: RegistrationKind, sock: SanSocket, address: number, length: number, flags: number, made: DriverRegistration): CachedRegion | null {
    if (!this.cacheRegistrations) return null;
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
   * (A13) with no driver request; a low shadow (a NIC that cannot reach the pages) comes with
   * a window the same way. Without caching the region itself carries the remote rights, bound
   * to the connection.
   */
  private exposeNew(sock: SanSocket, address: number, length: number, flags: number): Registration | number {
    const windowed = localAccess(flags) | SANPROXY_WINDOW_BIND;
    const made = this.cacheRegistrations
      ? this.driverRegister(sock.nicIndex, windowed, address, length, 0, windowed, 0)
      : this.driverRegister(sock.nicIndex, remoteAccess(flags), address, length, sock.endpoint);
    if (typeof made === 'number') return made;
    // The peer may read it as soon as it is exposed: the shadow must hold the application's
    // bytes before the window opens.
    if (made.shadow !== null && (flags & MEM_READ) !== 0 &&
        !guarded(() => this.copier.toShadow(this.process, address, made.shadow!, 0, length))) {
      this.releaseDriver(made.shadow, made.driverId);
      return WSAEFAULT;
    }
    if (made.window !== 0) {
      const b = this.nics[sock.nicIndex]!.bindWindow(this.owner, sock.endpoint, made.window, made.nicHandle, 0, length, windowAccess(flags));
      if (b.status !== NicStatus.SUCCESS) {
        this.releaseDriver(made.shadow, made.driverId);
        return wsaErrorOfNicStatus(b.status);
      }
      made.remoteKey = b.remoteKey;
    }
    return this.registrations.insert({
      socket: sock.handle, kind: 'rdma', address, length, flags, nicIndex: sock.nicIndex, nicHandle: made.nicHandle,
      remoteKey: made.remoteKey, driverId: made.driverId, shadow: made.shadow, region: this.track('rdma', sock, address, length, flags, made),
    });
  }

  /**
   * A cached RDMA region contains the buffer: expose it again (A13) — its window bound over
   * exactly the buffer, to this socket's connection, with only the rights asked for, from user
   * mode; the keys of its last exposure stay dead. A shadow is brought up to date first, so the
   * peer never reads a stale copy through it.
   */
  private reexpose(region: CachedRegion, sock: SanSocket, address: number, length: number, flags: number): Registration | number {
    if (region.window === 0) throw new Error(`provider invariant: cached RDMA region at 0x${region.address.toString(16)} has no window`);
    const offset = address - region.address;
    if (region.shadow !== null && (flags & MEM_READ) !== 0 &&
        !guarded(() => this.copier.toShadow(this.process, region.address, region.shadow!, offset, length))) {
      return WSAEFAULT;
    }
    const b = this.nics[region.nicIndex]!.bindWindow(this.owner, sock.endpoint, region.window, region.nicHandle, offset, length, windowAccess(flags));
    if (b.status !== NicStatus.SUCCESS) return wsaErrorOfNicStatus(b.status);
    region.remoteKey = b.remoteKey;
    region.invalidated = false;
    region.socket = sock.handle;
    this.regions.use(region);
    this.cacheStats.rdmaReexposures++;
    // The window's key names exactly the buffer: offset 0 in the descriptor.
    return this.registrations.insert({
      socket: sock.handle, kind: 'rdma', address, length, flags, nicIndex: region.nicIndex, nicHandle: region.nicHandle,
      remoteKey: b.remoteKey, driverId: region.driverId, shadow: region.shadow, region, regionOffset: offset, nicOffset: 0,
    });
  }

  /**
   * Keep an unused region registered for reuse: secured, so the application cannot change the
   * range under it unnoticed (A11, A12); an RDMA region also invalidated on the NIC, so the
   * peer loses access now (A13). False: it cannot be kept (release it instead).
   */
  private park(region: CachedRegion): boolean {
    if (region.kind === 'rdma' && !region.invalidated) {
      if (this.nics[region.nicIndex]!.invalidateWindow(this.owner, region.window) !== NicStatus.SUCCESS) return false;
      region.invalidated = true;
    }
    if (region.secureHandle === 0) {
      const probe = (region.flags & MEM_WRITE) !== 0 ? PAGE_READWRITE : PAGE_READONLY;
      const r = this.channel.secureMemory(region.address, region.length, probe);
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
    return this.channel.unsecureMemory(secure) === 0 ? NO_ERROR : WSAEFAULT;
  }

  private createEndpoint(sock: SanSocket, nicIndex: number): number {
    const nic = this.nics[nicIndex];
    if (nic === undefined) return WSAENETDOWN;
    const c = nic.capabilities;
    const sd = Math.min(c.sendQueueDepth, 128);
    const rd = Math.min(c.recvQueueDepth, 128);
    const r = this.channel.createEndpoint(nicIndex, sd, rd, Math.min(c.completionQueueDepth, sd + rd));
    if (!r.ok) return wsaErrorOfStatus(r.status);
    sock.nicIndex = nicIndex;
    sock.endpoint = r.endpoint;
    sock.completionQueue = r.completionQueue;
    return NO_ERROR;
  }

  private destroyEndpoint(sock: SanSocket): number {
    if (!sock.hasEndpoint) return NO_ERROR;
    const status = this.channel.destroyEndpoint(sock.nicIndex, sock.endpoint);
    if (status !== 0) return wsaErrorOfStatus(status);
    sock.endpoint = 0;
    sock.completionQueue = 0;
    return NO_ERROR;
  }

  /** Close one socket; `force` (WSPCleanup) keeps going past driver errors. */
  private closeSocket(sock: SanSocket, force: boolean): number {
    // Results that are already in stay results; what is still in flight is aborted below.
    this.transfers.poll(sock);
    const nic = sock.nicIndex >= 0 ? this.nics[sock.nicIndex]! : null;
    // Stop the NIC first: once the endpoint is gone it touches none of the socket's memory.
    const e = this.destroyEndpoint(sock);
    if (e !== NO_ERROR && !force) return e;
    if (sock.state === 'listening' && nic !== null) nic.unlisten(this.owner, sock.local.port);
    this.transfers.abort(sock);
    let firstError = e;
    for (const reg of this.registrations.ofSocket(sock.handle)) {
      const r = this.releaseRegistration(reg);
      if (r !== NO_ERROR) {
        if (firstError === NO_ERROR) firstError = r;
        // Keep the books straight even when the driver refused: the handle dies with the socket.
        if (this.registrations.get(reg.handle) === reg) this.registrations.remove(reg);
      }
    }
    // A14: cached RDMA memory last exposed on this connection goes before the connection does.
    for (const region of this.regions.idleRegions()) {
      if (region.kind !== 'rdma' || region.socket !== sock.handle) continue;
      const r = this.releaseRegion(region);
      if (r !== NO_ERROR && firstError === NO_ERROR) firstError = r;
    }
    this.sockets.remove(sock);
    return firstError;
  }

  /** Let the fabric deliver what the NIC queued (runs it when not auto-driven). */
  private async settle(nic: SanNic): Promise<void> {
    if (nic.fabric === null) return;
    await nic.fabric.quiesce();
  }
}

function fail(lpErrno: Ref<number>, error: number): number {
  lpErrno.value = error;
  return SOCKET_ERROR;
}

function failNull(lpErrno: Ref<number>, error: number): null {
  lpErrno.value = error;
  return null;
}

function failSocket(lpErrno: Ref<number>, error: number): number {
  lpErrno.value = error;
  return INVALID_SOCKET;
}

function guarded(fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof NtStatusError) return false;
    throw e;
  }
}

export type { RegistrationKind };
