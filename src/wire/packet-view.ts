/**
 * Receiving: a parsed RoCEv2 packet as a small reusable view of offsets into the received
 * bytes, and the acceptance checks that decide whether it is parsed at all (rxe_recv.c
 * rxe_rcv/hdr_check, rxe_icrc.c rxe_icrc_check).
 *
 * Implementation notes
 * - One `PacketView` per receiving port, reused for every packet: a parse fills numbers and
 *   offsets (no object per field, no copy). The view is valid until the next parse; header
 *   fields beyond the ones decoded here are read with the headers.ts accessors at the offsets
 *   it holds (`bthPkey(v.buf, v.bth)`, `rethVa(v.buf, v.reth)`).
 * - A parse returns a DropReason: NONE when accepted, otherwise which check failed, for the
 *   NIC's counters. rxe drops silently (a counter, never a NAK) on each of them. Hostile bytes
 *   never throw: every read is bounds-checked by the length checks that precede it, in order.
 * - Order of checks. First what the host's network stack does before rxe sees a packet
 *   (Ethernet type and destination, IPv4 version/IHL, header checksum, lengths, no fragments,
 *   UDP length, port 4791, a non-zero UDP checksum verified). Then rxe_recv.c's order:
 *   1 UDP payload holds a BTH; 2 destination IP (GID) is local; 3 the payload holds the
 *   opcode's headers; 4 TVer 0; 5 DestQP non-zero; then the opcode must be known (rule 7's
 *   transport check fails for an unknown opcode on every QP type), pad and ICRC must fit (and a
 *   header-only opcode carries nothing else); 9 P_Key (rxe_verbs.h pkey_match); 10 ICRC.
 *   Rules 6–8 and the UD Q_Key need the QP table: the NIC applies them to an accepted view.
 * - Four entry points for the four ways a packet arrives: a whole Ethernet frame (in-process
 *   link, capture files); a bare IPv4 datagram (LINKTYPE_RAW); a bare UDP payload with the
 *   addresses beside it (a UDP socket link: the kernel keeps the IP and UDP headers, so the
 *   ICRC's IPv4+UDP part is rebuilt as our builder writes it — DF, TTL 64, the sender's IP ID,
 *   which that link fixes, 0 by default); a split frame (head + payload view, frame.ts), whose
 *   ICRC is implied because it was never serialised.
 */
import { getU16, getU32 } from './big-endian.ts';
import { WireError } from './errors.ts';
import { bthAckReq, bthDestQp, bthPadCount, bthPkey, bthPsn, bthTver } from './headers.ts';
import { ICRC_BYTES, getIcrc, icrcOf } from './icrc.ts';
import {
  ETHERTYPE_IPV4, ETH_BYTES, FRAME_IP, IPPROTO_UDP, IPV4_BYTES, ROCE_UDP_PORT, UDP_BYTES, getMac, ipv4ChecksumValid,
  udpChecksumValid, writeIpv4, writeUdp, DEFAULT_TTL,
} from './network.ts';
import { BTH_BYTES, ExtHeader, OpMask, extOffset, opcodeHeaderLength, opcodeMask } from './opcodes.ts';
import { DEFAULT_PKEY } from './build.ts';

