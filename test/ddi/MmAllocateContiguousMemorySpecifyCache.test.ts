import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FOUR_GIB, MIB, PAGE_SIZE } from '../../src/bus/index.ts';
import { IRQL_NOT_LESS_OR_EQUAL } from '../../src/kernel/bugcheck.ts';
import { DISPATCH_LEVEL, HIGH_LEVEL } from '../../src/kernel/irql.ts';
import {
  MAXULONG64, MM_SYSTEM_RANGE_START, MmAllocateContiguousMemorySpecifyCache, MmCached, MmFreeContiguousMemory,
  MmGetPhysicalAddress, MmMaximumCacheType, MmNonCached, MmWriteCombined,
} from '../../src/kernel/mm/index.ts';
import { big, expectBugCheck, fingerprint, small } from './helpers.ts';

describe('MmAllocateContiguousMemorySpecifyCache', () => {
  it('returns a page-aligned system VA of physically contiguous pages inside [Lowest, Highest] with the cache type', () => {
    const k = big();
    const va = MmAllocateContiguousMemorySpecifyCache(k, 3 * PAGE_SIZE + 5, 0x100_0000, FOUR_GIB - 1, 0, MmWriteCombined)!;
    expect(va).toBeGreaterThanOrEqual(MM_SYSTEM_RANGE_START);
    expect(va % PAGE_SIZE).toBe(0);
    const pa = MmGetPhysicalAddress(k, va);
    expect(pa % PAGE_SIZE).toBe(0);
    for (let i = 0; i < 4; i++) {
      expect(MmGetPhysicalAddress(k, va + i * PAGE_SIZE + 7)).toBe(pa + i * PAGE_SIZE + 7);
      expect(k.mm.pfn.cacheType(pa / PAGE_SIZE + i)).toBe(MmWriteCombined);
    }
    expect(pa).toBeGreaterThanOrEqual(0x100_0000);
    expect(pa + 4 * PAGE_SIZE - 1).toBeLessThanOrEqual(FOUR_GIB - 1);
  });

  it('searches from the highest addresses down (low memory is kept for those who need it)', () => {
    const k = big();
    const va = MmAllocateContiguousMemorySpecifyCache(k, MIB, 0, MAXULONG64, 0, MmCached)!;
    expect(MmGetPhysicalAddress(k, va) + MIB).toBe(k.mm.layout.topOfMemory);
    const low = MmAllocateContiguousMemorySpecifyCache(k, MIB, 0, FOUR_GIB - 1, 0, MmCached)!;
    expect(MmGetPhysicalAddress(k, low) + MIB).toBe(k.mm.layout.mmioHole.base);
  });

  it('never crosses a multiple of BoundaryAddressMultiple (property)', () => {
    const k = small();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 * 1024 }), fc.integer({ min: 12, max: 20 }), fc.nat(40 * MIB), (n, bLog, lowest) => {
        const B = 2 ** Math.max(bLog, Math.ceil(Math.log2(n)));
        const va = MmAllocateContiguousMemorySpecifyCache(k, n, lowest, MAXULONG64, B, MmNonCached);
        if (va === null) return;
        const pa = MmGetPhysicalAddress(k, va);
        expect(Math.floor(pa / B)).toBe(Math.floor((pa + n - 1) / B));
        expect(pa).toBeGreaterThanOrEqual(lowest);
        MmFreeContiguousMemory(k, va);
      }),
      { numRuns: 200 },
    );
    expect(k.mm.audit()).toEqual([]);
  });

  it('contents are not initialized: a new allocation sees the bytes a previous owner left', () => {
    const k = small();
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    k.mm.system.write(va, new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
    MmFreeContiguousMemory(k, va);
    const again = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, MAXULONG64, 0, MmCached)!;
    expect(again).not.toBe(va); // system VAs are never reused
    const got = new Uint8Array(4);
    k.mm.system.read(again, got);
    expect([...got]).toEqual([0xde, 0xad, 0xbe, 0xef]);
  });

  it('NOLOWMEM: Highest < 4 GiB may use low memory; an unbounded request stays above 4 GiB', () => {
    const k = big(true);
    expect(k.mm.nolowmemActive).toBe(true);
    const low = MmAllocateContiguousMemorySpecifyCache(k, MIB, 0, FOUR_GIB - 1, 0, MmNonCached)!;
    expect(MmGetPhysicalAddress(k, low)).toBeLessThan(FOUR_GIB);
    // Fill all high memory; an unbounded request must then fail rather than take low pages.
    const high: number[] = [];
    for (;;) {
      const va = MmAllocateContiguousMemorySpecifyCache(k, 64 * MIB, 0, MAXULONG64, 0, MmCached);
      if (va === null) break;
      expect(MmGetPhysicalAddress(k, va)).toBeGreaterThanOrEqual(FOUR_GIB);
      high.push(va);
    }
    expect(MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, MAXULONG64, 0, MmCached)).toBeNull();
    expect(k.mm.counters().freeHighPages).toBe(0);
    expect(k.mm.counters().freeLowPages).toBeGreaterThan(0);
  });

  it('bad input returns NULL and changes nothing', () => {
    const k = small();
    const before = fingerprint(k);
    const bad: [number, number, number, number, number][] = [
      [0, 0, MAXULONG64, 0, MmCached], // zero bytes
      [-4096, 0, MAXULONG64, 0, MmCached], // negative
      [4096.5, 0, MAXULONG64, 0, MmCached], // fractional
      [NaN, 0, MAXULONG64, 0, MmCached],
      [2 ** 60, 0, MAXULONG64, 0, MmCached], // unsafe size
      [Infinity, 0, MAXULONG64, 0, MmCached],
      [4096, -1, MAXULONG64, 0, MmCached], // negative lowest
      [4096, NaN, MAXULONG64, 0, MmCached],
      [4096, 0x200_0000, 0x100_0000, 0, MmCached], // Lowest > Highest
      [4096, 0, -2, 0, MmCached], // negative highest other than -1
      [4096, 0, 0.5, 0, MmCached],
      [4096, 0, NaN, 0, MmCached],
      [4096, 0, MAXULONG64, 3 * 4096, MmCached], // boundary not a power of two
      [3 * 4096, 0, MAXULONG64, 2 * 4096, MmCached], // boundary smaller than the size
      [4096, 0, MAXULONG64, -4096, MmCached],
      [4096, 0, MAXULONG64, 0, MmMaximumCacheType], // cache type out of range
      [4096, 0, MAXULONG64, 0, -1],
      [4096, 0, MAXULONG64, 0, 1.5],
      [4096, 0, 2047, 0, MmCached], // no whole page below Highest
      [4096, 2 ** 40, MAXULONG64, 0, MmCached], // Lowest beyond RAM
      [128 * MIB, 0, MAXULONG64, 0, MmCached], // more than the machine has
    ];
    for (const args of bad) expect(MmAllocateContiguousMemorySpecifyCache(k, ...args)).toBeNull();
    expect(fingerprint(k)).toBe(before);
    expect(k.mm.system.liveMappings).toBe(0);
  });

  it('Highest beyond RAM is clamped; MAXULONG64 and a LARGE_INTEGER of -1 both mean anywhere', () => {
    const k = small();
    for (const h of [MAXULONG64, -1, 2 ** 52, k.mm.layout.topOfMemory * 4]) {
      const va = MmAllocateContiguousMemorySpecifyCache(k, 8192, 0, h, 0, MmCached);
      expect(va).not.toBeNull();
      MmFreeContiguousMemory(k, va!);
    }
  });

  it('a boundary below PAGE_SIZE constrains nothing once the size fits in it', () => {
    const k = small();
    const va = MmAllocateContiguousMemorySpecifyCache(k, 100, 0, MAXULONG64, 128, MmCached);
    expect(va).not.toBeNull();
  });

  it('an unsatisfiable request fails fast and allocates nothing', () => {
    const k = small();
    const before = fingerprint(k);
    expect(MmAllocateContiguousMemorySpecifyCache(k, 63 * MIB + 4096, 0, MAXULONG64, 0, MmCached)).toBeNull();
    expect(fingerprint(k)).toBe(before);
  });

  it('IRQL above DISPATCH_LEVEL is a driver bug (bug check), at DISPATCH_LEVEL it works', () => {
    const k = small();
    k.irql = DISPATCH_LEVEL;
    expect(MmAllocateContiguousMemorySpecifyCache(k, 4096, 0, MAXULONG64, 0, MmCached)).not.toBeNull();
    k.irql = HIGH_LEVEL;
    expectBugCheck(() => MmAllocateContiguousMemorySpecifyCache(k, 4096, 0, MAXULONG64, 0, MmCached), IRQL_NOT_LESS_OR_EQUAL);
  });

  it('an injected failure (Low Resources Simulation) returns NULL and changes nothing', () => {
    const k = small();
    k.currentDriver = 'sanproxy.sys';
    const before = fingerprint(k);
    k.faults.setPolicy({ kind: 'nth', n: 1 }, { sites: ['MmAllocateContiguousMemorySpecifyCache'] });
    expect(MmAllocateContiguousMemorySpecifyCache(k, 4096, 0, MAXULONG64, 0, MmCached)).toBeNull();
    expect(k.faults.injected[0]).toMatchObject({ site: 'MmAllocateContiguousMemorySpecifyCache', bytes: 4096, driver: 'sanproxy.sys' });
    expect(fingerprint(k)).toBe(before);
    expect(MmAllocateContiguousMemorySpecifyCache(k, 4096, 0, MAXULONG64, 0, MmCached)).not.toBeNull();
  });

  it('a crashed host refuses further work', () => {
    const k = small();
    k.irql = HIGH_LEVEL;
    expectBugCheck(() => MmAllocateContiguousMemorySpecifyCache(k, 4096, 0, MAXULONG64, 0, MmCached), IRQL_NOT_LESS_OR_EQUAL);
    k.irql = 0;
    expectBugCheck(() => MmAllocateContiguousMemorySpecifyCache(k, 4096, 0, MAXULONG64, 0, MmCached), IRQL_NOT_LESS_OR_EQUAL);
  });
});
