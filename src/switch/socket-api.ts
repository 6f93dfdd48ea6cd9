/**
 * The Windows Sockets switch of one process and the socket API its applications call.
 *
 * Why one file of this size: it is the switch's whole socket surface (WSAStartup to closesocket),
 * each call a short validation in front of the session or the TCP stand-in; the logic lives in
 * san-session.ts, large-sends.ts and port-table.ts.
 *
 * Implementation notes
 * - Calls block for the application (async here): send resolves with the bytes sent, recv
 *   with the bytes received (0 at orderly shutdown). Every failure rejects with a SocketError
 *   carrying the WSA code; argument errors too (WSAENOTSOCK, WSAEFAULT, WSAEINVAL).
 * - Path choice: connect() tries the SAN provider first — the destination IP translates
 *   through the proxy only when it is a SAN NIC address — and falls back to the stand-in for
 *   the host's TCP/IP path (tcp-stand-in.ts) when the SAN cannot reach it (WSAENETUNREACH) or
 *   the SAN provider is unavailable (no proxy, or `san: false`). listen() listens on the SAN
 *   provider when available. pathOf(s) tells which one a socket took.
 * - Each provider gets the process's user port on every NIC of the host (nic.openUserPort):
 *   the switch hands them over and keeps no NIC itself.
 * - Listening sockets take pending connection requests into a backlog as soon as they reach
 *   the NIC (TCP completes the handshake before accept() too): an acceptor thread per
 *   listener waits on its FD_ACCEPT event (WSPEventSelect) and accepts each request, starting
 *   its session at once so the connector's negotiation completes.
 * - Blocking calls block on the machine's scheduler (ThreadWaits): the switch never runs the
 *   machine. Completions reach each session directly from its provider (san-session.ts).
 * - The session configurations are verified once, here (session-config.ts); a bad field fails
 *   the constructor with WSAEINVAL and a message naming it.
 * - The registration cache is hooked to the process's secured-range notification at startup.
 * - Binding goes through the host's port table (port-table.ts), as the application's bind goes
 *   to the TCP/IP provider first on Windows: an address another socket of the host holds is
 *   WSAEADDRINUSE at bind, an address that is not the host's WSAEADDRNOTAVAIL, port 0 gets its
 *   ephemeral port at bind; connect on an unbound socket binds it implicitly. The SAN companion
 *   socket gets the same address ("Creating and Binding SAN Sockets").
 * - The constructor is the process's first WSAStartup; WSAStartup / WSACleanup are reference
 *   counted and only the last WSACleanup cleans up ("WSACleanup function").
 */
import type { Kernel } from '../kernel/kernel.ts';
import { formatIpv4, parseIpv4 } from '../kernel/net/ip-addresses.ts';
import type { Process } from '../kernel/ps/process.ts';
import { ref } from '../kernel/ref.ts';
import type { SanNic, ThreadWaits } from '../nic/index.ts';
import {
  AF_INET, FD_ACCEPT, INVALID_SOCKET, IPPROTO_TCP, NO_ERROR, SOCK_STREAM, SanServiceProvider, WSAEADDRNOTAVAIL, WSAEALREADY,
  WSAEFAULT, WSAEINTR, WSAEINVAL, WSAEISCONN, WSAENETUNREACH, WSAENOTCONN, WSAENOTSOCK, WSAEWOULDBLOCK, WSANOTINITIALISED,
  WSASYSNOTREADY, WsaEvent, type SockAddr, type WSAOVERLAPPED,
} from '../provider/index.ts';
import { ApplicationBufferCache, type ApplicationBufferCacheOptions, type CacheStats } from './application-buffer-cache.ts';
import { SD_BOTH, SD_RECEIVE, SD_SEND, SocketError, WSAECONNABORTED, WSAECONNREFUSED } from './errors.ts';
import { HostPortTable, type PortBinding } from './port-table.ts';
import { SanSession, type SessionHost, type TransferStats } from './san-session.ts';
import { SAN_SESSION_DEFAULTS, SessionConfigError, verifySessionConfig, type SessionConfig } from './session-config.ts';
import { TcpStandIn } from './tcp-stand-in.ts';

export type SocketPath = 'san' | 'tcp';

/**
 * What the switch needs of its machine: the kernel (process API, DeviceIoControl), a way to
 * open its process's user port on each NIC (nothing else of the NIC) and the machine's
 * thread waits (block and wake — never running it). A host (src/host) has this shape; the
 * switch, in user mode, does not import the host layer.
 */