/** Why a received packet was dropped (NONE: accepted). Numbered for a counter array. */
export const DropReason = {
  NONE: 0,
  /** Fewer bytes than the Ethernet/IPv4/UDP headers need. */
  TRUNCATED: 1,
  /** EtherType is not IPv4 (0x0800); also an 802.1Q-tagged frame, which the model never sends. */
  NOT_IPV4: 2,
  /** Destination MAC is not this port's. */
  MAC_DST: 3,
  /** IPv4 version not 4 or IHL not 5 (RoCEv2 never carries IP options). */
  IP_HEADER: 4,
  IP_CHECKSUM: 5,
  /** Total Length below 28 or beyond the received bytes. */
  IP_LENGTH: 6,
  /** MF set or a fragment offset: RoCE is never fragmented. */
  IP_FRAGMENT: 7,
  NOT_UDP: 8,
  /** UDP Length below 8 or beyond the IP payload. */
  UDP_LENGTH: 9,
  /** Destination port is not 4791. */
  NOT_ROCE_PORT: 10,
  /** A non-zero UDP checksum that does not verify. */
  UDP_CHECKSUM: 11,
  /** rxe rule 1: UDP payload shorter than a BTH. */
  SHORT_BTH: 12,
  /** rxe rule 2: the destination IP (GID) is not local. */
  DGID: 13,
  /** rxe rule 3: UDP payload shorter than the opcode's headers. */
  SHORT_HEADERS: 14,
  /** rxe rule 4: TVer is not 0. */
  TVER: 15,
  /** rxe rule 5: DestQP is 0 (QP0 does not exist on RoCE). */
  DEST_QP_ZERO: 16,
  /** Not an opcode of the table (opcodes.ts). */
  UNKNOWN_OPCODE: 17,
  /** Headers + pad + ICRC exceed the UDP payload, or a header-only opcode carries bytes. */
  BAD_LENGTH: 18,
  /** rxe rule 9: P_Key does not match the port's. */
  PKEY: 19,
  /** rxe rule 10: ICRC mismatch. */
  ICRC: 20,
} as const;
export type DropReasonCode = (typeof DropReason)[keyof typeof DropReason];
/** The reasons are numbered 0, 1, … without gaps: counters index an array by them. */
export const DROP_REASON_COUNT = Object.keys(DropReason).length;

const DROP_NAMES: readonly string[] = Object.keys(DropReason).map((k) => k.toLowerCase().replace(/_/g, '-'));
/** "icrc", "ip-checksum", …, "none": for counters and logs. */
export const dropReasonName = (r: number): string => DROP_NAMES[r] ?? `unknown-${r}`;

/**
 * rxe_verbs.h pkey_match: the low 15 bits equal and non-zero, and at least one of the two
 * keys a full member (bit 15).
 */
export const pkeyMatch = (a: number, b: number): boolean =>
  (a & 0x7fff) !== 0 && (a & 0x7fff) === (b & 0x7fff) && ((a | b) & 0x8000) !== 0;

export interface PacketViewOptions {
  /** This port's IPv4 address: packets for another are dropped (rule 2). Default: any. */
  localIp?: number;
  /** This port's MAC: Ethernet frames for another are dropped. Default: any. */
  localMac?: number;
  /** This port's P_Key (rule 9). Default 0xFFFF. */
  pkey?: number;
}

const EMPTY = new Uint8Array(0);
const { NONE, TRUNCATED, NOT_IPV4, MAC_DST, IP_HEADER, IP_CHECKSUM, IP_LENGTH, IP_FRAGMENT, NOT_UDP, UDP_LENGTH,
  NOT_ROCE_PORT, UDP_CHECKSUM, SHORT_BTH, DGID, SHORT_HEADERS, TVER, DEST_QP_ZERO, UNKNOWN_OPCODE, BAD_LENGTH, PKEY,
  ICRC } = DropReason;

function badArgument(field: string, value: unknown, expected: string): never {
  throw new WireError(field, `${field} = ${String(value)}: expected ${expected}`);
}

export class PacketView {
  readonly localIp: number;
  readonly localMac: number;
  readonly pkey: number;

