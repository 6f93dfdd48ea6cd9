/**
 * The SAN NIC: hardware model of an RDMA-capable SAN adapter — the device core.
 *
 * Implementation notes
 * - Its only view of memory is a DeviceDmaView (src/bus): bus addresses, the device's own
 *   address width (a 32-bit NIC truncates addresses at or above 4 GiB; it never refuses) and
 *   the IOMMU when there is one. It never sees a virtual address or the PFN database.
 * - Two interfaces, as on real adapters:
 *   · privileged (the driver, kernel mode): registerRegion / deregisterRegion /
 *     invalidateRegion / reregisterRegion / bindRegion / unbindRegion / allocateWindow /
 *     freeWindow on the translation and protection table (tpt.ts), the interface's IP
 *     addresses, and opening a process's user port;
 *   · a process's user port (user-port.ts, kernel bypass): its queues, posts, polls,
 *     completion events, memory-window binds and connections, bound to the process id at
 *     creation. The connection manager (connection-manager.ts) runs the connection set-up.
 * - The owner-naming calls below (createEndpoint(owner, …), postSend(owner, …), …) are the
 *   driver's and the test harnesses' view: they act for the process they name by going
 *   through that process's port, so every check is the port's.
 * - Posts validate the shape of the request, store it in the endpoint's typed-array ring and
 *   return at once; the work runs later as tasks on the cluster's scheduler (requester.ts,
 *   responder.ts) and completes on the completion queue. Immediate errors (NicStatus) change
 *   nothing.
 * - Counters and the log of every bus address the NIC was handed (handed-log.ts) let tests
 *   and the verifier prove what a 32-bit NIC was given.
 */
