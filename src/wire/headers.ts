/**
 * Transport header fields as accessors over packet bytes (rxe_hdr.h): each takes the array and
 * the offset of its header and reads or writes one field. Reference: IBA volume 1 chapter 9 (the
 * BTH and extension header layouts). All fields are big-endian.
 *
 * Getters never throw (big-endian.ts reads missing bytes as 0). Setters mask the value to the
 * field's width and leave the neighbouring bits alone, as rxe's bth_set_* do; whole-header
 * writers (`writeBth`, `writeReth`, …) set every bit, reserved ones to 0.
 */
import { getU16, getU24, getU32, getU64, getU64Big, putU16, putU24, putU32, putU64, putU64Big } from './big-endian.ts';

// ---- BTH (12 bytes) ------------------------------------------------------------------------

export const bthOpcode = (b: Uint8Array, bth: number): number => b[bth]! | 0;
export const bthSe = (b: Uint8Array, bth: number): number => (b[bth + 1]! >>> 7) & 1;
export const bthMig = (b: Uint8Array, bth: number): number => (b[bth + 1]! >>> 6) & 1;
export const bthPadCount = (b: Uint8Array, bth: number): number => (b[bth + 1]! >>> 4) & 3;
export const bthTver = (b: Uint8Array, bth: number): number => b[bth + 1]! & 0xf;
export const bthPkey = (b: Uint8Array, bth: number): number => getU16(b, bth + 2);
export const bthFecn = (b: Uint8Array, bth: number): number => (b[bth + 4]! >>> 7) & 1;
export const bthBecn = (b: Uint8Array, bth: number): number => (b[bth + 4]! >>> 6) & 1;
/** Byte 4 as a whole (FECN, BECN, Resv6a): what the ICRC masks (rxe calls it resv8a). */
export const bthResv8a = (b: Uint8Array, bth: number): number => b[bth + 4]! | 0;
export const bthDestQp = (b: Uint8Array, bth: number): number => getU24(b, bth + 5);
export const bthAckReq = (b: Uint8Array, bth: number): number => (b[bth + 8]! >>> 7) & 1;
export const bthResv7 = (b: Uint8Array, bth: number): number => b[bth + 8]! & 0x7f;
export const bthPsn = (b: Uint8Array, bth: number): number => getU24(b, bth + 9);

export function setBthOpcode(b: Uint8Array, bth: number, v: number): void {
  b[bth] = v & 0xff;
}
export function setBthSe(b: Uint8Array, bth: number, v: number): void {
  b[bth + 1] = (b[bth + 1]! & 0x7f) | ((v & 1) << 7);
}
export function setBthMig(b: Uint8Array, bth: number, v: number): void {
  b[bth + 1] = (b[bth + 1]! & 0xbf) | ((v & 1) << 6);
}
export function setBthPadCount(b: Uint8Array, bth: number, v: number): void {
  b[bth + 1] = (b[bth + 1]! & 0xcf) | ((v & 3) << 4);
}
export function setBthTver(b: Uint8Array, bth: number, v: number): void {
  b[bth + 1] = (b[bth + 1]! & 0xf0) | (v & 0xf);
}
export function setBthPkey(b: Uint8Array, bth: number, v: number): void {
  putU16(b, bth + 2, v);
}
export function setBthFecn(b: Uint8Array, bth: number, v: number): void {
  b[bth + 4] = (b[bth + 4]! & 0x7f) | ((v & 1) << 7);
}
export function setBthBecn(b: Uint8Array, bth: number, v: number): void {
  b[bth + 4] = (b[bth + 4]! & 0xbf) | ((v & 1) << 6);
}
export function setBthDestQp(b: Uint8Array, bth: number, v: number): void {
  putU24(b, bth + 5, v);
}
export function setBthAckReq(b: Uint8Array, bth: number, v: number): void {
  b[bth + 8] = (b[bth + 8]! & 0x7f) | ((v & 1) << 7);
}
export function setBthPsn(b: Uint8Array, bth: number, v: number): void {
  putU24(b, bth + 9, v);
}

/** The whole BTH (rxe_hdr.h bth_init): TVer 0, FECN/BECN/reserved bits 0. */
export function writeBth(
  b: Uint8Array, bth: number,
  opcode: number, se: number, mig: number, padCount: number, pkey: number, destQp: number, ackReq: number, psn: number,
): void {
  b[bth] = opcode & 0xff;
  b[bth + 1] = ((se & 1) << 7) | ((mig & 1) << 6) | ((padCount & 3) << 4);
  putU16(b, bth + 2, pkey);
  b[bth + 4] = 0;
  putU24(b, bth + 5, destQp);
  b[bth + 8] = (ackReq & 1) << 7;
  putU24(b, bth + 9, psn);
}

