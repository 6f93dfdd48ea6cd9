/**
 * The SAN NIC: hardware model of an RDMA-capable SAN adapter.
 *
 * Implementation notes
 * - Its only view of memory is a DeviceDmaView (src/bus): bus addresses, the device's own
 *   address width (a 32-bit NIC truncates addresses at or above 4 GiB; it never refuses) and
 *   the IOMMU when there is one. It never sees a virtual address or the PFN database.
 * - Two interfaces, as on real adapters:
 *   privileged (driver, kernel mode): registerRegion / deregisterRegion / invalidateRegion /
 *   reregisterRegion / bindRegion / unbindRegion / allocateWindow / freeWindow — the TPT
 *   (tpt.ts);
 *   user queues (kernel bypass): completion queues, endpoints, connect/listen/accept/
 *   disconnect, postSend / postRecv / postRdmaWrite / postRdmaRead, and bindWindow /
 *   invalidateWindow (memory windows, IB type 2: a user-mode way to expose part of a
 *   registered region to one connection and to take it back). Every user call names the
 *   calling process (`owner`) and is checked against the owner of the object it names.
 * - Posts validate the shape of the request, store it in the endpoint's typed-array ring and
 *   return at once; the work runs later as fabric tasks (requester.ts, responder.ts) and
 *   completes on the completion queue. Immediate errors (NicStatus) change nothing.
 * - Counters and the log of every bus address the NIC was handed let tests and the verifier
 *   prove what a 32-bit NIC was given.
 */
import type { DeviceDmaView } from '../bus/index.ts';
import { resolveCapabilities, type NicCapabilities } from './capabilities.ts';
import { CompletionQueue, type Completion } from './completion-queue.ts';
import { Endpoint, SGE_FIELDS, type EndpointState, type WorkQueue } from './endpoint.ts';
import type { Fabric } from './fabric.ts';
import { ObjectTable } from './object-table.ts';
import { processEndpoint } from './requester.ts';
import { ResponderContext, type RequestPacket, type ResponderResult } from './responder.ts';
import { SegmentList } from './segments.ts';
import {
  NicConfigurationError,
  NicStatus,
  Opcode,
  Syndrome,
  WcStatus,
  type NicStatusCode,
  type SyndromeCode,
  type WcStatusCode,
} from './status.ts';
import { NicAccess, TranslationProtectionTable, type RegionInfo, type RegionSpec, type WindowInfo } from './tpt.ts';

const NOTHING_COMPLETED: { status: NicStatusCode; completions: Completion[] } = Object.freeze({
  status: NicStatus.SUCCESS,
  completions: Object.freeze([]) as unknown as Completion[],
});

export interface SanNicOptions {
  name: string;
  dma: DeviceDmaView;
  capabilities?: Partial<NicCapabilities>;
}

export interface RegisterRegionRequest extends RegionSpec {
  /** Process that owns the region (the only one whose local requests may name it). */
  owner: number;
}

export interface RegisterResult {
  status: NicStatusCode;
  /** Local handle (0 on failure). */
  handle: number;
  /** Remote key to give the peer (0 on failure). */
  remoteKey: number;
}

export interface ScatterElement {
  localHandle: number;
  /** Offset into the registered region. */
  offset: number;
  length: number;
}

export interface RemoteDescriptor {
  remoteKey: number;
  /** Offset into the remote region. */
  address: number;
  length: number;
}

export interface WorkRequest {
  /** Returned in the completion (wr_id). */
  context: number;
  elements: readonly ScatterElement[];
}

export interface RdmaWorkRequest extends WorkRequest {
  remote: RemoteDescriptor;
}

export interface NicCounters {
  bytesSent: number;
  bytesReceived: number;
  /** Bytes this NIC read from peers (RDMA read requester). */
  bytesRdmaRead: number;
  /** Bytes this NIC wrote to peers (RDMA write requester). */
  bytesRdmaWrite: number;
  bytesRdmaReadServed: number;
  bytesRdmaWriteServed: number;
  completions: number;
  completionErrors: number;
}

export interface EndpointInfo {
  state: EndpointState;
  peerAddress: number;
  peerEndpoint: number;
  port: number;
  lastEvent: string;
  sendOutstanding: number;
  recvOutstanding: number;
}

/**
 * Observer of the NIC's work for traces (src/report attaches one; null = off, one check per
 * call). Called after the action succeeded, never on an immediate error.
 */
