/**
 * Sockets and connection set-up: WSPSocket, WSPBind, WSPListen, WSPEventSelect (FD_ACCEPT),
 * WSPConnect, WSPAccept and WSPCloseSocket ("Initiating a Connection", "Accepting Connection
 * Requests", "Closing a SAN Socket").
 *
 * Implementation notes
 * - A socket's endpoint and completion queue are made by the proxy driver
 *   (IOCTL_SANPROXY_CREATE_ENDPOINT, channel.ts); everything after goes through the process's
 *   user port on that NIC: listen, connect, accept, and the completion channel of the queue,
 *   whose handler is the socket's completion thread (transfers.ts).
 * - Waits are event-driven. The NIC's connection manager signals each socket's connection
 *   events ('established', 'rejected', 'unreachable', 'timeout', 'disconnected') and each
 *   listener's 'connect-request' through the port; the handler only records them, and the
 *   calling thread blocks on the machine's scheduler until its event is in. The connect
 *   timeout is the connection manager's, on the scheduler's clock (virtual time).
 * - WSPAccept takes the oldest pending request; with none pending it first lets every
 *   connection message in flight arrive (the machine idle), then answers WSAEWOULDBLOCK.
 *   A listener with WSPEventSelect(FD_ACCEPT) has its event set at each request, and again by
 *   WSPAccept while requests remain (WSPAccept is FD_ACCEPT's re-enabling function).
 */
import type { Ref } from '../kernel/ref.ts';
import { NicStatus, type ConnectionEvent, type UserPort } from '../nic/index.ts';
import { TRANSLATE_IP_TO_SAN, TRANSLATE_SAN_TO_IP } from '../proxy/interface.ts';
import {
  INVALID_SOCKET, NO_ERROR, SOCKET_ERROR, WSAEADDRNOTAVAIL, WSAEAFNOSUPPORT, WSAEALREADY, WSAECONNREFUSED, WSAEFAULT, WSAEINVAL, WSAEISCONN,
  WSAENETDOWN, WSAENETUNREACH, WSAENOTSOCK, WSAEPROTONOSUPPORT, WSAESOCKTNOSUPPORT, WSAETIMEDOUT, WSAEWOULDBLOCK, WSANOTINITIALISED,
  wsaErrorOfNicStatus, wsaErrorOfStatus,
} from './errors.ts';
import { FD_ACCEPT } from './extensions.ts';
import type { MemoryRegistration } from './memory-registration.ts';
import type { ProviderState } from './provider-state.ts';
import { AF_INET, IPPROTO_TCP, SOCK_STREAM, WsaEvent, type SanSocket, type SockAddr } from './socket.ts';
import type { TransferEngine } from './transfers.ts';
import { fail, failSocket, isCInt, isRef, isSockAddr, isU32 } from './validation.ts';

/** Socket types of winsock2.h (SOCK_STREAM … SOCK_SEQPACKET) and 0, "any type". */
const SOCKET_TYPES = new Set([0, 1, 2, 3, 4, 5]);
const SOCK_DGRAM = 2;
const IPPROTO_UDP = 17;

/** The first ephemeral port (IANA dynamic range, what Windows hands out since Vista). */
const EPHEMERAL_FIRST = 49152;
/** Queue depths the provider asks for per socket (the NIC's, when smaller). */
const SOCKET_QUEUE_DEPTH = 128;

export class SocketConnections {
  private nextPort = EPHEMERAL_FIRST;

  constructor(
    private readonly st: ProviderState,
    private readonly memory: MemoryRegistration,
    private readonly transfers: TransferEngine,
  ) {}

  /** The ports' connection events (set up at WSPStartup). */
  readonly onConnectionEvent = (nicIndex: number, e: ConnectionEvent): void => {
    const sockets = this.st.sockets;
    if (e.type === 'connect-request') {
      sockets.listenerOn(nicIndex, e.port)?.acceptEvent?.set();
      return;
    }
    const sock = sockets.byNicEndpoint(nicIndex, e.endpoint);
    if (sock !== null && sock.state === 'connecting' && sock.connectEvent === null) sock.connectEvent = e.type;
  };