import { DmaRunList, type DeviceDmaView } from '../bus/index.ts';
import { resolveCapabilities, type NicCapabilities } from './capabilities.ts';
import type { CompletionQueue, Completion } from './completion-queue.ts';
import { CmAgent } from './cm-agent.ts';
import { ConnectionManager } from './connection-manager.ts';
import type { Endpoint } from './endpoint.ts';
import type { Fabric } from './fabric.ts';
import { HandedAddressLog } from './handed-log.ts';
import { ObjectTable } from './object-table.ts';
import { receiveResponse } from './completer.ts';
import type { Link, WirePacket } from './link.ts';
import { processEndpoint } from './requester.ts';
import { receivePosted, receiveRequest } from './responder.ts';
import type { Scheduler } from './scheduler.ts';
import { NicConfigurationError, NicStatus, WcStatus, type NicStatusCode, type SyndromeCode, type WcStatusCode } from './status.ts';
import { TranslationProtectionTable, type RegionInfo, type RegionSpec, type WindowInfo } from './tpt.ts';
import { UserPort, type EndpointInfo, type EndpointOptions, type RdmaWorkRequest, type WorkRequest } from './user-port.ts';
import { WirePort, type WirePortOwner } from './wire-port.ts';
import { OpMask, udpSourcePort, type PacketView } from '../wire/index.ts';
import { RespMessage } from './endpoint.ts';
import { RETRY_COUNT, cancelTimer } from './completer.ts';

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

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export class SanNic implements WirePortOwner {
  readonly name: string;
  readonly dma: DeviceDmaView;
  readonly capabilities: NicCapabilities;
  /** @internal */ readonly tpt: TranslationProtectionTable;
  /** @internal */ readonly cm: ConnectionManager;
  /** @internal The GSI agent on QP1 that carries the CM's MADs (cm-agent.ts). */
  readonly gsi: CmAgent;
  /** @internal */ readonly endpointTable: ObjectTable<Endpoint>;
  /** @internal */ readonly completionQueues: ObjectTable<CompletionQueue>;
  /** @internal The requester's and the responder's gather lists (bus addresses), reused. */
  readonly requesterSegs = new DmaRunList(64);
  /** @internal */ readonly responderSegs = new DmaRunList(64);
  /** @internal The same lists resolved to physical runs (what the packets' payloads view). */
  readonly requesterRuns = new DmaRunList(64);
  /** @internal */ readonly responderRuns = new DmaRunList(64);
  /** The NIC's port on the link: packet building, receive checks, wire counters (wire-port.ts). */
  readonly wire: WirePort;
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
  fabric: Fabric<Link> | null = null;
  sanAddress = 0;
  /** Trace observer (see NicTraceHook). */
  trace: NicTraceHook | null = null;
  private readonly handed: HandedAddressLog;
  private ipv4 = new Set<number>();
  /** Ports the owner-naming calls go through, one per process named. */
  private readonly portsByOwner = new Map<number, UserPort>();

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
    this.endpointTable = new ObjectTable<Endpoint>(this.capabilities.maxEndpoints, 17);
    this.completionQueues = new ObjectTable<CompletionQueue>(this.capabilities.maxCompletionQueues, 29);
    this.cm = new ConnectionManager(this);
    this.handed = new HandedAddressLog(this.capabilities.addressBits);
    this.wire = new WirePort(this);
    this.gsi = new CmAgent(this.wire, () => this.wireIp, () => this.scheduler);
  }

  /** @internal Called by Fabric.attach. */
  attached(fabric: Fabric<Link>, address: number): void {
    this.fabric = fabric;
    this.sanAddress = address;
    this.wire.link = fabric.link;
    fabric.link.attach(this.wire);
  }

  /**
   * The IPv4 address the NIC's packets carry: the first one its driver configured, else one
   * derived from its SAN address in 10.0.0.0/8 (NIC tests configure none).
   */
  get wireIp(): number {
    for (const ip of this.ipv4) return ip;
    return defaultWireIp(this.sanAddress);
  }

  /** @internal The endpoint a packet's DestQP names (the QPN is the endpoint handle). */
  endpointByQpn(qpn: number): Endpoint | null {
    return this.endpointTable.get(qpn);
  }

  /** @internal An accepted packet from the port: requests to the responder, responses to the completer. */
  deliver(ep: Endpoint, packet: WirePacket, view: PacketView): void {
    if ((view.mask & OpMask.REQ) !== 0) receiveRequest(this, ep, packet, view);
    else receiveResponse(this, ep, packet, view);
  }

  /** @internal A CM MAD to QP1 passed the port's checks: the GSI agent decodes it for the CM. */
  deliverGsi(packet: WirePacket, view: PacketView): void {
    const msg = this.gsi.receive(packet, view);
    if (msg !== null) this.cm.onMad(msg, view.srcIp);
  }

  /**
   * @internal The CM moves the QP to RTR/RTS (`ep.peerEndpoint` known; roce-v2.md §10.8): the
   * path (peer IP, MTU) and the PSNs the REQ/REP exchanged — where our send queue starts and
   * where our receive queue does — and the flow's UDP port.
   */
  initTransport(ep: Endpoint, peerIp: number, pmtu: number, sqPsn: number, rqPsn: number): void {
    ep.peerIp = peerIp;
    ep.pmtu = pmtu;
    ep.udpSourcePort = udpSourcePort(ep.handle, ep.peerEndpoint);
    cancelTimer(this, ep);
    ep.sqPsn = sqPsn;
    ep.unackedPsn = ep.sqPsn;
    ep.sentPsn = ep.sqPsn;
    ep.resumePacket = 0;
    ep.retriesLeft = RETRY_COUNT;
    ep.retryStarted = false;
    ep.rnrWait = false;
    ep.readRunsSeq = -1;
    ep.ePsn = rqPsn;
    ep.msn = 0;
    ep.respMessage = RespMessage.NONE;
    ep.seqNakSent = false;
    ep.rnrNakSent = false;
  }

  /** The cluster's scheduler (null until attached). */
  get scheduler(): Scheduler | null {
    return this.fabric?.scheduler ?? null;
  }

  /**
   * A user port for process `processId`: what its verbs library may do on this NIC (see
   * user-port.ts). The process id is fixed for the port's life.
   */
  openUserPort(processId: number): UserPort {
    if (!isCount(processId)) throw new NicConfigurationError(`SanNic ${this.name}: a user port needs a process id >= 0, got ${String(processId)}`);
    return new UserPort(this, processId);
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
    this.handed.record(request.pages);
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
    this.handed.record(spec.pages);
    return { status: NicStatus.SUCCESS, handle: this.tpt.handleOf(index), remoteKey: this.tpt.remoteKeyOf(index) };
  }

  /** Bind a region's remote access to one connection; the endpoint must belong to the region's owner. */
  bindRegion(handle: number, endpoint: number): NicStatusCode {
    const index = this.tpt.indexOfHandle(handle);
    if (index < 0) return NicStatus.INVALID_HANDLE;
    const ep = this.endpointTable.get(endpoint);
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
   * nothing until the owner binds it through its port. Takes a TPT slot, like a region.
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

  /** @internal The fabric's address resolution asks each NIC. */
  answersFor(ipv4: number): boolean {
    return this.ipv4.has(ipv4) || (this.ipv4.size === 0 && ipv4 === defaultWireIp(this.sanAddress));
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
    return this.handed.addresses();
  }

  /** Page addresses handed to the NIC, in all. */
  get handedPages(): number {
    return this.handed.pages;
  }

  /** The highest page address the NIC was ever handed (-1: none). */
  get highestHanded(): number {
    return this.handed.highest;
  }

  /** Pages handed to the NIC at or above 2^addressBits (they truncate on the bus). */
  get handedAboveLimit(): number {
    return this.handed.aboveLimit;
  }

  // ─────────────── owner-naming calls (the driver and test harnesses act for a process) ───────────────

  createCompletionQueue(owner: number, depth: number): { status: NicStatusCode; cq: number } {
    const port = this.portOf(owner);
    return port === null ? { status: NicStatus.INVALID_PARAMETER, cq: 0 } : port.createCompletionQueue(depth);
  }

  destroyCompletionQueue(owner: number, cq: number): NicStatusCode {
    return this.portOf(owner)?.destroyCompletionQueue(cq) ?? NicStatus.INVALID_PARAMETER;
  }

  pollCompletionQueue(owner: number, cq: number, max = 16): { status: NicStatusCode; completions: Completion[] } {
    const port = this.portOf(owner);
    return port === null ? { status: NicStatus.INVALID_PARAMETER, completions: [] } : port.pollCompletionQueue(cq, max);
  }

  completionQueueOverrun(owner: number, cq: number): boolean | NicStatusCode {
    return this.portOf(owner)?.completionQueueOverrun(cq) ?? NicStatus.INVALID_PARAMETER;
  }

  createEndpoint(owner: number, cq: number, options: EndpointOptions = {}): { status: NicStatusCode; endpoint: number } {
    const port = this.portOf(owner);
    return port === null ? { status: NicStatus.INVALID_PARAMETER, endpoint: 0 } : port.createEndpoint(cq, options);
  }

  destroyEndpoint(owner: number, endpoint: number): NicStatusCode {
    return this.portOf(owner)?.destroyEndpoint(endpoint) ?? NicStatus.INVALID_PARAMETER;
  }

  endpointInfo(owner: number, endpoint: number): EndpointInfo | NicStatusCode {
    return this.portOf(owner)?.endpointInfo(endpoint) ?? NicStatus.INVALID_PARAMETER;
  }

  listen(owner: number, port: number): NicStatusCode {
    return this.portOf(owner)?.listen(port) ?? NicStatus.INVALID_PARAMETER;
  }

  unlisten(owner: number, port: number): NicStatusCode {
    return this.portOf(owner)?.unlisten(port) ?? NicStatus.INVALID_PARAMETER;
  }

  pendingConnections(owner: number, port: number): number | NicStatusCode {
    return this.portOf(owner)?.pendingConnections(port) ?? NicStatus.INVALID_PARAMETER;
  }

  connect(owner: number, endpoint: number, remoteSanAddress: number, port: number, timeoutNs?: number): NicStatusCode {
    return this.portOf(owner)?.connect(endpoint, remoteSanAddress, port, timeoutNs) ?? NicStatus.INVALID_PARAMETER;
  }

  accept(owner: number, port: number, endpoint: number): NicStatusCode {
    return this.portOf(owner)?.accept(port, endpoint) ?? NicStatus.INVALID_PARAMETER;
  }

  reject(owner: number, port: number): NicStatusCode {
    return this.portOf(owner)?.reject(port) ?? NicStatus.INVALID_PARAMETER;
  }

  disconnect(owner: number, endpoint: number): NicStatusCode {
    return this.portOf(owner)?.disconnect(endpoint) ?? NicStatus.INVALID_PARAMETER;
  }

  postSend(owner: number, endpoint: number, wr: WorkRequest): NicStatusCode {
    return this.portOf(owner)?.postSend(endpoint, wr) ?? NicStatus.INVALID_PARAMETER;
  }

  postRdmaWrite(owner: number, endpoint: number, wr: RdmaWorkRequest): NicStatusCode {
    return this.portOf(owner)?.postRdmaWrite(endpoint, wr) ?? NicStatus.INVALID_PARAMETER;
  }

  postRdmaRead(owner: number, endpoint: number, wr: RdmaWorkRequest): NicStatusCode {
    return this.portOf(owner)?.postRdmaRead(endpoint, wr) ?? NicStatus.INVALID_PARAMETER;
  }

  postRecv(owner: number, endpoint: number, wr: WorkRequest): NicStatusCode {
    return this.portOf(owner)?.postRecv(endpoint, wr) ?? NicStatus.INVALID_PARAMETER;
  }

  bindWindow(owner: number, endpoint: number, window: number, region: number, offset: number, length: number, access: number):
    { status: NicStatusCode; remoteKey: number } {
    return this.portOf(owner)?.bindWindow(endpoint, window, region, offset, length, access) ??
      { status: NicStatus.INVALID_PARAMETER, remoteKey: 0 };
  }

  invalidateWindow(owner: number, window: number): NicStatusCode {
    return this.portOf(owner)?.invalidateWindow(window) ?? NicStatus.INVALID_PARAMETER;
  }

  // ───────────────────────────── internal (pipeline stages, ports, connection manager) ─────────────────────────────

  /** @internal */
  isLive(ep: Endpoint): boolean {
    return this.endpointTable.get(ep.handle) === ep;
  }

  /** @internal */
  endpointByHandle(handle: number): Endpoint | null {
    return this.endpointTable.get(handle);
  }

  /** @internal Queue one processing task for `ep` (at most one at a time). */
  schedule(ep: Endpoint): void {
    if (ep.scheduled || this.fabric === null) return;
    ep.scheduled = true;
    this.fabric.enqueue(ep.processTask ??= () => processEndpoint(this, ep));
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
    const cq = ep.cq;
    if (!cq.push(status, syndrome, opcode, bytes, context, ep.handle)) {
      this.enterError(ep, 'cq-overrun');
      return;
    }
    if (cq.handler !== null) this.completionEvent(cq);
  }

  /** @internal Queue the completion event of `cq` unless one is already queued. */
  completionEvent(cq: CompletionQueue): void {
    if (cq.eventQueued || this.fabric === null) return;
    cq.eventQueued = true;
    this.fabric.enqueue(cq.event);
  }

  /** @internal We posted a receive: a peer we answered with an RNR NAK may retry now. */
  nudgePeer(ep: Endpoint): void {
    receivePosted(this, ep);
  }

  /** The port the owner-naming calls go through (null for an impossible process id). */
  private portOf(owner: number): UserPort | null {
    if (!isCount(owner)) return null;
    let port = this.portsByOwner.get(owner);
    if (port === undefined) this.portsByOwner.set(owner, (port = new UserPort(this, owner)));
    return port;
  }
}

/** 10.0.0.0/8 + the SAN address: a NIC's address when its driver configured none. */
const defaultWireIp = (sanAddress: number): number => (0x0a000000 + (sanAddress & 0xffffff)) >>> 0;


function failed(status: NicStatusCode): RegisterResult {
  return { status, handle: 0, remoteKey: 0 };
}