export interface NicTraceHook {
  posted(nic: SanNic, owner: number, endpoint: number, opcode: number, wr: WorkRequest): void;
  completed(nic: SanNic, owner: number, endpoint: number, status: number, opcode: number, bytes: number, context: number): void;
  registered(nic: SanNic, owner: number, handle: number, pages: number, length: number): void;
  deregistered(nic: SanNic, handle: number): void;
}

interface Listener {
  owner: number;
  pending: { address: number; endpoint: number }[];
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPort = (v: unknown): v is number => isCount(v) && v >= 1 && v <= 0xffff;

export class SanNic {
  readonly name: string;
  readonly dma: DeviceDmaView;
  readonly capabilities: NicCapabilities;
  /** @internal */ readonly tpt: TranslationProtectionTable;
  /** @internal */ readonly requesterSegs = new SegmentList();
  /** @internal */ readonly responderSegs = new SegmentList();
  /** @internal */ readonly responderContext = new ResponderContext();
  /** @internal */ readonly responderResult: ResponderResult = { status: WcStatus.SUCCESS, syndrome: Syndrome.NONE, rnr: false };
  /** @internal */ readonly packet: RequestPacket;
  readonly counters: NicCounters = {
    bytesSent: 0,
    bytesReceived: 0,
    bytesRdmaRead: 0,
    bytesRdmaWrite: 0,
    bytesRdmaReadServed: 0,
    bytesRdmaWriteServed: 0,
    completions: 0,
    completionErrors: 0,
  };
  fabric: Fabric | null = null;
  sanAddress = 0;
  /** Trace observer (see NicTraceHook). */
  trace: NicTraceHook | null = null;
  private readonly endpoints: ObjectTable<Endpoint>;
  private readonly cqs: ObjectTable<CompletionQueue>;
  private readonly listeners = new Map<number, Listener>();
  private handed = new Float64Array(256);
  private handedCount = 0;
  /** Page addresses handed to the NIC, in all (the log keeps only the first HANDED_LOG_LIMIT). */
  handedPages = 0;
  /** The highest page address the NIC was ever handed (-1: none). */
  highestHanded = -1;
  /** Pages handed to the NIC at or above 2^addressBits (they truncate on the bus). */
  handedAboveLimit = 0;
  private ipv4 = new Set<number>();

  constructor(options: SanNicOptions) {
    if (options === null || typeof options !== 'object' || typeof options.name !== 'string' || options.name === '') {
      throw new NicConfigurationError(`SanNic: options need a non-empty name`);
    }
    if (options.dma === null || typeof options.dma !== 'object' || typeof options.dma.resolve !== 'function') {
      throw new NicConfigurationError(`SanNic ${options.name}: options.dma must be a DeviceDmaView`);
    }
    this.name = options.name;
    this.dma = options.dma;
    this.capabilities = resolveCapabilities(options.name, options.dma.addressBits, options.capabilities);
    this.tpt = new TranslationProtectionTable(this.capabilities.maxRegistrations, this.capabilities.maxRegionBytes);
    this.endpoints = new ObjectTable<Endpoint>(this.capabilities.maxEndpoints, 17);
    this.cqs = new ObjectTable<CompletionQueue>(this.capabilities.maxCompletionQueues, 29);
    this.packet = {
      opcode: 0, fromNic: this, fromEndpoint: 0, toEndpoint: 0, remoteKey: 0, remoteAddress: 0, length: 0,
      local: this.requesterSegs,
    };
  }

  /** @internal Called by Fabric.attach. */
  attached(fabric: Fabric, address: number): void {
    this.fabric = fabric;
    this.sanAddress = address;
  }

  // ───────────────────────────── privileged (driver) interface ─────────────────────────────

  get regionCount(): number {
    return this.tpt.count;
  }

  registerRegion(request: RegisterRegionRequest): RegisterResult {
    if (request === null || typeof request !== 'object' || !isCount(request.owner)) return failed(NicStatus.INVALID_PARAMETER);
    const status = this.tpt.validateSpec(request);
    if (status !== NicStatus.SUCCESS) return failed(status);
    const index = this.tpt.register(request.owner, request);
    if (index < 0) return failed(NicStatus.INSUFFICIENT_RESOURCES);
    this.logHanded(request.pages);
    if (this.trace !== null) this.trace.registered(this, request.owner, this.tpt.handleOf(index), request.pages.length, request.length);
    return { status: NicStatus.SUCCESS, handle: this.tpt.handleOf(index), remoteKey: this.tpt.remoteKeyOf(index) };
  }

  deregisterRegion(handle: number): NicStatusCode {
    const index = this.tpt.indexOfHandle(handle);
    if (index < 0) return NicStatus.INVALID_HANDLE;
    this.tpt.deregister(index);
    if (this.trace !== null) this.trace.deregistered(this, handle);
    return NicStatus.SUCCESS;
  }

