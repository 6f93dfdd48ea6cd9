/**
 * The NIC's connection manager (the IB CM's job, rdma_cm's events): listeners, connection
 * set-up and tear-down of reliable-connection endpoints, and the connection events it
 * signals to the owning process.
 *
 * Implementation notes
 * - The exchange is the CM's three-way handshake: REQ (active → passive: "connect endpoint E
 *   of NIC A to port P"), REP or REJ (passive → active), RTU (active → passive: ready to
 *   use), and DREQ for a disconnect. Each message is a task on the cluster's scheduler, sent
 *   through the fabric to the peer NIC's connection manager; no NIC holds a reference to
 *   another. (The next step is real CM MADs on QP1 over a lossy link: the `on…` handlers
 *   become the MAD receive path, the `send…` helpers the MAD send path, and the connect
 *   timeout grows retries — all on the same scheduler.)
 * - States of an endpoint (endpoint.ts): idle → connecting → connected. The passive side is
 *   "connecting" (ready to receive) from accept until the RTU arrives.
 * - Events (`ConnectionEvent`) go to every handler the endpoint's owner subscribed through
 *   its ports, synchronously from the task that caused them: 'connect-request' at a listener,
 *   then 'established', 'rejected', 'unreachable' or 'timeout' for a connect, 'established'
 *   for an accept, 'disconnected' when the peer leaves. Handlers only record what happened;
 *   the owner's threads resume through the scheduler (scheduler.ts).
 * - A connect may carry a timeout on the scheduler's clock (the CM's response timeout): when
 *   no REP/REJ arrived by then the endpoint goes back to idle with 'timeout'; a reply that
 *   comes later finds the endpoint gone or idle and the acceptor is told to tear down (DREQ).
 */
import type { Endpoint } from './endpoint.ts';
import type { SanNic } from './san-nic.ts';
import { NicStatus, type NicStatusCode } from './status.ts';

export type ConnectionEventType = 'connect-request' | 'established' | 'rejected' | 'unreachable' | 'timeout' | 'disconnected';

export interface ConnectionEvent {
  readonly type: ConnectionEventType;
  /** The endpoint the event is about (0 for 'connect-request'). */
  readonly endpoint: number;
  /** The port: the one listened on ('connect-request'), connected to or accepted on. */
  readonly port: number;
}

export type ConnectionHandler = (event: ConnectionEvent) => void;

interface Listener {
  owner: number;
  pending: { address: number; endpoint: number }[];
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPort = (v: unknown): v is number => isCount(v) && v >= 1 && v <= 0xffff;

export class ConnectionManager {
  private readonly listeners = new Map<number, Listener>();
  private readonly handlers = new Map<number, Set<ConnectionHandler>>();
  /** Connect timeouts armed, by endpoint handle (scheduler timer ids). */
  private readonly timeouts = new Map<number, number>();

  constructor(private readonly nic: SanNic) {}

  // ───────────────────────────── the owner's calls (through its port) ─────────────────────────────

  subscribe(owner: number, handler: ConnectionHandler): void {
    let set = this.handlers.get(owner);
    if (set === undefined) this.handlers.set(owner, (set = new Set()));
    set.add(handler);
  }

  unsubscribe(owner: number, handler: ConnectionHandler): void {
    const set = this.handlers.get(owner);
    if (set === undefined) return;
    set.delete(handler);
    if (set.size === 0) this.handlers.delete(owner);
  }

  listen(owner: number, port: number): NicStatusCode {
    if (!isPort(port)) return NicStatus.INVALID_PARAMETER;
    if (this.listeners.has(port)) return NicStatus.ADDRESS_IN_USE;
    this.listeners.set(port, { owner, pending: [] });
    return NicStatus.SUCCESS;
  }

  /** Stop listening; pending connection requests are rejected. */
  unlisten(owner: number, port: number): NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    if (l.owner !== owner) return NicStatus.ACCESS_DENIED;
    this.listeners.delete(port);
    for (const r of l.pending) this.sendReply(r.address, r.endpoint, 0, 'rejected');
    return NicStatus.SUCCESS;
  }

