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
import { DmaRunList } from '../bus/index.ts';
import { HeadTemplate } from '../wire/index.ts';
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
  /** Send queue, per slot: the first PSN of the request and its packet count (a READ
   *  reserves one PSN per response packet, roce-v2.md §4.2). */
  readonly firstPsn: Uint32Array;
  readonly packets: Uint32Array;
  /** Send queue, per slot: the outcome once known (WQE_PENDING until then), its syndrome and
   *  bytes. A request that failed its local checks is resolved at once and completes when
   *  every earlier one has (completions stay in order). */
  readonly outcome: Uint8Array;
  readonly outcomeSyndrome: Uint8Array;
  readonly bytes: Float64Array;

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
    this.firstPsn = new Uint32Array(r);
    this.packets = new Uint32Array(r);
    this.outcome = new Uint8Array(r);
    this.outcomeSyndrome = new Uint8Array(r);
    this.bytes = new Float64Array(r);
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

/** `WorkQueue.outcome` of a request whose acknowledgement has not come yet. */
export const WQE_PENDING = 255;

/** Responder: which multi-packet message is open (rxe_resp.c check_op_seq). */
export const RespMessage = { NONE: 0, SEND: 1, WRITE: 2 } as const;

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

  // ── RC transport (the QP's requester, completer and responder state; rxe_qp.c) ──
  /** The peer's IPv4 address (the path) and our flow's UDP source port. */
  peerIp = 0;
  udpSourcePort = 0xc000;
  /** The connection-constant bytes of our packets' heads (wire-port.ts), rebuilt when the
   *  addresses, flow port or peer QP change. */
  readonly headTemplate = new HeadTemplate();
  /** Path MTU in bytes (the NIC's, fixed at connection). */
  pmtu = 4096;
  /** Requester: next PSN to send; the packet index within the head request to resume at. */
  sqPsn = 0;
  resumePacket = 0;
  /** One past the highest PSN ever sent (what is below it and sent again is a retransmission). */
  sentPsn = 0;
  /** Completer: the oldest PSN not yet acknowledged. */
  unackedPsn = 0;
  /** Completer: retries left (retry_cnt) and the retransmit timer (scheduler id, 0: none). */
  retriesLeft = 7;
  retransmitTimer = 0;
  /** Completer: a go-back is under way (rxe comp.started_retry): responses of later requests
   *  that show a READ's responses missing do not start another until progress or a timeout. */
  retryStarted = false;
  /** When the local ACK timeout really expires: progress moves it without touching the
   *  scheduler, and a timer that fires before it re-arms for the rest. */
  timerDeadline = 0;
  /** The timer's task, made once per endpoint (completer.ts). */
  timerTask: (() => void) | null = null;
  /** The requester's processing task of this endpoint (san-nic.ts schedule), made once. */
  processTask: (() => void) | null = null;
  /** The timer is an RNR wait, not the local ACK timeout. */
  rnrWait = false;
  /** Completer: the READ whose local scatter list `readRuns` holds (-1: none). */
  readRunsSeq = -1;
  readonly readRuns = new DmaRunList(8);
  /** Responder: expected PSN, message sequence number, the open message. */
  ePsn = 0;
  msn = 0;
  respMessage: number = RespMessage.NONE;
  /** Responder: the open message's target (physical runs) and bytes placed so far. */
  readonly respRuns = new DmaRunList(8);
  respPlaced = 0;
  respCapacity = 0;
  /** Responder: a PSN sequence error NAK was sent and the expected PSN has not come since. */
  seqNakSent = false;
  /** Responder: the check that failed (status.ts Syndrome; 0: none). Only the NAK code goes on
   *  the wire; this stays with the responder, as a NIC's error log would (EndpointInfo). */
  responderSyndrome = 0;
  /** Responder: an RNR NAK was sent; posting a receive sends the peer an unsolicited ACK. */
  rnrNakSent = false;

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
