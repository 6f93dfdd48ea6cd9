/**
 * Lookaside lists as an allocator, checked against a model: any sequence of allocations, frees,
 * injected allocation failures, bursts, balance-set scans and flushes keeps the list's counters,
 * its cache, its Depth and the pool in the state the rules say, and deleting the list returns
 * the pool to where it was. Fixed seed (test/setup-fast-check.ts).
 * Rules (WDK "ExAllocateFromLookasideListEx function (wdm.h)", "ExFreeToLookasideListEx function
 * (wdm.h)", "ExFlushLookasideListEx function (wdm.h)", "GENERAL_LOOKASIDE structure", "Using
 * Lookaside Lists"; Depth as Windows' executive tunes it, see src/kernel/ex/lookaside.ts):
 *   allocate: TotalAllocates + 1; a cached entry (last freed first) or AllocateMisses + 1 and a pool block;
 *   free: TotalFrees + 1; cached while fewer than Depth are cached, else FreeMisses + 1 and back to pool;
 *   scan: Depth moves by the allocations and misses since the last scan, within [4, MaximumDepth];
 *   with Driver Verifier Depth is 0 and nothing is ever cached.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MIB } from '../../src/bus/index.ts';
import {
  ExAllocateFromLookasideListEx, ExDeleteLookasideListEx, ExFlushLookasideListEx, ExFreeToLookasideListEx, ExInitializeLookasideListEx,
  LOOKASIDE_LIST_EX, lookasideCachedCount,
} from '../../src/kernel/ex/index.ts';
import { NonPagedPool, poolTag } from '../../src/kernel/mm/pool.ts';
import { STATUS_SUCCESS } from '../../src/kernel/status.ts';
import { fingerprint } from './helpers.ts';

const TAG = poolTag('LkPr');
const SIZE = 72;

type Cmd =
  | { op: 'alloc' }
  | { op: 'free'; pick: number }
  | { op: 'allocFail' }
  | { op: 'burst'; n: number }
  | { op: 'scan' }
  | { op: 'flush' };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.constant<Cmd>({ op: 'alloc' }), weight: 5 },
  { arbitrary: fc.nat(1000).map<Cmd>((pick) => ({ op: 'free', pick })), weight: 5 },
  { arbitrary: fc.constant<Cmd>({ op: 'allocFail' }), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 160 }).map<Cmd>((n) => ({ op: 'burst', n })), weight: 2 },
  { arbitrary: fc.constant<Cmd>({ op: 'scan' }), weight: 2 },
  { arbitrary: fc.constant<Cmd>({ op: 'flush' }), weight: 1 },
);

/** The test's own statement of the depth rule (independent of the implementation). */
function nextDepth(depth: number, max: number, minimum: number, allocates: number, misses: number, period = 3): number {
  if (minimum === 0) return 0;
  if (allocates < 25 * period) return Math.max(depth - 10, minimum);
  const perMille = Math.floor((misses * 1000) / allocates);
  if (perMille < 5) return Math.max(depth - 1, minimum);
  return Math.min(depth + Math.min(30, Math.floor((perMille * (max - depth)) / 2000) + 5), max);
}

interface Model {
  cache: number[];
  held: number[];
  depth: number;
  totalAllocates: number;
  allocateMisses: number;
  totalFrees: number;
  freeMisses: number;
  lastAllocates: number;
  lastMisses: number;
}

const paths = new Set<string>();

