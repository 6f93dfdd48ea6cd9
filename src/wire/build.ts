/**
 * Building RoCEv2 frames: Ethernet II + IPv4 + UDP + BTH + extension headers + payload + pad +
 * ICRC (rxe_req.c init_req_packet / rxe_net.c prepare4 / rxe_icrc.c rxe_icrc_generate).
 * Reference: IBA volume 1 chapter 9 (the headers), RoCEv2 annex A17 (framing, lengths, ICRC).
 *
 * Implementation notes
 * - A frame is built in three steps so the payload can be placed by whoever owns it:
 *   `writeFrameHead` writes every header with lengths and PadCnt already counting the payload,
 *   the caller puts the payload at `frameHeadLength(opcode)` (a DMA read can land there
 *   directly), and `sealFrame` zeroes the pad and writes the ICRC. `buildFrame` does all three
 *   with a payload given as a view.
 * - The head alone is a complete description of the packet (the in-process link may carry a
 *   head plus a payload view without serialising them, frame.ts); `frameIcrc` computes the
 *   ICRC over a head and a separate payload without concatenating them.
 * - `PacketFields` is one reusable mutable record, not an object per packet: the NIC keeps one
 *   per QP (addresses, P_Key, UDP source port stay; opcode, PSN, … change per packet).
 *   Extension-header fields are read only when the opcode carries that header.
 * - Every field is range-checked before a byte is written (a WireError names the field): a
 *   builder bug must not reach the wire as a silently truncated value.
 */
import { getU16, putU16, putU24 } from './big-endian.ts';
import { WireError } from './errors.ts';
import { writeAeth, writeAtmack, writeAtmeth, writeBth, writeDeth, writeReth, setImmDt, setIethRkey, bthPadCount } from './headers.ts';
import { ICRC_BYTES, icrcHeaders, icrcPad, icrcUpdate, putIcrc, icrcOf } from './icrc.ts';
import {
  DEFAULT_TTL, FRAME_BTH, FRAME_IP, FRAME_UDP, IPV4_BYTES, ROCE_UDP_PORT, UDP_BYTES, writeEthernet, writeIpv4, writeUdp,
} from './network.ts';
import { BTH_BYTES, ExtHeader, OpMask, Opcode, extOffset, opcodeHeaderLength, opcodeMask, opcodeName } from './opcodes.ts';

/** The P_Key rxe always sends: the default partition, full member. */
export const DEFAULT_PKEY = 0xffff;

/** Everything a frame's headers carry. Fields of headers the opcode lacks are ignored. */
export interface PacketFields {
  // Ethernet (48-bit numbers; `macForIpv4` gives our ports' MACs)
  dstMac: number;
  srcMac: number;
  // IPv4 (addresses as unsigned 32-bit numbers)
  srcIp: number;
  dstIp: number;
  /** DSCP << 2 | ECN; masked from the ICRC. */
  tos: number;
  /** Masked from the ICRC. */
  ttl: number;
  /** Covered by the ICRC: fixed before the ICRC is computed. */
  ipId: number;
  // UDP (the destination is always 4791)
  /** Flow entropy, constant per QP, 0xC000–0xFFFF (`udpSourcePort`). */
  srcPort: number;
  // BTH
  opcode: number;
  /** Solicited event (0/1). */
  se: number;
  /** MigReq (0/1); rxe sends 0. */
  mig: number;
  pkey: number;
  destQp: number;
  ackReq: number;
  psn: number;
  // RETH (also AtomicETH's VA and R_Key)
  va: number;
  rkey: number;
  dmaLength: number;
  // AETH
  syndrome: number;
  msn: number;
  // DETH
  qkey: number;
  srcQp: number;
  // ImmDt, IETH
  immDt: number;
  invalidateRkey: number;
  // AtomicETH operands, AtomicAckETH
  swapAdd: bigint;
  compare: bigint;
  origData: bigint;
}