export interface SwitchMachine {
  readonly kernel: Kernel;
  readonly nics: readonly { readonly nic: Pick<SanNic, 'openUserPort'> }[];
  readonly waits: ThreadWaits;
}

export interface WindowsSocketsSwitchOptions {
  host: SwitchMachine;
  process: Process;
  /** Use the SAN provider when it can reach the peer. Default true. */
  san?: boolean;
  session?: Partial<SessionConfig>;
  tcpSession?: Partial<SessionConfig>;
  cache?: ApplicationBufferCacheOptions;
}

/** Socket address as the application gives it: dotted or u32 IPv4. */
export interface SocketAddress {
  ip: string | number;
  port: number;
}

interface SwitchSocket {
  handle: number;
  state: 'created' | 'bound' | 'listening' | 'connecting' | 'connected' | 'closed';
  path: SocketPath | null;
  provider: SanServiceProvider | null;
  ps: number;
  local: SockAddr | null;
  /** The socket's entry in the host's port table (bind, or connect's implicit bind); accepted sockets share their listener's. */
  binding: PortBinding | null;
  /** Bound by connect, not by the application: the SAN companion socket is not bound to it. */
  implicitBind: boolean;
  session: SanSession | null;
  backlog: Promise<SwitchSocket | SocketError>[];
}

export interface SwitchCounters extends TransferStats, CacheStats {
  sockets: number;
  sanConnections: number;
  tcpConnections: number;
}

const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
/** A C int as JavaScript passes it (a DWORD-sized value is taken as its int). */
const isCInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= -0x8000_0000 && v <= 0xffff_ffff;

const RESOLVED: Promise<void> = Promise.resolve();

export class WindowsSocketsSwitch {
  readonly host: SwitchMachine;
  readonly process: Process;
  readonly san: SanServiceProvider | null;
  readonly tcp: TcpStandIn | null;
  readonly cache: ApplicationBufferCache | null;
  readonly stats: TransferStats = { controlBytes: 0, rdmaReadBytes: 0, rdmaWriteBytes: 0, controlMessages: 0 };
  private readonly waits: ThreadWaits;
  private readonly sockets = new Map<number, SwitchSocket>();
  private readonly byProviderSocket = new Map<SanServiceProvider, Map<number, SanSession>>();
  private readonly sessionConfig: SessionConfig;
  private nextHandle = 0x400;
  /** Open WSAStartup calls (the constructor is the first); 0 once the last WSACleanup ran or the process exited. */
  private startups = 1;
  private readonly ports: HostPortTable;
  private connections = { san: 0, tcp: 0 };
  private readonly sanHost: SessionHost | null;
  private readonly tcpHost: SessionHost | null;

