/**
 * The one generator of deterministic test bytes, for tests, scenarios and benchmarks at every
 * layer (so it lives in the lowest one). xorshift32 from the seed: the same seed always gives
 * the same bytes, and nearby seeds give unrelated ones.
 *
 *   const a = testPattern(4096, 1);
 *   const b = testPattern(4096, 1, PATTERN_FLIP); // differs from `a` in every byte
 */

/** A `flip` that makes a pattern differ from the plain one of the same seed in every byte. */
export const PATTERN_FLIP = 0xa5;

/** `length` bytes from `seed` (seed 0 is taken as 1), each XORed with `flip`. */
export function testPattern(length: number, seed: number, flip = 0): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x & 0xff) ^ flip;
  }
  return out;
}