/** A fresh record with rxe's defaults (TTL 64, P_Key 0xFFFF, UDP source 0xC000, everything else 0). */
export function packetFields(init: Partial<PacketFields> = {}): PacketFields {
  return {
    dstMac: 0, srcMac: 0, srcIp: 0, dstIp: 0, tos: 0, ttl: DEFAULT_TTL, ipId: 0, srcPort: 0xc000,
    opcode: 0, se: 0, mig: 0, pkey: DEFAULT_PKEY, destQp: 0, ackReq: 0, psn: 0,
    va: 0, rkey: 0, dmaLength: 0, syndrome: 0, msn: 0, qkey: 0, srcQp: 0, immDt: 0, invalidateRkey: 0,
    swapAdd: 0n, compare: 0n, origData: 0n,
    ...init,
  };
}

/** Bytes from the frame start to the payload: Ethernet + IPv4 + UDP + BTH + extension headers. */
export const frameHeadLength = (opcode: number): number => FRAME_BTH + opcodeHeaderLength(opcode);

/** PadCnt for a payload: pads it to a multiple of 4. */
export const padCount = (payloadLength: number): number => -payloadLength & 3;

/** Whole frame length (no FCS) of a known opcode carrying `payloadLength` bytes. */
export const frameLength = (opcode: number, payloadLength: number): number =>
  frameHeadLength(opcode) + payloadLength + padCount(payloadLength) + ICRC_BYTES;

/** The largest payload an IPv4 datagram can carry after these headers (Total Length is 16 bits). */
const maxPayload = (opcode: number): number => 0xffff - IPV4_BYTES - UDP_BYTES - opcodeHeaderLength(opcode) - ICRC_BYTES - 3;

function bad(field: string, value: unknown, expected: string): never {
  throw new WireError(field, `${field} = ${String(value)}: expected ${expected}`);
}
const isBits = (v: number, mask: number): boolean => (v & mask) === v;
const isU32 = (v: number): boolean => v >>> 0 === v;
const isMac = (v: number): boolean => Number.isSafeInteger(v) && v >= 0 && v < 0x1_0000_0000_0000;
const isU64 = (v: bigint): boolean => typeof v === 'bigint' && BigInt.asUintN(64, v) === v;