  constructor(options: WindowsSocketsSwitchOptions) {
    if (options === null || typeof options !== 'object' || options.host === null || typeof options.host !== 'object' ||
        options.process === null || typeof options.process !== 'object') {
      throw new SocketError(WSAEFAULT, 'WindowsSocketsSwitch: options need { host, process }');
    }
    this.host = options.host;
    this.process = options.process;
    this.waits = options.host.waits;
    this.ports = HostPortTable.of(this.host.kernel);
    // Both configurations are verified before anything is opened: a bad field costs nothing.
    let tcpConfig: SessionConfig;
    try {
      this.sessionConfig = verifySessionConfig('session', SAN_SESSION_DEFAULTS, options.session);
      tcpConfig = TcpStandIn.verify(options.tcpSession);
    } catch (e) {
      if (e instanceof SessionConfigError) throw new SocketError(WSAEINVAL, `WindowsSocketsSwitch: ${e.message}`);
      throw e;
    }
    const pid = this.process.ProcessId;
    const ports = () => this.host.nics.map((n) => n.nic.openUserPort(pid));
    // WPUCompleteOverlappedRequest of each provider: straight to the session of the socket
    // (one map lookup per completion; the provider calls it from its completion thread).
    const upcall = (sessions: Map<number, SanSession>) => (s: number, ov: WSAOVERLAPPED, error: number, bytes: number) => {
      sessions.get(s)?.onComplete(ov, error, bytes);
    };
    const sanSessions = new Map<number, SanSession>();
    const tcpSessions = new Map<number, SanSession>();
    let san: SanServiceProvider | null = null;
    if (options.san !== false) {
      san = new SanServiceProvider({
        kernel: this.host.kernel, process: this.process, ports: ports(), cacheRegistrations: true, completeOverlapped: upcall(sanSessions),
      });
      if (san.WSPStartup() !== NO_ERROR) san = null;
    }
    this.san = san;
    let tcp: TcpStandIn | null = new TcpStandIn(this.host.kernel, this.process, ports(), upcall(tcpSessions), tcpConfig);
    if (tcp.provider.WSPStartup() !== NO_ERROR) tcp = null;
    this.tcp = tcp;
    // WSAStartup's answer when nothing can start: WSASYSNOTREADY ("WSAStartup function").
    if (this.san === null && this.tcp === null) throw new SocketError(WSASYSNOTREADY, 'no provider could start (is the proxy loaded?)');
    this.cache = this.san !== null ? new ApplicationBufferCache(this.san, this.process, options.cache) : null;
    this.cache?.attach();
    if (this.san !== null) this.byProviderSocket.set(this.san, sanSessions);
    if (this.tcp !== null) this.byProviderSocket.set(this.tcp.provider, tcpSessions);
    const base = {
      process: this.process, stats: this.stats,
      wait: (done: () => boolean) => this.wait(done),
      wake: () => this.waits.wake(),
    };
    this.sanHost = this.san === null ? null : { ...base, provider: this.san, cache: this.cache };
    this.tcpHost = this.tcp === null ? null : { ...base, provider: this.tcp.provider, cache: null };
    // The process going away takes its sockets with it (DLL_PROCESS_DETACH for the switch).
    this.host.kernel.ps.addExitHandler((p) => {
      if (p !== this.process) return;
      for (const sock of this.sockets.values()) {
        sock.session?.processGone();
        this.unbind(sock);
      }
      this.startups = 0;
      this.waits.wake();
    });
  }

  private get started(): boolean {
    return this.startups > 0;
  }

  // ───────────────────────────── socket API ─────────────────────────────

  socket(): number {
    this.live();
    const sock: SwitchSocket = {
      handle: this.nextHandle, state: 'created', path: null, provider: null, ps: 0, local: null, binding: null, implicitBind: false,
      session: null, backlog: [],
    };
    this.nextHandle += 4;
    this.sockets.set(sock.handle, sock);
    return sock.handle;
  }

  /**
   * bind ("bind function"; Wine sock.c test_bind, test_listen, test_reuseaddr): a name that is
   * no IPv4 address and port is WSAEFAULT; a socket already bound (or connected, or listening)
   * WSAEINVAL; an address that is not one of the host's WSAEADDRNOTAVAIL; an address another
   * socket of the host holds WSAEADDRINUSE — all at bind time, nothing taken on failure. Port 0
   * takes an ephemeral port now (getsockname tells it).
   */
  bind(s: number, name: SocketAddress): void {
    const sock = this.get(s);
    const local = this.address(name);
    if (sock.state !== 'created') throw new SocketError(WSAEINVAL, `bind: socket ${s} is ${sock.state}`);
    if (local.ip !== 0 && !this.isLocalAddress(local.ip)) {
      throw new SocketError(WSAEADDRNOTAVAIL, `bind: ${formatIpv4(local.ip)} is not an address of this host`);
    }
    const b = this.ports.bind(local.ip, local.port);
    if (!('port' in b)) throw new SocketError(b.error, `bind to ${formatIpv4(local.ip)}:${local.port}`);
    sock.binding = b;
    sock.implicitBind = false;
    sock.local = { ip: local.ip, port: b.port };
    sock.state = 'bound';
  }

  /**
   * getsockname: the address bind gave the socket (INADDR_ANY stays 0.0.0.0 until a connection
   * picks the interface); WSAEINVAL for a socket that was never bound ("getsockname function").
   */
  getsockname(s: number): { ip: string; port: number } {
    const sock = this.get(s);
    if (sock.local === null) throw new SocketError(WSAEINVAL, `getsockname: socket ${s} is not bound`);
    let ip = sock.local.ip;
    if (ip === 0 && sock.state === 'connected' && sock.provider !== null) ip = sock.provider.socketInfo(sock.ps)?.local.ip ?? 0;
    return { ip: formatIpv4(ip), port: sock.local.port };
  }