  // ---- valid after a parse that returned NONE ----
  /** Bytes holding the BTH and extension headers. */
  buf: Uint8Array = EMPTY;
  /** Offset of the BTH in `buf`. */
  bth = 0;
  /** Bytes holding the IPv4 header, the UDP header right after it (at `ip + 20`). */
  ipBuf: Uint8Array = EMPTY;
  ip = 0;
  srcIp = 0;
  dstIp = 0;
  srcPort = 0;
  opcode = -1;
  /** The opcode's OpMask flags. */
  mask = 0;
  /** BTH + extension headers. */
  headerLength = 0;
  psn = 0;
  destQp = 0;
  ackReq = 0;
  padCount = 0;
  /** Offsets in `buf` of the extension headers the opcode carries, -1 for the others. */
  reth = -1;
  aeth = -1;
  deth = -1;
  immdt = -1;
  ieth = -1;
  atmeth = -1;
  atmack = -1;
  /** Payload (pad excluded): `payloadBuf[payloadOffset … + payloadLength)`. */
  payloadBuf: Uint8Array = EMPTY;
  payloadOffset = 0;
  payloadLength = 0;

  /** IPv4 + UDP header rebuilt for a bare UDP payload (the ICRC covers them). */
  private readonly pseudo = new Uint8Array(IPV4_BYTES + UDP_BYTES);

  constructor(options: PacketViewOptions = {}) {
    const { localIp = -1, localMac = -1, pkey = DEFAULT_PKEY } = options;
    if (localIp !== -1 && localIp >>> 0 !== localIp) badArgument('localIp', localIp, 'an unsigned 32-bit IPv4 address');
    if (localMac !== -1 && !(Number.isSafeInteger(localMac) && localMac >= 0 && localMac < 2 ** 48)) badArgument('localMac', localMac, 'a 48-bit number');
    if ((pkey & 0xffff) !== pkey) badArgument('pkey', pkey, '0..0xffff');
    this.localIp = localIp;
    this.localMac = localMac;
    this.pkey = pkey;
  }

  /** A whole Ethernet II frame (no FCS) in `frame[0 … length)`; trailing Ethernet padding is ignored. */
  parseFrame(frame: Uint8Array, length: number = frame?.length): DropReasonCode {
    checkBytes(frame, length);
    if (length < ETH_BYTES) return TRUNCATED;
    if (getU16(frame, 12) !== ETHERTYPE_IPV4) return NOT_IPV4;
    if (this.localMac !== -1 && getMac(frame, 0) !== this.localMac) return MAC_DST;
    return this.network(frame, FRAME_IP, length - ETH_BYTES, null);
  }

  /** A bare IPv4 datagram (LINKTYPE_RAW) in `datagram[0 … length)`. */
  parseDatagram(datagram: Uint8Array, length: number = datagram?.length): DropReasonCode {
    checkBytes(datagram, length);
    return this.network(datagram, 0, length, null);
  }

  /**
   * A bare UDP payload (BTH … ICRC) in `bytes[0 … length)`, as a UDP socket hands it over with
   * the peer's address and port. The ICRC is checked against the IPv4+UDP header the builder
   * would have written for it, with the sender's IP ID (`ipId`).
   */
  parseUdpPayload(bytes: Uint8Array, length: number, srcIp: number, srcPort: number, dstIp: number, ipId = 0): DropReasonCode {
    checkBytes(bytes, length);
    if (srcIp >>> 0 !== srcIp) badArgument('srcIp', srcIp, 'an unsigned 32-bit IPv4 address');
    if (dstIp >>> 0 !== dstIp) badArgument('dstIp', dstIp, 'an unsigned 32-bit IPv4 address');
    if ((srcPort & 0xffff) !== srcPort) badArgument('srcPort', srcPort, '0..65535');
    if ((ipId & 0xffff) !== ipId) badArgument('ipId', ipId, '0..65535');
    if (length > 0xffff - IPV4_BYTES - UDP_BYTES) return UDP_LENGTH;
    const p = this.pseudo;
    writeIpv4(p, 0, 0, IPV4_BYTES + UDP_BYTES + length, ipId, DEFAULT_TTL, srcIp, dstIp);
    writeUdp(p, IPV4_BYTES, srcPort, ROCE_UDP_PORT, UDP_BYTES + length);
    this.srcIp = srcIp;
    this.dstIp = dstIp;
    this.srcPort = srcPort;
    return this.transport(bytes, 0, length, length, p, 0, null);
  }