/** Range-check every field the opcode uses, naming the first bad one. */
function checkFields(f: PacketFields, payloadLength: number): number {
  const mask = opcodeMask(f.opcode);
  if (mask === 0 || !isBits(f.opcode, 0xff)) bad('opcode', f.opcode, 'an opcode of the table (opcodes.ts)');
  if (!Number.isSafeInteger(payloadLength) || payloadLength < 0) bad('payloadLength', payloadLength, 'a non-negative integer');
  if ((mask & OpMask.PAYLOAD) === 0 && payloadLength !== 0) bad('payloadLength', payloadLength, `0: ${opcodeName(f.opcode)} carries no payload`);
  if (payloadLength > maxPayload(f.opcode)) bad('payloadLength', payloadLength, `at most ${maxPayload(f.opcode)} (IPv4 Total Length)`);
  if (!isMac(f.dstMac)) bad('dstMac', f.dstMac, 'a 48-bit number');
  if (!isMac(f.srcMac)) bad('srcMac', f.srcMac, 'a 48-bit number');
  if (!isU32(f.srcIp)) bad('srcIp', f.srcIp, 'an unsigned 32-bit IPv4 address');
  if (!isU32(f.dstIp)) bad('dstIp', f.dstIp, 'an unsigned 32-bit IPv4 address');
  if (!isBits(f.tos, 0xff)) bad('tos', f.tos, '0..255');
  if (!isBits(f.ttl, 0xff)) bad('ttl', f.ttl, '0..255');
  if (!isBits(f.ipId, 0xffff)) bad('ipId', f.ipId, '0..65535');
  if (!isBits(f.srcPort, 0xffff)) bad('srcPort', f.srcPort, '0..65535');
  if (!isBits(f.se, 1)) bad('se', f.se, '0 or 1');
  if (!isBits(f.mig, 1)) bad('mig', f.mig, '0 or 1');
  if (!isBits(f.pkey, 0xffff)) bad('pkey', f.pkey, '0..0xffff');
  if (!isBits(f.destQp, 0xffffff)) bad('destQp', f.destQp, 'a 24-bit QP number');
  if (!isBits(f.ackReq, 1)) bad('ackReq', f.ackReq, '0 or 1');
  if (!isBits(f.psn, 0xffffff)) bad('psn', f.psn, 'a 24-bit PSN');
  if ((mask & (OpMask.RETH | OpMask.ATMETH)) !== 0) {
    if (!Number.isSafeInteger(f.va) || f.va < 0) bad('va', f.va, 'a non-negative safe integer');
    if (!isU32(f.rkey)) bad('rkey', f.rkey, 'an unsigned 32-bit key');
  }
  if ((mask & OpMask.RETH) !== 0 && !isU32(f.dmaLength)) bad('dmaLength', f.dmaLength, 'an unsigned 32-bit length');
  if ((mask & OpMask.ATMETH) !== 0) {
    if (!isU64(f.swapAdd)) bad('swapAdd', f.swapAdd, 'a 64-bit unsigned bigint');
    if (!isU64(f.compare)) bad('compare', f.compare, 'a 64-bit unsigned bigint');
  }
  if ((mask & OpMask.AETH) !== 0) {
    if (!isBits(f.syndrome, 0x7f)) bad('syndrome', f.syndrome, '0..0x7f (bit 7 is reserved)');
    if (!isBits(f.msn, 0xffffff)) bad('msn', f.msn, 'a 24-bit MSN');
  }
  if ((mask & OpMask.ATMACK) !== 0 && !isU64(f.origData)) bad('origData', f.origData, 'a 64-bit unsigned bigint');
  if ((mask & OpMask.DETH) !== 0) {
    if (!isU32(f.qkey)) bad('qkey', f.qkey, 'an unsigned 32-bit Q_Key');
    if (!isBits(f.srcQp, 0xffffff)) bad('srcQp', f.srcQp, 'a 24-bit QP number');
  }
  if ((mask & OpMask.IMMDT) !== 0 && !isU32(f.immDt)) bad('immDt', f.immDt, 'an unsigned 32-bit value');
  if ((mask & OpMask.IETH) !== 0 && !isU32(f.invalidateRkey)) bad('invalidateRkey', f.invalidateRkey, 'an unsigned 32-bit key');
  return mask;
}

/**
 * Write the head of a frame (Ethernet through the last extension header) at `out[0]`, with IP
 * Total Length, UDP Length and PadCnt counting `payloadLength` bytes of payload, its pad and
 * the ICRC. Returns the head length, i.e. where the payload goes.
 */
export function writeFrameHead(out: Uint8Array, f: PacketFields, payloadLength: number): number {
  const mask = checkFields(f, payloadLength);
  const headLength = frameHeadLength(f.opcode);
  if (!(out instanceof Uint8Array) || out.length < headLength) bad('out', out?.length, `a Uint8Array of at least ${headLength} bytes`);
  writeHead(out, f, mask, payloadLength);
  return headLength;
}