  /**
   * listen ("listen function"; Wine sock.c test_listen): WSAEINVAL on a socket that is not
   * bound, WSAEISCONN on a connected one; listening again succeeds. backlog is a C int: any
   * value, SOMAXCONN and the negative SOMAXCONN_HINT(N) included.
   */
  listen(s: number, backlog = 8): void {
    const sock = this.get(s);
    if (!isCInt(backlog)) throw new SocketError(WSAEINVAL, `listen: backlog ${String(backlog)}`);
    if (sock.state === 'listening') return;
    if (sock.state !== 'bound') throw new SocketError(sock.state === 'connected' ? WSAEISCONN : WSAEINVAL, `listen: socket ${s} is ${sock.state}`);
    const provider = this.san ?? this.tcp!.provider;
    const ps = this.providerSocket(provider);
    const e = ref(0);
    // FD_ACCEPT sets `ready` at each connection request: the acceptor thread waits on it.
    const ready = new WsaEvent();
    if (provider.WSPBind(ps, sock.local!, e) !== 0 || provider.WSPListen(ps, backlog, e) !== 0 ||
        provider.WSPEventSelect(ps, ready, FD_ACCEPT, e) !== 0) {
      const error = e.value;
      provider.WSPCloseSocket(ps, ref(0));
      throw new SocketError(error, `listen on port ${sock.local!.port}`);
    }
    sock.provider = provider;
    sock.ps = ps;
    sock.path = provider === this.san ? 'san' : 'tcp';
    sock.state = 'listening';
    // The acceptor never rejects: what stops it (a model bug in the machine) goes to accept().
    void this.acceptor(sock, ready).catch((error: unknown) => {
      sock.backlog.push(Promise.resolve(error instanceof SocketError ? error : new SocketError(WSAECONNABORTED, String(error))));
      this.waits.wake();
    });
  }

  /**
   * accept ("accept function"): WSAEINVAL on a socket that is not listening; an accept blocked
   * when the listener is closed (or the switch cleaned up) fails with WSAEINTR, as blocking
   * calls cancelled by closesocket do ("closesocket function"; Wine sock.c test_accept: the
   * blocked accept returns INVALID_SOCKET).
   */
  async accept(s: number): Promise<number> {
    const sock = this.get(s);
    if (sock.state !== 'listening') throw new SocketError(WSAEINVAL, `accept: socket ${s} is not listening`);
    await this.wait(() => sock.backlog.length > 0 || sock.state !== 'listening');
    const next = sock.backlog.shift();
    if (next === undefined) throw new SocketError(WSAEINTR, `accept: socket ${s} was closed while accept waited`);
    const r = await next;
    if (r instanceof SocketError) throw r;
    return r.handle;
  }

  /**
   * connect ("connect function"; Wine sock.c test_connecting_socket, test_shutdown): WSAEFAULT
   * for a name that is no IPv4 address and port; WSAEALREADY while a connect is in progress,
   * WSAEISCONN once connected (also after shutdown), WSAEINVAL on a listening socket,
   * WSAEADDRNOTAVAIL for INADDR_ANY or port 0 as the remote address. An unbound socket is bound
   * implicitly to an ephemeral port of the host's table, and stays bound if the connect fails.
   */
  async connect(s: number, name: SocketAddress): Promise<void> {
    const sock = this.get(s);
    const to = this.address(name);
    if (sock.state === 'connecting') throw new SocketError(WSAEALREADY, `connect: socket ${s} is connecting`);
    if (sock.state === 'connected') throw new SocketError(WSAEISCONN, `connect: socket ${s} is connected`);
    if (sock.state === 'listening') throw new SocketError(WSAEINVAL, `connect: socket ${s} is listening`);
    if (to.ip === 0 || to.port === 0) throw new SocketError(WSAEADDRNOTAVAIL, 'connect: address 0');
    if (sock.local === null) {
      const b = this.ports.bind(0, 0);
      if (!('port' in b)) throw new SocketError(b.error, 'connect: no ephemeral port left for the implicit bind');
      sock.binding = b;
      sock.implicitBind = true;
      sock.local = { ip: 0, port: b.port };
    }
    sock.state = 'connecting';
    try {
      let error = WSAENETUNREACH;
      if (this.san !== null) {
        error = await this.connectThrough(sock, this.san, to);
        if (error === NO_ERROR) return;
      }
      if (error === WSAENETUNREACH && this.tcp !== null) {
        error = await this.connectThrough(sock, this.tcp.provider, to);
        if (error === NO_ERROR) return;
      }
      throw new SocketError(error, `connect to ${formatIpv4(to.ip)}:${to.port}`);
    } catch (error) {
      if (sock.state === 'connecting') sock.state = 'bound';
      throw error;
    }
  }

