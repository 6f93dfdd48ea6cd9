import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CHUNK_SIZE, PhysicalMemory } from './physical-memory.ts';

// A flat Uint8Array is the model: sparse chunks must behave exactly like it.
const SIZE = CHUNK_SIZE * 4;

const op = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), at: fc.nat(SIZE - 1), bytes: fc.uint8Array({ minLength: 0, maxLength: CHUNK_SIZE + 300 }) }),
  fc.record({ kind: fc.constant('fill' as const), at: fc.nat(SIZE - 1), length: fc.nat(CHUNK_SIZE * 2), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('copy' as const), dst: fc.nat(SIZE - 1), src: fc.nat(SIZE - 1), length: fc.nat(CHUNK_SIZE + 500) }),
);

describe('PhysicalMemory', () => {
  it('untouched memory reads as zero and costs nothing', () => {
    const m = new PhysicalMemory(64 * 1024 * 1024 * 1024);
    const out = new Uint8Array(10_000).fill(0xee);
    m.read(5 * 1024 * 1024 * 1024 - 3, out);
    expect(out.every((b) => b === 0)).toBe(true);
    expect(m.residentBytes).toBe(0);
  });

  it('writing zeros into untouched memory allocates no chunk; a non-zero byte allocates one', () => {
    const m = new PhysicalMemory(SIZE);
    m.fill(100, 5000, 0);
    expect(m.residentBytes).toBe(0);
    m.write(CHUNK_SIZE - 1, new Uint8Array([1, 2]));
    expect(m.residentBytes).toBe(2 * CHUNK_SIZE);
  });

  it('read/write/fill/copy across page and chunk boundaries match a flat model (property)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const m = new PhysicalMemory(SIZE);
        const model = new Uint8Array(SIZE);
        for (const o of ops) {
          if (o.kind === 'write') {
            const n = Math.min(o.bytes.length, SIZE - o.at);
            m.write(o.at, o.bytes, 0, n);
            model.set(o.bytes.subarray(0, n), o.at);
          } else if (o.kind === 'fill') {
            const n = Math.min(o.length, SIZE - o.at);
            m.fill(o.at, n, o.value);
            model.fill(o.value, o.at, o.at + n);
          } else {
            const n = Math.min(o.length, SIZE - o.dst, SIZE - o.src);
            m.copy(o.dst, o.src, n);
            model.copyWithin(o.dst, o.src, o.src + n);
          }
        }
        const all = new Uint8Array(SIZE);
        m.read(0, all);
        expect(Buffer.compare(all, model)).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('write from and read into the middle of a buffer (srcOffset, dstOffset, length) across chunk boundaries match a flat model (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(SIZE - 1), bytes: fc.uint8Array({ minLength: 1, maxLength: CHUNK_SIZE + 300 }), skip: fc.nat(400), cut: fc.nat(400) }), { maxLength: 8 }),
        fc.nat(SIZE - 1), fc.nat(2 * CHUNK_SIZE), fc.nat(64),
        (writes, readAt, readLength, dstOffset) => {
          const m = new PhysicalMemory(SIZE);
          const model = new Uint8Array(SIZE);
          for (const w of writes) {
            const from = Math.min(w.skip, w.bytes.length);
            const n = Math.max(0, Math.min(w.bytes.length - from - w.cut, SIZE - w.at));
            m.write(w.at, w.bytes, from, n);
            model.set(w.bytes.subarray(from, from + n), w.at);
          }
          const n = Math.min(readLength, SIZE - readAt);
          const out = new Uint8Array(dstOffset + n + 8).fill(0xee);
          m.read(readAt, out, dstOffset, n);
          expect(Buffer.compare(out.subarray(dstOffset, dstOffset + n), model.subarray(readAt, readAt + n))).toBe(0);
          expect(out.subarray(0, dstOffset).every((b) => b === 0xee) && out.subarray(dstOffset + n).every((b) => b === 0xee)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('forEachRun visits the request in order, with null for never-written chunks', () => {
    const m = new PhysicalMemory(SIZE);
    m.write(CHUNK_SIZE + 10, new Uint8Array([7, 8, 9]));
    const seen: Array<[boolean, number, number]> = [];
    m.forEachRun(CHUNK_SIZE - 4, CHUNK_SIZE + 8, (view, offset, n) => seen.push([view !== null, offset, n]));
    expect(seen).toEqual([
      [false, 0, 4],
      [true, 4, CHUNK_SIZE],
      [false, CHUNK_SIZE + 4, 4],
    ]);
  });

  it('the write observer sees every write before the bytes change', () => {
    const m = new PhysicalMemory(SIZE);
    const seen: Array<[number, number, number]> = [];
    m.writeObserver = (a, n) => {
      const b = new Uint8Array(1);
      m.read(a, b);
      seen.push([a, n, b[0]!]);
    };
    m.write(42, new Uint8Array([5, 6]));
    m.fill(42, 1, 9);
    expect(seen).toEqual([
      [42, 2, 0],
      [42, 1, 5],
    ]);
  });

  it('an out-of-range or non-integer access is refused before anything changes', () => {
    const m = new PhysicalMemory(SIZE);
    expect(() => m.write(SIZE - 1, new Uint8Array(2).fill(1))).toThrow(RangeError);
    expect(() => m.read(-1, new Uint8Array(1))).toThrow(RangeError);
    expect(() => m.fill(0.5, 1, 1)).toThrow(RangeError);
    expect(m.residentBytes).toBe(0);
  });
});