/** The writes behind writeFrameHead, on checked fields. */
function writeHead(out: Uint8Array, f: PacketFields, mask: number, payloadLength: number): void {
  const op = f.opcode;
  const hdrLen = opcodeHeaderLength(op);
  const pad = padCount(payloadLength);
  const udpLength = UDP_BYTES + hdrLen + payloadLength + pad + ICRC_BYTES;
  writeEthernet(out, 0, f.dstMac, f.srcMac);
  writeIpv4(out, FRAME_IP, f.tos, IPV4_BYTES + udpLength, f.ipId, f.ttl, f.srcIp, f.dstIp);
  writeUdp(out, FRAME_UDP, f.srcPort, ROCE_UDP_PORT, udpLength);
  writeBth(out, FRAME_BTH, op, f.se, f.mig, pad, f.pkey, f.destQp, f.ackReq, f.psn);
  if ((mask & OpMask.DETH) !== 0) writeDeth(out, FRAME_BTH + extOffset(op, ExtHeader.DETH), f.qkey, f.srcQp);
  if ((mask & OpMask.RETH) !== 0) writeReth(out, FRAME_BTH + extOffset(op, ExtHeader.RETH), f.va, f.rkey, f.dmaLength);
  if ((mask & OpMask.ATMETH) !== 0) writeAtmeth(out, FRAME_BTH + extOffset(op, ExtHeader.ATMETH), f.va, f.rkey, f.swapAdd, f.compare);
  if ((mask & OpMask.AETH) !== 0) writeAeth(out, FRAME_BTH + extOffset(op, ExtHeader.AETH), f.syndrome, f.msn);
  if ((mask & OpMask.ATMACK) !== 0) writeAtmack(out, FRAME_BTH + extOffset(op, ExtHeader.ATMACK), f.origData);
  if ((mask & OpMask.IMMDT) !== 0) setImmDt(out, FRAME_BTH + extOffset(op, ExtHeader.IMMDT), f.immDt);
  if ((mask & OpMask.IETH) !== 0) setIethRkey(out, FRAME_BTH + extOffset(op, ExtHeader.IETH), f.invalidateRkey);
}

/** Extension headers `HeadTemplate` does not write. */
const TEMPLATE_UNSUPPORTED = OpMask.DETH | OpMask.ATMETH | OpMask.ATMACK | OpMask.IMMDT | OpMask.IETH;

/**
 * A connection's frame heads, built from a template: the bytes that stay the same for every
 * packet of one QP (Ethernet, IPv4 but for Total Length and checksum, UDP ports, BTH P_Key,
 * SE/M, DestQP) are written once by `writeFrameHead` (every field checked), and each packet
 * copies them and writes its own fields — opcode, PadCnt, AckReq, PSN, the lengths, the IPv4
 * checksum (from the template's partial one's-complement sum, the same integer RFC 1071 sums)
 * and the RETH or AETH. The bytes are exactly `writeFrameHead`'s for the same fields (the
 * tests compare them); the per-packet fields are range-checked as it checks them. For the RC
 * opcodes whose extension headers are RETH and/or AETH only (the NIC's requests, responses,
 * acknowledgements); any other opcode is a WireError.
 */
export class HeadTemplate {
  private readonly bytes = new Uint8Array(FRAME_BTH + BTH_BYTES);
  /** Sum of the IPv4 header's 16-bit words except Total Length and the checksum, unfolded. */
  private ipSum = 0;
  /** The connection fields the template was written from (`matches`). */
  srcIp = -1;
  dstIp = -1;
  srcPort = -1;
  destQp = -1;

  /** Whether the template holds these connection fields (the rest are the record's, fixed). */
  matches(srcIp: number, dstIp: number, srcPort: number, destQp: number): boolean {
    return this.srcIp === srcIp && this.dstIp === dstIp && this.srcPort === srcPort && this.destQp === destQp;
  }

  /** Take the connection fields of `f` (its per-packet fields are ignored). */
  prepare(f: PacketFields): void {
    const scratch = new Uint8Array(frameHeadLength(Opcode.RC_ACKNOWLEDGE));
    const saved = { opcode: f.opcode, ackReq: f.ackReq, psn: f.psn, syndrome: f.syndrome, msn: f.msn };
    f.opcode = Opcode.RC_ACKNOWLEDGE;
    f.ackReq = 0;
    f.psn = 0;
    f.syndrome = 0;
    f.msn = 0;
    try {
      writeFrameHead(scratch, f, 0);
    } finally {
      Object.assign(f, saved);
    }
    this.bytes.set(scratch.subarray(0, this.bytes.length));
    const b = this.bytes;
    let sum = 0;
    for (let i = 0; i < IPV4_BYTES; i += 2) if (i !== 2 && i !== 10) sum += (b[FRAME_IP + i]! << 8) | b[FRAME_IP + i + 1]!;
    this.ipSum = sum;
    this.srcIp = f.srcIp;
    this.dstIp = f.dstIp;
    this.srcPort = f.srcPort;
    this.destQp = f.destQp;
  }