  /** The socket `s` names, or null with WSANOTINITIALISED / WSAENOTSOCK in *lpErrno. */
  socketOf(s: number, lpErrno: Ref<number>): SanSocket | null {
    if (!this.st.started) {
      lpErrno.value = WSANOTINITIALISED;
      return null;
    }
    const sock = this.st.sockets.get(s);
    if (sock === null) lpErrno.value = WSAENOTSOCK;
    return sock;
  }

  /**
   * WSPSocket(af, type, protocol, lpProtocolInfo, g, dwFlags, lpErrno) → SOCKET | INVALID_SOCKET.
   * The provider serves TCP streams over IPv4 (the switch asks a SAN provider for nothing else:
   * "Creating and Binding SAN Sockets"). Which error for which bad triple follows Windows as Wine
   * sock.c test_WSASocket records it: a socket type that does not exist is WSAESOCKTNOSUPPORT even
   * with a bad family, then a bad family WSAEAFNOSUPPORT, then a protocol that is not the type's
   * WSAEPROTONOSUPPORT; type 0 with TCP or protocol 0 is a TCP stream. A datagram socket, which
   * Windows would create, is WSAESOCKTNOSUPPORT here (no SAN provider serves datagrams).
   */
  WSPSocket(af: number, type: number, protocol: number, lpProtocolInfo: null, g: number, dwFlags: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return INVALID_SOCKET;
    if (!this.st.started) return failSocket(lpErrno, WSANOTINITIALISED);
    if (!SOCKET_TYPES.has(type)) return failSocket(lpErrno, WSAESOCKTNOSUPPORT);
    if (af !== AF_INET) return failSocket(lpErrno, WSAEAFNOSUPPORT);
    const stream = type === SOCK_STREAM || (type === 0 && protocol !== IPPROTO_UDP);
    if (type === SOCK_DGRAM && protocol !== 0 && protocol !== IPPROTO_UDP) return failSocket(lpErrno, WSAEPROTONOSUPPORT);
    if (stream && protocol !== 0 && protocol !== IPPROTO_TCP) return failSocket(lpErrno, WSAEPROTONOSUPPORT);
    if (!stream) return failSocket(lpErrno, WSAESOCKTNOSUPPORT);
    if (lpProtocolInfo !== null || g !== 0 || !isU32(dwFlags)) return failSocket(lpErrno, WSAEINVAL);
    return this.st.sockets.create().handle;
  }

  /** WSPBind(s, name, lpErrno): name.ip 0 (INADDR_ANY) takes the first SAN address; port 0 an ephemeral one. */
  WSPBind(s: number, name: SockAddr, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (!isSockAddr(name)) return fail(lpErrno, WSAEFAULT);
    if (sock.state !== 'created') return fail(lpErrno, WSAEINVAL);
    const entry = name.ip === 0 ? this.st.addresses[0] : this.st.addresses.find((a) => a.ipv4 === name.ip);
    if (entry === undefined) return fail(lpErrno, WSAEADDRNOTAVAIL);
    const e = this.createEndpoint(sock, entry.nicIndex);
    if (e !== NO_ERROR) return fail(lpErrno, e);
    sock.local = { ip: entry.ipv4, port: name.port === 0 ? this.nextPort++ : name.port };
    sock.state = 'bound';
    return NO_ERROR;
  }

