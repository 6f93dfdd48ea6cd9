/**
 * Property tests over random sequences of every allocation and free kind: single pages, runs
 * with bounds and boundary, contiguous memory with cache types, pool of random sizes / tags /
 * types, locks (free while locked), checking the invariants after every step and the boot
 * state after freeing everything.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FOUR_GIB, MIB, PAGE_SIZE } from '../../bus/index.ts';
import { Kernel } from '../kernel.ts';
import {
  ExAllocatePool2, ExFreePool, ExFreePoolWithTag, MAXULONG64, MmAllocateContiguousMemorySpecifyCache,
  MmFreeContiguousMemory, MmFreeContiguousMemorySpecifyCache, MmGetPhysicalAddress, POOL_FLAG_NON_PAGED,
  POOL_FLAG_NON_PAGED_EXECUTE, POOL_FLAG_PAGED, POOL_FLAG_UNINITIALIZED,
} from './index.ts';
import { LOW_LIMIT_PFN } from './page-allocator.ts';
import { PFN_STATE_ACTIVE } from './pfn-database.ts';

type Live =
  | { kind: 'page'; pfn: number; general: boolean; locked: number }
  | { kind: 'run'; first: number; pages: number; lo: number; hi: number; b: number }
  | { kind: 'contig'; va: number; bytes: number; lo: number; hi: number; b: number; cache: number; specify: boolean }
  | { kind: 'pool'; va: number; bytes: number; tag: number };

/** Hosts small enough to audit every page after every step. */
const hosts = {
  plain: () => Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false, name: 'plain' }),
  // 32 MiB below the hole, 16 MiB above 4 GiB: NOLOWMEM is active.
  nolowmem: () => Kernel.boot({ ramBytes: 48 * MIB, nolowmem: true, mmioHoleBytes: FOUR_GIB - 32 * MIB, name: 'nolowmem' }),
};

/** PFNs that land in low RAM, in high RAM (NOLOWMEM host) or anywhere. */
const pfnArb = fc.oneof(fc.nat(16384), fc.integer({ min: LOW_LIMIT_PFN, max: LOW_LIMIT_PFN + 4096 }), fc.nat(1 << 21));

const op = fc.oneof(
  fc.record({ t: fc.constant('page' as const), bounded: fc.boolean(), lo: pfnArb, span: pfnArb }),
  fc.record({
    t: fc.constant('run' as const), pages: fc.integer({ min: 1, max: 300 }), lo: pfnArb, span: pfnArb,
    bLog: fc.integer({ min: -1, max: 12 }),
  }),
  fc.record({
    t: fc.constant('contig' as const), bytes: fc.integer({ min: 1, max: 2 * MIB }), low: fc.boolean(),
    lowest: fc.nat(8 * MIB), bLog: fc.integer({ min: -1, max: 24 }), cache: fc.integer({ min: 0, max: 5 }),
    specify: fc.boolean(),
  }),
  fc.record({
    t: fc.constant('pool' as const), bytes: fc.integer({ min: 1, max: 3 * PAGE_SIZE }),
    type: fc.constantFrom(POOL_FLAG_NON_PAGED, POOL_FLAG_NON_PAGED_EXECUTE, POOL_FLAG_PAGED),
    tag: fc.integer({ min: 1, max: 0xffffffff }), uninit: fc.boolean(),
  }),
  fc.record({ t: fc.constant('free' as const), i: fc.nat() }),
  fc.record({ t: fc.constant('lock' as const), i: fc.nat() }),
  fc.record({ t: fc.constant('unlock' as const), i: fc.nat() }),
);

/** Index of the first differing element, or -1 (vitest's deep equality is slow on 1M-entry arrays). */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function physicalIntervals(k: Kernel, a: Live): [number, number][] {
  switch (a.kind) {
    case 'page':
      return [[a.pfn * PAGE_SIZE, (a.pfn + 1) * PAGE_SIZE]];
    case 'run':
      return [[a.first * PAGE_SIZE, (a.first + a.pages) * PAGE_SIZE]];
    case 'contig': {
      const pa = MmGetPhysicalAddress(k, a.va);
      return [[pa, pa + a.bytes]];
    }
    case 'pool': {
      const out: [number, number][] = [];
      for (let off = 0; off < a.bytes; off += PAGE_SIZE - ((a.va + off) % PAGE_SIZE)) {
        const pa = MmGetPhysicalAddress(k, a.va + off);
        const n = Math.min(a.bytes - off, PAGE_SIZE - ((a.va + off) % PAGE_SIZE));
        out.push([pa, pa + n]);
      }
      return out;
    }
  }
}

