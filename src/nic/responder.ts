/**
 * Responder (rxe_resp.c): serves request packets that arrived for one of our endpoints. Per
 * packet, in rxe's order: the PSN against the expected PSN (§6: ahead → one PSN sequence error
 * NAK; behind → a duplicate, acknowledged again or, for a READ, answered again from memory and
 * never placed twice), the opcode sequence (§4.2 check_op_seq), whether the opcode is served,
 * the receive WQE a SEND consumes (none: RNR NAK), the R_Key and range in the one TPT lookup on
 * the first packet of a WRITE and on a READ Request (rxe check_rkey), the length rules, then
 * the payload placed through our own DMA view, and an ACK when the packet asks for one
 * (AckReq: coalesced to one per message).
 *
 * Every failed check is mapped in one place (`fail`) to its NAK code (§7.3) and to what the
 * receive WQE and our endpoint see:
 *   opcode not served / bad sequence or length / message longer than the receive → NAK Invalid
 *   Request; R_Key or range → NAK Remote Access Error; the receive's own scatter list or a bus
 *   fault on our side → NAK Remote Operational Error. Each moves our endpoint to error.
 * A failed check places no byte of its packet; every bus run of a message's target is
 * resolved on its first packet, so a fault is found before any byte moves.
 */
import {
  AethType, MessageKind, NakCode, syndromeType, OpMask, Opcode as WireOpcode, ackSyndrome, nakSyndrome, packetCount, payloadLengthValid, psnAdd,
  psnDiff, rethLength, rethRkey, rethVa, rnrNakSyndrome, segmentLength, segmentOpcode, type PacketView,
} from '../wire/index.ts';
import { dmaSyndrome, placePayload, resolveRuns } from './dma.ts';
import { RespMessage, type Endpoint } from './endpoint.ts';
import type { WirePacket } from './link.ts';
import type { SanNic } from './san-nic.ts';
import { checkScatterList } from './scatter-list.ts';
import { Opcode, Syndrome, WcStatus, type SyndromeCode, type WcStatusCode } from './status.ts';
import { NicAccess } from './tpt.ts';
import { DMA_OK } from '../bus/index.ts';

/** The responder's min_rnr_timer: code 0, 655.36 ms, as the CM sets it (roce-v2.md §10.8). */
export const MIN_RNR_TIMER_CODE = 0;

/** A request packet for responder `ep` (the port checked it is ours and our state takes it). */
export function receiveRequest(nic: SanNic, ep: Endpoint, p: WirePacket, v: PacketView): void {
  const psn = v.psn;
  const d = psnDiff(psn, ep.ePsn);
  if (d > 0) {
    // A packet before this one was lost: NAK once, then drop until the expected PSN comes (§6).
    if (!ep.seqNakSent) {
      ep.seqNakSent = true;
      sendAck(nic, ep, ep.ePsn, nakSyndrome(NakCode.PSN_SEQUENCE_ERROR));
    }
    return;
  }
  if (d < 0) {
    duplicate(nic, ep, v);
    return;
  }
  ep.seqNakSent = false;
  const mask = v.mask;
  // Opcode sequence: a First/Only only between messages, a Middle/Last only inside one of its kind.
  const open = ep.respMessage;
  const kind = (mask & OpMask.SEND) !== 0 ? RespMessage.SEND : (mask & OpMask.WRITE) !== 0 ? RespMessage.WRITE : RespMessage.NONE;
  if ((mask & OpMask.START) !== 0 ? open !== RespMessage.NONE : open !== kind) {
    fail(nic, ep, psn, NakCode.INVALID_REQUEST, Syndrome.PEER_GONE, -1);
    return;
  }
  if ((mask & OpMask.READ) !== 0) {
    if (!nic.capabilities.rdmaRead) {
      fail(nic, ep, psn, NakCode.INVALID_REQUEST, Syndrome.RDMA_READ_UNSUPPORTED, -1);
      return;
    }
    if (serveRead(nic, ep, v, psn)) {
      ep.msn = psnAdd(ep.msn, 1);
    }
    return;
  }
  // A GSO packet (link.ts) is a whole message of `segments` packets, its head the first.
  const segments = p.segments;
  if (segments === 1 && !payloadLengthValid(v.opcode, v.payloadLength, ep.pmtu)) {
    fail(nic, ep, psn, NakCode.INVALID_REQUEST, Syndrome.LENGTH_MISMATCH, -1);
    return;
  }
  if (kind === RespMessage.SEND) {
    if ((mask & OpMask.START) !== 0 && !startSend(nic, ep, psn)) return;
  } else if ((mask & OpMask.START) !== 0 && !startWrite(nic, ep, v, psn)) return;
  const length = segments === 1 ? v.payloadLength : p.payloadLength;
  if (ep.respPlaced + length > ep.respCapacity) {
    // SEND: longer than the receive posted for it; WRITE: beyond the RETH's DMA Length.
    if (kind === RespMessage.SEND) fail(nic, ep, psn, NakCode.INVALID_REQUEST, Syndrome.RECV_TOO_SMALL, WcStatus.LOC_LEN_ERR);
    else fail(nic, ep, psn, NakCode.INVALID_REQUEST, Syndrome.LENGTH_MISMATCH, -1);
    return;
  }
  placePayload(p, p.frameLength > 0 ? v.payloadBuf : null, v.payloadOffset, length, nic.dma, ep.respRuns, ep.respPlaced);
  ep.respPlaced += length;
  const lastPsn = psnAdd(psn, segments - 1);
  ep.ePsn = psnAdd(lastPsn, 1);
  if (segments > 1 || (mask & OpMask.END) !== 0) {
    ep.respMessage = RespMessage.NONE;
    ep.msn = psnAdd(ep.msn, 1);
    if (kind === RespMessage.SEND) {
      const rq = ep.rq;
      const slot = rq.slot(rq.completed);
      rq.completed++;
      nic.counters.bytesReceived += ep.respPlaced;
      nic.complete(ep, WcStatus.SUCCESS, Syndrome.NONE, Opcode.RECV, ep.respPlaced, rq.context[slot]!);
    } else {
      if (ep.respPlaced !== ep.respCapacity) {
        fail(nic, ep, psn, NakCode.INVALID_REQUEST, Syndrome.LENGTH_MISMATCH, -1);
        return;
      }
      nic.counters.bytesRdmaWriteServed += ep.respPlaced;
    }
  } else ep.respMessage = kind;
  // The last packet of a message asks for an ACK (a GSO message's last segment does).
  if ((v.ackReq !== 0 || segments > 1) && nic.isLive(ep)) sendAck(nic, ep, lastPsn, ackSyndrome());
}

