/**
 * Big-endian (network order) fields in packet bytes, written byte by byte: no DataView and no
 * BigInt per field on the packet path. Every IBA and IP header field is big-endian; the ICRC is
 * the one little-endian field on the wire (icrc.ts).
 *
 * Getters never throw: reading past the end of the array yields 0 bytes (`undefined | 0`), so
 * a parser that has checked its lengths pays nothing and one that has not still cannot crash.
 * Setters mask the value to the field's width (rxe_hdr.h does the same with its BTH_*_MASKs).
 */
const TWO_32 = 0x1_0000_0000;

export const getU16 = (b: Uint8Array, at: number): number => ((b[at]! << 8) | b[at + 1]!) & 0xffff;

export const getU24 = (b: Uint8Array, at: number): number => ((b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!) & 0xffffff;

export const getU32 = (b: Uint8Array, at: number): number =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

export function putU16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

export function putU24(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 16) & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = v & 0xff;
}

export function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/** A 64-bit field as a number: exact below 2^53 (addresses, the project's convention), -1 above. */
export function getU64(b: Uint8Array, at: number): number {
  const high = getU32(b, at);
  return high >= 0x20_0000 ? -1 : high * TWO_32 + getU32(b, at + 4);
}

/** A 64-bit field from a safe non-negative integer. */
export function putU64(b: Uint8Array, at: number, v: number): void {
  // The low word by subtraction, not `%`: a double's remainder is a library call (fmod).
  const high = Math.floor(v / TWO_32);
  putU32(b, at, high);
  putU32(b, at + 4, v - high * TWO_32);
}

/** A 64-bit field as a bigint (control path and atomics: TIDs, GUIDs, service IDs, operands). */
export const getU64Big = (b: Uint8Array, at: number): bigint => (BigInt(getU32(b, at)) << 32n) | BigInt(getU32(b, at + 4));

export function putU64Big(b: Uint8Array, at: number, v: bigint): void {
  const m = BigInt.asUintN(64, v);
  putU32(b, at, Number(m >> 32n));
  putU32(b, at + 4, Number(m & 0xffff_ffffn));
}