  send(s: number, va: number, length: number): Promise<number> {
    return this.transfer(s, va, length, true);
  }

  recv(s: number, va: number, length: number): Promise<number> {
    return this.transfer(s, va, length, false);
  }

  /**
   * shutdown ("shutdown function"; Wine sock.c test_shutdown): WSAENOTCONN on a socket that is
   * not connected (a listening one too), WSAEINVAL for a `how` other than SD_RECEIVE, SD_SEND,
   * SD_BOTH; shutting a direction down again succeeds. Afterwards send (SD_SEND) or recv
   * (SD_RECEIVE) fail with WSAESHUTDOWN; the peer's recv returns 0 after the last byte.
   */
  async shutdown(s: number, how: number): Promise<void> {
    const session = this.connected(s);
    if (how !== SD_RECEIVE && how !== SD_SEND && how !== SD_BOTH) throw new SocketError(WSAEINVAL, `shutdown: how ${String(how)}`);
    await session.shutdown(how !== SD_RECEIVE, how !== SD_SEND);
  }

  async closesocket(s: number): Promise<void> {
    const sock = this.get(s);
    await this.closeSocket(sock);
  }

  /**
   * WSAStartup: one more user of the switch ("WSAStartup function": an application may call it
   * more than once, each call needing its WSACleanup). The constructor was the first. After the
   * last WSACleanup it starts the providers again (WSPStartup); the sockets of before stay
   * unknown (WSAENOTSOCK — Wine sock.c test_WithWSAStartup). WSASYSNOTREADY when a provider
   * cannot start (nothing stays started then); WSANOTINITIALISED once the process has exited.
   */
  WSAStartup(): void {
    if (this.process.state !== 'running') throw new SocketError(WSANOTINITIALISED, 'WSAStartup: the process has exited');
    if (this.startups > 0) {
      this.startups++;
      return;
    }
    const started: SanServiceProvider[] = [];
    for (const p of [this.san, this.tcp?.provider ?? null]) {
      if (p === null) continue;
      const error = p.WSPStartup();
      if (error !== NO_ERROR) {
        for (const q of started) q.WSPCleanup(ref(0));
        throw new SocketError(WSASYSNOTREADY, `WSAStartup: a provider could not start (WSA error ${error})`);
      }
      started.push(p);
    }
    this.cache?.attach();
    this.startups = 1;
  }

  /**
   * WSACleanup ("WSACleanup function"; Wine sock.c test_WithWSAStartup): one WSACleanup per
   * WSAStartup; the preceding ones only count down, the last closes every socket (as
   * closesocket: bindings released, pending calls fail), empties the registration cache and
   * releases both providers (WSPCleanup). With no WSAStartup open it is WSANOTINITIALISED, and
   * so is every call after the last one (a process that exited cleaned up already: no error).
   */
  async WSACleanup(): Promise<void> {
    if (!this.started) {
      if (this.process.state !== 'running') return;
      throw new SocketError(WSANOTINITIALISED, 'WSACleanup: not started');
    }
    if (this.startups > 1) {
      this.startups--;
      return;
    }
    let error = NO_ERROR;
    for (const sock of [...this.sockets.values()]) {
      try {
        await this.closeSocket(sock);
      } catch (e) {
        if (!(e instanceof SocketError)) throw e;
        if (error === NO_ERROR) error = e.code;
      }
    }
    this.cache?.flush();
    this.cache?.detach();
    const e = ref(0);
    if (this.san !== null && this.san.WSPCleanup(e) !== 0 && error === NO_ERROR) error = e.value;
    if (this.tcp !== null && this.tcp.provider.WSPCleanup(e) !== 0 && error === NO_ERROR) error = e.value;
    this.startups = 0;
    this.waits.wake();
    if (error !== NO_ERROR) throw new SocketError(error, 'WSACleanup');
  }

  /** Which provider a socket's connection uses (null before connect/listen). */
  pathOf(s: number): SocketPath | null {
    return this.get(s).path;
  }

