/**
 * The RoCEv2 invariant CRC (IBA RoCEv2 annex A17; rxe_icrc.c).
 *
 * Implementation notes
 * - CRC-32 (Ethernet/zlib: reflected 0xEDB88320, init and final xor 0xFFFFFFFF) over
 *   8 × 0xFF (stand-in for the IB LRH) ‖ IPv4 header ‖ UDP header ‖ BTH ‖ extension headers ‖
 *   payload ‖ pad, with IPv4 TOS, TTL and header checksum, the UDP checksum and BTH byte 4
 *   (FECN/BECN/Resv6a) read as ones — so ECN marking, TTL decrement and checksum rewrites keep
 *   it, anything else (NAT, IP ID, PSN, a payload bit) breaks it. The packet itself is never
 *   modified (rxe masks a scratch copy; we substitute the ones while reading).
 * - Speed: payloads go through Node's native `zlib.crc32(data, previous)` (Node ≥ 20.15), which
 *   chains over views, so no payload byte is copied. A native call costs a few hundred
 *   nanoseconds before its first byte, though — more than the whole masked 40-byte header in a
 *   plain table loop — so pieces shorter than NATIVE_MIN (the header, ACKs, extension headers of
 *   header-only packets, pad) are folded in JavaScript with the same polynomial. Both paths give
 *   standard CRC-32 values and chain into each other; the tests compare them with a bitwise CRC
 *   written from the definition.
 * - Feeding the 8 ones first gives the constant start 0x2144DF1C (rxe starts its raw register at
 *   0xDEBB20E3, the same state before the final complement). Wire order is little-endian: CRC
 *   0x6D57EA6A travels as 6A EA 57 6D.
 * - The IPv4 and UDP headers are read from `ip` (28 contiguous bytes), the BTH from `bth`:
 *   in a frame they are the same array; a bare UDP payload (a UDP link, later) pairs its bytes
 *   with a reconstructed IPv4+UDP header (packet-view.ts).
 */
import { crc32 } from 'node:zlib';
import { BTH_BYTES } from './opcodes.ts';
import { getU32LE, putU32LE } from '../bus/little-endian.ts';

/** crc32 of 8 bytes of 0xFF: the state after the LRH stand-in. */
export const ICRC_SEED = 0x2144df1c;
export const ICRC_BYTES = 4;

/** Pad bytes are zeros. */
const ZEROS = new Uint8Array(4);

/** Below this many bytes a table loop beats the native call (measured on Node 20, x86-64). */
const NATIVE_MIN = 64;

/** The byte-at-a-time table of the reflected polynomial 0xEDB88320. */
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  TABLE[n] = c;
}

const step = (c: number, byte: number): number => TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);

/**
 * CRC state after 8 × 0xFF ‖ masked IPv4 ‖ masked UDP ‖ masked BTH. `ip` holds
 * the 20-byte IPv4 header followed by the UDP header at `ipAt`; `bthBuf` the BTH at `bthAt`.
 * The masked bytes are fed as 0xFF in place of what the packet holds there.
 */
export function icrcHeaders(ip: Uint8Array, ipAt: number, bthBuf: Uint8Array, bthAt: number): number {
  let c = ~ICRC_SEED;
  c = step(c, ip[ipAt]!); // version/IHL
  c = step(c, 0xff); // TOS (DSCP, ECN)
  for (let i = 2; i < 8; i++) c = step(c, ip[ipAt + i]!); // total length, ID, flags/fragment
  c = step(c, 0xff); // TTL
  c = step(c, ip[ipAt + 9]!); // protocol
  c = step(step(c, 0xff), 0xff); // IPv4 header checksum
  for (let i = 12; i < 26; i++) c = step(c, ip[ipAt + i]!); // addresses, UDP ports and length
  c = step(step(c, 0xff), 0xff); // UDP checksum
  for (let i = 0; i < 4; i++) c = step(c, bthBuf[bthAt + i]!); // opcode … P_Key
  c = step(c, 0xff); // BTH byte 4: FECN, BECN, Resv6a
  for (let i = 5; i < BTH_BYTES; i++) c = step(c, bthBuf[bthAt + i]!); // DestQP, AckReq, PSN
  return ~c >>> 0;
}

/** Continue a CRC (a value from these functions) over `b[from … to)`; the bytes are not copied. */
export function icrcRange(crc: number, b: Uint8Array, from: number, to: number): number {
  if (to - from >= NATIVE_MIN) return crc32(b.subarray(from, to), crc >>> 0);
  let c = ~crc;
  for (let i = from; i < to; i++) c = step(c, b[i]!);
  return ~c >>> 0;
}

/** Continue the CRC over `bytes` (extension headers, a payload piece: any view, not copied). */
export const icrcUpdate = (crc: number, bytes: Uint8Array): number => icrcRange(crc, bytes, 0, bytes.length);

/** Continue the CRC over `padCount` zero pad bytes. */
export const icrcPad = (crc: number, padCount: number): number => icrcRange(crc, ZEROS, 0, padCount & 3);

/**
 * The ICRC of a contiguous packet: IPv4+UDP at `ip[ipAt]`, BTH at `b[bth]`, covered bytes up to
 * `end` (the offset of the ICRC field).
 */
export function icrcOf(ip: Uint8Array, ipAt: number, b: Uint8Array, bth: number, end: number): number {
  return icrcRange(icrcHeaders(ip, ipAt, b, bth), b, bth + BTH_BYTES, end);
}

/** Store the ICRC little-endian (wire order). */
export const putIcrc: (b: Uint8Array, at: number, crc: number) => void = putU32LE;

/** Read the ICRC field (little-endian, wire order). */
export const getIcrc: (b: Uint8Array, at: number) => number = getU32LE;
