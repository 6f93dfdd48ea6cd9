/**
 * Requester stage (rxe_req.c + rxe_comp.c in one): executes the head work request of an
 * endpoint's send queue, checks its local scatter list against the TPT, hands the request to
 * the peer's responder over the fabric and queues the acknowledgement that completes it.
 * Also the flush of an endpoint in error.
 *
 * The data of a request moves inside the responder call, in the same fabric task as the
 * local checks, so a region is checked and used at one instant: deregistering it before the
 * task runs makes the request fail, never read a freed page.
 */
import type { Endpoint } from './endpoint.ts';
import { respond, type RequestPacket, type ResponderResult } from './responder.ts';
import type { SanNic } from './san-nic.ts';
import { checkScatterList } from './scatter-list.ts';
import { Opcode, Syndrome, WcStatus, type SyndromeCode, type WcStatusCode } from './status.ts';
import { NicAccess } from './tpt.ts';

const isLengthSyndrome = (s: number): boolean =>
  s === Syndrome.ZERO_LENGTH || s === Syndrome.TOO_LONG || s === Syndrome.LENGTH_MISMATCH;

/**
 * Work requests one requester task may execute before it yields the fabric. rxe's requester
 * likewise runs until its queue is empty or it must yield, then reschedules itself; a small
 * budget keeps one busy endpoint from holding up the others' tasks and the acknowledgements.
 */
const REQUESTER_BUDGET = 16;

/** One fabric task: run the endpoint's next work requests, or flush it when in error. */
export function processEndpoint(nic: SanNic, ep: Endpoint): void {
  ep.scheduled = false;
  if (!nic.isLive(ep)) return;
  if (ep.flushing) {
    flushEndpoint(nic, ep);
    return;
  }
  const sq = ep.sq;
  if (ep.state !== 'connected' || ep.waitingForRecv || sq.executed === sq.posted) return;
  for (let budget = REQUESTER_BUDGET; ; ) {
    executeHead(nic, ep);
    // Stop at a failure (the endpoint is in error), a receiver-not-ready, an empty queue.
    if (ep.flushing || ep.waitingForRecv || sq.executed === sq.posted || --budget === 0) break;
  }
  if (!ep.flushing && !ep.waitingForRecv && sq.executed < sq.posted) nic.schedule(ep);
}

function executeHead(nic: SanNic, ep: Endpoint): void {
  const sq = ep.sq;
  const seq = sq.executed;
  const slot = sq.slot(seq);
  const opcode = sq.opcode[slot]!;
  const local = nic.requesterSegs;
  const rights = opcode === Opcode.RDMA_READ ? NicAccess.LOCAL_WRITE : NicAccess.LOCAL_READ;
  const total = checkScatterList(nic, ep.owner, sq, slot, rights, local, Number.POSITIVE_INFINITY);
  let syndrome: number = total < 0 ? -total : Syndrome.NONE;
  if (syndrome === Syndrome.NONE) {
    if (total === 0) syndrome = Syndrome.ZERO_LENGTH;
    else if (total > nic.capabilities.maxMessageBytes) syndrome = Syndrome.TOO_LONG;
    else if (opcode !== Opcode.SEND && sq.remoteLength[slot] !== total) syndrome = Syndrome.LENGTH_MISMATCH;
  }
  if (syndrome !== Syndrome.NONE) {
    // A failed local check: complete in error, move no byte, and the endpoint goes to error.
    sq.executed++;
    const status = isLengthSyndrome(syndrome) ? WcStatus.LOC_LEN_ERR : WcStatus.LOC_PROT_ERR;
    finish(nic, ep, seq, status, syndrome as SyndromeCode, 0);
    return;
  }
  const result = nic.responderResult;
  const peer = nic.fabric?.nicAt(ep.peerAddress) ?? null;
  if (peer === null) {
    result.status = WcStatus.RETRY_EXC_ERR;
    result.syndrome = Syndrome.PEER_GONE;
    result.rnr = false;
  } else {
    const p: RequestPacket = nic.packet;
    p.opcode = opcode;
    p.fromNic = nic;
    p.fromEndpoint = ep.handle;
    p.toEndpoint = ep.peerEndpoint;
    p.remoteKey = opcode === Opcode.SEND ? 0 : sq.remoteKey[slot]!;
    p.remoteAddress = opcode === Opcode.SEND ? 0 : sq.remoteAddress[slot]!;
    p.length = total;
    p.local = local;
    respond(peer, p, result);
  }
  if (result.rnr) {
    // Receiver not ready: keep the request at the head until the peer posts a receive.
    ep.waitingForRecv = true;
    return;
  }
  sq.executed++;
  if (result.status === WcStatus.SUCCESS) {
    if (opcode === Opcode.SEND) nic.counters.bytesSent += total;
    else if (opcode === Opcode.RDMA_WRITE) nic.counters.bytesRdmaWrite += total;
    else nic.counters.bytesRdmaRead += total;
  }
  finish(nic, ep, seq, result.status, result.syndrome, result.status === WcStatus.SUCCESS ? total : 0);
}

