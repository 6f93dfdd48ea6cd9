/**
 * Completer (rxe_comp.c): what the requester's side does with responses. Acknowledgements
 * (cumulative: an ACK for PSN p acknowledges every request packet up to p, roce-v2.md §7.2),
 * RDMA READ responses (placed at the READ's local buffer, in PSN order), RNR NAKs (wait the
 * responder's timer, then go back), NAKs (PSN sequence error: go back now; the others end the
 * request with the completion status of §7.3 and the endpoint in error), and the retransmit
 * timer (local ACK timeout, §8.1): go-back-N from the oldest unacknowledged PSN, retry_cnt
 * times, then RETRY_EXC_ERR.
 *
 * Implementation notes
 * - Completions are written strictly in send-queue order: a request's outcome is recorded in
 *   `sq.outcome` when it is known, and `drainResolved` completes from the oldest while
 *   outcomes are known.
 * - One timer per endpoint on the cluster's deterministic clock (scheduler.ts), armed when
 *   packets are outstanding and cancelled when none are (no timer per packet).
 * - A QP in error does not retransmit: when its timer fires, what it never heard back about ends
 *   as retry-exceeded at once (the peer has gone; rxe would flush it).
 */
import {
  AethType, NakCode, OpMask, RNR_TIMER_MICROSECONDS, aethSyndrome, localAckTimeoutNanoseconds, psnAdd, psnDiff,
  syndromeType, syndromeValue, type PacketView,
} from '../wire/index.ts';
import { dmaSyndrome, placePayload, resolveRuns } from './dma.ts';
import { WQE_PENDING, type Endpoint } from './endpoint.ts';
import type { WirePacket } from './link.ts';
import type { SanNic } from './san-nic.ts';
import { checkScatterList } from './scatter-list.ts';
import { Opcode, Syndrome, WcStatus, type SyndromeCode, type WcStatusCode } from './status.ts';
import { NicAccess } from './tpt.ts';
import { DMA_OK } from '../bus/index.ts';

/** rdma_cm's default local ACK timeout exponent: 4.096 µs × 2^14 ≈ 67 ms (§8.1). */
export const ACK_TIMEOUT_CODE = 14;
/** retry_cnt as rdma_cm sets it (7, the largest: 3 bits). */
export const RETRY_COUNT = 7;

/** The NAK code's completion status at the requester (§7.3; rxe_comp.c do_read/check_ack). */
function nakStatus(code: number): WcStatusCode {
  switch (code) {
    case NakCode.INVALID_REQUEST: return WcStatus.REM_INV_REQ_ERR;
    case NakCode.REMOTE_ACCESS_ERROR: return WcStatus.REM_ACCESS_ERR;
    default: return WcStatus.REM_OP_ERR;
  }
}

/**
 * What a NAK tells the requester, which learns only its code (AETH, roce-v2.md §7.3), read
 * against the request it refuses — the provider's socket errors need no more:
 * - Remote Access Error: the R_Key or range was refused (which check, the requester cannot
 *   know) → KEY_MISMATCH;
 * - Invalid Request on a READ: the responder does not serve RDMA READ (the only reason a
 *   well-formed READ of a correct requester is invalid) → RDMA_READ_UNSUPPORTED;
 * - Invalid Request on a SEND: the message is longer than the receive posted for it →
 *   RECV_TOO_SMALL; on a WRITE, nothing more to say (NONE);
 * - Remote Operational Error: the responder could not do it (a DMA fault there) → NONE;
 * - anything else: the peer is not the connection we had → PEER_GONE.
 */
function nakSyndrome(code: number, opcode: number): SyndromeCode {
  switch (code) {
    case NakCode.REMOTE_ACCESS_ERROR: return Syndrome.KEY_MISMATCH;
    case NakCode.INVALID_REQUEST:
      return opcode === Opcode.RDMA_READ ? Syndrome.RDMA_READ_UNSUPPORTED : opcode === Opcode.SEND ? Syndrome.RECV_TOO_SMALL : Syndrome.NONE;
    case NakCode.REMOTE_OPERATIONAL_ERROR: return Syndrome.NONE;
    default: return Syndrome.PEER_GONE;
  }
}

