/**
 * The NIC's port on the link (rxe_net.c + rxe_recv.c): builds the headers of every packet the
 * requester, responder and completer send, hands packets to the link, and on receive applies
 * the acceptance checks (src/wire PacketView: rxe_recv.c rules 1–5, 9, 10; here rules 6–8:
 * the QP exists, its state allows the packet, the source IP is its peer's) before giving a
 * request to the responder and a response to the completer. Counts every packet per opcode,
 * both ways, and every drop per reason.
 *
 * Implementation notes
 * - One `PacketFields` and one `PacketView` per NIC, reused: no object per packet. Heads are
 *   written from the endpoint's template (src/wire HeadTemplate): the connection's constant
 *   bytes copied, the packet's own fields written, the same bytes as `writeFrameHead`.
 * - Payloads are physical runs of this NIC's host memory, already resolved through its DMA
 *   view by the caller (so a bus fault is found before the packet exists); the link carries
 *   them as a view or serialises them (link.ts).
 */
import type { DeviceDmaView, DmaRunList } from '../bus/index.ts';
import {
  DROP_REASON_COUNT, DropReason, GSI_QPN, OpMask, PacketView, macForIpv4, packetFields, udpSourcePort,
  type PacketFields,
} from '../wire/index.ts';
import type { Endpoint } from './endpoint.ts';
import type { Link, LinkPort, WirePacket } from './link.ts';

/** Wire counters of one NIC (issue 16: the per-opcode counts tshark must agree with). */
export class WireCounters {
  /** Packets sent, by BTH opcode. */
  readonly txByOpcode = new Float64Array(256);
  /** Packets accepted by the receive checks, by BTH opcode. */
  readonly rxByOpcode = new Float64Array(256);
  /** Packets dropped by the receive checks, by src/wire DropReason. */
  readonly dropped = new Float64Array(DROP_REASON_COUNT);
  /** Dropped for want of a QP in a state that takes it (rxe rules 6–8). */
  droppedNoQp = 0;
  /** Requests that were duplicates (PSN before the expected one), re-acknowledged. */
  duplicates = 0;
  /** Packets sent again: requests by go-back-N (requester), and READ responses served again
   *  for a duplicate READ Request (responder). */
  retransmitted = 0;
  /** Retransmit-timer expiries and RNR NAKs received. */
  timeouts = 0;
  rnrNaksReceived = 0;
  /** NAKs of every kind sent (PSN sequence error, RNR, errors). */
  naksSent = 0;
  naksReceived = 0;

  get packetsSent(): number {
    let n = 0;
    for (let i = 0; i < 256; i++) n += this.txByOpcode[i]!;
    return n;
  }

  get packetsReceived(): number {
    let n = 0;
    for (let i = 0; i < 256; i++) n += this.rxByOpcode[i]!;
    return n;
  }

  get packetsDropped(): number {
    let n = this.droppedNoQp;
    for (let i = 0; i < DROP_REASON_COUNT; i++) n += this.dropped[i]!;
    return n;
  }

  /** Count `other`'s packets here too (a cluster's totals over its NICs). */
  add(other: WireCounters): void {
    for (let i = 0; i < 256; i++) {
      this.txByOpcode[i] = this.txByOpcode[i]! + other.txByOpcode[i]!;
      this.rxByOpcode[i] = this.rxByOpcode[i]! + other.rxByOpcode[i]!;
    }
    for (let i = 0; i < DROP_REASON_COUNT; i++) this.dropped[i] = this.dropped[i]! + other.dropped[i]!;
    this.droppedNoQp += other.droppedNoQp;
    this.duplicates += other.duplicates;
    this.retransmitted += other.retransmitted;
    this.timeouts += other.timeouts;
    this.rnrNaksReceived += other.rnrNaksReceived;
    this.naksSent += other.naksSent;
    this.naksReceived += other.naksReceived;
  }
}

export interface WirePortOwner {
  readonly name: string;
  /** The IPv4 address this NIC sends from. */
  readonly wireIp: number;
  answersFor(ipv4: number): boolean;
  /** An accepted packet: a request (`view.mask & REQ`) or a response, for endpoint `ep`. */
  deliver(ep: Endpoint, packet: WirePacket, view: PacketView): void;
  /** The endpoint a DestQP names, or null. */
  endpointByQpn(qpn: number): Endpoint | null;
  /** An accepted packet to QP1 (the GSI agent: CM MADs, cm-agent.ts). */
  deliverGsi(packet: WirePacket, view: PacketView): void;
}

export class WirePort implements LinkPort {
  readonly counters = new WireCounters();
  readonly view = new PacketView();
  private readonly fields: PacketFields = packetFields();
  link: Link | null = null;

  constructor(private readonly owner: WirePortOwner) {}

  get name(): string {
    return this.owner.name;
  }

  answersFor(ipv4: number): boolean {
    return this.owner.answersFor(ipv4);
  }