function checkInvariants(k: Kernel, live: Live[], owner: number, pendingLocked: number[]): void {
  expect(k.mm.audit()).toEqual([]);
  const c = k.mm.counters();
  expect(c.freePages + c.activePages).toBe(c.usablePages);
  const nolow = k.mm.nolowmemActive;
  const intervals: [number, number][] = [];
  for (const a of live) {
    const iv = physicalIntervals(k, a);
    intervals.push(...iv);
    for (const [s, e] of iv) {
      for (let p = Math.floor(s / PAGE_SIZE); p < Math.ceil(e / PAGE_SIZE); p++) {
        expect(k.mm.pfn.state[p]).toBe(PFN_STATE_ACTIVE);
        if (a.kind === 'page' || a.kind === 'run') expect(k.mm.pfn.owner[p]).toBe(owner);
      }
    }
    if (a.kind === 'page' && a.general && nolow) expect(a.pfn).toBeGreaterThanOrEqual(LOW_LIMIT_PFN);
    if (a.kind === 'pool' && nolow) for (const [s] of iv) expect(s).toBeGreaterThanOrEqual(FOUR_GIB);
    if (a.kind === 'run' || a.kind === 'contig') {
      const [s, e] = iv[0]!;
      const firstPfn = Math.floor(s / PAGE_SIZE);
      const lastPfn = Math.ceil(e / PAGE_SIZE) - 1;
      expect(s % PAGE_SIZE).toBe(0);
      if (a.kind === 'run') {
        expect(firstPfn).toBeGreaterThanOrEqual(a.lo);
        expect(lastPfn).toBeLessThanOrEqual(a.hi);
        if (a.b) expect(Math.floor(firstPfn / a.b)).toBe(Math.floor(lastPfn / a.b));
        if (nolow && a.hi >= LOW_LIMIT_PFN) expect(firstPfn).toBeGreaterThanOrEqual(LOW_LIMIT_PFN);
      } else {
        expect(s).toBeGreaterThanOrEqual(a.lo);
        expect((lastPfn + 1) * PAGE_SIZE - 1).toBeLessThanOrEqual(a.hi);
        if (a.b) expect(Math.floor(s / a.b)).toBe(Math.floor((e - 1) / a.b));
        for (let p = firstPfn; p <= lastPfn; p++) expect(k.mm.pfn.cacheType(p)).toBe(a.cache);
        if (nolow && a.hi >= FOUR_GIB) expect(s).toBeGreaterThanOrEqual(FOUR_GIB);
      }
    }
  }
  // No byte (hence no page outside the pool's shared slabs) is held twice.
  intervals.sort((x, y) => x[0] - y[0]);
  for (let i = 1; i < intervals.length; i++) expect(intervals[i]![0]).toBeGreaterThanOrEqual(intervals[i - 1]![1]);
  // Pages freed while locked are still held until unlocked.
  for (const p of pendingLocked) expect(k.mm.pfn.state[p]).toBe(PFN_STATE_ACTIVE);
}

