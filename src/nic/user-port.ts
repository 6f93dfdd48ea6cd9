/**
 * A process's user port on a SAN NIC: everything a verbs library gets in a process, and
 * nothing else. The NIC opens one for a process id (`SanNic.openUserPort`); the id is fixed at
 * creation, so no call names an owner and none can reach another process's endpoints,
 * completion queues, windows or listeners — each check compares the object's owner with the
 * port's. The driver's privileged calls (registering, invalidating and binding regions,
 * allocating windows) are not reachable from here at all.
 *
 * Implementation notes
 * - What a port holds: post send / receive / RDMA write / RDMA read on its endpoints (the
 *   work request goes into the endpoint's typed-array ring and the doorbell is rung: the
 *   endpoint is scheduled; the call returns at once), polling its completion queues (objects
 *   for tests, a reused typed-array batch for the data path), a completion handler per queue
 *   (the completion channel), binding and invalidating its memory windows, creating and
 *   destroying its own queues, listen / connect / accept / reject / disconnect through the
 *   NIC's connection manager and its connection events, the device's capabilities, and the
 *   machine's thread waits (`waits`: block, wake, the clock — never running the machine).
 * - Memory-window bind and local invalidate are work requests on the send queue in IB
 *   hardware (IBV_WR_BIND_MW, IBV_WR_LOCAL_INV). Here both execute at the doorbell,
 *   synchronously inside the call, so they take effect ahead of any work posted on the
 *   endpoint after them — the only order the protocol needs (bind, then send the key;
 *   invalidate, then reuse the memory). Neither completes on the completion queue. Every bind
 *   check is the TPT's (`checkWindowBind`, in rxe's fixed order).
 * - Immediate errors (NicStatus) change nothing.
 */
import type { NicCapabilities } from './capabilities.ts';
import { CompletionQueue, type CompletionBatch, type Completion } from './completion-queue.ts';
import type { ConnectionHandler } from './connection-manager.ts';
import { Endpoint, SGE_FIELDS, type EndpointState, type WorkQueue } from './endpoint.ts';
import type { SanNic } from './san-nic.ts';
import type { ThreadWaits } from './scheduler.ts';
import { NicStatus, Opcode, type NicStatusCode, type SyndromeCode } from './status.ts';

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

export interface EndpointInfo {
  state: EndpointState;
  peerAddress: number;
  peerEndpoint: number;
  port: number;
  lastEvent: string;
  /** As a responder: the check that failed a peer's request (Syndrome; NONE: none). The peer
   *  learns only the NAK code (roce-v2.md §7.3); this is the NIC's own record of why. */
  responderSyndrome: SyndromeCode;
  sendOutstanding: number;
  recvOutstanding: number;
}

export interface EndpointOptions {
  sendQueueDepth?: number;
  recvQueueDepth?: number;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

const NOTHING_COMPLETED: { status: NicStatusCode; completions: Completion[] } = Object.freeze({
  status: NicStatus.SUCCESS,
  completions: Object.freeze([]) as unknown as Completion[],
});

export class UserPort {
  // JavaScript private fields, not TypeScript's: nothing outside this class can reach the NIC
  // through a port, not even by reflection, and the process id cannot be rewritten.
  readonly #nic: SanNic;
  readonly #processId: number;
  #connectionHandler: ConnectionHandler | null = null;

  /** @internal Made by SanNic.openUserPort only. */
  constructor(nic: SanNic, processId: number) {
    this.#nic = nic;
    this.#processId = processId;
  }

  /** The process every call acts for, fixed at creation. */
  get processId(): number {
    return this.#processId;
  }

  /** The device's attributes (ibv_query_device). */
  get capabilities(): NicCapabilities {
    return this.#nic.capabilities;
  }

  /** The NIC's own SAN address (0 until it is attached to a fabric). */
  get sanAddress(): number {
    return this.#nic.sanAddress;
  }

  /** The machine's thread waits (block, wake, the clock); null while the NIC is not on a fabric. */
  get waits(): ThreadWaits | null {
    return this.#nic.fabric?.scheduler.waits ?? null;
  }

  // ───────────────────────────── the process's own queues ─────────────────────────────