  /** Keep the registration but fail every access to it until re-registered (local invalidate). */
  invalidateRegion(handle: number): NicStatusCode {
    const index = this.tpt.indexOfHandle(handle);
    if (index < 0) return NicStatus.INVALID_HANDLE;
    this.tpt.invalidate(index);
    return NicStatus.SUCCESS;
  }

  /** New pages/length/rights for a registration (ibv_rereg_mr); new handle and remote key, unbound. */
  reregisterRegion(handle: number, spec: RegionSpec): RegisterResult {
    const index = this.tpt.indexOfHandle(handle);
    if (index < 0) return failed(NicStatus.INVALID_HANDLE);
    const status = this.tpt.validateSpec(spec);
    if (status !== NicStatus.SUCCESS) return failed(status);
    this.tpt.reregister(index, spec);
    this.logHanded(spec.pages);
    return { status: NicStatus.SUCCESS, handle: this.tpt.handleOf(index), remoteKey: this.tpt.remoteKeyOf(index) };
  }

  /** Bind a region's remote access to one connection; the endpoint must belong to the region's owner. */
  bindRegion(handle: number, endpoint: number): NicStatusCode {
    const index = this.tpt.indexOfHandle(handle);
    if (index < 0) return NicStatus.INVALID_HANDLE;
    const ep = this.endpoints.get(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== this.tpt.ownerOf(index)) return NicStatus.ACCESS_DENIED;
    if (this.tpt.boundEndpointOf(index) !== 0) return NicStatus.INVALID_STATE;
    this.tpt.bind(index, endpoint);
    return NicStatus.SUCCESS;
  }

  unbindRegion(handle: number): NicStatusCode {
    const index = this.tpt.indexOfHandle(handle);
    if (index < 0) return NicStatus.INVALID_HANDLE;
    if (this.tpt.boundEndpointOf(index) === 0) return NicStatus.INVALID_STATE;
    this.tpt.unbind(index);
    return NicStatus.SUCCESS;
  }

  /** A copy of a registration's state, or null for an unknown handle (or a window's). */
  queryRegion(handle: number): RegionInfo | null {
    const index = this.tpt.indexOfHandle(handle);
    return index < 0 ? null : this.tpt.info(index);
  }

  /** Windows in the table, bound or not (`regionCount` counts regions only). */
  get windowCount(): number {
    return this.tpt.windowCount;
  }

  /**
   * A memory window (ibv_alloc_mw, IB type 2) owned by process `owner`, unbound: it grants
   * nothing until the owner binds it (bindWindow). Takes a TPT slot, like a region.
   */
  allocateWindow(owner: number): { status: NicStatusCode; handle: number } {
    if (!isCount(owner)) return { status: NicStatus.INVALID_PARAMETER, handle: 0 };
    const index = this.tpt.allocateWindow(owner);
    if (index < 0) return { status: NicStatus.INSUFFICIENT_RESOURCES, handle: 0 };
    return { status: NicStatus.SUCCESS, handle: this.tpt.handleOf(index) };
  }

  /** Free a window (ibv_dealloc_mw); a bound window dies with it. Region handles are refused. */
  freeWindow(handle: number): NicStatusCode {
    const index = this.tpt.indexOfWindow(handle);
    if (index < 0) return NicStatus.INVALID_HANDLE;
    this.tpt.freeWindow(index);
    return NicStatus.SUCCESS;
  }

  /** A copy of a window's state, or null when `handle` is not a live window. */
  queryWindow(handle: number): WindowInfo | null {
    const index = this.tpt.indexOfWindow(handle);
    return index < 0 ? null : this.tpt.windowInfo(index);
  }

  /**
   * The IPv4 addresses the driver configured on this NIC's interface. The NIC answers address
   * resolution for them on the fabric (ARP over the SAN), so a peer can turn an IP address
   * into this NIC's SAN address.
   */
  setIpAddresses(addresses: readonly number[]): NicStatusCode {
    if (!Array.isArray(addresses) || !addresses.every((a) => Number.isInteger(a) && a >= 0 && a <= 0xffffffff)) {
      return NicStatus.INVALID_PARAMETER;
    }
    this.ipv4 = new Set(addresses);
    return NicStatus.SUCCESS;
  }

  get ipAddresses(): number[] {
    return [...this.ipv4];
  }

  /** Resolve an IPv4 address to a SAN address over the fabric; 0 when nobody answers. */
  resolveIp(address: number): number {
    return this.fabric?.resolveIp(address) ?? 0;
  }