function freeOne(k: Kernel, a: Live, pending: number[]): void {
  switch (a.kind) {
    case 'page':
      k.mm.freePage(a.pfn);
      for (let i = 0; i < a.locked; i++) pending.push(a.pfn);
      return;
    case 'run':
      return k.mm.freeRun(a.first, a.pages);
    case 'contig':
      return a.specify ? MmFreeContiguousMemorySpecifyCache(k, a.va, a.bytes, a.cache) : MmFreeContiguousMemory(k, a.va);
    case 'pool':
      return a.tag & 1 ? ExFreePoolWithTag(k, a.va, a.tag) : ExFreePool(k, a.va);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- ops are the union of the records above
function runSequence(k: Kernel, ops: any[]): void {
  const boot = k.mm.pfn.snapshot();
  const bootBitmap = k.mm.index.bitmap.slice();
  const bootCounters = k.mm.counters();
  const owner = k.mm.owners.register('process', 'test');
  const live: Live[] = [];
  const pending: number[] = []; // one entry per outstanding lock on a page already freed
  const top = k.mm.pfn.pageCount - 1;
  for (const o of ops) {
    switch (o.t) {
      case 'page': {
        const bounds = o.bounded ? { lowestPfn: o.lo, highestPfn: o.lo + o.span } : undefined;
        const p = k.mm.allocatePage(owner, 'test', bounds);
        if (p >= 0) {
          if (bounds) {
            expect(p).toBeGreaterThanOrEqual(bounds.lowestPfn);
            expect(p).toBeLessThanOrEqual(bounds.highestPfn);
          }
          live.push({ kind: 'page', pfn: p, general: !bounds || bounds.highestPfn >= LOW_LIMIT_PFN, locked: 0 });
        }
        break;
      }
      case 'run': {
        const b = o.bLog < 0 ? 0 : Math.max(2 ** o.bLog, 2 ** Math.ceil(Math.log2(o.pages)));
        const hi = Math.min(o.lo + o.span, top);
        const first = k.mm.allocateRun(o.pages, o.lo, o.lo + o.span, b, owner, 'test');
        if (first >= 0) live.push({ kind: 'run', first, pages: o.pages, lo: o.lo, hi, b });
        break;
      }
      case 'contig': {
        const hi = o.low ? FOUR_GIB - 1 : MAXULONG64;
        const b = o.bLog < 0 ? 0 : Math.max(2 ** o.bLog, 2 ** Math.ceil(Math.log2(o.bytes)));
        const before = k.mm.counters().freePages;
        const va = MmAllocateContiguousMemorySpecifyCache(k, o.bytes, o.lowest, hi, b, o.cache);
        if (va !== null) {
          live.push({ kind: 'contig', va, bytes: o.bytes, lo: o.lowest, hi: Math.min(hi, Number.MAX_SAFE_INTEGER), b, cache: o.cache, specify: o.specify });
        } else expect(k.mm.counters().freePages).toBe(before);
        break;
      }
      case 'pool': {
        const va = ExAllocatePool2(k, o.type | (o.uninit ? POOL_FLAG_UNINITIALIZED : 0), o.bytes, o.tag);
        if (va !== null) {
          if (o.bytes >= PAGE_SIZE) expect(va % PAGE_SIZE).toBe(0);
          else {
            expect(va % 16).toBe(0);
            expect(Math.floor(va / PAGE_SIZE)).toBe(Math.floor((va + o.bytes - 1) / PAGE_SIZE));
          }
          live.push({ kind: 'pool', va, bytes: o.bytes, tag: o.tag });
        }
        break;
      }
      case 'free': {
        if (live.length === 0) break;
        const [a] = live.splice(o.i % live.length, 1);
        freeOne(k, a!, pending);
        break;
      }
      case 'lock': {
        const pages = live.filter((a): a is Extract<Live, { kind: 'page' }> => a.kind === 'page');
        if (pages.length === 0) break;
        const a = pages[o.i % pages.length]!;
        if (k.mm.lockPage(a.pfn)) a.locked++;
        break;
      }
      case 'unlock': {
        if (pending.length > 0 && o.i % 2 === 0) {
          k.mm.unlockPage(pending.splice(o.i % pending.length, 1)[0]!);
          break;
        }
        const a = live.find((x): x is Extract<Live, { kind: 'page' }> => x.kind === 'page' && x.locked > 0);
        if (a) {
          k.mm.unlockPage(a.pfn);
          a.locked--;
        }
        break;
      }
    }
    checkInvariants(k, live, owner, pending);
  }
  while (live.length > 0) freeOne(k, live.pop()!, pending);
  while (pending.length > 0) k.mm.unlockPage(pending.pop()!);
  expect(k.mm.audit()).toEqual([]);
  const end = k.mm.pfn.snapshot();
  expect(firstDifference(end.state, boot.state)).toBe(-1);
  expect(firstDifference(end.flags, boot.flags)).toBe(-1);
  expect(firstDifference(end.owner, boot.owner)).toBe(-1);
  expect(firstDifference(end.lockCount, boot.lockCount)).toBe(-1);
  expect(firstDifference(k.mm.index.bitmap, bootBitmap)).toBe(-1);
  k.mm.owners.release(owner);
  expect(k.mm.counters()).toEqual(bootCounters);
  expect(k.mm.pool.tags().every((t) => t.bytes === 0 && t.allocs === t.frees)).toBe(true);
}

describe('MemoryManager: random sequences of every allocation and free kind', () => {
  for (const [name, boot] of Object.entries(hosts)) {
    it(`${name}: no page owned twice, free + used = usable, bounds/boundary/cache honoured, NOLOWMEM respected, boot state after teardown`, () => {
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), (ops) => {
          runSequence(boot(), ops);
        }),
        { numRuns: 60 },
      );
    });
  }

  it('NOLOWMEM: a general page never comes from below 4 GiB even when only low memory is left', () => {
    const k = hosts.nolowmem();
    const owner = k.mm.owners.register('process', 't');
    const got: number[] = [];
    for (;;) {
      const p = k.mm.allocatePage(owner, 'test');
      if (p < 0) break;
      got.push(p);
    }
    expect(got.length).toBe(16 * MIB / PAGE_SIZE);
    expect(got.every((p) => p >= LOW_LIMIT_PFN)).toBe(true);
    expect(k.mm.counters().freeLowPages).toBe((32 - 1) * MIB / PAGE_SIZE);
    // An explicitly low-bounded request may still use low memory.
    expect(k.mm.allocatePage(owner, 'test', { highestPfn: LOW_LIMIT_PFN - 1 })).toBeLessThan(LOW_LIMIT_PFN);
  });

  it('a page freed while locked stays held until its last unlock (DELETE_PENDING)', () => {
    const k = hosts.plain();
    const owner = k.mm.owners.register('process', 't');
    const p = k.mm.allocatePage(owner, 'test');
    expect(k.mm.lockPage(p)).toBe(true);
    expect(k.mm.lockPage(p)).toBe(true);
    k.mm.freePage(p);
    expect(k.mm.counters().deletePendingPages).toBe(1);
    k.mm.unlockPage(p);
    expect(k.mm.pfn.state[p]).toBe(PFN_STATE_ACTIVE);
    k.mm.unlockPage(p);
    expect(k.mm.counters().deletePendingPages).toBe(0);
    expect(k.mm.index.isFree(p)).toBe(true);
    expect(k.mm.audit()).toEqual([]);
  });

  it('lock count overflow is refused, not wrapped', () => {
    const k = hosts.plain();
    const owner = k.mm.owners.register('process', 't');
    const p = k.mm.allocatePage(owner, 'test');
    for (let i = 0; i < 0xffff; i++) expect(k.mm.lockPage(p)).toBe(true);
    expect(k.mm.lockPage(p)).toBe(false);
    expect(k.mm.pfn.lockCount[p]).toBe(0xffff);
  });

  it('every allocation entry point passes the fault injector and an injected failure changes nothing', () => {
    const k = hosts.plain();
    const owner = k.mm.owners.register('process', 't');
    const before = k.mm.pfn.snapshot();
    k.faults.setPolicy({ kind: 'always' });
    expect(k.mm.allocatePage(owner, 'MmAllocatePagesForMdlEx')).toBe(-1);
    expect(k.mm.allocateRun(4, 0, 1 << 20, 0, owner, 'AllocateCommonBuffer')).toBe(-1);
    expect(MmAllocateContiguousMemorySpecifyCache(k, 8192, 0, MAXULONG64, 0, 1)).toBeNull();
    expect(ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, 0x74736554)).toBeNull();
    expect(k.faults.injected.map((f) => f.site)).toEqual([
      'MmAllocatePagesForMdlEx', 'AllocateCommonBuffer', 'MmAllocateContiguousMemorySpecifyCache', 'ExAllocatePool2',
    ]);
    expect(k.faults.injected[3]!.tag).toBe(0x74736554);
    const after = k.mm.pfn.snapshot();
    for (const key of ['state', 'flags', 'owner', 'lockCount'] as const) expect(firstDifference(after[key], before[key])).toBe(-1);
  });

  it('a cache-attribute conflict on a page is recorded', () => {
    const k = hosts.plain();
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, MAXULONG64, 0, 0)!;
    const pfn = MmGetPhysicalAddress(k, va) / PAGE_SIZE;
    k.mm.noteMapping(pfn, 0, 'same type: fine');
    expect(k.mm.cacheConflicts).toEqual([]);
    k.mm.noteMapping(pfn, 1, 'MmMapLockedPagesSpecifyCache(MmCached)');
    expect(k.mm.cacheConflicts).toEqual([{ pfn, existing: 0, requested: 1, what: 'MmMapLockedPagesSpecifyCache(MmCached)' }]);
  });

  it('internal misuse is an invariant failure, never silent', () => {
    const k = hosts.plain();
    const owner = k.mm.owners.register('process', 't');
    const r = k.mm.allocateRun(4, 0, 1 << 20, 0, owner, 'test');
    expect(() => k.mm.freeRun(r + 1, 3)).toThrow(/not one live allocation/);
    expect(() => k.mm.freeRun(r, 3)).toThrow(/not one live allocation/);
    expect(() => k.mm.allocateRun(4, 0, 100, 3, owner, 'test')).toThrow(RangeError);
    expect(() => k.mm.unlockPage(r)).toThrow(/not locked/);
    expect(k.mm.audit()).toEqual([]);
  });
});