  /** Whether large sends on `s` go by RDMA read (true) or RDMA write (false); null for TCP. */
  rdmaReadOf(s: number): boolean | null {
    const sock = this.get(s);
    return sock.path === 'san' && sock.session !== null ? sock.session.usesRdmaRead : null;
  }

  /** The provider and provider socket that carry `s` (diagnostics and tests); null before connect/listen. */
  providerSocketOf(s: number): { provider: SanServiceProvider; socket: number } | null {
    const sock = this.get(s);
    return sock.provider === null ? null : { provider: sock.provider, socket: sock.ps };
  }

  get counters(): SwitchCounters {
    const c = this.cache?.counters ?? { registrations: 0, cacheHits: 0, rdmaReexposures: 0, evictions: 0, invalidations: 0, cachedBytes: 0, cachedEntries: 0 };
    return { ...this.stats, ...c, sockets: this.sockets.size, sanConnections: this.connections.san, tcpConnections: this.connections.tcp };
  }

  // ───────────────────────────── internals ─────────────────────────────

  /** Is `ip` one of the host's unicast addresses (what the TCP/IP provider checks at bind)? */
  private isLocalAddress(ip: number): boolean {
    return this.host.kernel.net.list().some((r) => r.address === ip);
  }

  /** Give the socket's port-table entry back. */
  private unbind(sock: SwitchSocket): void {
    if (sock.binding !== null) this.ports.release(sock.binding);
    sock.binding = null;
  }

  private live(): void {
    if (!this.started) throw new SocketError(WSANOTINITIALISED, 'the switch is cleaned up or its process exited');
  }

  private get(s: unknown): SwitchSocket {
    this.live();
    const sock = typeof s === 'number' ? this.sockets.get(s) : undefined;
    if (sock === undefined) throw new SocketError(WSAENOTSOCK, `socket ${String(s)} is not a socket of this process`);
    return sock;
  }

  private connected(s: number): SanSession {
    const sock = this.get(s);
    if (sock.state !== 'connected' || sock.session === null) throw new SocketError(WSAENOTCONN, `socket ${s} is not connected`);
    return sock.session;
  }

  private address(name: SocketAddress): SockAddr {
    if (name === null || typeof name !== 'object') throw new SocketError(WSAEFAULT, 'address must be { ip, port }');
    const ip = typeof name.ip === 'string' ? parseIpv4(name.ip) : name.ip;
    if (!isU32(ip) || !isU32(name.port) || name.port > 0xffff) {
      throw new SocketError(WSAEFAULT, `address { ip: ${String(name.ip)}, port: ${String(name.port)} } is not IPv4:port`);
    }
    return { ip, port: name.port };
  }