  /**
   * WSPListen(s, backlog, lpErrno): the NIC starts taking connection requests on the port.
   * WSAEINVAL on a socket WSPBind did not bind, WSAEISCONN on a connected one; listening again
   * succeeds (Wine sock.c test_listen: a second listen on a listening socket is no error).
   * backlog is a C int: any value is accepted, SOMAXCONN and the negative SOMAXCONN_HINT(N)
   * included ("listen function"); the NIC's queue has no bound of its own.
   */
  WSPListen(s: number, backlog: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (!isCInt(backlog)) return fail(lpErrno, WSAEINVAL);
    if (sock.state === 'listening') return NO_ERROR;
    if (sock.state !== 'bound') return fail(lpErrno, sock.state === 'connected' ? WSAEISCONN : WSAEINVAL);
    const status = this.portOf(sock).listen(sock.local.port);
    if (status !== NicStatus.SUCCESS) return fail(lpErrno, wsaErrorOfNicStatus(status));
    sock.state = 'listening';
    return NO_ERROR;
  }

  /**
   * WSPEventSelect(s, hEventObject, lNetworkEvents, lpErrno) for FD_ACCEPT on a listening
   * socket: the provider sets the event when a connection request reaches the listener (and at
   * once when requests are already pending). A null event or no events stops it.
   */
  WSPEventSelect(s: number, hEventObject: WsaEvent | null, lNetworkEvents: number, lpErrno: Ref<number>): number {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    if (hEventObject !== null && !(hEventObject instanceof WsaEvent)) return fail(lpErrno, WSAEINVAL);
    if (!isU32(lNetworkEvents) || (lNetworkEvents & ~FD_ACCEPT) !== 0) return fail(lpErrno, WSAEINVAL);
    if (hEventObject === null || lNetworkEvents === 0) {
      sock.acceptEvent = null;
      return NO_ERROR;
    }
    if (sock.state !== 'listening') return fail(lpErrno, WSAEINVAL);
    sock.acceptEvent = hEventObject;
    const pending = this.portOf(sock).pendingConnections(sock.local.port);
    if (typeof pending === 'number' && pending > 0) hEventObject.set();
    return NO_ERROR;
  }

