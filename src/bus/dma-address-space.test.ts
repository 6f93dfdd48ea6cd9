import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FOUR_GIB, GIB, PAGE_SIZE } from './address.ts';
import { DeviceDmaView, DmaRunList, DMA_IOMMU_FAULT, DMA_MASTER_ABORT, DMA_OK } from './dma-address-space.ts';
import { IOMMU_READ, IOMMU_WRITE, IommuDomain } from './iommu.ts';
import { PhysicalMemory } from './physical-memory.ts';

// A PC-like 6 GiB host: RAM [0, 3 GiB), MMIO hole [3 GiB, 4 GiB), RAM [4 GiB, 7 GiB).
const RAM = [
  { base: 0, length: 3 * GIB },
  { base: FOUR_GIB, length: 3 * GIB },
];
const memory = () => new PhysicalMemory(7 * GIB);

describe('DeviceDmaView', () => {
  it('a 32-bit device truncates an address at or above 4 GiB instead of refusing it', () => {
    const m = memory();
    const nic32 = new DeviceDmaView(m, RAM, { name: 'nic32', addressBits: 32 });
    expect(nic32.write(FOUR_GIB + 0x5000, new Uint8Array([0xab]))).toBe(DMA_OK);
    const low = new Uint8Array(1);
    const high = new Uint8Array(1);
    m.read(0x5000, low);
    m.read(FOUR_GIB + 0x5000, high);
    expect(low[0]).toBe(0xab);
    expect(high[0]).toBe(0);
  });

  it('a 64-bit device reaches high memory in place', () => {
    const m = memory();
    const nic64 = new DeviceDmaView(m, RAM, { name: 'nic64', addressBits: 64 });
    expect(nic64.write(FOUR_GIB + 0x5000, new Uint8Array([0xcd]))).toBe(DMA_OK);
    const high = new Uint8Array(1);
    m.read(FOUR_GIB + 0x5000, high);
    expect(high[0]).toBe(0xcd);
  });

  it('an access that touches the MMIO hole is a master abort and moves no byte', () => {
    const m = memory();
    const dev = new DeviceDmaView(m, RAM, { name: 'dev', addressBits: 64 });
    const src = new Uint8Array(2 * PAGE_SIZE).fill(0x11);
    expect(dev.write(3 * GIB - PAGE_SIZE, src)).toBe(DMA_MASTER_ABORT);
    expect(m.isUntouched(3 * GIB - PAGE_SIZE, PAGE_SIZE)).toBe(true);
  });

  it('with an IOMMU, the device uses logical addresses; a physical address faults', () => {
    const m = memory();
    const domain = new IommuDomain('nic');
    const dev = new DeviceDmaView(m, RAM, { name: 'dev', addressBits: 32, iommu: domain });
    const highPfn = (FOUR_GIB + 0x10_0000) / PAGE_SIZE;
    const logical = domain.map([highPfn, highPfn + 1], IOMMU_READ | IOMMU_WRITE, FOUR_GIB)!;
    expect(logical).toBeLessThan(FOUR_GIB);
    expect(dev.write(logical + PAGE_SIZE - 1, new Uint8Array([1, 2]))).toBe(DMA_OK);
    const got = new Uint8Array(2);
    m.read(FOUR_GIB + 0x10_0000 + PAGE_SIZE - 1, got);
    expect([...got]).toEqual([1, 2]);
    // The driver bug the WDK warns about: programming the physical address.
    expect(dev.write(0x10_0000, new Uint8Array([9]))).toBe(DMA_IOMMU_FAULT);
    expect(domain.faults).toBe(1);
  });

  it('an IOMMU mapping without the write right refuses device writes', () => {
    const m = memory();
    const domain = new IommuDomain('nic');
    const dev = new DeviceDmaView(m, RAM, { name: 'dev', addressBits: 64, iommu: domain });
    const logical = domain.map([100], IOMMU_READ, FOUR_GIB)!;
    expect(dev.read(logical, new Uint8Array(8))).toBe(DMA_OK);
    expect(dev.write(logical, new Uint8Array(8).fill(1))).toBe(DMA_IOMMU_FAULT);
    expect(m.isUntouched(100 * PAGE_SIZE, PAGE_SIZE)).toBe(true);
  });

  it('transferTo copies between two hosts, and a failing side moves no byte', () => {
    const a = memory();
    const b = memory();
    const da = new DeviceDmaView(a, RAM, { name: 'a', addressBits: 64 });
    const db = new DeviceDmaView(b, RAM, { name: 'b', addressBits: 64 });
    const data = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
    a.write(FOUR_GIB - GIB - 100_000, data.subarray(0, 100_000));
    a.write(FOUR_GIB, data.subarray(100_000));
    // A source range that runs into the MMIO hole aborts before the target sees a byte.
    expect(da.transferTo(FOUR_GIB - GIB - 100_000, db, 12345, 200_000).status).toBe(DMA_MASTER_ABORT);
    expect(b.isUntouched(12345, 200_000)).toBe(true);
    expect(da.transferTo(FOUR_GIB, db, 12345, 100_000).status).toBe(DMA_OK);
    const got = new Uint8Array(100_000);
    b.read(12345, got);
    expect(Buffer.compare(got, data.subarray(100_000))).toBe(0);
  });

  it('reports each physical run it touches to the observer', () => {
    const m = memory();
    const dev = new DeviceDmaView(m, RAM, { name: 'dev', addressBits: 64 });
    const runs: Array<[string, number, number]> = [];
    dev.observer = (_d, dir, pa, n) => runs.push([dir, pa, n]);
    dev.write(PAGE_SIZE * 3, new Uint8Array(PAGE_SIZE * 2));
    expect(runs).toEqual([['write', PAGE_SIZE * 3, PAGE_SIZE * 2]]);
  });
});

