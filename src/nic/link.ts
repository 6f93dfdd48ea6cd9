/**
 * The link: what carries the NIC's RoCEv2 packets to other NICs (DESIGN.md "The wire"; the
 * counterpart of rxe_net.c's rxe_send / rxe_udp_encap_recv). A NIC hands the link packets and
 * receives packets from it; it never holds a reference to another NIC. The link routes by the
 * destination IPv4 address in the packet's IP header (roce-v2.md §1.4: a RoCEv2 address is an
 * IPv4-mapped GID), asking its ports which one answers for it, as ARP would.
 *
 * Implementation notes
 * - A packet is a `WirePacket`: a pooled, reusable record, never an object per packet. Its
 *   `head` holds every header in real bytes (Ethernet through the last extension header, as
 *   src/wire's `writeFrameHead` writes them). The payload is either
 *   · a view of the sender's memory: physical runs of its PhysicalMemory, read once by the
 *     receiver when it places the payload (the GSO allowance of issue 16 — the lossless link
 *     never serialises a payload, so a byte is copied once, sender memory to receiver memory).
 *     As GSO does, such a packet may stand for a whole message: `segments` > 1 packets of
 *     the path MTU, of which `head` is the first (First, its real headers) and the others are
 *     what segmentation would make of it (Middle…, Last at PSN + segments − 1, roce-v2.md
 *     §4.2). Senders use it only when nothing needs the bytes (no tap, no impairment): with
 *     either on they segment the message themselves, so a capture shows every real packet;
 *   · or serialised: the whole frame in `frame` (head, payload, pad, ICRC), built by the link
 *     when something needs the bytes — a capture tap or an impairment that could corrupt them.
 *   Either way the receiver sees the same headers; a serialised frame is checked in full
 *   (ICRC included) by src/wire's PacketView. A view is read when delivered, a serialised
 *   frame when sent: the two give the same bytes unless the source changes while its request
 *   is outstanding — which the IBA forbids the application (a buffer belongs to the NIC from
 *   post to completion; on hardware its bytes on the wire are then undefined too).
 * - Delivery is a task on the cluster's one scheduler (scheduler.ts) — FIFO, so the lossless
 *   link is in order and deterministic — or a timer when the link has a delay (link-faults.ts).
 * - Nothing travels beside the bytes: a NAK says what it says in its AETH (roce-v2.md §7.3)
 *   and the requester reads it against the request it refuses (completer.ts nakSyndrome), so
 *   any link — this one or one between processes — gives the same completions.
 */
import { DmaRunList, type DeviceDmaView, type PhysicalMemory } from '../bus/index.ts';
import { ICRC_BYTES, sealFrame, FRAME_BTH, FRAME_IP } from '../wire/index.ts';
import { DirectionTable, LinkFaultCounters, LinkRandom, NO_IMPAIRMENTS, checkImpairments, impaired, type LinkImpairments } from './link-faults.ts';
import type { Scheduler } from './scheduler.ts';

/** Ethernet + IPv4 + UDP + BTH + the longest extension headers an RC or UD opcode carries. */
export const MAX_HEAD_BYTES = 14 + 20 + 8 + 12 + 28 + 8;
/** The largest frame: a PMTU-4096 payload with the longest head, pad and ICRC (§12: ≤ 4174). */
export const MAX_FRAME_BYTES = MAX_HEAD_BYTES + 4096 + 3 + ICRC_BYTES;

export class WirePacket {
  readonly head = new Uint8Array(MAX_HEAD_BYTES);
  headLength = 0;
  /** Payload bytes of the whole packet (of every segment when `segments` > 1). */
  payloadLength = 0;
  /** Packets this one stands for (GSO, see above); 1 for a plain packet. */
  segments = 1;
  /** Payload bytes the head announces (its own packet's: the first segment's for GSO). */
  headPayloadLength = 0;
  /** Payload view: `memory` and its physical runs (`runs`) (null: no payload view).
   *  `source` is the sender's DMA view: its observer (the verifier) sees the read when the
   *  bytes are really read — on delivery, or when the frame is serialised. */
  memory: PhysicalMemory | null = null;
  source: DeviceDmaView | null = null;
  readonly runs = new DmaRunList(8);
  /** The serialised frame (allocated on first use, kept with the packet); `frameLength` 0: none. */
  frame: Uint8Array | null = null;
  frameLength = 0;
  /** The payload bytes are already in `frame` after the head (too many runs for a view). */
  payloadInFrame = false;
  dstIp = 0;
  /** Set by the link: the task that delivers this packet. */
  deliver: () => void = noop;
  /** Set by the link: where it goes. */
  port: LinkPort | null = null;

  /** Reset for reuse (the link calls it when the packet comes back to the pool). */
  reset(): void {
    this.headLength = 0;
    this.payloadLength = 0;
    this.segments = 1;
    this.headPayloadLength = 0;
    this.memory = null;
    this.source = null;
    this.runs.clear();
    this.frameLength = 0;
    this.payloadInFrame = false;
    this.dstIp = 0;
    this.port = null;
  }