  /**
   * WSPConnect(s, name, lpErrno) → Promise of 0 | SOCKET_ERROR: translate the IP to the peer's
   * SAN address through the proxy, connect the endpoint, and block until the connection
   * manager answers: established, refused, unreachable, or the connect timeout (on the
   * machine's clock).
   */
  async WSPConnect(s: number, name: SockAddr, lpErrno: Ref<number>): Promise<number> {
    if (!isRef(lpErrno)) return SOCKET_ERROR;
    const sock = this.socketOf(s, lpErrno);
    if (sock === null) return SOCKET_ERROR;
    // A name that is no sockaddr_in is WSAEFAULT; INADDR_ANY or port 0 as the remote address
    // is WSAEADDRNOTAVAIL (LPWSPCONNECT: "The remote address is not a valid address (for
    // example, ADDR_ANY)"). A connect in progress is WSAEALREADY (LPWSPCONNECT; Wine sock.c
    // test_connecting_socket records it), a connected socket WSAEISCONN, a listening one
    // WSAEINVAL.
    if (!isSockAddr(name)) return fail(lpErrno, WSAEFAULT);
    if (sock.state === 'connecting') return fail(lpErrno, WSAEALREADY);
    if (sock.state === 'connected') return fail(lpErrno, WSAEISCONN);
    if (sock.state === 'listening') return fail(lpErrno, WSAEINVAL);
    if (name.ip === 0 || name.port === 0) return fail(lpErrno, WSAEADDRNOTAVAIL);
    // A bound socket resolves through its NIC; otherwise the first NIC that knows the address.
    const candidates = sock.hasEndpoint ? [sock.nicIndex] : [...new Set(this.st.addresses.map((a) => a.nicIndex))];
    let t: { value: number; nicIndex: number } | null = null;
    for (const nicIndex of candidates) {
      const r = this.st.channel.translate(TRANSLATE_IP_TO_SAN, nicIndex, name.ip);
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
    const port = this.portOf(sock);
    const waits = port.waits;
    const status = waits === null ? NicStatus.NOT_ATTACHED : port.connect(sock.endpoint, t.value, name.port, this.st.connectTimeoutNs);
    if (status !== NicStatus.SUCCESS) {
      if (created) this.destroyEndpoint(sock);
      return fail(lpErrno, wsaErrorOfNicStatus(status));
    }
    const previous = sock.state;
    sock.state = 'connecting';
    sock.connectEvent = null;
    await waits!.block(() => sock.connectEvent !== null || this.st.sockets.get(sock.handle) !== sock);
    if (this.st.sockets.get(sock.handle) !== sock) return fail(lpErrno, WSAENOTSOCK);
    const event = sock.connectEvent;
    if (event === 'established') {
      sock.state = 'connected';
      sock.peer = { ip: name.ip, port: name.port };
      if (sock.local.port === 0) {
        const local = this.st.addresses.find((a) => a.nicIndex === sock.nicIndex);
        sock.local = { ip: local?.ipv4 ?? 0, port: this.nextPort++ };
      }
      return NO_ERROR;
    }
    if (event === 'timeout') {
      // Nobody accepted in time: the endpoint goes (a later accept makes the NIC tear the
      // acceptor's side down).
      this.destroyEndpoint(sock);
      sock.state = 'created';
      return fail(lpErrno, WSAETIMEDOUT);
    }
    // Refused or unreachable: the NIC put the endpoint back to idle; so do we.
    if (created) {
      this.destroyEndpoint(sock);
      sock.state = 'created';
    } else sock.state = previous;
    return fail(lpErrno, event === 'unreachable' ? WSAENETUNREACH : WSAECONNREFUSED);
  }

  /**
   * WSPAccept(s, addr, lpErrno) → Promise of a new SOCKET | INVALID_SOCKET. Takes the oldest
   * pending connection (once the messages in flight have arrived); none pending is
   * WSAEWOULDBLOCK. When the driver cannot make the new socket's endpoint, the request is
   * refused (the connector sees WSAECONNREFUSED) rather than left waiting.
   */
  async WSPAccept(s: number, addr: Ref<SockAddr | null> | null, lpErrno: Ref<number>): Promise<number> {
    if (!isRef(lpErrno)) return INVALID_SOCKET;
    const listener = this.socketOf(s, lpErrno);
    if (listener === null) return INVALID_SOCKET;
    if (addr !== null && !isRef(addr)) return failSocket(lpErrno, WSAEFAULT);
    if (listener.state !== 'listening') return failSocket(lpErrno, WSAEINVAL);
    const port = this.portOf(listener);
    const waits = port.waits;
    const number = listener.local.port;
    const pending = (): number => {
      const n = port.pendingConnections(number);
      return typeof n === 'number' ? n : 0;
    };
    if (pending() === 0 && waits !== null) await waits.block(() => pending() > 0 || waits.idle || listener.state !== 'listening');
    if (pending() <= 0 || listener.state !== 'listening' || waits === null) return failSocket(lpErrno, WSAEWOULDBLOCK);
    const sock = this.st.sockets.create();
    const e = this.createEndpoint(sock, listener.nicIndex);
    if (e !== NO_ERROR) {
      this.st.sockets.remove(sock);
      port.reject(number);
      if (pending() > 0) listener.acceptEvent?.set();
      return failSocket(lpErrno, e);
    }
    const status = port.accept(number, sock.endpoint);
    if (status !== NicStatus.SUCCESS) {
      this.destroyEndpoint(sock);
      this.st.sockets.remove(sock);
      return failSocket(lpErrno, wsaErrorOfNicStatus(status));
    }
    // WSPAccept re-enables FD_ACCEPT: more requests waiting set the event again.
    if (pending() > 0) listener.acceptEvent?.set();
    sock.state = 'connecting';
    sock.connectEvent = null;
    sock.local = { ...listener.local };
    // The connector confirms (RTU); a connector that gave up meanwhile never will. Over a lossy
    // link the CM may still be resending its REP on a timer (the NIC endpoint still
    // 'connecting'): an idle machine is then no answer yet — the REP's retries end it.
    const cmWaiting = (): boolean => {
      const info = port.endpointInfo(sock.endpoint);
      return typeof info === 'object' && info.state === 'connecting';
    };
    await waits.block(() => sock.connectEvent !== null || (waits.idle && !cmWaiting()) || this.st.sockets.get(sock.handle) !== sock);
    if (this.st.sockets.get(sock.handle) !== sock) return failSocket(lpErrno, WSAENOTSOCK);
    if (sock.connectEvent !== 'established') {
      this.destroyEndpoint(sock);
      this.st.sockets.remove(sock);
      return failSocket(lpErrno, WSAECONNREFUSED);
    }
    const info = port.endpointInfo(sock.endpoint);
    const peerAddress = typeof info === 'object' ? info.peerAddress : 0;
    const ip = this.st.channel.translate(TRANSLATE_SAN_TO_IP, listener.nicIndex, peerAddress);
    sock.peer = { ip: ip.ok ? ip.value : 0, port: 0 };
    sock.state = 'connected';
    if (addr !== null) (addr as Ref<SockAddr | null>).value = { ...sock.peer };
    return sock.handle;
  }

  /**
   * WSPCloseSocket's work: stop the NIC (destroy the endpoint: the peer is told, outstanding
   * requests vanish), release the memory of pending operations and abort them with
   * WSA_OPERATION_ABORTED, deregister everything registered on the socket. `force`
   * (WSPCleanup) keeps going past driver errors and aborts without upcalls.
   */
  closeSocket(sock: SanSocket, force: boolean): number {
    // Results that are already in stay results; what is still in flight is aborted below.
    this.transfers.poll(sock);
    const port = sock.nicIndex >= 0 ? this.st.ports[sock.nicIndex]! : null;
    // Stop the NIC first: once the endpoint is gone it touches none of the socket's memory.
    const e = this.destroyEndpoint(sock);
    if (e !== NO_ERROR && !force) return e;
    if (sock.state === 'listening' && port !== null) port.unlisten(sock.local.port);
    sock.acceptEvent = null;
    this.transfers.abort(sock, !force);
    const r = this.memory.releaseSocket(sock);
    this.st.sockets.remove(sock);
    return e !== NO_ERROR ? e : r;
  }

  private portOf(sock: SanSocket): UserPort {
    return this.st.ports[sock.nicIndex]!;
  }

  /** The proxy makes the socket's endpoint and queue; its completions go to the socket's completion thread. */
  private createEndpoint(sock: SanSocket, nicIndex: number): number {
    const port = this.st.ports[nicIndex];
    if (port === undefined) return WSAENETDOWN;
    const c = port.capabilities;
    const sd = Math.min(c.sendQueueDepth, SOCKET_QUEUE_DEPTH);
    const rd = Math.min(c.recvQueueDepth, SOCKET_QUEUE_DEPTH);
    const r = this.st.channel.createEndpoint(nicIndex, sd, rd, Math.min(c.completionQueueDepth, sd + rd));
    if (!r.ok) return wsaErrorOfStatus(r.status);
    this.st.sockets.setEndpoint(sock, nicIndex, r.endpoint, r.completionQueue);
    port.notifyCompletions(r.completionQueue, () => this.transfers.poll(sock));
    return NO_ERROR;
  }

  private destroyEndpoint(sock: SanSocket): number {
    if (!sock.hasEndpoint) return NO_ERROR;
    const status = this.st.channel.destroyEndpoint(sock.nicIndex, sock.endpoint);
    if (status !== 0) return wsaErrorOfStatus(status);
    this.st.sockets.forgetEndpoint(sock);
    return NO_ERROR;
  }
}