  /**
   * send and recv: the socket must be connected and the buffer a user buffer; a refusal comes
   * back as a rejected promise, like every other failure of the call.
   */
  private transfer(s: number, va: number, length: number, sending: boolean): Promise<number> {
    try {
      const session = this.connected(s);
      this.buffer(va, length);
      return sending ? session.send(va, length) : session.recv(va, length);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private buffer(va: unknown, length: unknown): void {
    if (typeof va !== 'number' || !Number.isSafeInteger(va) || va <= 0 || !isU32(length)) {
      throw new SocketError(WSAEFAULT, `buffer (0x${String(va)}, ${String(length)}) is not a user buffer`);
    }
  }

  private providerSocket(provider: SanServiceProvider): number {
    const e = ref(0);
    const ps = provider.WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, null, 0, 0, e);
    if (ps === -1) throw new SocketError(e.value, 'WSPSocket');
    return ps;
  }

  private async connectThrough(sock: SwitchSocket, provider: SanServiceProvider, to: SockAddr): Promise<number> {
    const ps = this.providerSocket(provider);
    const e = ref(0);
    if (sock.local !== null && !sock.implicitBind && provider.WSPBind(ps, sock.local, e) !== 0) {
      provider.WSPCloseSocket(ps, ref(0));
      return e.value === WSAEADDRNOTAVAIL ? WSAENETUNREACH : e.value;
    }
    if ((await provider.WSPConnect(ps, to, e)) !== NO_ERROR) {
      const error = e.value;
      provider.WSPCloseSocket(ps, ref(0));
      return error;
    }
    const session = this.startSession(provider, ps);
    sock.provider = provider;
    sock.ps = ps;
    sock.path = provider === this.san ? 'san' : 'tcp';
    sock.session = session;
    try {
      await session.start();
    } catch (error) {
      await session.close();
      this.byProviderSocket.get(provider)!.delete(ps);
      sock.session = null;
      sock.path = null;
      return error instanceof SocketError ? error.code : WSAECONNABORTED;
    }
    sock.state = 'connected';
    this.connections[sock.path]++;
    return NO_ERROR;
  }

  private startSession(provider: SanServiceProvider, ps: number): SanSession {
    const session = provider === this.san
      ? new SanSession(this.sanHost!, ps, this.sessionConfig)
      : this.tcp!.session(this.tcpHost!, ps);
    this.byProviderSocket.get(provider)!.set(ps, session);
    return session;
  }

  /**
   * A listening socket's acceptor thread: at each FD_ACCEPT (set by the provider at every
   * request, and again by WSPAccept while more wait) it accepts one request and starts its
   * session, into the backlog accept() takes from. A request whose connector is gone before it
   * confirmed is dropped; any other refusal of the provider goes into the backlog as that
   * accept's error.
   */
  private async acceptor(listener: SwitchSocket, ready: WsaEvent): Promise<void> {
    const provider = listener.provider!;
    const e = ref(0);
    const listening = () => listener.state === 'listening' && this.started;
    while (listening()) {
      await this.wait(() => ready.signaled || !listening());
      if (!listening()) return;
      ready.reset();
      const ps = await provider.WSPAccept(listener.ps, null, e);
      if (ps === INVALID_SOCKET) {
        // WSAECONNREFUSED: the connector gave up before confirming (its connect timed out).
        // Like a TCP connection reset before its handshake completed, it never reaches accept.
        const dropped = e.value === WSAEWOULDBLOCK || e.value === WSAECONNREFUSED;
        if (!dropped && listening()) listener.backlog.push(Promise.resolve(new SocketError(e.value, 'accept')));
      } else if (!listening()) {
        if (this.process.state === 'running') provider.WSPCloseSocket(ps, ref(0));
        return;
      } else {
        listener.backlog.push(this.startAccepted(listener, ps));
      }
      this.waits.wake();
    }
  }

  /** Start the session of a connection the acceptor took; its socket or the error. */
  private async startAccepted(listener: SwitchSocket, ps: number): Promise<SwitchSocket | SocketError> {
    const provider = listener.provider!;
    const sock: SwitchSocket = {
      handle: this.nextHandle, state: 'connecting', path: listener.path, provider, ps, local: listener.local, binding: null,
      implicitBind: false, session: null, backlog: [],
    };
    this.nextHandle += 4;
    this.sockets.set(sock.handle, sock);
    const session = this.startSession(provider, ps);
    sock.session = session;
    try {
      await session.start();
    } catch (error) {
      await this.closeSocket(sock);
      return error instanceof SocketError ? error : new SocketError(WSAECONNABORTED, String(error));
    }
    sock.state = 'connected';
    this.connections[sock.path!]++;
    return sock;
  }

  private async closeSocket(sock: SwitchSocket): Promise<void> {
    if (sock.state === 'closed') return;
    const was = sock.state;
    sock.state = 'closed';
    this.sockets.delete(sock.handle);
    this.unbind(sock);
    let error = NO_ERROR;
    if (sock.session !== null) {
      error = await sock.session.close();
      this.byProviderSocket.get(sock.provider!)?.delete(sock.ps);
    } else if (sock.provider !== null && this.process.state === 'running') {
      const e = ref(0);
      if (sock.provider.WSPCloseSocket(sock.ps, e) !== 0) error = e.value;
    }
    // Connections already taken into the backlog but never accepted close with the listener.
    if (was === 'listening') {
      for (const p of sock.backlog.splice(0)) {
        const r = await p;
        if (!(r instanceof SocketError)) await this.closeSocket(r);
      }
    }
    this.waits.wake();
    if (error !== NO_ERROR && this.process.state === 'running') throw new SocketError(error, `closesocket(${sock.handle})`);
  }

  /** Block until `done()` holds (or the switch stops); the machine's scheduler runs meanwhile. */
  private wait(done: () => boolean): Promise<void> {
    // Already true (often: a credit is free, a completion came in): no promise chain.
    if (done() || !this.started) return RESOLVED;
    return this.waitLoop(done);
  }

  private async waitLoop(done: () => boolean): Promise<void> {
    // Resumed, the condition is checked again: another thread may have run in between.
    while (!done() && this.started) await this.waits.block(() => done() || !this.started);
  }
}
