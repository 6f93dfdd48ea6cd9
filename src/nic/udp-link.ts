/**
 * The UDP link: the NIC's link over a real UDP socket bound to the host's IPv4 address and port
 * 4791, so hosts in different operating-system processes (or machines) meet as RoCEv2 NICs do
 * (rxe_net.c: rxe_send builds the UDP/IP packet, rxe_udp_encap_recv takes it off the socket).
 * Nothing sits between hosts but the kernel's UDP: no broker, no shared memory.
 *
 * Implementation notes
 * - A datagram's payload is the RoCEv2 UDP payload, BTH through ICRC: exactly the bytes the
 *   capture writes after the Ethernet, IPv4 and UDP headers (the kernel writes those). The
 *   sender builds every frame in bytes (`serialises`: no payload views across processes) and
 *   sends `frame[FRAME_BTH …)`.
 * - The ICRC covers the IPv4 and UDP headers (roce-v2.md §5.1: only TOS, TTL, the checksums
 *   masked), UDP source port included. A user-space socket cannot choose its source port per
 *   datagram as rxe does (the flow's 0xC000–0xFFFF entropy port, §1.3): every datagram leaves
 *   from the socket's port, 4791. So the link writes that port into the frame before sealing
 *   it, and the receiver rebuilds the frame as a RoCEv2 NIC would have received it — its own
 *   Ethernet/IPv4/UDP headers from the datagram's source and destination address and port, IP
 *   ID 0, DF, TTL 64, as src/wire's builder writes them — and hands the port a whole frame,
 *   which the port checks in full (src/wire PacketView.parseFrame: ICRC included).
 * - Drops, each counted (UdpLinkCounters), nothing else changed: a datagram from an address
 *   that is not a configured peer (no spoofed or stray sender reaches a QP), shorter than a
 *   BTH and ICRC, longer than the largest frame, or arriving while no port answers for our
 *   address. Bad ICRC, unknown QPs, garbage: the port's checks (WireCounters). Kernel
 *   socket-buffer overflows are loss like any other — the transport retransmits — and are read
 *   back from /proc/net/udp where there is one (`kernelDrops`).
 * - Socket buffers are sized deliberately (`recvBufferBytes`, `sendBufferBytes`; Linux grants
 *   up to net.core.rmem_max / wmem_max and reports twice what it grants, its bookkeeping
 *   share): the sizes granted are kept for the report.
 * - A sent frame's buffer belongs to the kernel until the send callback (libuv may queue it):
 *   the packet goes back to the pool from there, one callback per packet made once.
 * - Timing: the scheduler must follow real time (scheduler.ts followRealTime) so a peer's answer
 *   is waited for, not jumped over; every datagram is a task on it.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import {
  BTH_BYTES, DEFAULT_TTL, FRAME_BTH, FRAME_IP, FRAME_UDP, ICRC_BYTES, IPV4_BYTES, ROCE_UDP_PORT, UDP_BYTES, macForIpv4,
  localAckTimeoutNanoseconds, sealFrame, writeEthernet, writeIpv4, writeUdp,
} from '../wire/index.ts';
import { MAX_FRAME_BYTES, WirePacket, type CaptureTap, type Link, type LinkPort, type RemoteNics } from './link.ts';
import type { Scheduler } from './scheduler.ts';
import { NicConfigurationError } from './status.ts';

/** The socket buffers asked for by default: 4 MiB each way (a burst of ~1000 full frames). */
export const DEFAULT_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** The largest UDP payload a frame has. */
const MAX_DATAGRAM_BYTES = MAX_FRAME_BYTES - FRAME_BTH;
/** Packets kept for reuse. */
const POOL_LIMIT = 4096;

export interface UdpLinkOptions {
  /** The host's IPv4 address, dotted: the socket binds it, port 4791. */
  address: string;
  /** The peers' IPv4 addresses: the only senders accepted and the only destinations. */
  peers: readonly string[];
  /** Path MTU in bytes toward every peer (rdma_resolve_route's answer). Default 4096. */
  pathMtu?: number;
  /** Socket buffer sizes asked for. Default DEFAULT_SOCKET_BUFFER_BYTES. */
  recvBufferBytes?: number;
  sendBufferBytes?: number;
}