  createCompletionQueue(depth: number): { status: NicStatusCode; cq: number } {
    const nic = this.#nic;
    if (!isCount(depth) || depth < 1 || depth > nic.capabilities.completionQueueDepth) {
      return { status: NicStatus.INVALID_PARAMETER, cq: 0 };
    }
    const table = nic.completionQueues;
    const handle = table.nextHandle();
    if (handle === 0) return { status: NicStatus.INSUFFICIENT_RESOURCES, cq: 0 };
    table.insert(new CompletionQueue(handle, this.#processId, depth));
    return { status: NicStatus.SUCCESS, cq: handle };
  }

  destroyCompletionQueue(cq: number): NicStatusCode {
    const q = this.#nic.completionQueues.get(cq);
    if (q === null) return NicStatus.INVALID_HANDLE;
    if (q.owner !== this.#processId) return NicStatus.ACCESS_DENIED;
    if (q.attached > 0) return NicStatus.BUSY;
    q.handler = null;
    this.#nic.completionQueues.remove(cq);
    return NicStatus.SUCCESS;
  }

  /** A reliable-connection endpoint (ibv_create_qp) whose completions go to `cq`. */
  createEndpoint(cq: number, options: EndpointOptions = {}): { status: NicStatusCode; endpoint: number } {
    const nic = this.#nic;
    if (options === null || typeof options !== 'object') return { status: NicStatus.INVALID_PARAMETER, endpoint: 0 };
    const q = nic.completionQueues.get(cq);
    if (q === null) return { status: NicStatus.INVALID_HANDLE, endpoint: 0 };
    if (q.owner !== this.#processId) return { status: NicStatus.ACCESS_DENIED, endpoint: 0 };
    const caps = nic.capabilities;
    const sd = options.sendQueueDepth ?? caps.sendQueueDepth;
    const rd = options.recvQueueDepth ?? caps.recvQueueDepth;
    if (!isCount(sd) || sd < 1 || sd > caps.sendQueueDepth || !isCount(rd) || rd < 1 || rd > caps.recvQueueDepth) {
      return { status: NicStatus.INVALID_PARAMETER, endpoint: 0 };
    }
    const table = nic.endpointTable;
    const handle = table.nextHandle();
    if (handle === 0) return { status: NicStatus.INSUFFICIENT_RESOURCES, endpoint: 0 };
    table.insert(new Endpoint(handle, this.#processId, q, sd, rd, caps.maxScatterElements));
    q.attached++;
    return { status: NicStatus.SUCCESS, endpoint: handle };
  }

  /** Destroy (ibv_destroy_qp): the peer is told; outstanding requests vanish without completions. */
  destroyEndpoint(endpoint: number): NicStatusCode {
    const ep = this.#nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== this.#processId) return NicStatus.ACCESS_DENIED;
    this.#nic.cm.endpointDestroyed(ep);
    this.#nic.endpointTable.remove(endpoint);
    ep.cq.attached--;
    return NicStatus.SUCCESS;
  }

  endpointInfo(endpoint: number): EndpointInfo | NicStatusCode {
    const ep = this.#nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== this.#processId) return NicStatus.ACCESS_DENIED;
    return {
      state: ep.state,
      peerAddress: ep.peerAddress,
      peerEndpoint: ep.peerEndpoint,
      port: ep.port,
      lastEvent: ep.lastEvent,
      responderSyndrome: ep.responderSyndrome as SyndromeCode,
      sendOutstanding: ep.sq.posted - ep.sq.completed,
      recvOutstanding: ep.rq.posted - ep.rq.completed,
    };
  }

  // ───────────────────────────── posting (the doorbell) ─────────────────────────────

  postSend(endpoint: number, wr: WorkRequest): NicStatusCode {
    return this.postSq(endpoint, Opcode.SEND, wr, null);
  }

  postRdmaWrite(endpoint: number, wr: RdmaWorkRequest): NicStatusCode {
    return this.postSq(endpoint, Opcode.RDMA_WRITE, wr, wr?.remote);
  }

  postRdmaRead(endpoint: number, wr: RdmaWorkRequest): NicStatusCode {
    if (!this.#nic.capabilities.rdmaRead) return NicStatus.NOT_SUPPORTED;
    return this.postSq(endpoint, Opcode.RDMA_READ, wr, wr?.remote);
  }

  postRecv(endpoint: number, wr: WorkRequest): NicStatusCode {
    const nic = this.#nic;
    const ep = nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== this.#processId) return NicStatus.ACCESS_DENIED;
    if (!this.validWorkRequest(wr)) return NicStatus.INVALID_PARAMETER;
    const rq = ep.rq;
    if (rq.full) return NicStatus.QUEUE_FULL;
    store(rq, rq.slot(rq.posted), Opcode.RECV, wr);
    rq.posted++;
    if (nic.trace !== null) nic.trace.posted(nic, this.#processId, endpoint, Opcode.RECV, wr);
    if (ep.flushing) nic.schedule(ep);
    else if (ep.state === 'connected' || ep.state === 'connecting') nic.nudgePeer(ep);
    return NicStatus.SUCCESS;
  }

  // ───────────────────────────── completions ─────────────────────────────

  /** Take up to `max` completions (objects; for tests and tools). */
  pollCompletionQueue(cq: number, max = 16): { status: NicStatusCode; completions: Completion[] } {
    const q = this.#nic.completionQueues.get(cq);
    if (q === null) return { status: NicStatus.INVALID_HANDLE, completions: [] };
    if (q.owner !== this.#processId) return { status: NicStatus.ACCESS_DENIED, completions: [] };
    if (!isCount(max) || max < 1) return { status: NicStatus.INVALID_PARAMETER, completions: [] };
    // An empty queue is the common answer to a poll: one shared, frozen result, no allocation.
    if (q.count === 0) return NOTHING_COMPLETED;
    return { status: NicStatus.SUCCESS, completions: q.poll(max) };
  }

  /** Whether a completion queue lost entries to overflow. */
  completionQueueOverrun(cq: number): boolean | NicStatusCode {
    const q = this.#nic.completionQueues.get(cq);
    if (q === null) return NicStatus.INVALID_HANDLE;
    return q.owner === this.#processId ? q.overrun : NicStatus.ACCESS_DENIED;
  }

  /** Take up to `into.capacity` completions into a reused batch (the data path's poll). */
  pollInto(cq: number, into: CompletionBatch): NicStatusCode {
    const q = this.#nic.completionQueues.get(cq);
    if (q === null) {
      into.count = 0;
      return NicStatus.INVALID_HANDLE;
    }
    if (q.owner !== this.#processId) {
      into.count = 0;
      return NicStatus.ACCESS_DENIED;
    }
    q.pollInto(into);
    return NicStatus.SUCCESS;
  }

  /**
   * The completion channel of `cq`: `handler` runs (as a scheduler task) after completions
   * were written, once per burst, and polls; null stops the events.
   */
  notifyCompletions(cq: number, handler: (() => void) | null): NicStatusCode {
    const q = this.#nic.completionQueues.get(cq);
    if (q === null) return NicStatus.INVALID_HANDLE;
    if (q.owner !== this.#processId) return NicStatus.ACCESS_DENIED;
    if (handler !== null && typeof handler !== 'function') return NicStatus.INVALID_PARAMETER;
    q.handler = handler;
    // Completions already waiting get their event too.
    if (handler !== null && q.count > 0) this.#nic.completionEvent(q);
    return NicStatus.SUCCESS;
  }

  // ───────────────────────────── memory windows ─────────────────────────────

  /**
   * Bind `window` to [offset, offset+length) of `region` for remote access arriving on
   * `endpoint` only, granting `access` (REMOTE_READ and/or REMOTE_WRITE). Returns a new
   * remote key, never one this window had before; remote offsets count from the window's
   * start. The checks and their order are the TPT's (`checkWindowBind`).
   */
  bindWindow(endpoint: number, window: number, region: number, offset: number, length: number, access: number):
    { status: NicStatusCode; remoteKey: number } {
    const tpt = this.#nic.tpt;
    const status = tpt.checkWindowBind(this.#processId, window, this.connectedCheck(endpoint), region, offset, length, access);
    if (status !== NicStatus.SUCCESS) return { status, remoteKey: 0 };
    const w = tpt.indexOfWindow(window);
    tpt.bindWindow(w, endpoint, tpt.indexOfHandle(region), offset, length, access);
    return { status: NicStatus.SUCCESS, remoteKey: tpt.remoteKeyOf(w) };
  }

  /** Take a window's binding back (IBV_WR_LOCAL_INV): its remote key fails from now on. */
  invalidateWindow(window: number): NicStatusCode {
    const tpt = this.#nic.tpt;
    const w = tpt.indexOfWindow(window);
    if (w < 0) return NicStatus.INVALID_HANDLE;
    if (tpt.ownerOf(w) !== this.#processId) return NicStatus.ACCESS_DENIED;
    if (!tpt.isBound(w)) return NicStatus.INVALID_STATE;
    tpt.invalidateWindow(w);
    return NicStatus.SUCCESS;
  }

  // ───────────────────────────── connections ─────────────────────────────

  listen(port: number): NicStatusCode {
    return this.#nic.cm.listen(this.#processId, port);
  }

  unlisten(port: number): NicStatusCode {
    return this.#nic.cm.unlisten(this.#processId, port);
  }

  pendingConnections(port: number): number | NicStatusCode {
    return this.#nic.cm.pendingConnections(this.#processId, port);
  }

  /** Connect an idle endpoint to `port` at `remoteSanAddress`; `timeoutNs` on the machine's clock. */
  connect(endpoint: number, remoteSanAddress: number, port: number, timeoutNs?: number): NicStatusCode {
    return this.#nic.cm.connect(this.#processId, endpoint, remoteSanAddress, port, timeoutNs);
  }

  accept(port: number, endpoint: number): NicStatusCode {
    return this.#nic.cm.accept(this.#processId, port, endpoint);
  }

  reject(port: number): NicStatusCode {
    return this.#nic.cm.reject(this.#processId, port);
  }

  disconnect(endpoint: number): NicStatusCode {
    return this.#nic.cm.disconnect(this.#processId, endpoint);
  }

  /** The process's connection events (rdma_cm's event channel) go to `handler`; null stops them. */
  onConnectionEvent(handler: ConnectionHandler | null): void {
    if (this.#connectionHandler !== null) this.#nic.cm.unsubscribe(this.#processId, this.#connectionHandler);
    this.#connectionHandler = handler;
    if (handler !== null) this.#nic.cm.subscribe(this.#processId, handler);
  }

  /** Stop the port's events (the process closes its device context). */
  close(): void {
    this.onConnectionEvent(null);
  }

  // ───────────────────────────── internals ─────────────────────────────

  /** The endpoint part of the bind check: exists, this process's, connected. */
  private connectedCheck(endpoint: number): NicStatusCode {
    const ep = this.#nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== this.#processId) return NicStatus.ACCESS_DENIED;
    return ep.state === 'connected' ? NicStatus.SUCCESS : NicStatus.INVALID_STATE;
  }

  private postSq(endpoint: number, opcode: number, wr: WorkRequest, remote: RemoteDescriptor | null | undefined): NicStatusCode {
    const nic = this.#nic;
    const ep = nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== this.#processId) return NicStatus.ACCESS_DENIED;
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
    store(sq, slot, opcode, wr);
    if (remote) {
      sq.remoteKey[slot] = remote.remoteKey;
      sq.remoteAddress[slot] = remote.address;
      sq.remoteLength[slot] = remote.length;
    }
    sq.posted++;
    if (nic.trace !== null) nic.trace.posted(nic, this.#processId, endpoint, opcode, wr);
    nic.schedule(ep);
    return NicStatus.SUCCESS;
  }

  private validWorkRequest(wr: WorkRequest): boolean {
    if (wr === null || typeof wr !== 'object' || !isCount(wr.context)) return false;
    const el = wr.elements;
    if (!Array.isArray(el) || el.length > this.#nic.capabilities.maxScatterElements) return false;
    for (const e of el) {
      if (e === null || typeof e !== 'object' || !isCount(e.localHandle) || !isCount(e.offset) || !isCount(e.length)) {
        return false;
      }
    }
    return true;
  }
}

/** Copy a work request into its ring slot (the NIC's copy: the caller may reuse `wr`). */
function store(wq: WorkQueue, slot: number, opcode: number, wr: WorkRequest): void {
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
