/**
 * Keys and handles: a table index plus generation bits (rxe's "index << 8 | key"), 32 bits in
 * all. The generation changes every time a slot is freed or re-registered and never repeats
 * the value it had just before, and is never 0, so a stale key fails and key 0 never matches.
 */
export const GENERATION_BITS = 12;
export const GENERATION_SPAN = 1 << GENERATION_BITS; // 4096
export const INDEX_BITS = 32 - GENERATION_BITS;
export const MAX_TABLE_ENTRIES = 1 << INDEX_BITS;

export const makeKey = (index: number, generation: number): number => index * GENERATION_SPAN + generation;

/** Index of a key, or -1 when the value cannot be a key at all (not a 32-bit unsigned integer). */
export function keyIndex(key: number): number {
  if (!Number.isInteger(key) || key <= 0 || key >= 0x1_0000_0000) return -1;
  return Math.floor(key / GENERATION_SPAN);
}

/** Next generation: 1..4095 cycling, so it always differs from the previous one and is never 0. */
export const nextGeneration = (generation: number): number => (generation % (GENERATION_SPAN - 1)) + 1;

/**
 * The remote key's generation, derived from the local one by a bijection on 1..4095 (2533 is
 * coprime with 4095), so the remote key differs from the handle and, like it, never repeats
 * the slot's previous value and is never 0.
 */
export const remoteGeneration = (generation: number): number =>
  ((generation * 2533 + 1715) % (GENERATION_SPAN - 1)) + 1;