  /**
   * Build the frame in bytes: head, the payload read from the view, pad, ICRC (src/wire
   * sealFrame, roce-v2.md §5). Idempotent. The payload view stays set (the receiver prefers the
   * bytes once a frame exists).
   */
  serialize(): Uint8Array {
    if (this.frameLength > 0) return this.frame!;
    const frame = (this.frame ??= new Uint8Array(MAX_FRAME_BYTES));
    frame.set(this.head.subarray(0, this.headLength), 0);
    let at = this.headLength;
    if (this.segments !== 1) throw new Error('WirePacket.serialize: a GSO packet is never serialised (its sender segments it)');
    if (!this.payloadInFrame && this.memory !== null) {
      const runs = this.runs;
      for (let i = 0; i < runs.count; i++) {
        const n = runs.length[i]!;
        this.source?.observer?.(this.source.name, 'read', runs.address[i]!, n);
        this.memory.read(runs.address[i]!, frame, at, n);
        at += n;
      }
    }
    this.frameLength = sealFrame(frame);
    return frame;
  }

  get opcode(): number {
    return this.head[FRAME_BTH]!;
  }
}

function noop(): void {}

/** What a NIC is to its link. */
export interface LinkPort {
  readonly name: string;
  /** Whether this port answers for `ipv4` (its configured addresses, address resolution). */
  answersFor(ipv4: number): boolean;
  /** A packet arrived. The port must be done with it (payload placed) when this returns. */
  receive(packet: WirePacket): void;
}

/** A capture tap: sees every frame the link carries, serialised, at send time (pcap). */
export interface CaptureTap {
  frame(bytes: Uint8Array, length: number, timeNs: number): void;
}

/**
 * NICs a link reaches that are not attached to this process's fabric (other processes, other
 * machines: udp-link.ts). On such a link a NIC's SAN address is its IPv4 address, as a RoCEv2
 * GID is one (roce-v2.md §1.4), so any process can name any NIC without asking the others.
 */
export interface RemoteNics {
  /**
   * Address and route resolution (rdma_resolve_addr/route) for a remote NIC: its IPv4 address
   * and the path MTU in bytes, or null when the link knows no such peer.
   */
  pathTo(ipv4: number): { ip: number; mtu: number } | null;
}

/** A link: takes packets from ports and delivers them to the port that answers for their destination. */
export interface Link {
  /** Remote NICs (null: every NIC of this link is attached to the same fabric). */
  readonly remote: RemoteNics | null;
  /** The local ACK timeout of connections over this link, ns (undefined: the CM's default, completer.ts). */
  readonly ackTimeoutNs?: number;
  attach(port: LinkPort): void;
  /** A free packet for `from` to fill (headers, payload view, dstIp), then `transmit`. */
  packet(): WirePacket;
  /** Send a filled packet; the link owns it from here and recycles it after delivery. */
  transmit(from: LinkPort, packet: WirePacket): void;
  /** Give back a packet taken with `packet()` and never transmitted. */
  release(packet: WirePacket): void;
  /** Whether the sender must not count on a payload view staying valid (the link serialises). */
  readonly serialises: boolean;
  tap: CaptureTap | null;
}

const NO_FAULTS: Readonly<LinkFaultCounters> = Object.freeze(new LinkFaultCounters());

/** The IPv4 source address in a packet's head (big-endian, roce-v2.md §1.2). */
function sourceIp(packet: WirePacket): number {
  const h = packet.head;
  const at = FRAME_IP + 12;
  return ((h[at]! << 24) | (h[at + 1]! << 16) | (h[at + 2]! << 8) | h[at + 3]!) >>> 0;
}

/** Packets kept for reuse; more in flight at once are allocated and dropped on return. */
const POOL_LIMIT = 4096;

/**
 * The in-process link: ports in one Node process, delivery as scheduler tasks. Lossless and
 * in order here; impairments (loss, reordering, duplication, corruption, delay) come from
 * `LinkFaults` when set (link-faults.ts).
 */
export class InProcessLink implements Link {
  private readonly ports: LinkPort[] = [];
  /** Destination IPv4 → port, filled on first use and re-checked on every hit (addresses change). */
  private readonly routes = new Map<number, LinkPort>();
  private readonly pool: WirePacket[] = [];
  tap: CaptureTap | null = null;
  readonly remote = null;
  /** Frames sent / delivered / dropped for want of a port answering their address. */
  sent = 0;
  delivered = 0;
  unroutable = 0;

  constructor(readonly scheduler: Scheduler) {}

  /** What the impairments did (link-faults.ts). */
  readonly faults = new LinkFaultCounters();
  private impairments: LinkImpairments = NO_IMPAIRMENTS;
  private directions = new DirectionTable(NO_IMPAIRMENTS);
  private random: LinkRandom | null = null;

  get serialises(): boolean {
    return this.tap !== null || this.random !== null;
  }

