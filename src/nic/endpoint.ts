/**
 * A connection endpoint (reliable-connection queue pair): a send queue and a receive queue
 * of work requests, stored in typed-array rings, and the connection state.
 *
 * States (RC semantics): idle → connecting → connected; any failed work request, a
 * disconnect or the peer's disconnect moves it to error / disconnected, where every
 * outstanding and later work request completes with WR_FLUSH_ERR and moves no byte.
 * Counters are monotonic sequence numbers: posted ≥ executed ≥ completed (send queue);
 * a slot is free again once its request completed.
 */
import type { CompletionQueue } from './completion-queue.ts';

export type EndpointState = 'idle' | 'connecting' | 'connected' | 'error' | 'disconnected';

/** Scatter element fields per slot: handle, offset, length. */
export const SGE_FIELDS = 3;

export class WorkQueue {
  readonly opcode: Uint8Array;
  readonly context: Float64Array;
  readonly sgeCount: Uint8Array;
  readonly sge: Float64Array;
  readonly remoteKey: Float64Array;
  readonly remoteAddress: Float64Array;
  readonly remoteLength: Float64Array;
  posted = 0;
  executed = 0;
  completed = 0;

  constructor(
    readonly depth: number,
    readonly maxSge: number,
    withRemote: boolean,
  ) {
    this.opcode = new Uint8Array(depth);
    this.context = new Float64Array(depth);
    this.sgeCount = new Uint8Array(depth);
    this.sge = new Float64Array(depth * maxSge * SGE_FIELDS);
    const r = withRemote ? depth : 0;
    this.remoteKey = new Float64Array(r);
    this.remoteAddress = new Float64Array(r);
    this.remoteLength = new Float64Array(r);
  }

  get full(): boolean {
    return this.posted - this.completed === this.depth;
  }

  slot(seq: number): number {
    return seq % this.depth;
  }

  /** Offset of the first scatter element of `slot` in `sge`. */
  sgeBase(slot: number): number {
    return slot * this.maxSge * SGE_FIELDS;
  }
}

export class Endpoint {
  state: EndpointState = 'idle';
  peerAddress = 0;
  peerEndpoint = 0;
  /** Port this endpoint connected to or was accepted on. */
  port = 0;
  /** A processing task for this endpoint is queued on the fabric. */
  scheduled = false;
  /** The head send waits for the peer to post a receive (infinite RNR retry). */
  waitingForRecv = false;
  /** Last connection event, for the owner to read: 'established', 'rejected', … */
  lastEvent = '';
  readonly sq: WorkQueue;
  readonly rq: WorkQueue;

  constructor(
    readonly handle: number,
    readonly owner: number,
    readonly cq: CompletionQueue,
    sendDepth: number,
    recvDepth: number,
    maxSge: number,
  ) {
    this.sq = new WorkQueue(sendDepth, maxSge, true);
    this.rq = new WorkQueue(recvDepth, maxSge, false);
  }

  get flushing(): boolean {
    return this.state === 'error' || this.state === 'disconnected';
  }
}