  /**
   * A split frame (frame.ts): `head` is Ethernet through the extension headers, `payload` the
   * payload it announces. Every header check runs; the ICRC is not on such a frame (it was
   * never serialised, so nothing could corrupt it) and is not checked.
   */
  parseSplitFrame(head: Uint8Array, payload: Uint8Array): DropReasonCode {
    checkBytes(head, head?.length);
    if (!(payload instanceof Uint8Array)) badArgument('payload', payload, 'a Uint8Array');
    if (head.length < ETH_BYTES) return TRUNCATED;
    if (getU16(head, 12) !== ETHERTYPE_IPV4) return NOT_IPV4;
    if (this.localMac !== -1 && getMac(head, 0) !== this.localMac) return MAC_DST;
    return this.network(head, FRAME_IP, head.length - ETH_BYTES, payload);
  }

  /**
   * A split frame whose payload is not a byte array at all (the in-process link carries it as
   * a view of the sender's DMA runs, src/nic/link.ts): `head[0 … headLength)` is Ethernet
   * through the extension headers, `payloadLength` the payload it announces. Every header check
   * runs; no ICRC (never serialised) and no payload bytes (`payloadBuf` is empty).
   */
  parseSplitHead(head: Uint8Array, headLength: number, payloadLength: number): DropReasonCode {
    checkBytes(head, headLength);
    if (!Number.isSafeInteger(payloadLength) || payloadLength < 0) badArgument('payloadLength', payloadLength, 'a non-negative integer');
    if (headLength < ETH_BYTES) return TRUNCATED;
    if (getU16(head, 12) !== ETHERTYPE_IPV4) return NOT_IPV4;
    if (this.localMac !== -1 && getMac(head, 0) !== this.localMac) return MAC_DST;
    this.splitLength = payloadLength;
    const r = this.network(head, FRAME_IP, headLength - ETH_BYTES, EMPTY);
    this.splitLength = -1;
    return r;
  }

  /** Payload length of the split frame being parsed by parseSplitHead (-1: the payload array's). */
  private splitLength = -1;

  /** The payload as a view (allocates the view object; the bytes are not copied). */
  payload(): Uint8Array {
    return this.payloadBuf.subarray(this.payloadOffset, this.payloadOffset + this.payloadLength);
  }

  /** IPv4 and UDP, as the host stack checks them; `avail` bytes from `ip` (the head's, when split). */
  private network(b: Uint8Array, ip: number, avail: number, split: Uint8Array | null): DropReasonCode {
    if (avail < IPV4_BYTES + UDP_BYTES) return TRUNCATED;
    if (b[ip] !== 0x45) return IP_HEADER;
    if (!ipv4ChecksumValid(b, ip)) return IP_CHECKSUM;
    const total = getU16(b, ip + 2);
    if (total < IPV4_BYTES + UDP_BYTES || (split === null && total > avail)) return IP_LENGTH;
    if ((getU16(b, ip + 6) & 0x3fff) !== 0) return IP_FRAGMENT;
    if (b[ip + 9] !== IPPROTO_UDP) return NOT_UDP;
    const udp = ip + IPV4_BYTES;
    const udpLength = getU16(b, udp + 4);
    if (udpLength < UDP_BYTES || udpLength > total - IPV4_BYTES) return UDP_LENGTH;
    if (getU16(b, udp + 2) !== ROCE_UDP_PORT) return NOT_ROCE_PORT;
    if (split === null && getU16(b, udp + 6) !== 0 && !udpChecksumValid(b, ip, udp, udpLength)) return UDP_CHECKSUM;
    this.srcIp = getU32(b, ip + 12);
    this.dstIp = getU32(b, ip + 16);
    this.srcPort = getU16(b, udp);
    const bth = udp + UDP_BYTES;
    const end = udp + udpLength;
    return this.transport(b, bth, end, split === null ? end : ip + avail, b, ip, split);
  }