  pendingConnections(owner: number, port: number): number | NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    return l.owner === owner ? l.pending.length : NicStatus.ACCESS_DENIED;
  }

  /**
   * Start connecting an idle endpoint to `port` on the NIC at `remoteSanAddress` (REQ). With
   * `timeoutNs`, the attempt ends with 'timeout' when no answer came by then.
   */
  connect(owner: number, endpoint: number, remoteSanAddress: number, port: number, timeoutNs?: number): NicStatusCode {
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (!isCount(remoteSanAddress) || remoteSanAddress === 0 || !isPort(port)) return NicStatus.INVALID_PARAMETER;
    if (timeoutNs !== undefined && !isCount(timeoutNs)) return NicStatus.INVALID_PARAMETER;
    const fabric = this.nic.fabric;
    if (fabric === null) return NicStatus.NOT_ATTACHED;
    if (ep.state !== 'idle') return NicStatus.INVALID_STATE;
    ep.state = 'connecting';
    ep.peerAddress = remoteSanAddress;
    ep.peerEndpoint = 0;
    ep.port = port;
    const from = this.nic.sanAddress;
    fabric.enqueue(() => {
      const target = fabric.nicAt(remoteSanAddress);
      if (target === null) this.onReply(endpoint, 0, 0, 'unreachable');
      else target.cm.onRequest(from, endpoint, port);
    });
    if (timeoutNs !== undefined) {
      this.timeouts.set(endpoint, fabric.scheduler.after(timeoutNs, () => this.onTimeout(endpoint)));
    }
    return NicStatus.SUCCESS;
  }

  /** Accept the oldest pending request on `port` onto an idle endpoint of the listener's owner (REP). */
  accept(owner: number, port: number, endpoint: number): NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    if (l.owner !== owner) return NicStatus.ACCESS_DENIED;
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (ep.state !== 'idle') return NicStatus.INVALID_STATE;
    const r = l.pending.shift();
    if (r === undefined) return NicStatus.NO_PENDING_CONNECTION;
    // Passive side: ready to receive (RTR) now, connected when the requester confirms (RTU).
    ep.state = 'connecting';
    ep.peerAddress = r.address;
    ep.peerEndpoint = r.endpoint;
    ep.port = port;
    this.nic.initTransport(ep);
    this.sendReply(r.address, r.endpoint, endpoint, 'established');
    return NicStatus.SUCCESS;
  }

  /** Refuse the oldest pending request on `port` (REJ). */
  reject(owner: number, port: number): NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    if (l.owner !== owner) return NicStatus.ACCESS_DENIED;
    const r = l.pending.shift();
    if (r === undefined) return NicStatus.NO_PENDING_CONNECTION;
    this.sendReply(r.address, r.endpoint, 0, 'rejected');
    return NicStatus.SUCCESS;
  }

  /** Disconnect (DREQ): both ends leave the connection and flush every outstanding request. */
  disconnect(owner: number, endpoint: number): NicStatusCode {
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (ep.state === 'idle' || ep.state === 'disconnected') return NicStatus.INVALID_STATE;
    this.cancelTimeout(endpoint);
    this.notifyPeer(ep);
    ep.state = 'disconnected';
    ep.lastEvent = 'disconnected';
    this.nic.schedule(ep);
    return NicStatus.SUCCESS;
  }

  /** An endpoint is being destroyed: the peer is told (DREQ), a connect timeout disarmed. */
  endpointDestroyed(ep: Endpoint): void {
    this.cancelTimeout(ep.handle);
    if (ep.state === 'connected' || ep.state === 'connecting' || ep.state === 'error') this.notifyPeer(ep);
  }

  // ───────────────────────────── messages from the fabric ─────────────────────────────

  /** REQ: a connection request arrived. */
  onRequest(fromAddress: number, fromEndpoint: number, port: number): void {
    const l = this.listeners.get(port);
    if (l === undefined) {
      this.sendReply(fromAddress, fromEndpoint, 0, 'rejected');
      return;
    }
    l.pending.push({ address: fromAddress, endpoint: fromEndpoint });
    this.emit(l.owner, { type: 'connect-request', endpoint: 0, port });
  }

  /** REP / REJ: the answer to our request (the acceptor's endpoint, or 0 when refused). */
  onReply(endpoint: number, fromAddress: number, peerEndpoint: number, event: 'established' | 'rejected' | 'unreachable'): void {
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null || ep.state !== 'connecting' || ep.peerEndpoint !== 0 ||
        (fromAddress !== 0 && ep.peerAddress !== fromAddress)) {
      // We gave up meanwhile: tell an acceptor to tear its side down.
      if (peerEndpoint !== 0) this.sendDisconnect(fromAddress, peerEndpoint, endpoint);
      return;
    }
    this.cancelTimeout(endpoint);
    ep.lastEvent = event;
    const port = ep.port;
    if (peerEndpoint === 0) {
      ep.state = 'idle';
      ep.peerAddress = 0;
      ep.port = 0;
      this.emit(ep.owner, { type: event, endpoint, port });
      return;
    }
    ep.state = 'connected';
    ep.peerEndpoint = peerEndpoint;
    this.nic.initTransport(ep);
    const me = this.nic.sanAddress;
    const fabric = this.nic.fabric!;
    const peerAddress = ep.peerAddress;
    fabric.enqueue(() => fabric.nicAt(peerAddress)?.cm.onReadyToUse(peerEndpoint, me, endpoint));
    this.nic.schedule(ep);
    this.emit(ep.owner, { type: 'established', endpoint, port });
  }

  /** RTU: the active side confirmed; the passive endpoint is connected. */
  onReadyToUse(endpoint: number, fromAddress: number, fromEndpoint: number): void {
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null || ep.state !== 'connecting' || ep.peerAddress !== fromAddress || ep.peerEndpoint !== fromEndpoint) return;
    ep.state = 'connected';
    ep.lastEvent = 'established';
    this.nic.schedule(ep);
    this.emit(ep.owner, { type: 'established', endpoint, port: ep.port });
  }

  /** DREQ: the peer disconnected or was destroyed. */
  onDisconnect(endpoint: number, fromAddress: number, fromEndpoint: number): void {
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null || ep.peerAddress !== fromAddress || ep.peerEndpoint !== fromEndpoint) return;
    if (ep.state === 'idle' || ep.state === 'disconnected') return;
    ep.state = 'disconnected';
    ep.lastEvent = 'peer-disconnected';
    this.nic.schedule(ep);
    this.emit(ep.owner, { type: 'disconnected', endpoint, port: ep.port });
  }

  // ───────────────────────────── internals ─────────────────────────────

  private onTimeout(endpoint: number): void {
    this.timeouts.delete(endpoint);
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null || ep.state !== 'connecting' || ep.peerEndpoint !== 0) return;
    const port = ep.port;
    ep.state = 'idle';
    ep.peerAddress = 0;
    ep.port = 0;
    ep.lastEvent = 'timeout';
    this.emit(ep.owner, { type: 'timeout', endpoint, port });
  }

  private cancelTimeout(endpoint: number): void {
    const timer = this.timeouts.get(endpoint);
    if (timer === undefined) return;
    this.timeouts.delete(endpoint);
    this.nic.fabric?.scheduler.cancel(timer);
  }

  private emit(owner: number, event: ConnectionEvent): void {
    const set = this.handlers.get(owner);
    if (set === undefined) return;
    for (const handler of [...set]) handler(event);
  }

  private notifyPeer(ep: Endpoint): void {
    if (ep.peerEndpoint !== 0) this.sendDisconnect(ep.peerAddress, ep.peerEndpoint, ep.handle);
  }

  private sendDisconnect(address: number, peerEndpoint: number, fromEndpoint: number): void {
    const fabric = this.nic.fabric;
    if (fabric === null || address === 0) return;
    const me = this.nic.sanAddress;
    fabric.enqueue(() => fabric.nicAt(address)?.cm.onDisconnect(peerEndpoint, me, fromEndpoint));
  }

  private sendReply(address: number, endpoint: number, acceptor: number, event: 'established' | 'rejected'): void {
    const fabric = this.nic.fabric;
    if (fabric === null) return;
    const me = this.nic.sanAddress;
    fabric.enqueue(() => fabric.nicAt(address)?.cm.onReply(endpoint, me, acceptor, event));
  }
}
