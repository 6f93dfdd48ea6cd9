/**
 * Provider socket state. A SAN socket owns at most one NIC endpoint and its completion queue
 * (both created by the proxy driver for this process, IOCTL_SANPROXY_CREATE_ENDPOINT), the
 * registrations made on it and the overlapped operations posted on it. WSD keeps these
 * structures until WSPCloseSocket [closing-a-san-socket].
 */
export type SocketState = 'created' | 'bound' | 'listening' | 'connecting' | 'connected' | 'closed';

/** sockaddr_in reduced to what a SAN socket uses: IPv4 as a u32 and a port. */
export interface SockAddr {
  ip: number;
  port: number;
}

export class SanSocket {
  state: SocketState = 'created';
  /** NIC index (-1 until bind/connect/accept picks the NIC). */
  nicIndex = -1;
  endpoint = 0;
  completionQueue = 0;
  local: SockAddr = { ip: 0, port: 0 };
  peer: SockAddr = { ip: 0, port: 0 };
  /** Pending overlapped operations on this socket (contexts). */

  constructor(readonly handle: number) {}

  get hasEndpoint(): boolean {
    return this.endpoint !== 0;
  }
}

/** Socket handles of one provider; values never repeat, so a closed socket stays unknown. */
export class SocketTable {
  private readonly sockets = new Map<number, SanSocket>();
  private next = 0x100;

  get size(): number {
    return this.sockets.size;
  }

  create(): SanSocket {
    const s = new SanSocket(this.next);
    this.next += 4;
    this.sockets.set(s.handle, s);
    return s;
  }

  get(handle: unknown): SanSocket | null {
    return typeof handle === 'number' ? (this.sockets.get(handle) ?? null) : null;
  }

  remove(s: SanSocket): void {
    this.sockets.delete(s.handle);
    s.state = 'closed';
  }

  all(): SanSocket[] {
    return [...this.sockets.values()];
  }
}

/** "10.0.0.1" → u32; null when not a dotted quad. */
export function parseIpv4(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIpv4(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}
