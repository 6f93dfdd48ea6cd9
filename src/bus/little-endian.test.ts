import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getU32LE, getU64LE, putU32LE, putU64LE } from './little-endian.ts';

describe('little-endian fields', () => {
  it('u32 and u64 round-trip and match DataView little-endian (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (a, q) => {
      const b = new Uint8Array(12);
      putU32LE(b, 0, a);
      putU64LE(b, 4, q);
      const v = new DataView(b.buffer);
      expect(v.getUint32(0, true)).toBe(a);
      expect(v.getBigUint64(4, true)).toBe(BigInt(q));
      expect(getU32LE(b, 0)).toBe(a);
      expect(getU64LE(b, 4)).toBe(q);
    }));
  });

  it('a u64 of 2^53 or more reads as -1', () => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, 2n ** 53n, true);
    expect(getU64LE(b, 0)).toBe(-1);
  });
});