  /**
   * rxe's checks on the UDP payload `b[bth … end)` (`present`: where the bytes in `b` really
   * stop — `end` unless split), then the view is filled.
   */
  private transport(
    b: Uint8Array, bth: number, end: number, present: number, ipBuf: Uint8Array, ip: number, split: Uint8Array | null,
  ): DropReasonCode {
    const have = Math.min(end, present) - bth;
    if (end - bth < BTH_BYTES || have < BTH_BYTES) return SHORT_BTH; // rule 1
    if (this.localIp !== -1 && this.dstIp !== this.localIp) return DGID; // rule 2
    const opcode = b[bth]!;
    const mask = opcodeMask(opcode);
    const hdrLen = mask === 0 ? BTH_BYTES : opcodeHeaderLength(opcode);
    if (end - bth < hdrLen || have < hdrLen) return SHORT_HEADERS; // rule 3
    if (bthTver(b, bth) !== 0) return TVER; // rule 4
    const destQp = bthDestQp(b, bth);
    if (destQp === 0) return DEST_QP_ZERO; // rule 5
    if (mask === 0) return UNKNOWN_OPCODE;
    const pad = bthPadCount(b, bth);
    const payloadLength = end - bth - hdrLen - pad - ICRC_BYTES;
    if (payloadLength < 0) return BAD_LENGTH;
    if ((mask & OpMask.PAYLOAD) === 0 && payloadLength + pad !== 0) return BAD_LENGTH;
    if (split !== null && (this.splitLength >= 0 ? this.splitLength : split.length) !== payloadLength) return BAD_LENGTH;
    if (!pkeyMatch(bthPkey(b, bth), this.pkey)) return PKEY; // rule 9
    const icrcAt = end - ICRC_BYTES;
    if (split === null && getIcrc(b, icrcAt) !== icrcOf(ipBuf, ip, b, bth, icrcAt) >>> 0) return ICRC; // rule 10

    this.buf = b;
    this.bth = bth;
    this.ipBuf = ipBuf;
    this.ip = ip;
    this.opcode = opcode;
    this.mask = mask;
    this.headerLength = hdrLen;
    this.psn = bthPsn(b, bth);
    this.destQp = destQp;
    this.ackReq = bthAckReq(b, bth);
    this.padCount = pad;
    this.reth = (mask & OpMask.RETH) !== 0 ? bth + extOffset(opcode, ExtHeader.RETH) : -1;
    this.aeth = (mask & OpMask.AETH) !== 0 ? bth + extOffset(opcode, ExtHeader.AETH) : -1;
    this.deth = (mask & OpMask.DETH) !== 0 ? bth + extOffset(opcode, ExtHeader.DETH) : -1;
    this.immdt = (mask & OpMask.IMMDT) !== 0 ? bth + extOffset(opcode, ExtHeader.IMMDT) : -1;
    this.ieth = (mask & OpMask.IETH) !== 0 ? bth + extOffset(opcode, ExtHeader.IETH) : -1;
    this.atmeth = (mask & OpMask.ATMETH) !== 0 ? bth + extOffset(opcode, ExtHeader.ATMETH) : -1;
    this.atmack = (mask & OpMask.ATMACK) !== 0 ? bth + extOffset(opcode, ExtHeader.ATMACK) : -1;
    if (split === null) {
      this.payloadBuf = b;
      this.payloadOffset = bth + hdrLen;
    } else {
      this.payloadBuf = split;
      this.payloadOffset = 0;
    }
    this.payloadLength = payloadLength;
    return NONE;
  }
}

function checkBytes(bytes: Uint8Array, length: number): void {
  if (!(bytes instanceof Uint8Array)) badArgument('bytes', bytes, 'a Uint8Array');
  if (!Number.isSafeInteger(length) || length < 0 || length > bytes.length) badArgument('length', length, `0..${bytes.length}`);
}