/** A response for requester `ep` (the port checked it is ours and our state takes it). */
export function receiveResponse(nic: SanNic, ep: Endpoint, p: WirePacket, v: PacketView): void {
  const psn = v.psn;
  if ((v.mask & OpMask.AETH) !== 0 && v.opcode !== 0x0d && v.opcode !== 0x0f && v.opcode !== 0x10) {
    const syndrome = aethSyndrome(v.buf, v.aeth);
    switch (syndromeType(syndrome)) {
      case AethType.ACK: {
        const progressed = retire(nic, ep, psn);
        // An ACK that acknowledges nothing new while we wait after an RNR NAK is the
        // responder telling us a receive was posted (its credits changed, IBA §9.7.7.2):
        // retry now rather than at the end of the RNR timer.
        if (!progressed && ep.rnrWait) endRnrWait(nic, ep);
        return;
      }
      case AethType.RNR_NAK: {
        nic.wire.counters.rnrNaksReceived++;
        retire(nic, ep, psnAdd(psn, -1));
        goBack(ep, psn);
        ep.waitingForRecv = true;
        ep.rnrWait = true;
        cancelTimer(nic, ep);
        arm(nic, ep, RNR_TIMER_MICROSECONDS[syndromeValue(syndrome)]! * 1000);
        return;
      }
      case AethType.NAK: {
        nic.wire.counters.naksReceived++;
        retire(nic, ep, psnAdd(psn, -1));
        const code = syndromeValue(syndrome);
        if (code === NakCode.PSN_SEQUENCE_ERROR) {
          // The responder expects `psn`: go back to it at once (§8.2).
          if (ep.rnrWait || psnDiff(psn, ep.sqPsn) >= 0) return;
          goBack(ep, psn);
          nic.schedule(ep);
          return;
        }
        const seq = requestHolding(ep, psn);
        if (seq < 0) return;
        failFrom(nic, ep, seq, nakStatus(code), nakSyndrome(code, ep.sq.opcode[ep.sq.slot(seq)]!));
        return;
      }
      default:
        return; // reserved syndrome: ignored
    }
  }
  readResponse(nic, ep, p, v);
}

