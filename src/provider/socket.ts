/**
 * Provider socket state. A SAN socket owns at most one NIC endpoint and its completion queue
 * (both created by the proxy driver for this process, IOCTL_SANPROXY_CREATE_ENDPOINT), the
 * registrations made on it and the overlapped operations posted on it. WSD keeps these
 * structures until WSPCloseSocket ("Closing a SAN Socket").
 */
import type { ConnectionEventType } from '../nic/index.ts';

/** Socket constants of winsock2.h the provider accepts. */
export const AF_INET = 2;
export const SOCK_STREAM = 1;
export const IPPROTO_TCP = 6;

export type SocketState = 'created' | 'bound' | 'listening' | 'connecting' | 'connected' | 'closed';

/** sockaddr_in reduced to what a SAN socket uses: IPv4 as a u32 and a port. */
export interface SockAddr {
  ip: number;
  port: number;
}

/**
 * A WSAEVENT: what WSPEventSelect signals (WPUSetEvent) and a thread waits on. Manual reset,
 * as an event from WSACreateEvent.
 */
export class WsaEvent {
  signaled = false;

  set(): void {
    this.signaled = true;
  }

  reset(): void {
    this.signaled = false;
  }
}

export class SanSocket {
  state: SocketState = 'created';
  /** NIC index (-1 until bind/connect/accept picks the NIC). */
  nicIndex = -1;
  endpoint = 0;
  completionQueue = 0;
  local: SockAddr = { ip: 0, port: 0 };
  peer: SockAddr = { ip: 0, port: 0 };
  /** The connection event that ended the last connect or accept wait (null while waiting). */
  connectEvent: ConnectionEventType | null = null;
  /** WSPEventSelect(FD_ACCEPT): signaled when a connection request reaches the listener. */
  acceptEvent: WsaEvent | null = null;

  constructor(readonly handle: number) {}

  get hasEndpoint(): boolean {
    return this.endpoint !== 0;
  }
}

/** Socket handles of one provider; values never repeat, so a closed socket stays unknown. */
export class SocketTable {
  private readonly sockets = new Map<number, SanSocket>();
  /** Sockets by (NIC index, endpoint handle), for the NIC's connection events. */
  private readonly byEndpoint = new Map<number, SanSocket>();
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
    if (s.hasEndpoint) this.forgetEndpoint(s);
    s.state = 'closed';
  }

  all(): SanSocket[] {
    return [...this.sockets.values()];
  }

  /** The socket gets `endpoint` on NIC `nicIndex` (with its completion queue). */
  setEndpoint(s: SanSocket, nicIndex: number, endpoint: number, completionQueue: number): void {
    s.nicIndex = nicIndex;
    s.endpoint = endpoint;
    s.completionQueue = completionQueue;
    this.byEndpoint.set(endpointKey(nicIndex, endpoint), s);
  }

  /** The socket's endpoint is gone. */
  forgetEndpoint(s: SanSocket): void {
    if (this.byEndpoint.get(endpointKey(s.nicIndex, s.endpoint)) === s) this.byEndpoint.delete(endpointKey(s.nicIndex, s.endpoint));
    s.endpoint = 0;
    s.completionQueue = 0;
  }

  byNicEndpoint(nicIndex: number, endpoint: number): SanSocket | null {
    return this.byEndpoint.get(endpointKey(nicIndex, endpoint)) ?? null;
  }

  /** The listening socket on `port` of NIC `nicIndex`, or null. */
  listenerOn(nicIndex: number, port: number): SanSocket | null {
    for (const s of this.sockets.values()) if (s.state === 'listening' && s.nicIndex === nicIndex && s.local.port === port) return s;
    return null;
  }
}

/** Endpoint handles are 32-bit: one safe integer names (NIC, endpoint). */
const endpointKey = (nicIndex: number, endpoint: number): number => nicIndex * 0x1_0000_0000 + endpoint;