/** First packet of a SEND: the head receive WQE, its scatter list, its bus runs. */
function startSend(nic: SanNic, ep: Endpoint, psn: number): boolean {
  const rq = ep.rq;
  if (rq.completed === rq.posted) {
    // Receiver not ready (§7.1): the requester waits our timer, or until we post a receive.
    ep.rnrNakSent = true;
    sendAck(nic, ep, psn, rnrNakSyndrome(MIN_RNR_TIMER_CODE));
    return false;
  }
  const slot = rq.slot(rq.completed);
  const capacity = checkScatterList(nic, ep.owner, rq, slot, NicAccess.LOCAL_WRITE, nic.responderSegs, Number.POSITIVE_INFINITY);
  if (capacity <= 0) {
    const syndrome = capacity === 0 ? Syndrome.ZERO_LENGTH : -capacity;
    fail(nic, ep, psn, NakCode.REMOTE_OPERATIONAL_ERROR, syndrome, syndrome === Syndrome.ZERO_LENGTH ? WcStatus.LOC_LEN_ERR : WcStatus.LOC_PROT_ERR);
    return false;
  }
  return startMessage(nic, ep, psn, capacity);
}

/**
 * The RETH's R_Key for `access` and its range (the one TPT lookup, rxe_resp.c check_rkey),
 * then its bus runs in nic.responderSegs; false, the NAK sent, when the TPT refuses.
 */
function checkRkey(nic: SanNic, ep: Endpoint, v: PacketView, psn: number, access: number): boolean {
  const va = rethVa(v.buf, v.reth);
  const length = rethLength(v.buf, v.reth);
  const index = nic.tpt.lookup(rethRkey(v.buf, v.reth), true, ep.handle, access);
  if (index < 0) return fail(nic, ep, psn, NakCode.REMOTE_ACCESS_ERROR, -index, -1);
  if (!nic.tpt.inRange(index, va, length)) return fail(nic, ep, psn, NakCode.REMOTE_ACCESS_ERROR, Syndrome.OUT_OF_RANGE, -1);
  nic.responderSegs.clear();
  nic.tpt.translate(index, va, length, nic.responderSegs);
  return true;
}

/** First packet of a WRITE: R_Key and range, then the bus runs. */
function startWrite(nic: SanNic, ep: Endpoint, v: PacketView, psn: number): boolean {
  return checkRkey(nic, ep, v, psn, NicAccess.REMOTE_WRITE) && startMessage(nic, ep, psn, rethLength(v.buf, v.reth));
}

/** Resolve the message's target on our bus before any byte moves. */
function startMessage(nic: SanNic, ep: Endpoint, psn: number, capacity: number): boolean {
  const status = resolveRuns(nic.dma, nic.responderSegs, true, ep.respRuns);
  if (status !== DMA_OK) return fail(nic, ep, psn, NakCode.REMOTE_OPERATIONAL_ERROR, dmaSyndrome(status), -1);
  ep.respCapacity = capacity;
  ep.respPlaced = 0;
  return true;
}

