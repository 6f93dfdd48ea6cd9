/**
 * The DMA data path: PhysicalMemory.copyFrom (chunk to chunk between two memories), slab
 * chunks and their reuse, DeviceDmaView.resolveInto / resolveContiguous and copyDmaRunList.
 * A flat Uint8Array per memory is the model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FOUR_GIB, GIB, MIB, PAGE_SIZE } from './address.ts';
import { DMA_IOMMU_FAULT, DMA_MASTER_ABORT, DMA_OK, DeviceDmaView, DmaRunList, copyDmaRunList } from './dma-address-space.ts';
import { IOMMU_READ, IommuDomain } from './iommu.ts';
import { CHUNK_SIZE, PhysicalMemory } from './physical-memory.ts';

const AREA = CHUNK_SIZE * 4;

const readAll = (m: PhysicalMemory, base: number, length: number): Uint8Array => {
  const b = new Uint8Array(length);
  m.read(base, b);
  return b;
};

describe('PhysicalMemory.copyFrom', () => {
  // Small (chunk-by-chunk) and large (slab) memories must behave the same.
  for (const [label, limit, base] of [
    ['a small memory', AREA, 0],
    ['a slab memory', 64 * MIB, 40 * MIB + 123],
  ] as const) {
    it(`matches a flat model across chunk boundaries and never-written chunks (${label}, property)`, () => {
      const op = fc.oneof(
        fc.record({ kind: fc.constant('write' as const), on: fc.nat(1), at: fc.nat(AREA - 1), bytes: fc.uint8Array({ maxLength: CHUNK_SIZE + 50 }) }),
        fc.record({ kind: fc.constant('zero' as const), on: fc.nat(1), at: fc.nat(AREA - 1), length: fc.nat(CHUNK_SIZE * 2) }),
        fc.record({ kind: fc.constant('copy' as const), from: fc.nat(1), src: fc.nat(AREA - 1), dst: fc.nat(AREA - 1), length: fc.nat(CHUNK_SIZE * 2 + 7) }),
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 20 }), (ops) => {
          const mems = [new PhysicalMemory(limit), new PhysicalMemory(limit)];
          const models = [new Uint8Array(AREA), new Uint8Array(AREA)];
          for (const o of ops) {
            if (o.kind === 'write') {
              const n = Math.min(o.bytes.length, AREA - o.at);
              mems[o.on]!.write(base + o.at, o.bytes, 0, n);
              models[o.on]!.set(o.bytes.subarray(0, n), o.at);
            } else if (o.kind === 'zero') {
              const n = Math.min(o.length, AREA - o.at);
              mems[o.on]!.fill(base + o.at, n, 0);
              models[o.on]!.fill(0, o.at, o.at + n);
            } else {
              const n = Math.min(o.length, AREA - o.src, AREA - o.dst);
              const to = 1 - o.from;
              mems[to]!.copyFrom(mems[o.from]!, base + o.src, base + o.dst, n);
              models[to]!.set(models[o.from]!.subarray(o.src, o.src + n), o.dst);
            }
          }
          for (let s = 0; s < 2; s++) expect(Buffer.compare(readAll(mems[s]!, base, AREA), models[s]!)).toBe(0);
        }),
        { numRuns: 120 },
      );
    });
  }

  it('within one memory it is memmove, overlap included', () => {
    const m = new PhysicalMemory(AREA);
    const model = new Uint8Array(AREA).map((_, i) => (i * 13 + 1) & 0xff);
    m.write(0, model);
    m.copyFrom(m, 100, 100 + CHUNK_SIZE / 2, CHUNK_SIZE + 5);
    model.copyWithin(100 + CHUNK_SIZE / 2, 100, 100 + CHUNK_SIZE + 5);
    m.copyFrom(m, 3 * CHUNK_SIZE, 10, CHUNK_SIZE);
    model.copyWithin(10, 3 * CHUNK_SIZE, 4 * CHUNK_SIZE);
    expect(Buffer.compare(readAll(m, 0, AREA), model)).toBe(0);
  });

  it('the write observer sees the whole destination once, before any byte changes', () => {
    const src = new PhysicalMemory(AREA);
    const dst = new PhysicalMemory(AREA);
    src.write(0, new Uint8Array(3 * CHUNK_SIZE).fill(7));
    const seen: Array<[number, number, number]> = [];
    dst.writeObserver = (a, n) => seen.push([a, n, readAll(dst, a, n).some((b) => b !== 0) ? 1 : 0]);
    dst.copyFrom(src, 5, 17, 2 * CHUNK_SIZE + 3);
    expect(seen).toEqual([[17, 2 * CHUNK_SIZE + 3, 0]]);
  });

  it('copying never-written memory over a whole chunk releases it; a reused chunk reads as zero', () => {
    const src = new PhysicalMemory(64 * MIB);
    const dst = new PhysicalMemory(64 * MIB);
    dst.write(CHUNK_SIZE, new Uint8Array(CHUNK_SIZE).fill(0xee));
    expect(dst.residentBytes).toBe(CHUNK_SIZE);
    dst.copyFrom(src, 0, CHUNK_SIZE, CHUNK_SIZE);
    expect(dst.residentBytes).toBe(0);
    // The released chunk comes back for another address, zeroed.
    dst.write(10 * CHUNK_SIZE + 1, Uint8Array.of(1));
    expect(dst.residentBytes).toBe(CHUNK_SIZE);
    const got = readAll(dst, 10 * CHUNK_SIZE, CHUNK_SIZE);
    expect(got[1]).toBe(1);
    got[1] = 0;
    expect(got.every((b) => b === 0)).toBe(true);
    expect(dst.isUntouched(CHUNK_SIZE, CHUNK_SIZE)).toBe(true);
  });

  it('an out-of-range side is refused before anything changes', () => {
    const a = new PhysicalMemory(AREA);
    const b = new PhysicalMemory(AREA);
    a.write(0, new Uint8Array(16).fill(3));
    expect(() => b.copyFrom(a, AREA - 8, 0, 16)).toThrow(RangeError);
    expect(() => b.copyFrom(a, 0, AREA - 8, 16)).toThrow(RangeError);
    expect(() => b.copyFrom(a, 0.5, 0, 1)).toThrow(RangeError);
    expect(b.residentBytes).toBe(0);
  });

  it('sparse touches over a 64 GiB host cost one chunk each', () => {
    const m = new PhysicalMemory(64 * GIB);
    const src = new PhysicalMemory(64 * GIB);
    src.write(5 * GIB, Uint8Array.of(9));
    for (let i = 0; i < 50; i++) m.copyFrom(src, 5 * GIB, i * GIB + i * PAGE_SIZE, 1);
    expect(m.residentBytes).toBe(50 * CHUNK_SIZE);
  });
});

// RAM [0, 3 GiB) and [4 GiB, 7 GiB), as in dma-address-space.test.ts.
const RAM = [
  { base: 0, length: 3 * GIB },
  { base: FOUR_GIB, length: 3 * GIB },
];

describe('DeviceDmaView.resolveInto / resolveContiguous', () => {
  const views = () => {
    const m = new PhysicalMemory(7 * GIB);
    return [
      new DeviceDmaView(m, RAM, { name: 'd64', addressBits: 64 }),
      new DeviceDmaView(m, RAM, { name: 'd32', addressBits: 32 }),
    ];
  };
  const address = fc.oneof(fc.nat(7 * GIB), fc.integer({ min: 3 * GIB - 10 * PAGE_SIZE, max: 3 * GIB + 10 }), fc.integer({ min: FOUR_GIB - 100, max: FOUR_GIB + 100 }));

  it('resolveInto gives the runs resolve gives, and a failure leaves the list as it was (property)', () => {
    const [d64, d32] = views();
    fc.assert(
      fc.property(fc.constantFrom(d64!, d32!), address, fc.nat(3 * PAGE_SIZE), fc.boolean(), (view, at, length, write) => {
        const list = new DmaRunList(1);
        list.push(PAGE_SIZE * 5, 100); // a run already there, which the first new run may extend
        const before = [list.count, list.total, list.address[0], list.length[0]];
        const expected = view.resolve(at, length, write);
        const status = view.resolveInto(at, length, write, list);
        if (typeof expected === 'number') {
          expect(status).toBe(expected);
          expect([list.count, list.total, list.address[0], list.length[0]]).toEqual(before);
          return;
        }
        expect(status).toBe(DMA_OK);
        const fresh = new DmaRunList(1);
        fresh.push(PAGE_SIZE * 5, 100);
        for (const r of expected) fresh.push(r.physical, r.length);
        expect(list.count).toBe(fresh.count);
        expect(list.total).toBe(100 + length);
        for (let i = 0; i < list.count; i++) expect([list.address[i], list.length[i]]).toEqual([fresh.address[i], fresh.length[i]]);
        // The shortcut agrees whenever it answers.
        const c = view.resolveContiguous(at, length);
        if (c >= 0) expect(expected).toEqual([{ physical: c, length }]);
        else expect(length === 0 || expected.length !== 1 || view.addressBits < 64).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('resolveContiguous declines what needs the general path: IOMMU, wrap, holes, two RAM ranges', () => {
    const [d64, d32] = views();
    expect(d64!.resolveContiguous(0x1000, 0x2000)).toBe(0x1000);
    expect(d32!.resolveContiguous(FOUR_GIB + 0x1000, 10)).toBe(0x1000); // truncated, like resolve
    expect(d32!.resolveContiguous(FOUR_GIB - 4, 8)).toBe(-1); // wraps
    expect(d64!.resolveContiguous(3 * GIB - 4, 8)).toBe(-1); // runs into the hole
    expect(d64!.resolveContiguous(3 * GIB, 8)).toBe(-1); // in the hole
    expect(d64!.resolve(3 * GIB, 8, true)).toBe(DMA_MASTER_ABORT);
    expect(d64!.resolveContiguous(0, 0)).toBe(-1);
    expect(d64!.resolveContiguous(-1, 4)).toBe(-1);
    const domain = new IommuDomain('x');
    const dv = new DeviceDmaView(d64!.memory, RAM, { name: 'io', addressBits: 64, iommu: domain });
    const logical = domain.map([5], IOMMU_READ, FOUR_GIB)!;
    expect(dv.resolveContiguous(logical, 8)).toBe(-1);
    expect(dv.resolveInto(logical, 8, true, new DmaRunList())).toBe(DMA_IOMMU_FAULT);
  });
});

describe('copyDmaRunList', () => {
  it('copies scattered runs in order, observers see every run, and unequal totals are refused', () => {
    const a = new PhysicalMemory(AREA);
    const b = new PhysicalMemory(AREA);
    const da = new DeviceDmaView(a, [{ base: 0, length: AREA }], { name: 'a', addressBits: 64 });
    const db = new DeviceDmaView(b, [{ base: 0, length: AREA }], { name: 'b', addressBits: 64 });
    const data = new Uint8Array(AREA).map((_, i) => (i * 7 + 3) & 0xff);
    a.write(0, data);
    const from = new DmaRunList();
    from.add(CHUNK_SIZE * 3 - 10, 30);
    from.add(5, CHUNK_SIZE + 1);
    const to = new DmaRunList();
    to.add(CHUNK_SIZE - 1, 2);
    to.add(2 * CHUNK_SIZE + 100, CHUNK_SIZE + 29);
    const seen: string[] = [];
    da.observer = (d, dir, p, n) => seen.push(`${d} ${dir} ${p} ${n}`);
    db.observer = (d, dir, p, n) => seen.push(`${d} ${dir} ${p} ${n}`);
    copyDmaRunList(da, from, db, to);
    expect(seen).toEqual([
      `b write ${CHUNK_SIZE - 1} 2`,
      `b write ${2 * CHUNK_SIZE + 100} ${CHUNK_SIZE + 29}`,
      `a read ${CHUNK_SIZE * 3 - 10} 30`,
      `a read 5 ${CHUNK_SIZE + 1}`,
    ]);
    const gathered = new Uint8Array([...data.subarray(CHUNK_SIZE * 3 - 10, CHUNK_SIZE * 3 + 20), ...data.subarray(5, CHUNK_SIZE + 6)]);
    const scattered = new Uint8Array([...readAll(b, CHUNK_SIZE - 1, 2), ...readAll(b, 2 * CHUNK_SIZE + 100, CHUNK_SIZE + 29)]);
    expect(Buffer.compare(scattered, gathered)).toBe(0);
    const short = new DmaRunList();
    short.add(0, 1);
    const snapshot = readAll(b, 0, AREA);
    expect(() => copyDmaRunList(da, from, db, short)).toThrow(RangeError);
    expect(Buffer.compare(readAll(b, 0, AREA), snapshot)).toBe(0);
  });
});