/** RDMA READ Response First/Middle/Last/Only at `v.psn`. */
function readResponse(nic: SanNic, ep: Endpoint, p: WirePacket, v: PacketView): void {
  const psn = v.psn;
  // A response implicitly acknowledges every earlier request packet (§7.2).
  retire(nic, ep, psnAdd(psn, -1));
  if (psn !== ep.unackedPsn) return; // a duplicate, or ahead of a lost one: the timer goes back
  const sq = ep.sq;
  if (sq.completed === sq.executed) return;
  const seq = sq.completed;
  const slot = sq.slot(seq);
  if (sq.opcode[slot] !== Opcode.RDMA_READ || sq.outcome[slot] !== WQE_PENDING) return;
  const index = psnDiff(psn, sq.firstPsn[slot]!);
  const count = sq.packets[slot]!;
  if (index < 0 || index >= count) return;
  // rxe_comp.c check_ack: the opcode must fit its position. A READ sent again for the rest of
  // a message is answered First/Only from where it resumed, so a START may come mid-message;
  // its last response is still the message's last.
  // A GSO packet (link.ts) is every response of the READ at once.
  const segments = p.segments;
  const start = (v.mask & OpMask.START) !== 0;
  const end = segments > 1 ? index + segments === count : (v.mask & OpMask.END) !== 0;
  if ((index === 0 && !start) || end !== (index + segments - 1 === count - 1)) return;
  const offset = index * ep.pmtu;
  const length = segments === 1 ? v.payloadLength : p.payloadLength;
  if (offset + length > sq.bytes[slot]! || (!end && length !== ep.pmtu)) return;
  if (ep.readRunsSeq !== seq) {
    // Where the READ lands: its scatter list again (the region cannot have changed under an
    // outstanding request without failing it here), resolved on our bus.
    const total = checkScatterList(nic, ep.owner, sq, slot, NicAccess.LOCAL_WRITE, nic.requesterSegs, Number.POSITIVE_INFINITY);
    const status = total < 0 ? -1 : resolveRuns(nic.dma, nic.requesterSegs, true, ep.readRuns);
    if (total < 0 || status !== DMA_OK) {
      failFrom(nic, ep, seq, total < 0 ? WcStatus.LOC_PROT_ERR : WcStatus.GENERAL_ERR,
        total < 0 ? (-total as SyndromeCode) : dmaSyndrome(status));
      return;
    }
    ep.readRunsSeq = seq;
  }
  const bytes = p.frameLength > 0 ? v.payloadBuf : null;
  placePayload(p, bytes, v.payloadOffset, length, nic.dma, ep.readRuns, offset);
  ep.unackedPsn = psnAdd(psn, segments);
  ep.retriesLeft = RETRY_COUNT;
  ep.retryStarted = false;
  windowOpened(nic, ep);
  if (end) {
    sq.outcome[slot] = WcStatus.SUCCESS;
    ep.readRunsSeq = -1;
    drainResolved(nic, ep);
  }
  rearm(nic, ep);
}

/** rxe's RXE_MAX_UNACKED_PSNS: no new request starts while this many PSNs await acknowledgement (requester.ts). */
export const MAX_UNACKED_PSNS = 128;

/** Acknowledgements came: a request held back by MAX_UNACKED_PSNS may start now. */
function windowOpened(nic: SanNic, ep: Endpoint): void {
  if (ep.sq.executed < ep.sq.posted && psnDiff(ep.sqPsn, ep.unackedPsn) < MAX_UNACKED_PSNS) nic.schedule(ep);
}

/**
 * Cumulative acknowledgement up to `ackPsn`: every SEND/WRITE whose last packet is at or before
 * it succeeded. Returns whether it acknowledged anything new.
 */
function retire(nic: SanNic, ep: Endpoint, ackPsn: number): boolean {
  let next = psnAdd(ackPsn, 1);
  // Only PSNs we sent and that are not acknowledged yet count.
  if (psnDiff(next, ep.unackedPsn) <= 0 || psnDiff(next, ep.sentPsn) > 0) return false;
  // After a go-back the requester has not sent everything again yet: what lies beyond where it
  // stands is acknowledged again when it does (the responder answers duplicates).
  if (psnDiff(next, ep.sqPsn) > 0) next = ep.sqPsn;
  ackPsn = psnAdd(next, -1);
  const sq = ep.sq;
  let lostRead = false;
  for (let seq = sq.completed; seq < sq.executed; seq++) {
    const slot = sq.slot(seq);
    if (sq.outcome[slot] !== WQE_PENDING) continue;
    const first = sq.firstPsn[slot]!;
    const last = psnAdd(first, sq.packets[slot]! - 1);
    if (psnDiff(ackPsn, last) < 0) {
      // Inside a READ, only its own responses acknowledge its PSNs (one at a time, in order).
      if (sq.opcode[slot] === Opcode.RDMA_READ && psnDiff(next, first) > 0) {
        next = psnDiff(ep.unackedPsn, first) > 0 ? ep.unackedPsn : first;
      }
      break;
    }
    if (sq.opcode[slot] === Opcode.RDMA_READ) {
      // Acknowledged beyond a READ whose responses did not all come: they were lost; go back
      // to the first missing one at once (rxe_comp.c check_psn → retry).
      next = psnDiff(ep.unackedPsn, first) > 0 ? ep.unackedPsn : first;
      lostRead = true;
      break;
    }
    sq.outcome[slot] = WcStatus.SUCCESS;
  }
  const progressed = psnDiff(next, ep.unackedPsn) > 0;
  if (progressed) {
    ep.unackedPsn = next;
    ep.retriesLeft = RETRY_COUNT;
    ep.retryStarted = false;
    windowOpened(nic, ep);
  }
  drainResolved(nic, ep);
  // Once per gap, as rxe_comp.c does it (started_retry): the responses of the later requests
  // that are still on their way would otherwise each send everything from the gap again.
  if (lostRead && !ep.rnrWait && !ep.retryStarted) {
    ep.retryStarted = true;
    goBack(ep, next);
    nic.schedule(ep);
  }
  rearm(nic, ep);
  return progressed;
}