/**
 * An RDMA READ Request at `psn`: R_Key and range, then the response packets, First … Last or
 * Only, at psn … psn+n−1, read from our memory now (§4.2). Also the answer to a duplicate READ.
 */
function serveRead(nic: SanNic, ep: Endpoint, v: PacketView, psn: number): boolean {
  if (!checkRkey(nic, ep, v, psn, NicAccess.REMOTE_READ)) return false;
  const length = rethLength(v.buf, v.reth);
  const runs = nic.responderRuns;
  const status = resolveRuns(nic.dma, nic.responderSegs, false, runs);
  if (status !== DMA_OK) return fail(nic, ep, psn, NakCode.REMOTE_OPERATIONAL_ERROR, dmaSyndrome(status), -1);
  const pmtu = ep.pmtu;
  const n = packetCount(length, pmtu);
  const msn = psnAdd(ep.msn, 1);
  const port = nic.wire;
  // Answering a duplicate READ Request sends its responses again: retransmissions too.
  if (psnDiff(psn, ep.ePsn) < 0) port.counters.retransmitted += n;
  if (n > 1 && !nic.fabric!.link.serialises) {
    // Nothing needs the bytes: every response as one GSO packet (link.ts), copied once.
    const p = port.beginMessage(ep, WireOpcode.RC_RDMA_READ_RESPONSE_FIRST, psn, length, n, 0, 0, ackSyndrome(), msn);
    port.addPayload(p, nic.dma, runs, 0, length);
    port.send(p);
  } else for (let i = 0; i < n; i++) {
    const op = segmentOpcode(MessageKind.RDMA_READ_RESPONSE, i, n);
    const len = segmentLength(length, pmtu, i);
    const p = port.begin(ep, op, psnAdd(psn, i), 0, len, 0, 0, 0, ackSyndrome(), msn);
    port.addPayload(p, nic.dma, runs, i * pmtu, len);
    port.send(p);
  }
  // Only a new request moves the expected PSN (a duplicate is answered where it was).
  if (psnDiff(psn, ep.ePsn) >= 0) {
    ep.ePsn = psnAdd(psn, n);
    nic.counters.bytesRdmaReadServed += length;
  }
  return true;
}

/**
 * A request before the expected PSN (rxe_resp.c duplicate_request): a READ is answered again
 * from memory; anything else is not executed again, only acknowledged (with the last PSN
 * we acknowledged) when it asks for an acknowledgement.
 */
function duplicate(nic: SanNic, ep: Endpoint, v: PacketView): void {
  nic.wire.counters.duplicates++;
  if ((v.mask & OpMask.READ) !== 0) {
    serveRead(nic, ep, v, v.psn);
    return;
  }
  if (v.ackReq !== 0) sendAck(nic, ep, psnAdd(ep.ePsn, -1), ackSyndrome());
}

/**
 * The one mapping of a failed check: NAK `code` at `psn` (only the code travels: `syndrome`,
 * which check failed, stays here — on the receive it consumed, completed with `recvStatus`, or
 * -1: none), our endpoint to error. Returns false, for the checks to return.
 */
function fail(nic: SanNic, ep: Endpoint, psn: number, code: number, syndrome: number, recvStatus: WcStatusCode | -1): boolean {
  sendAck(nic, ep, psn, nakSyndrome(code));
  ep.responderSyndrome = syndrome;
  if (recvStatus !== -1) {
    const rq = ep.rq;
    const slot = rq.slot(rq.completed);
    rq.completed++;
    nic.complete(ep, recvStatus, syndrome as SyndromeCode, Opcode.RECV, 0, rq.context[slot]!);
  }
  ep.respMessage = RespMessage.NONE;
  nic.enterError(ep, 'error');
  return false;
}

/** An Acknowledge (ACK, RNR NAK or NAK in its AETH) for `psn`. */
export function sendAck(nic: SanNic, ep: Endpoint, psn: number, syndrome: number): void {
  const port = nic.wire;
  if (syndromeType(syndrome) !== AethType.ACK) port.counters.naksSent++;
  const p = port.begin(ep, WireOpcode.RC_ACKNOWLEDGE, psn, 0, 0, 0, 0, 0, syndrome, ep.msn);
  port.send(p);
}

/**
 * We posted a receive after answering a SEND with an RNR NAK: tell the requester at once with
 * an unsolicited ACK of what we already acknowledged (an end-to-end credit update, IBA
 * §9.7.7.2), so it need not wait the RNR timer out.
 */
export function receivePosted(nic: SanNic, ep: Endpoint): void {
  if (!ep.rnrNakSent || ep.peerIp === 0 || nic.fabric === null) return;
  ep.rnrNakSent = false;
  sendAck(nic, ep, psnAdd(ep.ePsn, -1), ackSyndrome());
}