  /**
   * Write the head of a packet of this connection at `out[0]`, as `writeFrameHead` would with
   * the template's connection fields and these; returns the head length.
   */
  write(
    out: Uint8Array, opcode: number, psn: number, ackReq: number, payloadLength: number,
    va: number, rkey: number, dmaLength: number, syndrome: number, msn: number,
  ): number {
    if (this.srcIp === -1) bad('template', 'unprepared', 'a template prepared from a connection\'s fields');
    const mask = opcodeMask(opcode);
    if (mask === 0 || !isBits(opcode, 0xff)) bad('opcode', opcode, 'an opcode of the table (opcodes.ts)');
    if ((mask & TEMPLATE_UNSUPPORTED) !== 0) bad('opcode', opcode, 'an opcode whose extension headers are RETH and/or AETH');
    if (!Number.isSafeInteger(payloadLength) || payloadLength < 0) bad('payloadLength', payloadLength, 'a non-negative integer');
    if ((mask & OpMask.PAYLOAD) === 0 && payloadLength !== 0) bad('payloadLength', payloadLength, `0: ${opcodeName(opcode)} carries no payload`);
    if (payloadLength > maxPayload(opcode)) bad('payloadLength', payloadLength, `at most ${maxPayload(opcode)} (IPv4 Total Length)`);
    if (!isBits(ackReq, 1)) bad('ackReq', ackReq, '0 or 1');
    if (!isBits(psn, 0xffffff)) bad('psn', psn, 'a 24-bit PSN');
    const reth = (mask & OpMask.RETH) !== 0;
    const aeth = (mask & OpMask.AETH) !== 0;
    if (reth) {
      if (!Number.isSafeInteger(va) || va < 0) bad('va', va, 'a non-negative safe integer');
      if (!isU32(rkey)) bad('rkey', rkey, 'an unsigned 32-bit key');
      if (!isU32(dmaLength)) bad('dmaLength', dmaLength, 'an unsigned 32-bit length');
    }
    if (aeth) {
      if (!isBits(syndrome, 0x7f)) bad('syndrome', syndrome, '0..0x7f (bit 7 is reserved)');
      if (!isBits(msn, 0xffffff)) bad('msn', msn, 'a 24-bit MSN');
    }
    const hdrLen = opcodeHeaderLength(opcode);
    const headLength = FRAME_BTH + hdrLen;
    if (!(out instanceof Uint8Array) || out.length < headLength) bad('out', out?.length, `a Uint8Array of at least ${headLength} bytes`);
    const b = this.bytes;
    out.set(b);
    const pad = -payloadLength & 3;
    const udpLength = UDP_BYTES + hdrLen + payloadLength + pad + ICRC_BYTES;
    const total = IPV4_BYTES + udpLength;
    putU16(out, FRAME_IP + 2, total);
    let sum = this.ipSum + total;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    putU16(out, FRAME_IP + 10, ~sum & 0xffff);
    putU16(out, FRAME_UDP + 4, udpLength);
    out[FRAME_BTH] = opcode;
    out[FRAME_BTH + 1] = b[FRAME_BTH + 1]! | (pad << 4);
    out[FRAME_BTH + 8] = ackReq << 7;
    putU24(out, FRAME_BTH + 9, psn);
    if (reth) writeReth(out, FRAME_BTH + extOffset(opcode, ExtHeader.RETH), va, rkey, dmaLength);
    if (aeth) writeAeth(out, FRAME_BTH + extOffset(opcode, ExtHeader.AETH), syndrome, msn);
    return headLength;
  }
}

// The head's own account of its frame, set by `readGeometry` (module state, not an object per
// packet: the codec is synchronous).
let gHeadLength = 0;
let gPayloadLength = 0;
let gPadCount = 0;
let gFrameLength = 0;

