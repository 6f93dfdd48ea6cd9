/**
 * The host's TCP port table: which local IPv4 address and port each bound socket of the host
 * holds. On Windows the application's bind goes to the TCP/IP provider first, and the stack
 * (tcpip.sys's endpoint table, one per host) refuses an address another socket holds — "the
 * Windows Sockets switch, in conjunction with the TCP/IP provider, handles address reuse"
 * (WSPListen page of the Windows Sockets Direct reference; "Creating and Binding SAN Sockets":
 * the switch binds the TCP/IP socket at the application's bind, then gives the SAN companion
 * socket the same address and a nonzero port). The model has no TCP/IP stack, so the switch
 * keeps this table itself, one per host, keyed by the host's kernel (several hosts live in one
 * process; every switch of a host shares its table).
 *
 * Rules (Winsock "bind function"; Wine dlls/ws2_32/tests/sock.c test_bind, test_listen,
 * test_reuseaddr, which record them on Windows; no SO_REUSEADDR / SO_EXCLUSIVEADDRUSE — the
 * switch has no setsockopt):
 * - a second socket bound to the same address and port → WSAEADDRINUSE, at bind time;
 * - two sockets on INADDR_ANY and the same port → WSAEADDRINUSE;
 * - INADDR_ANY and a specific address on the same port do not conflict (test_reuseaddr: both
 *   binds succeed on Windows, either order);
 * - port 0 takes an ephemeral port at bind time, one no socket of the host holds (IANA dynamic
 *   range 49152–65535, what Windows hands out since Vista); none left → WSAENOBUFS ("bind
 *   function": not enough buffers, too many connections).
 */
import type { Kernel } from '../kernel/kernel.ts';
import { NO_ERROR, WSAEADDRINUSE, WSAENOBUFS } from '../provider/index.ts';

export const EPHEMERAL_FIRST = 49152;
export const EPHEMERAL_LAST = 65535;

/** One bound socket's entry. */
export interface PortBinding {
  readonly ip: number;
  readonly port: number;
}

const tables = new WeakMap<Kernel, HostPortTable>();

export class HostPortTable {
  /** Bindings by port. */
  private readonly byPort = new Map<number, Set<PortBinding>>();
  private nextEphemeral = EPHEMERAL_FIRST;

  /** The table of the host whose kernel this is. */
  static of(kernel: Kernel): HostPortTable {
    let t = tables.get(kernel);
    if (t === undefined) {
      t = new HostPortTable();
      tables.set(kernel, t);
    }
    return t;
  }

  /** Sockets bound on the host (tests, diagnostics). */
  get size(): number {
    let n = 0;
    for (const set of this.byPort.values()) n += set.size;
    return n;
  }

  /**
   * Take `ip`:`port` (ip 0 = INADDR_ANY; port 0 = an ephemeral port). Returns the binding or
   * the WSA error; a refusal leaves the table as it was.
   */
  bind(ip: number, port: number): PortBinding | { error: number } {
    if (port === 0) {
      const p = this.freePort();
      if (p === 0) return { error: WSAENOBUFS };
      port = p;
    } else if (this.conflicts(ip, port)) {
      return { error: WSAEADDRINUSE };
    }
    const b: PortBinding = Object.freeze({ ip, port });
    let set = this.byPort.get(port);
    if (set === undefined) {
      set = new Set();
      this.byPort.set(port, set);
    }
    set.add(b);
    return b;
  }

  /** Give a binding back (closesocket, WSACleanup, process exit). Idempotent. */
  release(b: PortBinding): number {
    const set = this.byPort.get(b.port);
    if (set === undefined || !set.delete(b)) return NO_ERROR;
    if (set.size === 0) this.byPort.delete(b.port);
    return NO_ERROR;
  }

  /** Same address (both specific, or both INADDR_ANY) on the same port. */
  private conflicts(ip: number, port: number): boolean {
    const set = this.byPort.get(port);
    if (set === undefined) return false;
    for (const b of set) if (b.ip === ip) return true;
    return false;
  }

  /** The next ephemeral port no socket holds, 0 when the range is used up. */
  private freePort(): number {
    const span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
    for (let i = 0; i < span; i++) {
      const p = this.nextEphemeral;
      this.nextEphemeral = p === EPHEMERAL_LAST ? EPHEMERAL_FIRST : p + 1;
      if (!this.byPort.has(p)) return p;
    }
    return 0;
  }
}
