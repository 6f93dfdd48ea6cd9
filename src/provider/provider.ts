/**
 * The SAN service provider: the user-mode DLL the Windows Sockets switch loads for a SAN
 * ("Windows Sockets Direct"). One instance serves one process. This file is its entry table —
 * every WSP routine the switch calls, thin, in the WDK's names and parameter order — and its
 * start-up and clean-up; the work is in one module per concern:
 *
 *   connections.ts          sockets and connection set-up (WSPSocket … WSPAccept, WSPCloseSocket)
 *   memory-registration.ts  WSPRegisterMemory … WSPMemoryRegistrationCacheCallback, secured ranges
 *   transfers.ts            WSPSend, WSPRecv, WSPRdmaWrite, WSPRdmaRead, WSPGetOverlappedResult
 *   validation.ts           argument checks and the lpErrno convention
 *   nic-region-cache.ts     the cache of NIC-registered regions
 *   registration-handles.ts the HANDLEs the application holds; rdma-descriptor.ts its descriptor
 *
 * Implementation notes
 * - Kernel work (endpoints, registrations, low memory, securing ranges, address translation)
 *   goes to the proxy driver through DeviceIoControl on \\.\SanProxy (channel.ts). Everything
 *   else goes through the process's user port on each NIC (src/nic/user-port.ts): posts,
 *   polls, completion events, memory-window binds and connections — the provider never holds
 *   a NIC, never names a process, and cannot reach another process's objects or the NIC's
 *   privileged calls.
 * - Every routine validates first and acts after, so a failure leaves sockets, registrations,
 *   driver objects and NIC state as they were. Errors go to *lpErrno, as WSP routines do.
 * - Connection set-up waits for the NIC's connection events, so WSPConnect and WSPAccept
 *   return Promises; every other call is synchronous and transfers are overlapped. The
 *   provider never runs the machine: it blocks on the scheduler's waits (`UserPort.waits`).
 */
import type { Kernel } from '../kernel/kernel.ts';
import { PAGE_READWRITE } from '../kernel/ps/address-space.ts';
import type { Process } from '../kernel/ps/process.ts';
import { ref, type Ref } from '../kernel/ref.ts';
import { NS_PER_MS, UserPort } from '../nic/index.ts';
import { ProxyChannel, type AddressEntry } from './channel.ts';
import { SocketConnections } from './connections.ts';
import {
  NO_ERROR, SOCKET_ERROR, WSA_IO_PENDING, WSAEFAULT, WSAEINVAL, WSAEOPNOTSUPP, WSANOTINITIALISED, wsaErrorOfStatus,
} from './errors.ts';
import {
  GUID_BYTES, POINTER_BYTES, SIO_GET_EXTENSION_FUNCTION_POINTER, WSAID_DEREGISTERMEMORY, WSAID_DEREGISTERRDMAMEMORY,
  WSAID_MEMORYREGISTRATIONCACHECALLBACK, WSAID_RDMAREAD, WSAID_RDMAWRITE, WSAID_REGISTERMEMORY, WSAID_REGISTERRDMAMEMORY,
} from './extensions.ts';
import { MemoryRegistration, type LocalRegistrationResult, type RdmaRegistrationResult } from './memory-registration.ts';
import type { ProviderState } from './provider-state.ts';
import { RegistrationHandles } from './registration-handles.ts';
import { ShadowCopier } from './shadow.ts';
import { SocketTable, type SanSocket, type SockAddr, type WsaEvent } from './socket.ts';
import { TransferEngine, type CompleteOverlappedUpcall, type TransferKind, type WSABUFEX, type WSAOVERLAPPED } from './transfers.ts';
import { fail, failNull, isOverlapped, isRef, isU32 } from './validation.ts';

