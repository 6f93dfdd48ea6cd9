/**
 * Little-endian fields in byte buffers, written byte by byte: no DataView or BigInt per field,
 * for layouts encoded on hot paths (RDMA descriptors, session-protocol headers).
 */
const TWO_32 = 0x1_0000_0000;

export function putU32LE(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

export const getU32LE = (b: Uint8Array, at: number): number =>
  (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** A u64 field holding a safe integer: low word, then high word. */
export function putU64LE(b: Uint8Array, at: number, v: number): void {
  putU32LE(b, at, v % TWO_32);
  putU32LE(b, at + 4, Math.floor(v / TWO_32));
}

/** A u64 field as a number, or -1 when it is 2^53 or more. */
export function getU64LE(b: Uint8Array, at: number): number {
  const high = getU32LE(b, at + 4);
  return high >= 0x20_0000 ? -1 : high * TWO_32 + getU32LE(b, at);
}