/** Complete, oldest first, every request whose outcome is known. */
export function drainResolved(nic: SanNic, ep: Endpoint): void {
  const sq = ep.sq;
  while (sq.completed < sq.executed && nic.isLive(ep)) {
    const slot = sq.slot(sq.completed);
    const outcome = sq.outcome[slot]!;
    if (outcome === WQE_PENDING) break;
    sq.completed++;
    const opcode = sq.opcode[slot]!;
    const ok = outcome === WcStatus.SUCCESS;
    const bytes = ok ? sq.bytes[slot]! : 0;
    if (ok) {
      if (opcode === Opcode.SEND) nic.counters.bytesSent += bytes;
      else if (opcode === Opcode.RDMA_WRITE) nic.counters.bytesRdmaWrite += bytes;
      else nic.counters.bytesRdmaRead += bytes;
    }
    nic.complete(ep, outcome as WcStatusCode, (ok ? Syndrome.NONE : sq.outcomeSyndrome[slot]!) as SyndromeCode, opcode, bytes, sq.context[slot]!);
  }
  if (ep.flushing && sq.completed === sq.executed) nic.schedule(ep);
}

/**
 * The end of the requests with packets on the wire: the executed ones, and the one at
 * `executed` when the requester yielded in the middle of it (requester.ts PACKET_BUDGET) or
 * went back into it (`resumePacket` > 0 either way).
 */
const sentEnd = (ep: Endpoint): number => ep.sq.executed + (ep.resumePacket > 0 && ep.sq.executed < ep.sq.posted ? 1 : 0);

/** The sent request whose PSNs hold `psn`, or -1. */
function requestHolding(ep: Endpoint, psn: number): number {
  const sq = ep.sq;
  for (let seq = sq.completed, end = sentEnd(ep); seq < end; seq++) {
    const slot = sq.slot(seq);
    const d = psnDiff(psn, sq.firstPsn[slot]!);
    if (d >= 0 && d < Math.max(1, sq.packets[slot]!)) return seq;
  }
  return -1;
}

/** Request `seq` ends with `status`; every later one sent flushes; the endpoint goes to error. */
function failFrom(nic: SanNic, ep: Endpoint, seq: number, status: WcStatusCode, syndrome: SyndromeCode): void {
  const sq = ep.sq;
  // A request sent in part is over too: it completes in order with the others.
  sq.executed = sentEnd(ep);
  ep.resumePacket = 0;
  for (let s = seq; s < sq.executed; s++) {
    const slot = sq.slot(s);
    if (sq.outcome[slot] !== WQE_PENDING) continue;
    sq.outcome[slot] = s === seq ? status : WcStatus.WR_FLUSH_ERR;
    sq.outcomeSyndrome[slot] = s === seq ? syndrome : Syndrome.NONE;
  }
  ep.unackedPsn = ep.sqPsn;
  cancelTimer(nic, ep);
  nic.enterError(ep, 'error');
  drainResolved(nic, ep);
}

/**
 * Go-back-N: resend from `psn` (§8.2). The requester restarts at the request holding it, at
 * the packet of that PSN.
 */