describe('IommuDomain', () => {
  it('allocates logical ranges first-fit below the limit and reuses freed ones', () => {
    const d = new IommuDomain('x');
    const a = d.map([1, 2, 3], IOMMU_READ, 16 * PAGE_SIZE)!;
    const b = d.map([9], IOMMU_READ, 16 * PAGE_SIZE)!;
    expect(a).toBe(PAGE_SIZE);
    expect(b).toBe(4 * PAGE_SIZE);
    expect(d.unmap(a)).toBe(true);
    expect(d.unmap(a)).toBe(false);
    expect(d.map([5, 6], IOMMU_READ, 16 * PAGE_SIZE)).toBe(PAGE_SIZE);
    expect(d.map(new Array(20).fill(1), IOMMU_READ, 16 * PAGE_SIZE)).toBeNull();
  });
});

describe('DmaRunList.pushRange', () => {
  /** Every byte address a list names, in order. */
  const bytesOf = (l: DmaRunList): number[] => {
    const out: number[] = [];
    for (let i = 0; i < l.count; i++) for (let b = 0; b < l.length[i]!; b++) out.push(l.address[i]! + b);
    return out;
  };

  it('takes exactly bytes [offset, offset + length) of the list, in order, as few runs as they merge into', () => {
    const runs = fc.array(fc.record({ gap: fc.integer({ min: 0, max: 3 }), length: fc.integer({ min: 1, max: 9 }) }), { minLength: 1, maxLength: 8 });
    fc.assert(fc.property(runs, fc.nat(80), fc.nat(80), (spec, offset, length) => {
      const from = new DmaRunList(2);
      let at = 0x1000;
      for (const { gap, length: n } of spec) {
        at += gap;
        from.add(at, n);
        at += n;
      }
      const out = new DmaRunList(1);
      out.pushRange(from, offset, length);
      expect(bytesOf(out)).toEqual(bytesOf(from).slice(offset, offset + length));
      expect(out.total).toBe(Math.max(0, Math.min(length, from.total - offset)));
      for (let i = 1; i < out.count; i++) expect(out.address[i]).not.toBe(out.address[i - 1]! + out.length[i - 1]!);
    }));
  });

  it('appends after what the list already holds, merging a run that continues it', () => {
    const from = new DmaRunList();
    from.add(0x2000, 16);
    const out = new DmaRunList();
    out.push(0x1ff0, 16);
    out.pushRange(from, 0, 8);
    expect([out.count, out.address[0], out.length[0], out.total]).toEqual([1, 0x1ff0, 24, 24]);
  });

  it('refuses to take a range of itself (it would read what it appends)', () => {
    const l = new DmaRunList();
    l.add(0x1000, 8);
    expect(() => l.pushRange(l, 0, 8)).toThrow(/itself/);
    expect([l.count, l.total]).toEqual([1, 8]);
  });
});
