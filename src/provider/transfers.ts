/**
 * Overlapped data transfers on registered memory: WSPSend, WSPRecv, WSPRdmaWrite,
 * WSPRdmaRead and WSPGetOverlappedResult.
 *
 * Implementation notes
 * - Every transfer is overlapped and has no completion routine: the call validates, posts one
 *   work request on the socket's NIC endpoint (kernel bypass: straight to the NIC's queue, no
 *   driver) and returns SOCKET_ERROR with WSA_IO_PENDING ("Completing Data Transfer
 *   Requests"). While it is in flight lpOverlapped->Internal is WSS_OPERATION_IN_PROGRESS;
 *   when done, InternalHigh holds the byte count, OffsetHigh the WSA error and Offset the
 *   flags. That Internal value is also what refuses a second request on an overlapped in
 *   flight.
 * - Requests in flight live in a slot table indexed by their work request's context: no hash
 *   table on the post and completion path.
 * - Completions come to the provider as they happen: the socket's completion queue has a
 *   handler on the user port's completion channel (the provider's completion thread), which
 *   polls the queue into a reused typed-array batch and finishes each request — a shadowed
 *   receive / RDMA read is copied back to the user buffer, the overlapped gets its result,
 *   and for an hEvent with low bit 0 the switch's WPUCompleteOverlappedRequest upcall runs,
 *   all in that one pass. WSPGetOverlappedResult and WSPCloseSocket poll too (what is still
 *   waiting in the queue), so a caller never misses a result that is in.
 * - A posted request holds a use count on each registration it names; WSPDeregisterMemory
 *   refuses while it is held, so the NIC never touches memory the provider released.
 * - An immediate failure changes nothing: no request posted, no count taken, the overlapped
 *   untouched.
 */
import {
  CompletionBatch, NicStatus, type NicStatusCode, type RdmaWorkRequest, type RemoteDescriptor, type ScatterElement, type UserPort,
} from '../nic/index.ts';
import {
  MEM_READ, MEM_WRITE, NO_ERROR, WSA_IO_INCOMPLETE, WSA_OPERATION_ABORTED, WSAEFAULT, WSAEINVAL, WSAENOTCONN,
  WSS_OPERATION_IN_PROGRESS, wsaErrorOfCompletion, wsaErrorOfNicStatus,
} from './errors.ts';
import { guarded } from './memory-registration.ts';
import type { ProviderState } from './provider-state.ts';
import { decodeRdmaDescriptor } from './rdma-descriptor.ts';
import type { Registration } from './registration-handles.ts';
import type { SanSocket } from './socket.ts';
import { isAddress, isOverlapped, isU32 } from './validation.ts';

/**
 * WSAOVERLAPPED as the provider uses it ("Completing Data Transfer Requests"): Internal is
 * WSS_OPERATION_IN_PROGRESS while in flight; when done InternalHigh holds the bytes, OffsetHigh
 * the WSA error and Offset the flags. hEvent low bit 1: no notification, the caller polls.
 */
export interface WSAOVERLAPPED {
  Internal: number;
  InternalHigh: number;
  Offset: number;
  OffsetHigh: number;
  hEvent: number;
}

/** WSABUFEX { len, buf, handle }: a piece of a buffer registered with WSPRegisterMemory. */
export interface WSABUFEX {
  len: number;
  buf: number;
  handle: number;
}

export type TransferKind = 'send' | 'recv' | 'rdma-write' | 'rdma-read';

/**
 * What each kind does with the local buffers and how it is posted. A send or an RDMA write
 * reads them out (registered MEM_READ; a shadow is brought up to date before the post); a
 * receive or an RDMA read fills them (MEM_WRITE; a shadow is copied out at completion).
 */
const KINDS: Readonly<Record<TransferKind, {
  readonly readsLocal: boolean;
  readonly post: (port: UserPort, endpoint: number, wr: RdmaWorkRequest) => NicStatusCode;
}>> = {
  send: { readsLocal: true, post: (port, endpoint, wr) => port.postSend(endpoint, wr) },
  recv: { readsLocal: false, post: (port, endpoint, wr) => port.postRecv(endpoint, wr) },
  'rdma-write': { readsLocal: true, post: (port, endpoint, wr) => port.postRdmaWrite(endpoint, wr) },
  'rdma-read': { readsLocal: false, post: (port, endpoint, wr) => port.postRdmaRead(endpoint, wr) },
};