  /** Set (or, with NO_IMPAIRMENTS, clear) the link's impairments; the generator restarts at the seed. */
  impair(impairments: LinkImpairments): void {
    this.impairments = checkImpairments(impairments);
    this.directions = new DirectionTable(this.impairments);
    this.random = impaired(this.impairments) ? new LinkRandom(this.impairments.seed) : null;
  }

  get currentImpairments(): Readonly<LinkImpairments> {
    return this.impairments;
  }

  attach(port: LinkPort): void {
    if (!this.ports.includes(port)) this.ports.push(port);
  }

  packet(): WirePacket {
    const p = this.pool.pop() ?? this.newPacket();
    return p;
  }

  release(packet: WirePacket): void {
    packet.reset();
    if (this.pool.length < POOL_LIMIT) this.pool.push(packet);
  }

  transmit(_from: LinkPort, packet: WirePacket): void {
    this.sent++;
    if (this.tap !== null) this.tap.frame(packet.serialize(), packet.frameLength, this.scheduler.now);
    const port = this.route(packet.dstIp);
    if (port === null) {
      // Nobody answers for the address: the frame goes nowhere (no NIC to deliver it to).
      this.unroutable++;
      this.release(packet);
      return;
    }
    packet.port = port;
    if (this.random === null) {
      this.scheduler.enqueue(packet.deliver);
      return;
    }
    this.impaired(packet, this.random);
  }

  /** Send a frame through the impairments of its direction (every frame is serialised here). */
  private impaired(packet: WirePacket, random: LinkRandom): void {
    const i = this.directions.of(sourceIp(packet), packet.dstIp >>> 0);
    packet.serialize();
    if (!this.directions.carries(i)) {
      this.scheduler.enqueue(packet.deliver);
      return;
    }
    if (random.next() < i.loss) {
      this.faults.lost++;
      this.faultsOf(packet).lost++;
      this.release(packet);
      return;
    }
    if (random.next() < i.corrupt) {
      // One bit of the BTH, extension headers or payload, never BTH byte 4 (masked, §5.1).
      const frame = packet.frame!;
      let at = FRAME_BTH + random.below(packet.frameLength - ICRC_BYTES - FRAME_BTH);
      if (at === FRAME_BTH + 4) at++;
      frame[at]! ^= 1 << random.below(8);
      this.faults.corrupted++;
      this.faultsOf(packet).corrupted++;
    }
    if (random.next() < i.duplicate) {
      const copy = this.packet();
      copy.frame ??= new Uint8Array(MAX_FRAME_BYTES);
      copy.frame.set(packet.frame!.subarray(0, packet.frameLength));
      copy.frameLength = packet.frameLength;
      copy.dstIp = packet.dstIp;
      copy.port = packet.port;
      this.faults.duplicated++;
      this.faultsOf(packet).duplicated++;
      this.later(copy, i.delayNs);
    }
    let delay = i.delayNs;
    if (random.next() < i.reorder) {
      delay += i.reorderNs ?? 10_000;
      this.faults.reordered++;
      this.faultsOf(packet).reordered++;
    }
    this.later(packet, delay);
  }

  /** What the impairments did to the frames from IPv4 `from` to IPv4 `to` (zeros if nothing). */
  faultsBetween(from: number, to: number): Readonly<LinkFaultCounters> {
    return this.directionFaults.get(from >>> 0)?.get(to >>> 0) ?? NO_FAULTS;
  }

  /** Source address → destination address → counters. */
  private readonly directionFaults = new Map<number, Map<number, LinkFaultCounters>>();

  /** The counters of a frame's direction (a faulted frame only: an allocation per direction, once). */
  private faultsOf(packet: WirePacket): LinkFaultCounters {
    const from = sourceIp(packet);
    let to = this.directionFaults.get(from);
    if (to === undefined) this.directionFaults.set(from, (to = new Map()));
    let c = to.get(packet.dstIp >>> 0);
    if (c === undefined) to.set(packet.dstIp >>> 0, (c = new LinkFaultCounters()));
    return c;
  }

  private later(packet: WirePacket, delayNs: number): void {
    if (delayNs === 0) this.scheduler.enqueue(packet.deliver);
    else this.scheduler.after(delayNs, packet.deliver);
  }

  /** The port answering for `ipv4`, or null. */
  route(ipv4: number): LinkPort | null {
    const hit = this.routes.get(ipv4);
    if (hit !== undefined && hit.answersFor(ipv4)) return hit;
    for (const port of this.ports) {
      if (port.answersFor(ipv4)) {
        this.routes.set(ipv4, port);
        return port;
      }
    }
    this.routes.delete(ipv4);
    return null;
  }

  private newPacket(): WirePacket {
    const p = new WirePacket();
    p.deliver = () => {
      const port = p.port;
      this.delivered++;
      try {
        if (port !== null) port.receive(p);
      } finally {
        this.release(p);
      }
    };
    return p;
  }
}
