import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE, PhysicalMemory } from '../../bus/index.ts';
import { BugCheck, BugCheckState, PAGE_FAULT_IN_NONPAGED_AREA } from '../bugcheck.ts';
import { RETIRED_KEPT, SYSTEM_PTE_START, SystemSpace } from './system-space.ts';

const make = () => {
  const mem = new PhysicalMemory(64 * PAGE_SIZE);
  return { mem, bc: new BugCheckState(), ss: null as unknown as SystemSpace };
};

describe('SystemSpace', () => {
  it('maps, translates, reads and writes across non-contiguous pages; lookups are by any byte', () => {
    const { mem, bc } = make();
    const ss = new SystemSpace(mem, bc);
    const va = ss.map([5, 9, 10], 1, 'test', 't', 100);
    expect(va).toBe(SYSTEM_PTE_START + 100);
    expect(ss.physicalAddress(va)).toBe(5 * PAGE_SIZE + 100);
    expect(ss.physicalAddress(va + 2 * PAGE_SIZE)).toBe(10 * PAGE_SIZE + 100);
    const data = new Uint8Array(2 * PAGE_SIZE).map((_, i) => i & 0xff);
    ss.write(va + 50, data);
    const back = new Uint8Array(data.length);
    ss.read(va + 50, back);
    expect(back).toEqual(data);
    expect(ss.lookup(va + 3 * PAGE_SIZE - 101)?.base).toBe(SYSTEM_PTE_START);
    expect(ss.lookup(va + 3 * PAGE_SIZE)).toBeNull();
  });

  it('never reuses a VA and keeps a guard page between mappings (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 30 }), (sizes) => {
      const { mem, bc } = make();
      const ss = new SystemSpace(mem, bc);
      let prevEnd = 0;
      for (const n of sizes) {
        const va = ss.map(Array.from({ length: n }, (_, i) => i), 1, 'k', 'l');
        expect(va).toBeGreaterThan(prevEnd);
        if (sizes.length % 2) ss.unmap(va);
        prevEnd = va + n * PAGE_SIZE;
      }
    }));
  });

  it('PAGE_FAULT_IN_NONPAGED_AREA on an unmapped or stale address; no byte moves', () => {
    const { mem, bc } = make();
    const ss = new SystemSpace(mem, bc);
    const va = ss.map([1], 1, 'k', 'l');
    expect(ss.unmap(va + 1)).toBe(true);
    expect(ss.unmap(va)).toBe(false);
    let e: unknown;
    try {
      ss.read(va, new Uint8Array(1));
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(BugCheck);
    expect((e as BugCheck).code).toBe(PAGE_FAULT_IN_NONPAGED_AREA);
    expect((e as BugCheck).message).toMatch(/was k "l"/);
    expect(mem.residentBytes).toBe(0);
  });

  it('churn keeps memory bounded: the newest RETIRED_KEPT retired mappings keep their "was …" note, older ones still fault, live ones stay', () => {
    const { mem, bc } = make();
    const ss = new SystemSpace(mem, bc);
    const keep = ss.map([3], 1, 'live', 'kept');
    const gone: number[] = [];
    for (let i = 0; i < 3 * RETIRED_KEPT; i++) {
      const va = ss.map([1], 1, 'k', `m${i}`);
      ss.unmap(va);
      gone.push(va);
    }
    expect(ss.lookup(keep)?.label).toBe('kept');
    expect(ss.history(gone[gone.length - 1]!)?.label).toBe(`m${3 * RETIRED_KEPT - 1}`);
    expect(ss.history(gone[gone.length - RETIRED_KEPT]!)?.live).toBe(false);
    expect(ss.history(gone[0]!)).toBeNull();
    expect(() => ss.read(gone[0]!, new Uint8Array(1))).toThrow(BugCheck);
    expect(ss.liveMappings).toBe(1);
  });
});