/** Write the overlapped's four fields; false when the caller made it read-only. */
function writeOverlapped(o: WSAOVERLAPPED, internal: number, internalHigh: number, offset: number, offsetHigh: number): boolean {
  try {
    o.Internal = internal;
    o.InternalHigh = internalHigh;
    o.Offset = offset;
    o.OffsetHigh = offsetHigh;
    return true;
  } catch (e) {
    if (e instanceof TypeError) return false;
    throw e;
  }
}

/** A fresh WSAOVERLAPPED; hEvent 1 (low bit set) asks for no completion upcall. */
export const newWsaOverlapped = (hEvent = 1): WSAOVERLAPPED => ({ Internal: 0, InternalHigh: 0, Offset: 0, OffsetHigh: 0, hEvent });

/** The switch's upcall for requests whose hEvent low bit is 0 (WPUCompleteOverlappedRequest). */
export type CompleteOverlappedUpcall = (s: number, overlapped: WSAOVERLAPPED, error: number, bytes: number) => void;

interface Segment {
  reg: Registration;
  /** Offset of the piece inside the NIC registration (and the shadow). */
  offset: number;
  length: number;
}

/** Where the NIC registration (and the shadow's offset 0) starts in the application's memory. */
const regionBase = (reg: Registration) => reg.address - reg.regionOffset;

interface PendingOp {
  /** The work request's context: the op's slot in the engine's table. */
  context: number;
  /** Post order (abort settles a socket's requests in it). */
  seq: number;
  socket: SanSocket;
  kind: TransferKind;
  overlapped: WSAOVERLAPPED;
  segments: Segment[];
}

const U32 = 0x1_0000_0000;
/** Completions taken per poll of a socket's queue. */
const POLL_BATCH = 64;

export class TransferEngine {
  /**
   * Requests in flight by slot; a request's slot is its work request's context, so a
   * completion finds its request by index (no hash table per post: posts are the hot path).
   */
  private readonly slots: (PendingOp | null)[] = [];
  private readonly freeSlots: number[] = [];
  private live = 0;
  private nextSeq = 1;
  /** The work request every post fills (see post). */
  private readonly wr: { context: number; elements: ScatterElement[]; remote: RemoteDescriptor } =
    { context: 0, elements: [], remote: { remoteKey: 0, address: 0, length: 0 } };
  private readonly batch = new CompletionBatch(POLL_BATCH);
  /** A poll is running (an upcall that posts must not start a second one on the same batch). */
  private polling = false;

  constructor(
    private readonly st: ProviderState,
    private readonly upcall: CompleteOverlappedUpcall | null,
  ) {}

  /** Overlapped operations not yet completed. */
  get pendingCount(): number {
    return this.live;
  }

