/**
 * Requester (rxe_req.c): turns the work requests of an endpoint's send queue into RoCEv2
 * request packets — SEND and RDMA WRITE First/Middle/Last/Only segmented at the path MTU,
 * one RDMA READ Request reserving a PSN per response packet (roce-v2.md §4.2) — and hands them
 * to the NIC's port. Also the flush of an endpoint in error.
 *
 * Implementation notes
 * - Local checks first, as rxe does before it builds a packet: the scatter list against the
 *   TPT (the one access check), lengths, then every bus run resolved through the DMA view, so
 *   a failed request sends nothing. A request that fails them is resolved at once
 *   (`sq.outcome`) and completes in order, after every earlier one (completer.ts).
 * - PSNs are 24-bit with wrap (§6, src/wire psnAdd). AckReq is set on the last packet of each
 *   message and the READ Request (§4.1 "A (rxe)"). Not rxe's extra AckReq every 64 packets
 *   (RXE_MAX_PKT_PER_ACK): a message sent as one GSO packet and the same message segmented
 *   (capture on) must give the same packets, ACKs included.
 * - With no tap and no impairment a message goes out as one GSO packet (link.ts).
 * - Go-back-N (§8.2, rxe_comp.c): the completer moves `sq.executed` back to the request holding
 *   the oldest unacknowledged PSN and sets `resumePacket`; a resumed message continues with
 *   Middle/Last packets, a resumed READ sends a new READ Request for the rest (rxe
 *   req_retry), at the same PSNs.
 * - The payload is a view of the physical runs (link.ts): read by the receiver on delivery.
 * - Flow, as rxe_req.c bounds it: a new request is not started while MAX_UNACKED_PSNS or more
 *   PSNs await acknowledgement (RXE_MAX_UNACKED_PSNS; checked per request, not per packet,
 *   since a message carries AckReq on its last packet only — its own packets never wait), and
 *   one task sends at most PACKET_BUDGET packets of a segmented message before it yields
 *   (rxe's requester is a task that sends a packet per pass). The completer's ACKs and NAKs run
 *   in between, so a loss is answered after a bounded number of packets and go-back-N resends
 *   no more than that (roce-v2.md §8.2). The window holds only on a link that serialises
 *   (tap or impairments): the lossless link loses nothing, so it bounds nothing there and
 *   would only cost a scheduler round per message; the packets are the same either way.
 */
import { MessageKind, Opcode as WireOpcode, packetCount, psnAdd, psnDiff, segmentLength, segmentOpcode, type MessageKindCode } from '../wire/index.ts';
import { MAX_UNACKED_PSNS, armRetransmit, drainResolved } from './completer.ts';
import { dmaSyndrome, resolveRuns } from './dma.ts';
import { WQE_PENDING, type Endpoint } from './endpoint.ts';
import type { SanNic } from './san-nic.ts';
import { checkScatterList } from './scatter-list.ts';
import { Opcode, Syndrome, WcStatus } from './status.ts';
import { NicAccess } from './tpt.ts';
import { DMA_OK } from '../bus/index.ts';

const isLengthSyndrome = (s: number): boolean =>
  s === Syndrome.ZERO_LENGTH || s === Syndrome.TOO_LONG || s === Syndrome.LENGTH_MISMATCH;

/**
 * Work requests one requester task may execute before it yields. rxe's requester likewise runs
 * until its queue is empty or it must yield, then reschedules itself; a small budget keeps one
 * busy endpoint from holding up the others' tasks and the acknowledgements.
 */
const REQUESTER_BUDGET = 16;

/** Packets of a segmented message one requester task sends before it yields. */
const PACKET_BUDGET = 16;


/** One scheduler task: send the endpoint's next work requests, or flush it when in error. */
export function processEndpoint(nic: SanNic, ep: Endpoint): void {
  ep.scheduled = false;
  if (!nic.isLive(ep)) return;
  if (ep.flushing) {
    flushEndpoint(nic, ep);
    return;
  }
  const sq = ep.sq;
  if (ep.state !== 'connected' || ep.waitingForRecv || sq.executed === sq.posted) return;
  const windowed = nic.fabric!.link.serialises;
  for (let budget = REQUESTER_BUDGET; ; ) {
    // A new request waits for acknowledgements (the completer schedules us on progress).
    if (ep.resumePacket === 0 && windowed && psnDiff(ep.sqPsn, ep.unackedPsn) >= MAX_UNACKED_PSNS) return;
    const whole = sendHead(nic, ep);
    if (!whole || ep.flushing || ep.waitingForRecv || sq.executed === sq.posted || --budget === 0) break;
  }
  if (!ep.flushing && !ep.waitingForRecv && sq.executed < sq.posted) nic.schedule(ep);
}

/**
 * Execute the request at `sq.executed`, from packet `ep.resumePacket` on. False when it
 * yielded mid-message (PACKET_BUDGET): the rest goes out on the next pass.
 */