  /**
   * Page addresses the NIC was handed by registrations, in order (a copy): the first
   * HANDED_LOG_LIMIT of them. `handedPages`, `highestHanded` and `handedAboveLimit` count all.
   */
  handedAddresses(): Float64Array {
    return this.handed.slice(0, this.handedCount);
  }

  // ───────────────────────────── user-mode queue interface ─────────────────────────────

  createCompletionQueue(owner: number, depth: number): { status: NicStatusCode; cq: number } {
    if (!isCount(owner) || !isCount(depth) || depth < 1 || depth > this.capabilities.completionQueueDepth) {
      return { status: NicStatus.INVALID_PARAMETER, cq: 0 };
    }
    const handle = this.cqs.nextHandle();
    if (handle === 0) return { status: NicStatus.INSUFFICIENT_RESOURCES, cq: 0 };
    this.cqs.insert(new CompletionQueue(handle, owner, depth));
    return { status: NicStatus.SUCCESS, cq: handle };
  }

  destroyCompletionQueue(owner: number, cq: number): NicStatusCode {
    const q = this.cqs.get(cq);
    if (q === null) return NicStatus.INVALID_HANDLE;
    if (q.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (q.attached > 0) return NicStatus.BUSY;
    this.cqs.remove(cq);
    return NicStatus.SUCCESS;
  }

  /** Take up to `max` completions, oldest first. */
  pollCompletionQueue(owner: number, cq: number, max = 16): { status: NicStatusCode; completions: Completion[] } {
    const q = this.cqs.get(cq);
    if (q === null) return { status: NicStatus.INVALID_HANDLE, completions: [] };
    if (q.owner !== owner) return { status: NicStatus.ACCESS_DENIED, completions: [] };
    if (!isCount(max) || max < 1) return { status: NicStatus.INVALID_PARAMETER, completions: [] };
    // An empty queue is the common answer to a poll: one shared, frozen result, no allocation.
    if (q.count === 0) return NOTHING_COMPLETED;
    return { status: NicStatus.SUCCESS, completions: q.poll(max) };
  }

  /** Whether a completion queue lost entries to overflow. */
  completionQueueOverrun(owner: number, cq: number): boolean | NicStatusCode {
    const q = this.cqs.get(cq);
    if (q === null) return NicStatus.INVALID_HANDLE;
    return q.owner === owner ? q.overrun : NicStatus.ACCESS_DENIED;
  }

  createEndpoint(
    owner: number,
    cq: number,
    options: { sendQueueDepth?: number; recvQueueDepth?: number } = {},
  ): { status: NicStatusCode; endpoint: number } {
    if (!isCount(owner) || options === null || typeof options !== 'object') return { status: NicStatus.INVALID_PARAMETER, endpoint: 0 };
    const q = this.cqs.get(cq);
    if (q === null) return { status: NicStatus.INVALID_HANDLE, endpoint: 0 };
    if (q.owner !== owner) return { status: NicStatus.ACCESS_DENIED, endpoint: 0 };
    const sd = options.sendQueueDepth ?? this.capabilities.sendQueueDepth;
    const rd = options.recvQueueDepth ?? this.capabilities.recvQueueDepth;
    if (!isCount(sd) || sd < 1 || sd > this.capabilities.sendQueueDepth ||
        !isCount(rd) || rd < 1 || rd > this.capabilities.recvQueueDepth) {
      return { status: NicStatus.INVALID_PARAMETER, endpoint: 0 };
    }
    const handle = this.endpoints.nextHandle();
    if (handle === 0) return { status: NicStatus.INSUFFICIENT_RESOURCES, endpoint: 0 };
    this.endpoints.insert(new Endpoint(handle, owner, q, sd, rd, this.capabilities.maxScatterElements));
    q.attached++;
    return { status: NicStatus.SUCCESS, endpoint: handle };
  }

  /** Destroy (ibv_destroy_qp): the peer is told; outstanding requests vanish without completions. */
  destroyEndpoint(owner: number, endpoint: number): NicStatusCode {
    const ep = this.endpoints.get(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (ep.state === 'connected' || ep.state === 'connecting' || ep.state === 'error') this.notifyPeerDisconnect(ep);
    this.endpoints.remove(endpoint);
    ep.cq.attached--;
    return NicStatus.SUCCESS;
  }

  endpointInfo(owner: number, endpoint: number): EndpointInfo | NicStatusCode {
    const ep = this.endpoints.get(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    return {
      state: ep.state,
      peerAddress: ep.peerAddress,
      peerEndpoint: ep.peerEndpoint,
      port: ep.port,
      lastEvent: ep.lastEvent,
      sendOutstanding: ep.sq.posted - ep.sq.completed,
      recvOutstanding: ep.rq.posted - ep.rq.completed,
    };
  }

  listen(owner: number, port: number): NicStatusCode {
    if (!isCount(owner) || !isPort(port)) return NicStatus.INVALID_PARAMETER;
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
    for (const r of l.pending) this.sendConnectReply(r.address, r.endpoint, 0, 'rejected');
    return NicStatus.SUCCESS;
  }

  pendingConnections(owner: number, port: number): number | NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    return l.owner === owner ? l.pending.length : NicStatus.ACCESS_DENIED;
  }

  /** Start connecting an idle endpoint to `port` on the NIC at `remoteSanAddress`. */
  connect(owner: number, endpoint: number, remoteSanAddress: number, port: number): NicStatusCode {
    const ep = this.endpoints.get(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (!isCount(remoteSanAddress) || remoteSanAddress === 0 || !isPort(port)) return NicStatus.INVALID_PARAMETER;
    if (this.fabric === null) return NicStatus.NOT_ATTACHED;
    if (ep.state !== 'idle') return NicStatus.INVALID_STATE;
    ep.state = 'connecting';
    ep.peerAddress = remoteSanAddress;
    ep.peerEndpoint = 0;
    ep.port = port;
    const from = this.sanAddress;
    this.fabric.enqueue(() => {
      const target = this.fabric!.nicAt(remoteSanAddress);
      if (target === null) this.connectReply(endpoint, 0, 0, 'unreachable');
      else target.connectRequest(from, endpoint, port);
    });
    return NicStatus.SUCCESS;
  }

  /** Accept the oldest pending request on `port` onto an idle endpoint of the listener's owner. */
  accept(owner: number, port: number, endpoint: number): NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    if (l.owner !== owner) return NicStatus.ACCESS_DENIED;
    const ep = this.endpoints.get(endpoint);
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
    this.sendConnectReply(r.address, r.endpoint, endpoint, 'established');
    return NicStatus.SUCCESS;
  }

  /** Refuse the oldest pending request on `port`. */
  reject(owner: number, port: number): NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    if (l.owner !== owner) return NicStatus.ACCESS_DENIED;
    const r = l.pending.shift();
    if (r === undefined) return NicStatus.NO_PENDING_CONNECTION;
    this.sendConnectReply(r.address, r.endpoint, 0, 'rejected');
    return NicStatus.SUCCESS;
  }

  /** Disconnect: both ends leave the connection and flush every outstanding request. */
  disconnect(owner: number, endpoint: number): NicStatusCode {
    const ep = this.endpoints.get(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (ep.state === 'idle' || ep.state === 'disconnected') return NicStatus.INVALID_STATE;
    this.notifyPeerDisconnect(ep);
    ep.state = 'disconnected';
    ep.lastEvent = 'disconnected';
    this.schedule(ep);
    return NicStatus.SUCCESS;
  }

  postSend(owner: number, endpoint: number, wr: WorkRequest): NicStatusCode {
    return this.postSq(owner, endpoint, Opcode.SEND, wr, null);
  }

  postRdmaWrite(owner: number, endpoint: number, wr: RdmaWorkRequest): NicStatusCode {
    return this.postSq(owner, endpoint, Opcode.RDMA_WRITE, wr, wr?.remote);
  }

  postRdmaRead(owner: number, endpoint: number, wr: RdmaWorkRequest): NicStatusCode {
    if (!this.capabilities.rdmaRead) return NicStatus.NOT_SUPPORTED;
    return this.postSq(owner, endpoint, Opcode.RDMA_READ, wr, wr?.remote);
  }

  postRecv(owner: number, endpoint: number, wr: WorkRequest): NicStatusCode {
    const ep = this.endpoints.get(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (!this.validWorkRequest(wr)) return NicStatus.INVALID_PARAMETER;
    const rq = ep.rq;
    if (rq.full) return NicStatus.QUEUE_FULL;
    this.store(rq, rq.slot(rq.posted), Opcode.RECV, wr);
    rq.posted++;
    if (this.trace !== null) this.trace.posted(this, owner, endpoint, Opcode.RECV, wr);
    if (ep.flushing) this.schedule(ep);
    else if (ep.state === 'connected' || ep.state === 'connecting') this.nudgePeer(ep);
    return NicStatus.SUCCESS;
  }

  // Memory windows, user side. In IB hardware a type 2 bind (IBV_WR_BIND_MW) and a local
  // invalidate (IBV_WR_LOCAL_INV) are work requests on the send queue. Here both execute at
  // the doorbell, synchronously inside the call, so they take effect ahead of any work posted
  // on the endpoint after them — the only order the protocol needs (bind, then send the key;
  // invalidate, then reuse the memory). Neither completes on the completion queue.

  /**
   * Bind `window` to [offset, offset+length) of `region` for remote access arriving on
   * `endpoint` only, granting `access` (REMOTE_READ and/or REMOTE_WRITE). Returns a new
   * remote key, never one this window had before. Remote offsets are from the window's start.
   * Checks, in order (nothing changes on failure): arguments are integers, access is non-zero
   * and remote-only, length non-zero (INVALID_PARAMETER); the window is a live window of
   * `owner` and not bound (INVALID_HANDLE, ACCESS_DENIED, INVALID_STATE); the endpoint exists,
   * is `owner`'s and connected (INVALID_HANDLE, ACCESS_DENIED, INVALID_STATE); the region is a
   * live region of `owner`, valid, registered with MW_BIND and with the local right behind
   * each remote right (INVALID_HANDLE, ACCESS_DENIED, INVALID_STATE, ACCESS_DENIED); the range
   * lies inside the region (INVALID_PARAMETER).
   */
  bindWindow(
    owner: number,
    endpoint: number,
    window: number,
    region: number,
    offset: number,
    length: number,
    access: number,
  ): { status: NicStatusCode; remoteKey: number } {
    if (!isCount(owner) || !isCount(offset) || !isCount(length) || length === 0 || !isCount(access) ||
        access === 0 || (access & ~WINDOW_ACCESS) !== 0) {
      return bindFailed(NicStatus.INVALID_PARAMETER);
    }
    const tpt = this.tpt;
    const w = tpt.indexOfWindow(window);
    if (w < 0) return bindFailed(NicStatus.INVALID_HANDLE);
    if (tpt.ownerOf(w) !== owner) return bindFailed(NicStatus.ACCESS_DENIED);
    // Type 2: a bound window must be invalidated before it is bound again.
    if (tpt.isBound(w)) return bindFailed(NicStatus.INVALID_STATE);
    const ep = this.endpoints.get(endpoint);
    if (ep === null) return bindFailed(NicStatus.INVALID_HANDLE);
    if (ep.owner !== owner) return bindFailed(NicStatus.ACCESS_DENIED);
    if (ep.state !== 'connected') return bindFailed(NicStatus.INVALID_STATE);
    const r = tpt.indexOfHandle(region);
    if (r < 0) return bindFailed(NicStatus.INVALID_HANDLE);
    if (tpt.ownerOf(r) !== owner) return bindFailed(NicStatus.ACCESS_DENIED);
    if (!tpt.isValid(r)) return bindFailed(NicStatus.INVALID_STATE);
    const granted = tpt.accessOf(r);
    if ((granted & NicAccess.MW_BIND) === 0) return bindFailed(NicStatus.ACCESS_DENIED);
    // verbs: a window may not grant the peer more than the region lets the owner do.
    if ((access & NicAccess.REMOTE_WRITE) !== 0 && (granted & NicAccess.LOCAL_WRITE) === 0) {
      return bindFailed(NicStatus.ACCESS_DENIED);
    }
    if ((access & NicAccess.REMOTE_READ) !== 0 && (granted & NicAccess.LOCAL_READ) === 0) {
      return bindFailed(NicStatus.ACCESS_DENIED);
    }
    if (!tpt.inRange(r, offset, length)) return bindFailed(NicStatus.INVALID_PARAMETER);
    tpt.bindWindow(w, endpoint, r, offset, length, access);
    return { status: NicStatus.SUCCESS, remoteKey: tpt.remoteKeyOf(w) };
  }

  /** Take a window's binding back (IBV_WR_LOCAL_INV): its remote key fails from now on. */
  invalidateWindow(owner: number, window: number): NicStatusCode {
    if (!isCount(owner)) return NicStatus.INVALID_PARAMETER;
    const w = this.tpt.indexOfWindow(window);
    if (w < 0) return NicStatus.INVALID_HANDLE;
    if (this.tpt.ownerOf(w) !== owner) return NicStatus.ACCESS_DENIED;
    if (!this.tpt.isBound(w)) return NicStatus.INVALID_STATE;
    this.tpt.invalidateWindow(w);
    return NicStatus.SUCCESS;
  }

  // ───────────────────────────── internal (requester / responder / fabric) ─────────────────────────────

  /** @internal */
  isLive(ep: Endpoint): boolean {
    return this.endpoints.get(ep.handle) === ep;
  }

  /** @internal */
  endpointByHandle(handle: number): Endpoint | null {
    return this.endpoints.get(handle);
  }

  /** @internal Queue one processing task for `ep` (at most one at a time). */
  schedule(ep: Endpoint): void {
    if (ep.scheduled || this.fabric === null) return;
    ep.scheduled = true;
    this.fabric.enqueue(() => processEndpoint(this, ep));
  }

  /** @internal Move an endpoint to error (RC: everything after it flushes). */
  enterError(ep: Endpoint, event: string): void {
    if (ep.flushing) return;
    ep.state = 'error';
    ep.lastEvent = event;
    this.schedule(ep);
    // A peer waiting for our receive must retry to find we are gone.
    this.nudgePeer(ep);
  }

  /** @internal Write a completion; a full queue overruns and errors the endpoint. */
  complete(ep: Endpoint, status: WcStatusCode, syndrome: SyndromeCode, opcode: number, bytes: number, context: number): void {
    this.counters.completions++;
    if (status !== WcStatus.SUCCESS) this.counters.completionErrors++;
    if (this.trace !== null) this.trace.completed(this, ep.owner, ep.handle, status, opcode, bytes, context);
    if (!ep.cq.push(status, syndrome, opcode, bytes, context, ep.handle)) this.enterError(ep, 'cq-overrun');
  }

  /** @internal Connection request arriving from the fabric. */
  connectRequest(fromAddress: number, fromEndpoint: number, port: number): void {
    const l = this.listeners.get(port);
    if (l === undefined) this.sendConnectReply(fromAddress, fromEndpoint, 0, 'rejected');
    else l.pending.push({ address: fromAddress, endpoint: fromEndpoint });
  }

  /** @internal Reply to our connection request (acceptor's endpoint, or 0 when refused). */
  connectReply(endpoint: number, fromAddress: number, peerEndpoint: number, event: string): void {
    const ep = this.endpoints.get(endpoint);
    if (ep === null || ep.state !== 'connecting' || ep.peerEndpoint !== 0 ||
        (fromAddress !== 0 && ep.peerAddress !== fromAddress)) {
      // We gave up meanwhile: tell an acceptor to tear its side down.
      if (peerEndpoint !== 0) this.sendPeerDisconnect(fromAddress, peerEndpoint, endpoint);
      return;
    }
    ep.lastEvent = event;
    if (peerEndpoint === 0) {
      ep.state = 'idle';
      ep.peerAddress = 0;
      ep.port = 0;
      return;
    }
    ep.state = 'connected';
    ep.peerEndpoint = peerEndpoint;
    const me = this.sanAddress;
    this.fabric!.enqueue(() => this.fabric!.nicAt(ep.peerAddress)?.connectionConfirmed(peerEndpoint, me, endpoint));
    this.schedule(ep);
  }

  /** @internal The active side confirmed (RTU): the passive endpoint is connected. */
  connectionConfirmed(endpoint: number, fromAddress: number, fromEndpoint: number): void {
    const ep = this.endpoints.get(endpoint);
    if (ep === null || ep.state !== 'connecting' || ep.peerAddress !== fromAddress || ep.peerEndpoint !== fromEndpoint) return;
    ep.state = 'connected';
    ep.lastEvent = 'established';
    this.schedule(ep);
  }

  /** @internal The peer disconnected or was destroyed. */
  peerDisconnected(endpoint: number, fromAddress: number, fromEndpoint: number): void {
    const ep = this.endpoints.get(endpoint);
    if (ep === null || ep.peerAddress !== fromAddress || ep.peerEndpoint !== fromEndpoint) return;
    if (ep.state === 'idle' || ep.state === 'disconnected') return;
    ep.state = 'disconnected';
    ep.lastEvent = 'peer-disconnected';
    this.schedule(ep);
  }

  /** @internal The peer posted a receive or failed: let a send waiting on it retry. */
  retryWaiting(endpoint: number): void {
    const ep = this.endpoints.get(endpoint);
    if (ep === null || !ep.waitingForRecv) return;
    ep.waitingForRecv = false;
    this.schedule(ep);
  }

  private nudgePeer(ep: Endpoint): void {
    if (this.fabric === null || ep.peerEndpoint === 0) return;
    const peer = this.fabric.nicAt(ep.peerAddress);
    const peerEp = ep.peerEndpoint;
    // Only a waiting peer needs the message; peeking saves a task per receive on the hot path.
    if (peer === null || peer.endpointByHandle(peerEp)?.waitingForRecv !== true) return;
    this.fabric.enqueue(() => peer.retryWaiting(peerEp));
  }

  private notifyPeerDisconnect(ep: Endpoint): void {
    if (ep.peerEndpoint !== 0) this.sendPeerDisconnect(ep.peerAddress, ep.peerEndpoint, ep.handle);
  }

  private sendPeerDisconnect(address: number, peerEndpoint: number, fromEndpoint: number): void {
    if (this.fabric === null || address === 0) return;
    const me = this.sanAddress;
    this.fabric.enqueue(() => this.fabric!.nicAt(address)?.peerDisconnected(peerEndpoint, me, fromEndpoint));
  }

  private sendConnectReply(address: number, endpoint: number, acceptor: number, event: string): void {
    if (this.fabric === null) return;
    const me = this.sanAddress;
    this.fabric.enqueue(() => this.fabric!.nicAt(address)?.connectReply(endpoint, me, acceptor, event));
  }

  private postSq(
    owner: number,
    endpoint: number,
    opcode: number,
    wr: WorkRequest,
    remote: RemoteDescriptor | null | undefined,
  ): NicStatusCode {
    const ep = this.endpoints.get(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (!this.validWorkRequest(wr)) return NicStatus.INVALID_PARAMETER;
    if (opcode !== Opcode.SEND) {
      if (remote === null || typeof remote !== 'object' || !isCount(remote.remoteKey) ||
          !isCount(remote.address) || !isCount(remote.length)) {
        return NicStatus.INVALID_PARAMETER;
      }
    }
    if (ep.state === 'idle' || ep.state === 'connecting') return NicStatus.INVALID_STATE;
    const sq = ep.sq;
    if (sq.full) return NicStatus.QUEUE_FULL;
    const slot = sq.slot(sq.posted);
    this.store(sq, slot, opcode, wr);
    if (remote) {
      sq.remoteKey[slot] = remote.remoteKey;
      sq.remoteAddress[slot] = remote.address;
      sq.remoteLength[slot] = remote.length;
    }
    sq.posted++;
    if (this.trace !== null) this.trace.posted(this, owner, endpoint, opcode, wr);
    this.schedule(ep);
    return NicStatus.SUCCESS;
  }

  private validWorkRequest(wr: WorkRequest): boolean {
    if (wr === null || typeof wr !== 'object' || !isCount(wr.context)) return false;
    const el = wr.elements;
    if (!Array.isArray(el) || el.length > this.capabilities.maxScatterElements) return false;
    for (const e of el) {
      if (e === null || typeof e !== 'object' || !isCount(e.localHandle) || !isCount(e.offset) || !isCount(e.length)) {
        return false;
      }
    }
    return true;
  }

  private store(wq: WorkQueue, slot: number, opcode: number, wr: WorkRequest): void {
    wq.opcode[slot] = opcode;
    wq.context[slot] = wr.context;
    wq.sgeCount[slot] = wr.elements.length;
    let at = wq.sgeBase(slot);
    for (const e of wr.elements) {
      wq.sge[at] = e.localHandle;
      wq.sge[at + 1] = e.offset;
      wq.sge[at + 2] = e.length;
      at += SGE_FIELDS;
    }
  }

  private logHanded(pages: Float64Array): void {
    const limit = 2 ** this.capabilities.addressBits;
    let highest = this.highestHanded;
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      if (p >= limit) this.handedAboveLimit++;
      if (p > highest) highest = p;
    }
    this.highestHanded = highest;
    this.handedPages += pages.length;
    // The log is for tests and reports; a long run (cache re-exposures hand the same pages
    // again and again) must not grow it without bound. The counters above stay exact.
    if (this.handedCount >= HANDED_LOG_LIMIT) return;
    if (this.handedCount + pages.length > HANDED_LOG_LIMIT) pages = pages.subarray(0, HANDED_LOG_LIMIT - this.handedCount);
    if (this.handedCount + pages.length > this.handed.length) {
      let size = this.handed.length * 2;
      while (size < this.handedCount + pages.length) size *= 2;
      const next = new Float64Array(size);
      next.set(this.handed.subarray(0, this.handedCount));
      this.handed = next;
    }
    this.handed.set(pages, this.handedCount);
    this.handedCount += pages.length;
  }
}

/** Entries kept in the handed-address log (8 bytes each). */
export const HANDED_LOG_LIMIT = 1 << 20;

/** The rights a window can grant: remote only (a window is a remote key and nothing else). */
const WINDOW_ACCESS = NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;

function bindFailed(status: NicStatusCode): { status: NicStatusCode; remoteKey: number } {
  return { status, remoteKey: 0 };
}

function failed(status: NicStatusCode): RegisterResult {
  return { status, handle: 0, remoteKey: 0 };
}