/** What the link did, by datagram. */
export class UdpLinkCounters {
  sent = 0;
  bytesSent = 0;
  /** Sends the kernel refused (ENOBUFS, EAGAIN, unreachable …): lost, the transport retransmits. */
  sendErrors = 0;
  /** Packets for an address that is neither ours nor a peer's: not sent. */
  unroutable = 0;
  /** Datagrams taken off the socket (every one, dropped or not). */
  received = 0;
  bytesReceived = 0;
  droppedUnknownSource = 0;
  droppedTruncated = 0;
  droppedOversized = 0;
  /** No port answers for our address yet (the driver has not configured it). */
  droppedNoPort = 0;

  get dropped(): number {
    return this.droppedUnknownSource + this.droppedTruncated + this.droppedOversized + this.droppedNoPort;
  }
}

/** The socket could not be opened (address in use, not local …); `code` is the system's. */
export class UdpLinkError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'UdpLinkError';
  }
}

class UdpPacket extends WirePacket {
  /** The send callback: the kernel is done with the frame. */
  sent: (error: Error | null) => void = () => {};
}

/**
 * Run `then` once libuv has really closed a socket whose close callback just ran: Node calls
 * that callback on a tick, libuv frees the handle in its close phase, which follows the check
 * phase; two check-phase turns later it is gone (ordering of the event loop, not time).
 */
function afterHandleClosed(then: () => void): void {
  setImmediate(() => setImmediate(then));
}

const isPmtu = (v: number): boolean => v === 256 || v === 512 || v === 1024 || v === 2048 || v === 4096;

/** Dotted IPv4 → unsigned number, or null. */
export function ipv4Number(text: string): number | null {
  if (typeof text !== 'string') return null;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const b = Number(m[i]);
    if (b > 255) return null;
    v = v * 256 + b;
  }
  return v;
}

/**
 * The local ACK timeout over a real network: rdma_cm's RoCE packet life time
 * (cma.c CMA_IBOE_PACKET_LIFETIME = 18: 4.096 µs × 2^18 ≈ 1.07 s), not the in-process 67 ms —
 * a peer process that is busy (compiling, collecting garbage, sharing two cores) must not
 * exhaust 7 retries in half a second.
 */
export const UDP_ACK_TIMEOUT_NS = localAckTimeoutNanoseconds(18);

export class UdpLink implements Link, RemoteNics {
  readonly serialises = true;
  readonly ackTimeoutNs = UDP_ACK_TIMEOUT_NS;
  readonly remote: RemoteNics = this;
  readonly counters = new UdpLinkCounters();
  /** Our IPv4 address (number) and the peers', both ways. */
  readonly ip: number;
  readonly address: string;
  private readonly peerIps = new Map<string, number>();
  private readonly peerAddresses = new Map<number, string>();
  readonly pathMtu: number;
  /** Socket buffer sizes asked for and granted (as the kernel reports them). */
  readonly recvBufferRequested: number;
  readonly sendBufferRequested: number;
  recvBufferBytes = 0;
  sendBufferBytes = 0;
  tap: CaptureTap | null = null;
  private readonly socket: Socket;
  private readonly ports: LinkPort[] = [];
  private local: LinkPort | null = null;
  private readonly pool: WirePacket[] = [];
  private state: 'new' | 'open' | 'closing' | 'closed' = 'new';
  private closing: Promise<void> | null = null;
  /** Socket errors after the bind (they never stop the link: a send error is a loss). */
  socketErrors = 0;
  /** Sends handed to the socket whose callback has not come yet. */
  private inFlight = 0;
  private drained: (() => void) | null = null;

  /** Open a link: the socket bound to `address`:4791, buffers sized. Rejects with UdpLinkError. */
  static async open(scheduler: Scheduler, options: UdpLinkOptions): Promise<UdpLink> {
    const link = new UdpLink(scheduler, options);
    await link.bind();
    return link;
  }