/**
 * Read head length, payload length, pad and frame length from the opcode, UDP Length and PadCnt
 * the head carries. Throws a WireError when they do not add up (not written by `writeFrameHead`).
 */
function readGeometry(head: Uint8Array): void {
  const hdrLen = opcodeHeaderLength(head[FRAME_BTH] ?? 0);
  gHeadLength = FRAME_BTH + hdrLen;
  if (hdrLen === 0 || head.length < gHeadLength) bad('frame', head.length, 'a frame head written by writeFrameHead');
  gPadCount = bthPadCount(head, FRAME_BTH);
  gFrameLength = FRAME_UDP + getU16(head, FRAME_UDP + 4);
  gPayloadLength = gFrameLength - ICRC_BYTES - gPadCount - gHeadLength;
  if (gPayloadLength < 0) bad('frame', gPayloadLength, 'a UDP Length that covers the headers, pad and ICRC');
}

/**
 * Finish a frame whose head was written by `writeFrameHead` and whose payload is in place at
 * `frameHeadLength(opcode)`: zero the pad bytes and write the ICRC. Returns the frame length.
 */
export function sealFrame(frame: Uint8Array): number {
  if (!(frame instanceof Uint8Array)) bad('frame', frame, 'a Uint8Array');
  readGeometry(frame);
  const end = gFrameLength - ICRC_BYTES;
  if (frame.length < gFrameLength) bad('frame', frame.length, `at least ${gFrameLength} bytes (the frame's UDP Length)`);
  for (let i = end - gPadCount; i < end; i++) frame[i] = 0;
  putIcrc(frame, end, icrcOf(frame, FRAME_IP, frame, FRAME_BTH, end));
  return gFrameLength;
}

/**
 * A whole frame at `out[0]`: head, a copy of `payload`, pad, ICRC. Returns the frame length;
 * the frame is `out.subarray(0, length)`. `payload` may already sit at its place in `out`.
 */
export function buildFrame(out: Uint8Array, f: PacketFields, payload: Uint8Array): number {
  if (!(payload instanceof Uint8Array)) bad('payload', payload, 'a Uint8Array');
  const mask = checkFields(f, payload.length);
  const headLength = frameHeadLength(f.opcode);
  const total = frameLength(f.opcode, payload.length);
  if (!(out instanceof Uint8Array) || out.length < total) bad('out', out?.length, `a Uint8Array of at least ${total} bytes`);
  // A payload lying under the head would be overwritten by it before the copy.
  const p0 = payload.byteOffset - out.byteOffset;
  if (payload.buffer === out.buffer && payload.length > 0 && p0 < headLength && p0 + payload.length > 0) {
    bad('payload', payload.byteOffset, 'a view that does not overlap the frame head');
  }
  writeHead(out, f, mask, payload.length);
  if (payload.length > 0 && (payload.buffer !== out.buffer || payload.byteOffset !== out.byteOffset + headLength)) out.set(payload, headLength);
  return sealFrame(out);
}

/**
 * The ICRC of the frame made of `head` (Ethernet through extension headers, as written by
 * `writeFrameHead`) and `payload`, without concatenating them: what `sealFrame` would write.
 */
export function frameIcrc(head: Uint8Array, payload: Uint8Array): number {
  if (!(head instanceof Uint8Array)) bad('head', head, 'a Uint8Array');
  if (!(payload instanceof Uint8Array)) bad('payload', payload, 'a Uint8Array');
  readGeometry(head);
  if (payload.length !== gPayloadLength) bad('payload', payload.length, `${gPayloadLength} bytes, as the head's UDP Length says`);
  let c = icrcHeaders(head, FRAME_IP, head, FRAME_BTH);
  if (gHeadLength > FRAME_BTH + BTH_BYTES) c = icrcUpdate(c, head.subarray(FRAME_BTH + BTH_BYTES, gHeadLength));
  c = icrcUpdate(c, payload);
  return icrcPad(c, gPadCount) >>> 0;
}