// ---- RETH (16 bytes): VA 64, R_Key 32, DMA length 32 ----------------------------------------

/** The virtual address; -1 when it is 2^53 or more (not a number the model can use). */
export const rethVa = (b: Uint8Array, reth: number): number => getU64(b, reth);
export const rethRkey = (b: Uint8Array, reth: number): number => getU32(b, reth + 8);
export const rethLength = (b: Uint8Array, reth: number): number => getU32(b, reth + 12);
export function setRethVa(b: Uint8Array, reth: number, va: number): void {
  putU64(b, reth, va);
}
export function setRethRkey(b: Uint8Array, reth: number, v: number): void {
  putU32(b, reth + 8, v);
}
export function setRethLength(b: Uint8Array, reth: number, v: number): void {
  putU32(b, reth + 12, v);
}
export function writeReth(b: Uint8Array, reth: number, va: number, rkey: number, length: number): void {
  putU64(b, reth, va);
  putU32(b, reth + 8, rkey);
  putU32(b, reth + 12, length);
}

// ---- AETH (4 bytes): syndrome 8, MSN 24 (aeth.ts decodes the syndrome) ----------------------

export const aethSyndrome = (b: Uint8Array, aeth: number): number => b[aeth]! | 0;
export const aethMsn = (b: Uint8Array, aeth: number): number => getU24(b, aeth + 1);
export function setAethSyndrome(b: Uint8Array, aeth: number, v: number): void {
  b[aeth] = v & 0xff;
}
export function setAethMsn(b: Uint8Array, aeth: number, v: number): void {
  putU24(b, aeth + 1, v);
}
export function writeAeth(b: Uint8Array, aeth: number, syndrome: number, msn: number): void {
  b[aeth] = syndrome & 0xff;
  putU24(b, aeth + 1, msn);
}

// ---- DETH (8 bytes): Q_Key 32, reserved 8, source QP 24 ------------------------------------

export const dethQkey = (b: Uint8Array, deth: number): number => getU32(b, deth);
export const dethSrcQp = (b: Uint8Array, deth: number): number => getU24(b, deth + 5);
export function setDethQkey(b: Uint8Array, deth: number, v: number): void {
  putU32(b, deth, v);
}
export function setDethSrcQp(b: Uint8Array, deth: number, v: number): void {
  putU24(b, deth + 5, v);
}
export function writeDeth(b: Uint8Array, deth: number, qkey: number, srcQp: number): void {
  putU32(b, deth, qkey);
  b[deth + 4] = 0;
  putU24(b, deth + 5, srcQp);
}

// ---- ImmDt (4 bytes) and IETH (4 bytes) -----------------------------------------------------

/** Immediate data: opaque 32 bits, already in network order as verbs hands it over. */
export const immDt = (b: Uint8Array, immdt: number): number => getU32(b, immdt);
export function setImmDt(b: Uint8Array, immdt: number, v: number): void {
  putU32(b, immdt, v);
}
/** The R_Key a SEND with Invalidate asks the responder to invalidate. */
export const iethRkey = (b: Uint8Array, ieth: number): number => getU32(b, ieth);
export function setIethRkey(b: Uint8Array, ieth: number, v: number): void {
  putU32(b, ieth, v);
}

// ---- AtomicETH (28 bytes) and AtomicAckETH (8 bytes) ----------------------------------------
// Operands are arbitrary 64-bit values, hence bigints (atomics are rare and optional).

export const atmethVa = (b: Uint8Array, atm: number): number => getU64(b, atm);
export const atmethRkey = (b: Uint8Array, atm: number): number => getU32(b, atm + 8);
/** Swap value (Compare & Swap) or addend (Fetch & Add). */
export const atmethSwapAdd = (b: Uint8Array, atm: number): bigint => getU64Big(b, atm + 12);
export const atmethCompare = (b: Uint8Array, atm: number): bigint => getU64Big(b, atm + 20);
export function writeAtmeth(b: Uint8Array, atm: number, va: number, rkey: number, swapAdd: bigint, compare: bigint): void {
  putU64(b, atm, va);
  putU32(b, atm + 8, rkey);
  putU64Big(b, atm + 12, swapAdd);
  putU64Big(b, atm + 20, compare);
}
/** The remote value before the atomic operation. */
export const atmackOrig = (b: Uint8Array, atmack: number): bigint => getU64Big(b, atmack);
export function writeAtmack(b: Uint8Array, atmack: number, orig: bigint): void {
  putU64Big(b, atmack, orig);
}