  private constructor(readonly scheduler: Scheduler, options: UdpLinkOptions) {
    if (options === null || typeof options !== 'object') throw new NicConfigurationError('UdpLink: options must be an object');
    const ip = ipv4Number(options.address);
    if (ip === null) throw new NicConfigurationError(`UdpLink: address "${String(options.address)}" is not a dotted IPv4 address`);
    if (!Array.isArray(options.peers)) throw new NicConfigurationError('UdpLink: peers must be an array of IPv4 addresses');
    for (const peer of options.peers) {
      const n = ipv4Number(peer);
      if (n === null) throw new NicConfigurationError(`UdpLink: peer "${String(peer)}" is not a dotted IPv4 address`);
      if (n === ip) throw new NicConfigurationError(`UdpLink: peer ${peer} is this host's own address`);
      this.peerIps.set(peer, n);
      this.peerAddresses.set(n, peer);
    }
    const { pathMtu = 4096, recvBufferBytes = DEFAULT_SOCKET_BUFFER_BYTES, sendBufferBytes = DEFAULT_SOCKET_BUFFER_BYTES } = options;
    if (!isPmtu(pathMtu)) throw new NicConfigurationError(`UdpLink: pathMtu must be 256, 512, 1024, 2048 or 4096, got ${String(pathMtu)}`);
    for (const [name, v] of [['recvBufferBytes', recvBufferBytes], ['sendBufferBytes', sendBufferBytes]] as const) {
      if (!Number.isSafeInteger(v) || v < 65536 || v > 1 << 30) throw new NicConfigurationError(`UdpLink: ${name} must be 64 KiB … 1 GiB, got ${String(v)}`);
    }
    this.ip = ip;
    this.address = options.address;
    this.pathMtu = pathMtu;
    this.recvBufferRequested = recvBufferBytes;
    this.sendBufferRequested = sendBufferBytes;
    this.socket = createSocket({ type: 'udp4', reuseAddr: false });
  }