export interface SanServiceProviderOptions {
  kernel: Kernel;
  process: Process;
  /**
   * The process's user ports, one per NIC of the host (`nic.openUserPort(process.ProcessId)`);
   * index = the nicIndex the proxy's IOCTLs use.
   */
  ports: readonly UserPort[];
  /** Keep deregistered local memory registered and secured for reuse (the switch's policy). */
  cacheRegistrations?: boolean;
  /** WPUCompleteOverlappedRequest, for requests whose hEvent low bit is 0. */
  completeOverlapped?: CompleteOverlappedUpcall;
  /**
   * How long WSPConnect waits for the listener to accept (WSAETIMEDOUT after), in milliseconds
   * of the machine's virtual clock. Default 20 s, about what a TCP connect waits for its
   * retransmitted SYNs.
   */
  connectTimeoutMs?: number;
}

/** WSPConnect's default wait for an accept (ms of virtual time). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;

type TargetArgs = { descriptor: unknown; descriptorLength: unknown; offset: unknown };

export class SanServiceProvider {
  readonly kernel: Kernel;
  readonly process: Process;
  readonly ports: readonly UserPort[];
  /** The registrations the application holds (tests and diagnostics read it). */
  readonly registrations: RegistrationHandles;
  readonly cacheRegistrations: boolean;
  readonly connectTimeoutMs: number;
  private readonly st: ProviderState;
  private readonly transfers: TransferEngine;
  private readonly memory: MemoryRegistration;
  private readonly connections: SocketConnections;
  /** lpErrno of the calls that return their error in a result (no allocation per call). */
  private readonly scratchErrno = ref(0);

  constructor(options: SanServiceProviderOptions) {
    if (options === null || typeof options !== 'object' || options.kernel === null || typeof options.kernel !== 'object' ||
        options.process === null || typeof options.process !== 'object' || !Array.isArray(options.ports) ||
        !options.ports.every((p) => p instanceof UserPort)) {
      throw new TypeError('SanServiceProvider: options need { kernel, process, ports[] (user ports) }');
    }
    const timeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    if (!Number.isSafeInteger(timeout) || timeout < 0) {
      throw new RangeError(`SanServiceProvider: connectTimeoutMs ${String(timeout)} must be an integer >= 0`);
    }
    const process = options.process;
    const strangers = options.ports.filter((p) => p.processId !== process.ProcessId);
    if (strangers.length > 0) {
      throw new RangeError(`SanServiceProvider: a port of process ${strangers[0]!.processId} given to process ${process.ProcessId}`);
    }
    this.kernel = options.kernel;
    this.process = process;
    this.ports = [...options.ports];
    this.cacheRegistrations = options.cacheRegistrations === true;
    this.connectTimeoutMs = timeout;
    this.registrations = new RegistrationHandles();
    this.st = {
      kernel: this.kernel, process, ports: this.ports, channel: new ProxyChannel(this.kernel, process), sockets: new SocketTable(),
      handles: this.registrations, copier: new ShadowCopier(), cacheRegistrations: this.cacheRegistrations,
      connectTimeoutNs: timeout * NS_PER_MS, started: false, startCount: 0, addresses: [],
    };
    this.transfers = new TransferEngine(this.st, typeof options.completeOverlapped === 'function' ? options.completeOverlapped : null);
    this.memory = new MemoryRegistration(this.st);
    this.connections = new SocketConnections(this.st, this.memory, this.transfers);
  }

  /** Bytes copied between user buffers and shadows (the cost of a NIC that cannot reach the pages). */
  get shadowCopyBytes(): number {
    return this.st.copier.shadowCopyBytes;
  }

  /** Resources the provider holds, for tests and reports. */
  get counters() {
    const m = this.memory.counters;
    return {
      sockets: this.st.sockets.size,
      registrations: this.registrations.size,
      cached: m.cached,
      cachedBytes: m.cachedBytes,
      cacheHits: m.cacheHits,
      rdmaReexposures: m.rdmaReexposures,
      cacheEvictions: m.cacheEvictions,
      pendingTransfers: this.transfers.pendingCount,
      driverRequests: this.st.channel.requests,
      shadowCopyBytes: this.st.copier.shadowCopyBytes,
    };
  }

  /**
   * The switch's cache policy: how many idle regions, and how many bytes of them, stay
   * registered. Returns WSAEINVAL for bounds that are not integers >= 0; shrinking evicts now.
   */
  setCachePolicy(maxBytes: number, maxEntries: number): number {
    return this.memory.setCachePolicy(maxBytes, maxEntries);
  }

  /** Release every idle cached region (memory pressure, WSACleanup). Returns the first WSA error. */
  flushRegistrationCache(): number {
    return this.memory.flush();
  }

  /** A socket's NIC objects and state (for the switch's diagnostics and tests); null when unknown. */
  socketInfo(s: number): { state: string; nicIndex: number; endpoint: number; completionQueue: number; local: SockAddr } | null {
    const sock = this.st.sockets.get(s);
    return sock === null ? null
      : { state: sock.state, nicIndex: sock.nicIndex, endpoint: sock.endpoint, completionQueue: sock.completionQueue, local: { ...sock.local } };
  }

  get localAddresses(): readonly AddressEntry[] {
    return this.st.addresses;
  }

  // ───────────────────────────── start-up and clean-up ─────────────────────────────

  /**
   * WSPStartup (WSPStartupEx for a SAN provider): open the proxy, learn the NICs' addresses and
   * take the ports' connection events. Returns 0 or a WSA error (WSPStartup returns its error;
   * it has no lpErrno).
   *
   * Reference counted ("WSPCleanup function" of the Windows Sockets Direct reference: "The
   * switch can call a SAN service provider's WSPStartupEx function more than once. For each
   * WSPStartupEx call, the switch must issue a corresponding WSPCleanup call. The SAN service
   * provider must keep an internal reference count"): a call while started only counts; a
   * failed first call counts nothing and leaves nothing open.
   */
  WSPStartup(): number {
    const st = this.st;
    if (st.startCount > 0) {
      st.startCount++;
      return NO_ERROR;
    }
    const status = st.channel.open();
    if (status !== 0) return wsaErrorOfStatus(status);
    const q = st.channel.queryAddresses();
    if (!q.ok) {
      st.channel.close();
      return wsaErrorOfStatus(q.status);
    }
    st.addresses = q.entries.filter((e) => e.nicIndex < this.ports.length);
    this.ports.forEach((port, nicIndex) => port.onConnectionEvent((e) => this.connections.onConnectionEvent(nicIndex, e)));
    st.started = true;
    st.startCount = 1;
    return NO_ERROR;
  }

  /**
   * WSPCleanup: one WSPStartup fewer. Only the last one does the clean-up ("WSPCleanup
   * function": "Only the final WSPCleanup call does the actual cleanup"): every resource of the
   * process — sockets (and with them endpoints, registrations, shadows, pending transfers, which
   * complete with WSA_OPERATION_ABORTED), cached registrations, secured ranges — then the proxy
   * handle last ("Cleaning Up a Process for a SAN"). The driver's IRP_MJ_CLEANUP would release
   * leftovers, but the provider does not rely on it. A WSPCleanup with no WSPStartup open is
   * WSANOTINITIALISED. Afterwards the provider can be started again at once, and the sockets
   * of before stay unknown (WSAENOTSOCK: handles never repeat).
   */
  WSPCleanup(lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const st = this.st;
    if (st.startCount === 0) return fail(lpErrno, WSANOTINITIALISED);
    st.startCount--;
    if (st.startCount > 0) return NO_ERROR;
    let firstError = NO_ERROR;
    for (const s of st.sockets.all()) {
      const e = this.connections.closeSocket(s, true);
      if (firstError === NO_ERROR) firstError = e;
    }
    const e = this.memory.releaseAll();
    if (firstError === NO_ERROR) firstError = e;
    for (const port of this.ports) port.close();
    st.channel.close();
    st.started = false;
    st.addresses = [];
    if (firstError !== NO_ERROR) return fail(lpErrno, firstError);
    return NO_ERROR;
  }

  /** Open WSPStartup calls (the reference count; 0 when not started). */
  get startCount(): number {
    return this.st.startCount;
  }

  // ───────────────────────────── sockets (connections.ts) ─────────────────────────────

  WSPSocket(af: number, type: number, protocol: number, lpProtocolInfo: null, g: number, dwFlags: number, lpErrno: Ref<number>): number {
    return this.connections.WSPSocket(af, type, protocol, lpProtocolInfo, g, dwFlags, lpErrno);
  }

  WSPBind(s: number, name: SockAddr, lpErrno: Ref<number>): number {
    return this.connections.WSPBind(s, name, lpErrno);
  }

  WSPListen(s: number, backlog: number, lpErrno: Ref<number>): number {
    return this.connections.WSPListen(s, backlog, lpErrno);
  }

  WSPEventSelect(s: number, hEventObject: WsaEvent | null, lNetworkEvents: number, lpErrno: Ref<number>): number {
    return this.connections.WSPEventSelect(s, hEventObject, lNetworkEvents, lpErrno);
  }

  WSPConnect(s: number, name: SockAddr, lpErrno: Ref<number>): Promise<number> {
    return this.connections.WSPConnect(s, name, lpErrno);
  }

  WSPAccept(s: number, addr: Ref<SockAddr | null> | null, lpErrno: Ref<number>): Promise<number> {
    return this.connections.WSPAccept(s, addr, lpErrno);
  }

  /** WSPCloseSocket ("Closing a SAN Socket"). */
  WSPCloseSocket(s: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.connections.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    const e = this.connections.closeSocket(sock, false);
    return e === NO_ERROR ? NO_ERROR : fail(lpErrno, e);
  }

  // ───────────────────────────── memory registration (memory-registration.ts) ─────────────────────────────

  /** WSPRegisterMemory(s, lpBuffer, dwBufferLength, dwFlags, lpErrno) → HANDLE | null. */
  WSPRegisterMemory(s: number, lpBuffer: number, dwBufferLength: number, dwFlags: number, lpErrno: Ref<number>): number | null {
    if (!isRef(lpErrno)) return null;
    const r = this.registerMemory(s, lpBuffer, dwBufferLength, dwFlags);
    return r.error === NO_ERROR ? r.handle : failNull(lpErrno, r.error);
  }

  /**
   * WSPRegisterMemory that also says whether the provider's cache served it (no driver
   * request): what the switch counts its cache hits from. The error is in the result.
   */
  registerMemory(s: number, lpBuffer: number, dwBufferLength: number, dwFlags: number): LocalRegistrationResult {
    const sock = this.connections.socketOf(s, this.scratchErrno);
    if (sock === null) return { error: this.scratchErrno.value, handle: 0, cacheHit: false };
    return this.memory.register(sock, lpBuffer, dwBufferLength, dwFlags);
  }

  /** WSPDeregisterMemory(s, handle, lpErrno): WSAEINVAL for an unknown handle or one a transfer uses. */
  WSPDeregisterMemory(s: number, handle: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.connections.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    const e = this.memory.deregister(sock, handle);
    return e === NO_ERROR ? NO_ERROR : fail(lpErrno, e);
  }

  /**
   * WSPRegisterRdmaMemory(s, lpBuffer, dwBufferLength, dwFlags, lpRdmaBufferDescriptor,
   * lpdwDescriptorLength, lpErrno).
   */
  WSPRegisterRdmaMemory(
    s: number, lpBuffer: number, dwBufferLength: number, dwFlags: number, lpRdmaBufferDescriptor: Uint8Array,
    lpdwDescriptorLength: Ref<number>, lpErrno: Ref<number>,
  ): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const r = this.registerRdmaMemory(s, lpBuffer, dwBufferLength, dwFlags, lpRdmaBufferDescriptor, lpdwDescriptorLength);
    return r.error === NO_ERROR ? NO_ERROR : fail(lpErrno, r.error);
  }

  /**
   * WSPRegisterRdmaMemory that also says whether a cached region was re-exposed (no page
   * locking). The error is in the result.
   */
  registerRdmaMemory(
    s: number, lpBuffer: number, dwBufferLength: number, dwFlags: number, lpRdmaBufferDescriptor: Uint8Array,
    lpdwDescriptorLength: Ref<number>,
  ): RdmaRegistrationResult {
    const sock = this.connections.socketOf(s, this.scratchErrno);
    if (sock === null) return { error: this.scratchErrno.value, reexposed: false };
    if (!isRef(lpdwDescriptorLength)) return { error: WSAEFAULT, reexposed: false };
    return this.memory.registerRdma(sock, lpBuffer, dwBufferLength, dwFlags, lpRdmaBufferDescriptor, lpdwDescriptorLength);
  }

  /** WSPDeregisterRdmaMemory(s, lpRdmaBufferDescriptor, dwDescriptorLength, lpErrno). */
  WSPDeregisterRdmaMemory(s: number, lpRdmaBufferDescriptor: Uint8Array, dwDescriptorLength: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.connections.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    const e = this.memory.deregisterRdma(sock, lpRdmaBufferDescriptor, dwDescriptorLength);
    return e === NO_ERROR ? NO_ERROR : fail(lpErrno, e);
  }

  /**
   * WSPMemoryRegistrationCacheCallback(lpvAddress, Size, lpErrno): the switch is about to let
   * the range's virtual-to-physical mapping change; every cached registration overlapping it
   * goes ("Securing and Releasing Ownership of Virtual Addresses").
   */
  WSPMemoryRegistrationCacheCallback(lpvAddress: number, Size: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const r = this.memory.releaseCachedRange(lpvAddress, Size);
    return r.error === NO_ERROR ? NO_ERROR : fail(lpErrno, r.error);
  }

  /** WSPMemoryRegistrationCacheCallback that also says how many cached regions it released. */
  releaseCachedRange(lpvAddress: number, Size: number): { error: number; released: number } {
    return this.memory.releaseCachedRange(lpvAddress, Size);
  }

  /** Secure a range through the proxy (MmSecureVirtualMemory) for the switch's cache. */
  secureMemory(address: number, length: number, probeMode: number = PAGE_READWRITE): { handle: number } | { error: number } {
    return this.memory.secureMemory(address, length, probeMode);
  }

  /** Undo secureMemory (MmUnsecureVirtualMemory). */
  unsecureMemory(handle: number): number {
    return this.memory.unsecureMemory(handle);
  }

  // ───────────────────────────── transfers (transfers.ts) ─────────────────────────────

  /** WSPSend(s, lpBuffers, dwBufferCount, lpNumberOfBytesSent, dwFlags, lpOverlapped, lpCompletionRoutine, lpThreadId, lpErrno). */
  WSPSend(
    s: number, lpBuffers: readonly WSABUFEX[], dwBufferCount: number, lpNumberOfBytesSent: Ref<number> | null, dwFlags: number,
    lpOverlapped: WSAOVERLAPPED, lpCompletionRoutine: null, lpThreadId: unknown, lpErrno: Ref<number>,
  ): number {
    if (!isU32(dwFlags) || dwFlags !== 0) return this.transferError(lpErrno, WSAEOPNOTSUPP);
    return this.transfer(s, 'send', lpBuffers, dwBufferCount, lpNumberOfBytesSent, lpOverlapped, lpCompletionRoutine, null, lpErrno);
  }

  /** WSPRecv(s, lpBuffers, dwBufferCount, lpNumberOfBytesRecvd, lpFlags, lpOverlapped, lpCompletionRoutine, lpThreadId, lpErrno). */
  WSPRecv(
    s: number, lpBuffers: readonly WSABUFEX[], dwBufferCount: number, lpNumberOfBytesRecvd: Ref<number> | null, lpFlags: Ref<number>,
    lpOverlapped: WSAOVERLAPPED, lpCompletionRoutine: null, lpThreadId: unknown, lpErrno: Ref<number>,
  ): number {
    if (!isRef(lpFlags) || lpFlags.value !== 0) return this.transferError(lpErrno, isRef(lpFlags) ? WSAEOPNOTSUPP : WSAEFAULT);
    return this.transfer(s, 'recv', lpBuffers, dwBufferCount, lpNumberOfBytesRecvd, lpOverlapped, lpCompletionRoutine, null, lpErrno);
  }

  /** WSPRdmaWrite(s, lpBuffers, dwBufferCount, lpTargetBufferDescriptor, dwTargetDescriptorLength, dwTargetBufferOffset, lpdwNumberOfBytesWritten, dwFlags, lpOverlapped, lpCompletionRoutine, lpThreadId, lpErrno). */
  WSPRdmaWrite(
    s: number, lpBuffers: readonly WSABUFEX[], dwBufferCount: number, lpTargetBufferDescriptor: Uint8Array,
    dwTargetDescriptorLength: number, dwTargetBufferOffset: number, lpdwNumberOfBytesWritten: Ref<number> | null, dwFlags: number,
    lpOverlapped: WSAOVERLAPPED, lpCompletionRoutine: null, lpThreadId: unknown, lpErrno: Ref<number>,
  ): number {
    if (!isU32(dwFlags) || dwFlags !== 0) return this.transferError(lpErrno, WSAEOPNOTSUPP);
    return this.transfer(s, 'rdma-write', lpBuffers, dwBufferCount, lpdwNumberOfBytesWritten, lpOverlapped, lpCompletionRoutine,
      { descriptor: lpTargetBufferDescriptor, descriptorLength: dwTargetDescriptorLength, offset: dwTargetBufferOffset }, lpErrno);
  }

  /** WSPRdmaRead: same shape as WSPRdmaWrite; the peer's buffer is read into the local ones. */
  WSPRdmaRead(
    s: number, lpBuffers: readonly WSABUFEX[], dwBufferCount: number, lpTargetBufferDescriptor: Uint8Array,
    dwTargetDescriptorLength: number, dwTargetBufferOffset: number, lpdwNumberOfBytesRead: Ref<number> | null, dwFlags: number,
    lpOverlapped: WSAOVERLAPPED, lpCompletionRoutine: null, lpThreadId: unknown, lpErrno: Ref<number>,
  ): number {
    if (!isU32(dwFlags) || dwFlags !== 0) return this.transferError(lpErrno, WSAEOPNOTSUPP);
    return this.transfer(s, 'rdma-read', lpBuffers, dwBufferCount, lpdwNumberOfBytesRead, lpOverlapped, lpCompletionRoutine,
      { descriptor: lpTargetBufferDescriptor, descriptorLength: dwTargetDescriptorLength, offset: dwTargetBufferOffset }, lpErrno);
  }

  /**
   * WSPGetOverlappedResult(s, lpOverlapped, lpcbTransfer, fWait, lpdwFlags, lpErrno) → TRUE |
   * FALSE. FALSE with WSA_IO_INCOMPLETE while the request is pending (with fWait TRUE too:
   * the provider does not run the machine; the caller waits on it and asks again); FALSE
   * with the request's error when it failed.
   */
  WSPGetOverlappedResult(
    s: number, lpOverlapped: WSAOVERLAPPED, lpcbTransfer: Ref<number>, fWait: boolean, lpdwFlags: Ref<number>, lpErrno: Ref<number>,
  ): boolean {
    if (!isRef(lpErrno)) return false;
    const sock = this.connections.socketOf(s, lpErrno);
    if (sock === null) return false;
    if (!isOverlapped(lpOverlapped) || typeof fWait !== 'boolean') return (lpErrno.value = WSAEINVAL, false);
    if (!isRef(lpcbTransfer) || !isRef(lpdwFlags)) return (lpErrno.value = WSAEFAULT, false);
    const error = this.transfers.result(sock, lpOverlapped);
    if (error !== NO_ERROR) return (lpErrno.value = error, false);
    lpcbTransfer.value = lpOverlapped.InternalHigh;
    lpdwFlags.value = lpOverlapped.Offset;
    return true;
  }

  // ───────────────────────────── WSPIoctl (extensions.ts) ─────────────────────────────

  /**
   * WSPIoctl(s, dwIoControlCode, lpvInBuffer, cbInBuffer, lpvOutBuffer, cbOutBuffer,
   * lpcbBytesReturned, lpOverlapped, lpCompletionRoutine, lpThreadId, lpErrno). Only
   * SIO_GET_EXTENSION_FUNCTION_POINTER: lpvInBuffer is the GUID (string form), lpvOutBuffer
   * receives the function. WSPRdmaRead is optional: when the socket's NIC (or, for a socket
   * not yet on a NIC, any of the provider's NICs) cannot serve RDMA read, its GUID fails with
   * WSAEOPNOTSUPP and the switch uses the RDMA-write path.
   */
  WSPIoctl(
    s: number, dwIoControlCode: number, lpvInBuffer: string, cbInBuffer: number, lpvOutBuffer: Ref<unknown>,
    cbOutBuffer: number, lpcbBytesReturned: Ref<number>, lpOverlapped: WSAOVERLAPPED | null, lpCompletionRoutine: null,
    lpThreadId: unknown, lpErrno: Ref<number>,
  ): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.connections.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (dwIoControlCode >>> 0 !== SIO_GET_EXTENSION_FUNCTION_POINTER) return fail(lpErrno, WSAEINVAL);
    if (typeof lpvInBuffer !== 'string' || cbInBuffer !== GUID_BYTES || !isRef(lpvOutBuffer) || !isRef(lpcbBytesReturned) ||
        !isU32(cbOutBuffer) || cbOutBuffer < POINTER_BYTES) {
      return fail(lpErrno, WSAEFAULT);
    }
    if (lpOverlapped !== null || lpCompletionRoutine !== null) return fail(lpErrno, WSAEINVAL);
    const fn = this.extension(lpvInBuffer.toUpperCase(), sock);
    if (typeof fn === 'number') return fail(lpErrno, fn);
    (lpvOutBuffer as Ref<unknown>).value = fn;
    lpcbBytesReturned.value = POINTER_BYTES;
    return NO_ERROR;
  }

  // ───────────────────────────── internals ─────────────────────────────

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
        const ports = sock.nicIndex >= 0 ? [this.ports[sock.nicIndex]!] : this.ports;
        if (ports.length === 0 || ports.some((p) => !p.capabilities.rdmaRead)) return WSAEOPNOTSUPP;
        return this.WSPRdmaRead.bind(this);
      }
      case WSAID_MEMORYREGISTRATIONCACHECALLBACK:
        return this.WSPMemoryRegistrationCacheCallback.bind(this);
      default:
        return WSAEINVAL;
    }
  }

  private transferError(lpErrno: Ref<number>, error: number): number {
    if (isRef(lpErrno)) lpErrno.value = error;
    return SOCKET_ERROR;
  }

  private transfer(
    s: number, kind: TransferKind, lpBuffers: unknown, dwBufferCount: unknown, lpCount: Ref<number> | null, lpOverlapped: unknown,
    lpCompletionRoutine: unknown, target: TargetArgs | null, lpErrno: Ref<number>,
  ): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.connections.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (lpCount !== null && !isRef(lpCount)) return fail(lpErrno, WSAEFAULT);
    const e = this.transfers.post(sock, kind, lpBuffers, dwBufferCount, lpOverlapped, lpCompletionRoutine, target);
    if (e !== NO_ERROR) return fail(lpErrno, e);
    if (lpCount !== null) lpCount.value = 0;
    return fail(lpErrno, WSA_IO_PENDING);
  }
}