function sendHead(nic: SanNic, ep: Endpoint): boolean {
  const sq = ep.sq;
  const seq = sq.executed;
  const slot = sq.slot(seq);
  const opcode = sq.opcode[slot]!;
  const read = opcode === Opcode.RDMA_READ;
  const local = nic.requesterSegs;
  const total = checkScatterList(nic, ep.owner, sq, slot, read ? NicAccess.LOCAL_WRITE : NicAccess.LOCAL_READ, local, Number.POSITIVE_INFINITY);
  let syndrome: number = total < 0 ? -total : Syndrome.NONE;
  if (syndrome === Syndrome.NONE) {
    if (total === 0) syndrome = Syndrome.ZERO_LENGTH;
    else if (total > nic.capabilities.maxMessageBytes) syndrome = Syndrome.TOO_LONG;
    else if (opcode !== Opcode.SEND && sq.remoteLength[slot] !== total) syndrome = Syndrome.LENGTH_MISMATCH;
  }
  if (syndrome !== Syndrome.NONE) {
    failLocally(nic, ep, seq, isLengthSyndrome(syndrome) ? WcStatus.LOC_LEN_ERR : WcStatus.LOC_PROT_ERR, syndrome);
    return true;
  }
  const runs = nic.requesterRuns;
  {
    // Every run of the message resolved before a packet exists (a READ's too: where its
    // responses will land), so a bus fault sends nothing.
    const status = resolveRuns(nic.dma, local, read, runs);
    if (status !== DMA_OK) {
      failLocally(nic, ep, seq, WcStatus.GENERAL_ERR, dmaSyndrome(status));
      return true;
    }
  }
  const pmtu = ep.pmtu;
  const n = packetCount(total, pmtu);
  const from = ep.resumePacket;
  if (from === 0) {
    sq.firstPsn[slot] = ep.sqPsn;
    sq.packets[slot] = n;
    sq.outcome[slot] = WQE_PENDING;
    sq.bytes[slot] = total;
  }
  const first = sq.firstPsn[slot]!;
  const port = nic.wire;
  if (read) {
    // One request for the rest of the message; the responses take PSNs first+from … first+n-1.
    const offset = from * pmtu;
    if (psnDiff(psnAdd(first, from), ep.sentPsn) < 0) port.counters.retransmitted++;
    const p = port.begin(ep, WireOpcode.RC_RDMA_READ_REQUEST, psnAdd(first, from), 1, 0,
      sq.remoteAddress[slot]! + offset, sq.remoteKey[slot]!, total - offset, 0, 0);
    port.send(p);
  } else {
    const kind: MessageKindCode = opcode === Opcode.SEND ? MessageKind.SEND : MessageKind.RDMA_WRITE;
    const va = sq.remoteAddress[slot]!;
    const rkey = sq.remoteKey[slot]!;
    if (from === 0 && n > 1 && !nic.fabric!.link.serialises) {
      // Nothing needs the bytes: the whole message as one GSO packet (link.ts), copied once.
      const p = port.beginMessage(ep, segmentOpcode(kind, 0, n), first, total, n, va, rkey, 0, 0);
      port.addPayload(p, nic.dma, runs, 0, total);
      port.send(p);
    } else {
      const end = Math.min(n, from + PACKET_BUDGET);
      for (let i = from; i < end; i++) {
        const op = segmentOpcode(kind, i, n);
        const len = segmentLength(total, pmtu, i);
        // AckReq on the last packet of the message (roce-v2.md §4.1): one ACK per message.
        const ackReq = i === n - 1 ? 1 : 0;
        // RETH on the first packet of a WRITE only; a resumed WRITE goes on with Middle/Last.
        const psn = psnAdd(first, i);
        if (psnDiff(psn, ep.sentPsn) < 0) port.counters.retransmitted++;
        const p = port.begin(ep, op, psn, ackReq, len, va, rkey, total, 0, 0);
        port.addPayload(p, nic.dma, runs, i * pmtu, len);
        port.send(p);
      }
      if (end < n) {
        ep.sqPsn = psnAdd(first, end);
        if (psnDiff(ep.sqPsn, ep.sentPsn) > 0) ep.sentPsn = ep.sqPsn;
        ep.resumePacket = end;
        armRetransmit(nic, ep);
        return false;
      }
    }
  }
  ep.sqPsn = psnAdd(first, n);
  if (psnDiff(ep.sqPsn, ep.sentPsn) > 0) ep.sentPsn = ep.sqPsn;
  ep.resumePacket = 0;
  sq.executed++;
  armRetransmit(nic, ep);
  return true;
}

/** A request failed its local checks: resolved now, completed in order; the endpoint goes to error. */
function failLocally(nic: SanNic, ep: Endpoint, seq: number, status: number, syndrome: number): void {
  const sq = ep.sq;
  const slot = sq.slot(seq);
  sq.outcome[slot] = status;
  sq.outcomeSyndrome[slot] = syndrome;
  sq.bytes[slot] = 0;
  sq.packets[slot] = 0;
  sq.firstPsn[slot] = ep.sqPsn;
  sq.executed++;
  ep.resumePacket = 0;
  nic.enterError(ep, 'error');
  drainResolved(nic, ep);
}

/**
 * Complete every request of an endpoint in error with WR_FLUSH_ERR, oldest first. Requests
 * already sent wait for their acknowledgement or their timer (the completer reschedules the
 * flush), so completions stay in order.
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