  private bind(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = this.socket;
      const failed = (e: NodeJS.ErrnoException): void => {
        this.state = 'closed';
        const error = new UdpLinkError(`cannot bind ${this.address}:${ROCE_UDP_PORT}: ${e.code ?? e.message}`, e.code ?? 'EUNKNOWN');
        // Rejected once the socket is really gone: nothing of a failed open stays bound or open.
        try {
          s.close(() => afterHandleClosed(() => reject(error)));
        } catch {
          reject(error);
        }
      };
      s.once('error', failed);
      s.bind({ address: this.address, port: ROCE_UDP_PORT, exclusive: true }, () => {
        s.off('error', failed);
        s.on('error', () => this.socketErrors++);
        s.on('message', this.onMessage);
        try {
          s.setRecvBufferSize(this.recvBufferRequested);
          s.setSendBufferSize(this.sendBufferRequested);
        } catch {
          // Refused outright (not clamped): the kernel's defaults stay, and are reported.
        }
        this.recvBufferBytes = s.getRecvBufferSize();
        this.sendBufferBytes = s.getSendBufferSize();
        this.state = 'open';
        resolve();
      });
    });
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /**
   * Close the socket (idempotent) once every datagram already sent has left: a host's last
   * words (the DREQ of its teardown) reach its peers. Packets sent afterwards are dropped; none
   * is received.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    if (this.state !== 'open') {
      this.state = 'closed';
      return (this.closing = Promise.resolve());
    }
    this.state = 'closing';
    this.closing = new Promise((resolve) => {
      const close = (): void => {
        this.socket.close(() => {
          this.state = 'closed';
          afterHandleClosed(resolve);
        });
      };
      if (this.inFlight === 0) close();
      else this.drained = close;
    });
    return this.closing;
  }

  /** Datagrams the kernel dropped on our socket (its receive buffer was full): /proc/net/udp's
   *  `drops` column, or null where that file does not exist or the socket is closed. */
  kernelDrops(): number | null {
    if (this.state !== 'open') return null;
    let text: string;
    try {
      text = readFileSync('/proc/net/udp', 'latin1');
    } catch {
      return null;
    }
    // local_address is the address in host byte order as hex (x86: little-endian), then the port.
    const ip = this.ip;
    const le = (((ip & 0xff) << 24) | ((ip >>> 8) & 0xff) << 16 | ((ip >>> 16) & 0xff) << 8 | (ip >>> 24)) >>> 0;
    const want = [ip, le].map((v) => `${v.toString(16).toUpperCase().padStart(8, '0')}:${ROCE_UDP_PORT.toString(16).toUpperCase().padStart(4, '0')}`);
    for (const line of text.split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 13 && want.includes(f[1]!)) {
        const drops = Number(f[f.length - 1]);
        return Number.isSafeInteger(drops) ? drops : null;
      }
    }
    return null;
  }

  // ───────────────────────────── RemoteNics ─────────────────────────────

  pathTo(ipv4: number): { ip: number; mtu: number } | null {
    return this.peerAddresses.has(ipv4) ? { ip: ipv4, mtu: this.pathMtu } : null;
  }

  /** The peers' addresses (dotted). */
  get peers(): string[] {
    return [...this.peerIps.keys()];
  }

  // ───────────────────────────── Link ─────────────────────────────

  attach(port: LinkPort): void {
    if (!this.ports.includes(port)) this.ports.push(port);
  }

  packet(): WirePacket {
    return this.pool.pop() ?? this.newPacket();
  }

  release(packet: WirePacket): void {
    packet.reset();
    if (this.pool.length < POOL_LIMIT) this.pool.push(packet);
  }

  transmit(_from: LinkPort, packet: WirePacket): void {
    const p = packet as UdpPacket;
    const to = this.peerAddresses.get(p.dstIp) ?? (p.dstIp === this.ip ? this.address : undefined);
    if (to === undefined || this.state !== 'open') {
      this.counters.unroutable++;
      this.release(p);
      return;
    }
    if (p.frameLength === 0) {
      // The frame leaves from the socket's port (see the file comment): written before the seal.
      p.head[FRAME_UDP] = ROCE_UDP_PORT >>> 8;
      p.head[FRAME_UDP + 1] = ROCE_UDP_PORT & 0xff;
      p.serialize();
    } else {
      const f = p.frame!;
      if (f[FRAME_UDP] !== ROCE_UDP_PORT >>> 8 || f[FRAME_UDP + 1] !== (ROCE_UDP_PORT & 0xff)) {
        f[FRAME_UDP] = ROCE_UDP_PORT >>> 8;
        f[FRAME_UDP + 1] = ROCE_UDP_PORT & 0xff;
        sealFrame(f);
      }
    }
    const frame = p.frame!;
    const length = p.frameLength - FRAME_BTH;
    this.counters.sent++;
    this.counters.bytesSent += length;
    if (this.tap !== null) this.tap.frame(frame, p.frameLength, this.scheduler.now);
    this.inFlight++;
    this.socket.send(frame, FRAME_BTH, length, ROCE_UDP_PORT, to, p.sent);
  }

  private localPort(): LinkPort | null {
    const hit = this.local;
    if (hit !== null && hit.answersFor(this.ip)) return hit;
    this.local = null;
    for (const port of this.ports) {
      if (port.answersFor(this.ip)) return (this.local = port);
    }
    return null;
  }

  private readonly onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    const c = this.counters;
    const n = msg.length;
    c.received++;
    c.bytesReceived += n;
    if (this.state !== 'open') return;
    const src = rinfo.family === 'IPv4' ? this.peerIps.get(rinfo.address) : undefined;
    if (src === undefined) {
      c.droppedUnknownSource++;
      this.scheduler.wake();
      return;
    }
    if (n < BTH_BYTES + ICRC_BYTES) {
      c.droppedTruncated++;
      this.scheduler.wake();
      return;
    }
    if (n > MAX_DATAGRAM_BYTES) {
      c.droppedOversized++;
      this.scheduler.wake();
      return;
    }
    const port = this.localPort();
    if (port === null) {
      c.droppedNoPort++;
      this.scheduler.wake();
      return;
    }
    const p = this.packet();
    const f = (p.frame ??= new Uint8Array(MAX_FRAME_BYTES));
    // The frame as a RoCEv2 NIC receives it: the headers the kernel consumed, rebuilt.
    writeEthernet(f, 0, macForIpv4(this.ip), macForIpv4(src));
    writeIpv4(f, FRAME_IP, 0, IPV4_BYTES + UDP_BYTES + n, 0, DEFAULT_TTL, src, this.ip);
    writeUdp(f, FRAME_UDP, rinfo.port, ROCE_UDP_PORT, UDP_BYTES + n);
    f.set(msg, FRAME_BTH);
    p.frameLength = FRAME_BTH + n;
    p.payloadInFrame = true;
    p.dstIp = this.ip;
    p.port = port;
    if (this.tap !== null) this.tap.frame(f, p.frameLength, this.scheduler.now);
    this.scheduler.enqueue(p.deliver);
  };

  private newPacket(): WirePacket {
    const p = new UdpPacket();
    p.deliver = () => {
      const port = p.port;
      try {
        if (port !== null) port.receive(p);
      } finally {
        this.release(p);
      }
    };
    p.sent = (error) => {
      if (error !== null && error !== undefined) this.counters.sendErrors++;
      this.release(p);
      if (--this.inFlight === 0 && this.drained !== null) {
        const close = this.drained;
        this.drained = null;
        close();
      }
    };
    return p;
  }
}