  /**
   * Post one transfer. Returns NO_ERROR when posted (the caller answers WSA_IO_PENDING) or the
   * WSA error of an immediate failure.
   */
  post(
    s: SanSocket, kind: TransferKind, lpBuffers: unknown, dwBufferCount: unknown, lpOverlapped: unknown,
    lpCompletionRoutine: unknown, target: { descriptor: unknown; descriptorLength: unknown; offset: unknown } | null,
  ): number {
    // Transfers are always overlapped and the switch never passes a completion routine.
    if (!isOverlapped(lpOverlapped) || lpCompletionRoutine !== null) return WSAEINVAL;
    // Internal is WSS_OPERATION_IN_PROGRESS while a request is in flight on the overlapped:
    // it cannot start another one.
    if (lpOverlapped.Internal === WSS_OPERATION_IN_PROGRESS) return WSAEINVAL;
    if (s.state !== 'connected') return WSAENOTCONN;
    const port = this.st.ports[s.nicIndex]!;
    const readsLocal = KINDS[kind].readsLocal;
    const need = readsLocal ? MEM_READ : MEM_WRITE;
    const built = this.segmentsOf(s, lpBuffers, dwBufferCount, need, port.capabilities.maxScatterElements);
    if (typeof built === 'number') return built;
    let total = 0;
    for (const g of built) total += g.length;
    const wr = this.wr;
    if (target !== null) {
      const d = decodeRdmaDescriptor(target.descriptor, target.descriptorLength);
      if (d === null || !isU32(target.offset)) return WSAEINVAL;
      if (target.offset + total > d.length) return WSAEINVAL;
      // Into the reused work request (see below); only the RDMA posts read it.
      wr.remote.remoteKey = d.remoteKey;
      wr.remote.address = d.offset + target.offset;
      wr.remote.length = total;
    }
    if (readsLocal) {
      // The NIC reads the shadow: bring it up to date with what the application wrote.
      for (const g of built) {
        if (g.reg.shadow === null) continue;
        if (!guarded(() => this.st.copier.toShadow(this.st.process, regionBase(g.reg), g.reg.shadow!, g.offset, g.length))) {
          return WSAEFAULT;
        }
      }
    }
    // The provider owns the overlapped from here. Written before the post, so a read-only
    // one faults (WSAEFAULT) with nothing posted.
    const w0 = lpOverlapped.Internal;
    const w1 = lpOverlapped.InternalHigh;
    const w2 = lpOverlapped.Offset;
    const w3 = lpOverlapped.OffsetHigh;
    if (!writeOverlapped(lpOverlapped, WSS_OPERATION_IN_PROGRESS, 0, 0, 0)) {
      writeOverlapped(lpOverlapped, w0, w1, w2, w3);
      return WSAEFAULT;
    }
    // The slot is taken only once the NIC accepted the request.
    const context = this.freeSlots.length > 0 ? this.freeSlots[this.freeSlots.length - 1]! : this.slots.length;
    // The NIC copies a work request into its queue at the post (the doorbell), so one request
    // object and one element array serve every post.
    const elements = wr.elements;
    // (Setting an array's length is a runtime call even when it does not change.)
    if (elements.length !== built.length) elements.length = built.length;
    for (let i = 0; i < built.length; i++) {
      const g = built[i]!;
      const e = (elements[i] ??= { localHandle: 0, offset: 0, length: 0 });
      e.localHandle = g.reg.nicHandle;
      e.offset = g.offset;
      e.length = g.length;
    }
    wr.context = context;
    const status = KINDS[kind].post(port, s.endpoint, wr);
    if (status !== NicStatus.SUCCESS) {
      writeOverlapped(lpOverlapped, w0, w1, w2, w3); // an immediate failure leaves the overlapped as it was
      return wsaErrorOfNicStatus(status);
    }
    for (const g of built) g.reg.inUse++;
    if (context === this.slots.length) this.slots.push(null);
    else this.freeSlots.pop();
    this.slots[context] = { context, seq: this.nextSeq++, socket: s, kind, overlapped: lpOverlapped, segments: built };
    this.live++;
    return NO_ERROR;
  }

  /**
   * WSPGetOverlappedResult's work: take what waits on the socket's queue, then read the
   * overlapped; returns its WSA error (WSA_IO_INCOMPLETE while pending). The provider never
   * runs the machine, so fWait TRUE cannot wait here: the completion thread has already
   * finished every request the NIC completed, and one still pending reports WSA_IO_INCOMPLETE
   * for the caller to wait on (the switch blocks on the machine's scheduler).
   */
  result(s: SanSocket, overlapped: WSAOVERLAPPED): number {
    this.poll(s);
    // The byte count and flags are in the overlapped (InternalHigh, Offset): no result object.
    if (overlapped.Internal === WSS_OPERATION_IN_PROGRESS) return WSA_IO_INCOMPLETE;
    return overlapped.OffsetHigh;
  }

  /**
   * The socket's completion thread (the handler on its queue's completion channel), also run by
   * WSPGetOverlappedResult and WSPCloseSocket: take every completion waiting on the queue and
   * finish its request. Re-entered from an upcall (the switch posting from its completion
   * handler), it returns at once: the running pass takes what comes in.
   */
  poll(s: SanSocket): void {
    if (s.completionQueue === 0 || s.nicIndex < 0 || this.polling) return;
    const port = this.st.ports[s.nicIndex]!;
    const batch = this.batch;
    this.polling = true;
    try {
      // A batch that came back short emptied the queue: no second poll to find that out.
      do {
        if (port.pollInto(s.completionQueue, batch) !== NicStatus.SUCCESS) return;
        for (let k = 0; k < batch.count; k++) {
          const op = this.slots[batch.context[k]!];
          if (op != null && op.socket === s) this.finish(op, wsaErrorOfCompletion(batch.status[k]!, batch.syndrome[k]!), batch.bytes[k]!);
        }
      } while (batch.count === batch.capacity);
    } finally {
      this.polling = false;
    }
  }