/**
 * Queue the acknowledgement that completes send-queue request `seq`. A failure moves the
 * endpoint to error now, so no later request executes; its completion still arrives first.
 */
function finish(nic: SanNic, ep: Endpoint, seq: number, status: WcStatusCode, syndrome: SyndromeCode, bytes: number): void {
  if (status !== WcStatus.SUCCESS) nic.enterError(ep, 'error');
  const ack = spareAcks.pop() ?? new Acknowledgement();
  ack.nic = nic;
  ack.ep = ep;
  ack.seq = seq;
  ack.status = status;
  ack.syndrome = syndrome;
  ack.bytes = bytes;
  nic.fabric!.enqueue(ack.deliver);
}

/**
 * An acknowledgement in flight on the fabric: a reusable record whose `deliver` is the task,
 * so the data path allocates no closure per request. Each record is queued at most once at
 * a time and goes back to the spare list when delivered (one left in an abandoned fabric's
 * queue is simply never reused).
 */
class Acknowledgement {
  nic: SanNic | null = null;
  ep: Endpoint | null = null;
  seq = 0;
  status: WcStatusCode = WcStatus.SUCCESS;
  syndrome: SyndromeCode = Syndrome.NONE;
  bytes = 0;
  readonly deliver = (): void => {
    const { nic, ep, seq, status, syndrome, bytes } = this;
    this.nic = null;
    this.ep = null;
    if (spareAcks.length < MAX_SPARE_ACKS) spareAcks.push(this);
    completeRequest(nic!, ep!, seq, status, syndrome, bytes);
  };
}

const MAX_SPARE_ACKS = 1024;
const spareAcks: Acknowledgement[] = [];

/** Completer: the acknowledgement of send-queue request `seq` arrived. */
export function completeRequest(
  nic: SanNic,
  ep: Endpoint,
  seq: number,
  status: WcStatusCode,
  syndrome: SyndromeCode,
  bytes: number,
): void {
  if (!nic.isLive(ep)) return;
  const sq = ep.sq;
  if (seq !== sq.completed) throw new Error(`${nic.name}: acknowledgement ${seq} out of order (expected ${sq.completed})`);
  const slot = sq.slot(seq);
  sq.completed++;
  nic.complete(ep, status, syndrome, sq.opcode[slot]!, bytes, sq.context[slot]!);
  if (ep.flushing) nic.schedule(ep);
}

/**
 * Complete every request of an endpoint in error with WR_FLUSH_ERR, oldest first. Requests
 * already executed wait for their acknowledgement (the completer reschedules the flush), so
 * completions stay in order.
 */
export function flushEndpoint(nic: SanNic, ep: Endpoint): void {
  const sq = ep.sq;
  ep.waitingForRecv = false;
  if (sq.completed === sq.executed) {
    while (sq.executed < sq.posted && nic.isLive(ep)) {
      const slot = sq.slot(sq.executed);
      sq.executed++;
      sq.completed++;
      nic.complete(ep, WcStatus.WR_FLUSH_ERR, Syndrome.NONE, sq.opcode[slot]!, 0, sq.context[slot]!);
    }
  }
  const rq = ep.rq;
  while (rq.completed < rq.posted && nic.isLive(ep)) {
    const slot = rq.slot(rq.completed);
    rq.completed++;
    nic.complete(ep, WcStatus.WR_FLUSH_ERR, Syndrome.NONE, Opcode.RECV, 0, rq.context[slot]!);
  }
}

export type { ResponderResult };