function run(verifier: boolean, cmds: Cmd[]): void {
  const k = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false, verifier });
  const before = fingerprint(k);
  const baseBlocks = k.mm.pool.outstandingBlocks;
  const l = new LOOKASIDE_LIST_EX();
  expect(ExInitializeLookasideListEx(k, l, null, null, NonPagedPool, 0, SIZE, TAG, 0)).toBe(STATUS_SUCCESS);
  const minimum = verifier ? 0 : 4;
  const m: Model = { cache: [], held: [], depth: minimum, totalAllocates: 0, allocateMisses: 0, totalFrees: 0, freeMisses: 0,
    lastAllocates: 0, lastMisses: 0 };

  const alloc = (fail: boolean) => {
    if (fail) k.faults.setPolicy({ kind: 'always' }, { sites: ['ExAllocatePoolWithTag'] });
    const fp = fail ? fingerprint(k) : '';
    const va = ExAllocateFromLookasideListEx(k, l);
    if (fail) k.faults.setPolicy({ kind: 'none' });
    m.totalAllocates++;
    if (m.cache.length > 0) {
      paths.add('hit');
      expect(va).toBe(m.cache.pop());
      m.held.push(va!);
      return;
    }
    m.allocateMisses++;
    if (fail) {
      paths.add('fail');
      expect(va).toBeNull();
      expect(fingerprint(k)).toBe(fp); // nothing changed but the statistics
      return;
    }
    paths.add('miss');
    expect(va).not.toBeNull();
    expect(m.held.includes(va!)).toBe(false);
    expect(k.mm.pool.blockAt(va!)).toMatchObject({ bytes: SIZE, tag: TAG, lookaside: 0 });
    m.held.push(va!);
  };
  const free = (index: number) => {
    const [va] = m.held.splice(index, 1);
    ExFreeToLookasideListEx(k, l, va!);
    m.totalFrees++;
    if (m.cache.length < m.depth) {
      paths.add('cached');
      m.cache.push(va!);
    } else {
      paths.add('freeMiss');
      m.freeMisses++;
      expect(k.mm.pool.blockAt(va!)).toBeNull();
    }
  };

  for (const c of cmds) {
    switch (c.op) {
      case 'alloc': alloc(false); break;
      case 'allocFail': alloc(true); break;
      case 'free': if (m.held.length > 0) free(c.pick % m.held.length); break;
      case 'burst': {
        for (let i = 0; i < c.n; i++) alloc(false);
        for (let i = 0; i < c.n; i++) free(m.held.length - 1);
        break;
      }
      case 'scan': {
        const d = nextDepth(m.depth, 256, minimum, m.totalAllocates - m.lastAllocates, m.allocateMisses - m.lastMisses);
        paths.add(d > m.depth ? 'grow' : d < m.depth ? 'shrink' : 'steady');
        m.depth = d;
        m.lastAllocates = m.totalAllocates;
        m.lastMisses = m.allocateMisses;
        k.lookaside.balanceSetManagerScan();
        break;
      }
      case 'flush':
        ExFlushLookasideListEx(k, l);
        m.cache.length = 0;
        break;
    }
    // The list's structure and the pool agree with the model after every step.
    expect(l.L).toMatchObject({
      Depth: m.depth, MaximumDepth: 256, TotalAllocates: m.totalAllocates, AllocateMisses: m.allocateMisses,
      TotalFrees: m.totalFrees, FreeMisses: m.freeMisses,
    });
    expect(lookasideCachedCount(k, l)).toBe(m.cache.length);
    expect(k.mm.pool.lookasideCachedBlocks).toBe(m.cache.length);
    expect(k.mm.pool.lookasideCachedBytes).toBe(m.cache.length * SIZE);
    expect(k.mm.pool.outstandingBlocks).toBe(baseBlocks + m.held.length + m.cache.length);
    if (verifier) expect(m.cache.length).toBe(0);
  }
  for (const va of m.cache) expect(k.mm.pool.blockAt(va)!.lookaside).not.toBe(0);
  while (m.held.length > 0) free(m.held.length - 1);
  ExDeleteLookasideListEx(k, l);
  expect(k.mm.pool.outstandingBlocks).toBe(baseBlocks);
  expect(k.mm.pool.lookasideCachedBlocks).toBe(0);
  expect(k.lookaside.counters()).toEqual({ activeLists: 0, cachedEntries: 0 });
  expect(fingerprint(k)).toBe(before);
  expect(k.bugcheck.crashed).toBeNull();
  if (verifier) expect(k.verifier!.findings()).toEqual([]);
}

describe('ExAllocateFromLookasideListEx / ExFreeToLookasideListEx (model-based)', () => {
  it('any sequence keeps counters, cache, Depth and pool as the rules say; delete returns the pool to its start', () => {
    fc.assert(fc.property(fc.array(cmd, { maxLength: 60 }), (cmds) => run(false, cmds)), { numRuns: 80 });
    for (const p of ['hit', 'miss', 'fail', 'cached', 'freeMiss', 'grow', 'shrink']) expect([p, paths.has(p)]).toEqual([p, true]);
  });

  it('under Driver Verifier any sequence caches nothing (Depth 0) and leaves no finding', () => {
    fc.assert(fc.property(fc.array(cmd, { maxLength: 40 }), (cmds) => run(true, cmds)), { numRuns: 30 });
  });
});