  /**
   * WSPCloseSocket: the NIC has stopped (endpoint destroyed) — abort what is left with
   * WSA_OPERATION_ABORTED after releasing the memory it held ("Closing a SAN Socket": the
   * provider completes each one through WPUCompleteOverlappedRequest). `notify` false is
   * WSPCleanup's final clean-up, where pending overlapped operations fail with
   * WSA_OPERATION_ABORTED "without setting the event object or invoking the completion routine"
   * (LPWSPCLEANUP page): the overlapped gets its result, the switch gets no upcall.
   */
  abort(s: SanSocket, notify = true): void {
    const mine: PendingOp[] = [];
    for (const op of this.slots) if (op !== null && op.socket === s) mine.push(op);
    mine.sort((x, y) => x.seq - y.seq);
    for (const op of mine) {
      this.release(op);
      this.settle(op, WSA_OPERATION_ABORTED, 0, notify);
    }
  }

  private finish(op: PendingOp, error: number, bytes: number): void {
    let e = error;
    if (e === NO_ERROR && !KINDS[op.kind].readsLocal) {
      // The data landed in the shadow: now the application may see it.
      let left = bytes;
      for (const g of op.segments) {
        if (left === 0) break;
        const n = Math.min(left, g.length);
        left -= n;
        if (g.reg.shadow === null) continue;
        if (!guarded(() => this.st.copier.fromShadow(this.st.process, regionBase(g.reg), g.reg.shadow!, g.offset, n))) {
          e = WSAEFAULT;
          break;
        }
      }
    }
    this.release(op);
    this.settle(op, e, e === NO_ERROR ? bytes : 0);
  }

  private release(op: PendingOp): void {
    for (const g of op.segments) g.reg.inUse--;
  }

  private settle(op: PendingOp, error: number, bytes: number, notify = true): void {
    this.slots[op.context] = null;
    this.freeSlots.push(op.context);
    this.live--;

    const o = op.overlapped;
    // (A caller that froze its overlapped while the request was in flight gets no result in it.)
    writeOverlapped(o, 0, bytes, 0, error);
    if (notify && (o.hEvent & 1) === 0 && this.upcall !== null) this.upcall(op.socket.handle, o, error, bytes);
  }

  /** Validate lpBuffers against the socket's registrations. */
  private segmentsOf(s: SanSocket, lpBuffers: unknown, count: unknown, need: number, maxElements: number): Segment[] | number {
    if (!Array.isArray(lpBuffers) || !isU32(count) || count < 1 || count > lpBuffers.length) return WSAEINVAL;
    // More pieces than one work request carries: the provider does not split (a WSD send is one message).
    if (count > maxElements) return WSAEINVAL;
    const out: Segment[] = [];
    let total = 0;
    for (let i = 0; i < count; i++) {
      const b = lpBuffers[i] as Partial<WSABUFEX> | null;
      if (b === null || typeof b !== 'object' || !isU32(b.len) || !isAddress(b.buf)) return WSAEFAULT;
      const reg = this.st.handles.get(b.handle);
      // Handles are valid only on the socket that registered them (WSPRegisterMemory).
      if (reg === null || reg.socket !== s.handle || reg.kind !== 'local') return WSAEINVAL;
      if (b.buf < reg.address || b.buf + b.len > reg.address + reg.length) return WSAEFAULT;
      // Read-only registrations are never written, write-only never read ("Registering Memory
      // for Operations on a SAN").
      if ((reg.flags & need) === 0) return WSAEFAULT;
      total += b.len;
      if (total >= U32) return WSAEINVAL;
      out.push({ reg, offset: reg.nicOffset + (b.buf - reg.address), length: b.len });
    }
    return out;
  }
}