  /**
   * Start a packet to `ep`'s peer: the headers for `opcode` carrying `payloadLength` bytes.
   * Extension-header fields are taken from the arguments the opcode uses (RETH: va, rkey,
   * dmaLength; AETH: syndrome, msn). Returns the packet, payload still to add (`addPayload`),
   * then `send`.
   */
  begin(
    ep: Endpoint, opcode: number, psn: number, ackReq: number, payloadLength: number,
    va: number, rkey: number, dmaLength: number, syndrome: number, msn: number,
  ): WirePacket {
    const link = this.link!;
    const src = this.owner.wireIp;
    const dst = ep.peerIp;
    const t = ep.headTemplate;
    if (!t.matches(src, dst, ep.udpSourcePort, ep.peerEndpoint)) {
      // The connection's constant fields, checked and written once (src/wire HeadTemplate).
      const f = this.fields;
      f.srcIp = src;
      f.dstIp = dst;
      f.srcMac = macForIpv4(src);
      f.dstMac = macForIpv4(dst);
      f.srcPort = ep.udpSourcePort;
      f.destQp = ep.peerEndpoint;
      t.prepare(f);
    }
    const p = link.packet();
    p.headLength = t.write(p.head, opcode, psn, ackReq, payloadLength, va, rkey, dmaLength, syndrome, msn);
    p.payloadLength = payloadLength;
    p.headPayloadLength = payloadLength;
    p.dstIp = dst;
    return p;
  }

  /**
   * Add `length` payload bytes taken at byte `offset` of the physical run list `runs` that
   * `source` resolved (the list is walked from its start; lists are short).
   */
  addPayload(p: WirePacket, source: DeviceDmaView, runs: DmaRunList, offset: number, length: number): void {
    p.memory = source.memory;
    p.source = source;
    p.runs.pushRange(runs, offset, length);
  }

  send(p: WirePacket): void {
    countSegments(this.counters.txByOpcode, p.opcode, p.segments);
    this.link!.transmit(this, p);
  }

  /**
   * Start a GSO packet (link.ts): a whole message of `segments` packets at `pmtu`, described by
   * its first packet's headers (a First opcode, `psn`, RETH for a WRITE, AETH for a READ
   * response). Only when the link does not serialise; `addPayload` the whole message, `send`.
   */
  beginMessage(
    ep: Endpoint, firstOpcode: number, psn: number, total: number, segments: number,
    va: number, rkey: number, syndrome: number, msn: number,
  ): WirePacket {
    const p = this.begin(ep, firstOpcode, psn, 0, ep.pmtu, va, rkey, total, syndrome, msn);
    p.payloadLength = total;
    p.segments = segments;
    return p;
  }

  /** The link delivers a packet. */
  receive(p: WirePacket): void {
    const v = this.view;
    const r = p.frameLength > 0
      ? v.parseFrame(p.frame!, p.frameLength)
      : v.parseSplitHead(p.head, p.headLength, p.headPayloadLength);
    if (r !== DropReason.NONE) {
      this.counters.dropped[r]++;
      return;
    }
    if (v.destQp === GSI_QPN) {
      // rxe_recv.c rule 6: DestQP 1 is the GSI QP (roce-v2.md §1.5, §10.1).
      countSegments(this.counters.rxByOpcode, v.opcode, p.segments);
      this.owner.deliverGsi(p, v);
      return;
    }
    const ep = this.owner.endpointByQpn(v.destQp);
    // rxe_recv.c rules 6–8: the QP exists, its state takes the packet, and it comes from the
    // QP's peer (RC: the path's source address).
    if (ep === null || ep.peerIp !== v.srcIp || !acceptsIn(ep, v.mask)) {
      this.counters.droppedNoQp++;
      return;
    }
    countSegments(this.counters.rxByOpcode, v.opcode, p.segments);
    this.owner.deliver(ep, p, v);
  }
}

/**
 * Rule 7 for our states: requests need a responder that is ready to receive (connected, or the
 * passive side between accept and RTU); responses need a requester with work outstanding —
 * also in error, so what was executed before the error still completes in order.
 */
function acceptsIn(ep: Endpoint, mask: number): boolean {
  if ((mask & OpMask.REQ) !== 0) return ep.state === 'connected' || ep.state === 'connecting';
  return ep.state !== 'idle' && ep.peerEndpoint !== 0;
}

/**
 * Count the packets a (GSO) packet stands for by opcode: First, Middle × (n − 2), Last. RC
 * First/Middle/Last opcodes are consecutive for SEND (0x00), WRITE (0x06) and READ responses
 * (0x0D) — the only messages sent as GSO packets.
 */
function countSegments(table: Float64Array, opcode: number, segments: number): void {
  if (segments === 1) {
    table[opcode]++;
    return;
  }
  table[opcode]++;
  table[opcode + 1] += segments - 2;
  table[opcode + 2]++;
}

/** The UDP source port of a connection's flow (roce-v2.md §1.3), fixed at connection time. */
export const flowSourcePort = (localQpn: number, remoteQpn: number): number => udpSourcePort(localQpn, remoteQpn);