function goBack(ep: Endpoint, psn: number): void {
  const seq = requestHolding(ep, psn);
  if (seq < 0) return;
  const sq = ep.sq;
  const slot = sq.slot(seq);
  sq.executed = seq;
  ep.resumePacket = psnDiff(psn, sq.firstPsn[slot]!);
  ep.sqPsn = psn;
  if (ep.readRunsSeq >= seq) ep.readRunsSeq = -1;
}

function endRnrWait(nic: SanNic, ep: Endpoint): void {
  cancelTimer(nic, ep);
  ep.rnrWait = false;
  ep.waitingForRecv = false;
  nic.schedule(ep);
}

const outstanding = (ep: Endpoint): boolean => ep.unackedPsn !== ep.sqPsn || ep.sq.completed < ep.sq.executed;

const ACK_TIMEOUT_NS = localAckTimeoutNanoseconds(ACK_TIMEOUT_CODE);
/** The link's local ACK timeout when it sets one (a real network: udp-link.ts), else rdma_cm's. */
const ackTimeoutOf = (nic: SanNic): number => nic.fabric?.link.ackTimeoutNs ?? ACK_TIMEOUT_NS;

/** Packets went out: make sure the retransmit timer runs. */
export function armRetransmit(nic: SanNic, ep: Endpoint): void {
  if (ep.retransmitTimer === 0 && outstanding(ep)) arm(nic, ep, ackTimeoutOf(nic));
}

/**
 * Progress: restart the local ACK timeout (by moving its deadline: no scheduler call per
 * acknowledgement), or stop it when nothing is outstanding.
 */
function rearm(nic: SanNic, ep: Endpoint): void {
  if (ep.rnrWait) return;
  if (!outstanding(ep)) {
    cancelTimer(nic, ep);
    return;
  }
  if (ep.retransmitTimer === 0) arm(nic, ep, ackTimeoutOf(nic));
  else ep.timerDeadline = (nic.scheduler?.now ?? 0) + ackTimeoutOf(nic);
}

function arm(nic: SanNic, ep: Endpoint, ns: number): void {
  const scheduler = nic.scheduler;
  if (scheduler === null) return;
  ep.timerTask ??= () => onTimer(nic, ep);
  const delay = Math.round(ns);
  ep.timerDeadline = scheduler.now + delay;
  ep.retransmitTimer = scheduler.after(delay, ep.timerTask);
}

export function cancelTimer(nic: SanNic, ep: Endpoint): void {
  if (ep.retransmitTimer === 0) return;
  nic.scheduler?.cancel(ep.retransmitTimer);
  ep.retransmitTimer = 0;
}

function onTimer(nic: SanNic, ep: Endpoint): void {
  ep.retransmitTimer = 0;
  if (!nic.isLive(ep)) return;
  const now = nic.scheduler?.now ?? 0;
  if (now < ep.timerDeadline && outstanding(ep)) {
    // Progress moved the deadline since the timer was armed: wait for the rest.
    arm(nic, ep, ep.timerDeadline - now);
    return;
  }
  if (ep.rnrWait) {
    // rnr_retry 7: retry for ever (IBA; what rdma_cm sets for WSD's sockets).
    endRnrWait(nic, ep);
    return;
  }
  if (!outstanding(ep)) return;
  nic.wire.counters.timeouts++;
  const sq = ep.sq;
  if (ep.flushing || ep.retriesLeft === 0) {
    const seq = requestHolding(ep, ep.unackedPsn);
    failFrom(nic, ep, seq < 0 ? sq.completed : seq, WcStatus.RETRY_EXC_ERR, Syndrome.PEER_GONE);
    return;
  }
  ep.retriesLeft--;
  ep.retryStarted = true;
  goBack(ep, ep.unackedPsn);
  nic.schedule(ep);
  armRetransmit(nic, ep);
}
