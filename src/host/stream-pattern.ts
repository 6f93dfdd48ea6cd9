/**
 * The bytes of the demo's test stream (short test buffers come from `testPattern` in
 * src/bus/test-pattern.ts). Byte i depends on the seed and on i, and a shift of the stream
 * by any amount changes the expected bytes, so loss, duplication, reordering and
 * corruption are all caught. Built from 64 KiB blocks: a seeded random block XOR a per-block
 * value from a hash of the block number; the 256 variants are precomputed (16 MiB), so making
 * or checking a range is a few typed-array copies, not a per-byte loop.
 */
import { seededRandom } from '../kernel/fault-injection.ts';

const BLOCK = 64 * 1024;

export class StreamPattern {
  private readonly variants: Uint8Array[] = [];

  constructor(seed: number) {
    const random = seededRandom(seed ^ 0x5eed);
    const base = new Uint8Array(BLOCK);
    for (let i = 0; i < BLOCK; i += 4) {
      const v = (random() * 0x1_0000_0000) >>> 0;
      base[i] = v;
      base[i + 1] = v >>> 8;
      base[i + 2] = v >>> 16;
      base[i + 3] = v >>> 24;
    }
    for (let c = 0; c < 256; c++) this.variants.push(base.map((b) => b ^ c));
  }

  /** Write stream bytes [offset, offset + into.length) into `into`. */
  fill(offset: number, into: Uint8Array): void {
    let done = 0;
    while (done < into.length) {
      const at = offset + done;
      const block = Math.floor(at / BLOCK);
      const within = at - block * BLOCK;
      const n = Math.min(BLOCK - within, into.length - done);
      const variant = this.variants[Math.imul(block + 1, 0x9e3779b1) >>> 24]!;
      into.set(variant.subarray(within, within + n), done);
      done += n;
    }
  }

  /** Index of the first byte of `data` that differs from the stream at `offset`, or -1. */
  firstMismatch(offset: number, data: Uint8Array, scratch: Uint8Array): number {
    const expected = scratch.subarray(0, data.length);
    this.fill(offset, expected);
    if (Buffer.compare(expected, data) === 0) return -1;
    for (let i = 0; i < data.length; i++) if (expected[i] !== data[i]) return i;
    return -1;
  }
}
