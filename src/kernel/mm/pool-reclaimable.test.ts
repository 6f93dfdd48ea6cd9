/**
 * Pool.lookasideReclaimable(): the pages (and low pages, and system mappings) that only
 * lookaside-cached blocks hold, kept incrementally by the pool (pool.ts notes), against a naive
 * recount from the outstanding blocks after every step of random sequences of plain pool
 * allocations and frees, lookaside allocations, frees, flushes, deletes and re-initializations,
 * balance-set scans, and IRP / MDL traffic through the I/O manager's system lists. Small blocks of
 * two classes share slabs with plain blocks; large (multi-page) blocks are cached whole. Fixed
 * seed (test/setup-fast-check.ts).
 *
 * The recount's rule: a page is reclaimable when every block on it is cached by a
 * lookaside list and at least one is; a slab is one page and one mapping, a large block its pages
 * and one mapping.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GIB, MIB, PAGE_SIZE } from '../../bus/index.ts';
import {
  ExAllocateFromLookasideListEx, ExDeleteLookasideListEx, ExFlushLookasideListEx, ExFreeToLookasideListEx, ExInitializeLookasideListEx,
  LOOKASIDE_LIST_EX,
} from '../ex/index.ts';
import { IoAllocateIrp, IoFreeIrp, type IRP } from '../io/index.ts';
import { Kernel } from '../kernel.ts';
import { STATUS_SUCCESS } from '../status.ts';
import { IoAllocateMdl, IoFreeMdl, type Mdl } from './mdl.ts';
import { LOW_LIMIT_PFN } from './page-allocator.ts';
import { ExAllocatePool2, ExFreePoolWithTag, NonPagedPoolNx, POOL_FLAG_NON_PAGED, poolTag } from './pool.ts';

const TAG = poolTag('Recl');
/** Entry sizes: two slab classes (64, 208) and a large block of two pages. */
const SIZES = [64, 200, PAGE_SIZE + 1] as const;

type Cmd =
  | { op: 'poolAlloc'; size: number }
  | { op: 'poolFree'; pick: number }
  | { op: 'listAlloc'; list: number }
  | { op: 'listFree'; pick: number }
  | { op: 'flush'; list: number }
  | { op: 'reinit'; list: number }
  | { op: 'scan' }
  | { op: 'irp'; stack: number; keep: boolean }
  | { op: 'mdl'; pages: number; keep: boolean }
  | { op: 'ioFree'; pick: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.constantFrom(...SIZES).map<Cmd>((size) => ({ op: 'poolAlloc', size })), weight: 4 },
  { arbitrary: fc.nat(1000).map<Cmd>((pick) => ({ op: 'poolFree', pick })), weight: 4 },
  { arbitrary: fc.nat(SIZES.length - 1).map<Cmd>((list) => ({ op: 'listAlloc', list })), weight: 6 },
  { arbitrary: fc.nat(1000).map<Cmd>((pick) => ({ op: 'listFree', pick })), weight: 6 },
  { arbitrary: fc.nat(SIZES.length - 1).map<Cmd>((list) => ({ op: 'flush', list })), weight: 1 },
  { arbitrary: fc.nat(SIZES.length - 1).map<Cmd>((list) => ({ op: 'reinit', list })), weight: 1 },
  { arbitrary: fc.constant<Cmd>({ op: 'scan' }), weight: 1 },
  { arbitrary: fc.record({ stack: fc.integer({ min: 1, max: 10 }), keep: fc.boolean() }).map<Cmd>((r) => ({ op: 'irp', ...r })), weight: 3 },
  { arbitrary: fc.record({ pages: fc.integer({ min: 1, max: 30 }), keep: fc.boolean() }).map<Cmd>((r) => ({ op: 'mdl', ...r })), weight: 3 },
  { arbitrary: fc.nat(1000).map<Cmd>((pick) => ({ op: 'ioFree', pick })), weight: 3 },
);

/** The naive recount: every outstanding block, grouped by the pages (and mappings) it lies on. */
function recount(k: Kernel) {
  const pages = new Map<number, { cached: boolean; large: boolean }>();
  let blocks = 0;
  let bytes = 0;
  let largeCached = 0;
  for (const b of k.mm.pool.outstanding()) {
    const cached = b.lookaside !== 0;
    if (cached) {
      blocks++;
      bytes += b.bytes;
    }
    const large = b.bytes >= PAGE_SIZE;
    if (large && cached) largeCached++;
    const first = Math.floor(b.address / PAGE_SIZE);
    const n = large ? Math.ceil(b.bytes / PAGE_SIZE) : 1;
    for (let p = first; p < first + n; p++) {
      const seen = pages.get(p);
      pages.set(p, { cached: (seen?.cached ?? true) && cached, large });
    }
  }
  let reclaimable = 0;
  let low = 0;
  let slabPages = 0;
  for (const [page, { cached, large }] of pages) {
    if (!cached) continue;
    reclaimable++;
    if (!large) slabPages++;
    const pfn = Math.floor(k.mm.system.physicalAddress(page * PAGE_SIZE)! / PAGE_SIZE);
    if (pfn < LOW_LIMIT_PFN) low++;
  }
  return { blocks, bytes, pages: reclaimable, lowPages: low, mappings: slabPages + largeCached };
}

const seen = new Set<string>();

function run(k: Kernel, cmds: Cmd[]): void {
  const lists = SIZES.map(() => new LOOKASIDE_LIST_EX());
  const init = (i: number) =>
    expect(ExInitializeLookasideListEx(k, lists[i]!, null, null, NonPagedPoolNx, 0, SIZES[i]!, TAG, 0)).toBe(STATUS_SUCCESS);
  SIZES.forEach((_, i) => init(i));
  const plain: number[] = [];
  const fromList: { list: number; va: number }[] = [];
  const io: (IRP | Mdl)[] = [];
  const check = () => {
    const r = k.mm.pool.lookasideReclaimable();
    expect(r).toEqual(recount(k));
    const c = k.mm.counters();
    expect([c.lookasideReclaimablePages, c.lookasideReclaimableLowPages, c.lookasideReclaimableMappings]).toEqual([r.pages, r.lowPages, r.mappings]);
    if (r.pages > 0) seen.add(r.lowPages === r.pages ? 'reclaimable-low' : 'reclaimable-high');
    if (r.mappings < r.pages) seen.add('reclaimable-large');
  };
  for (const c of cmds) {
    switch (c.op) {
      case 'poolAlloc': {
        const va = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, c.size, TAG);
        if (va !== null) plain.push(va);
        break;
      }
      case 'poolFree':
        if (plain.length) ExFreePoolWithTag(k, plain.splice(c.pick % plain.length, 1)[0]!, TAG);
        break;
      case 'listAlloc': {
        const va = ExAllocateFromLookasideListEx(k, lists[c.list]!);
        if (va !== null) fromList.push({ list: c.list, va });
        break;
      }
      case 'listFree':
        if (fromList.length) {
          const e = fromList.splice(c.pick % fromList.length, 1)[0]!;
          ExFreeToLookasideListEx(k, lists[e.list]!, e.va);
          seen.add('cached');
        }
        break;
      case 'flush':
        ExFlushLookasideListEx(k, lists[c.list]!);
        break;
      case 'reinit':
        // Entries still handed out stay the driver's pool; the cache is freed by the delete.
        ExDeleteLookasideListEx(k, lists[c.list]!);
        for (let i = fromList.length - 1; i >= 0; i--) {
          if (fromList[i]!.list === c.list) plain.push(fromList.splice(i, 1)[0]!.va);
        }
        init(c.list);
        break;
      case 'scan':
        k.lookaside.balanceSetManagerScan();
        break;
      case 'irp': {
        const irp = IoAllocateIrp(k, c.stack, false);
        if (irp && c.keep) io.push(irp);
        else if (irp) IoFreeIrp(k, irp);
        break;
      }
      case 'mdl': {
        const mdl = IoAllocateMdl(k, 0x10_0000, c.pages * PAGE_SIZE, false, false, null);
        if (mdl && c.keep) io.push(mdl);
        else if (mdl) IoFreeMdl(k, mdl);
        break;
      }
      case 'ioFree':
        if (io.length) {
          const o = io.splice(c.pick % io.length, 1)[0]!;
          if ('Stack' in o) IoFreeIrp(k, o);
          else IoFreeMdl(k, o);
        }
        break;
    }
    check();
  }
  // Flushing and deleting every list, and freeing what is held, leaves nothing reclaimable.
  for (const e of fromList) ExFreeToLookasideListEx(k, lists[e.list]!, e.va);
  for (const l of lists) ExDeleteLookasideListEx(k, l);
  for (const va of plain) ExFreePoolWithTag(k, va, TAG);
  check();
  expect(k.mm.pool.lookasideCachedBlocks).toBe(k.lookaside.systemCounters().reduce((s, l) => s + l.cachedEntries, 0));
  for (const o of io) {
    if ('Stack' in o) IoFreeIrp(k, o);
    else IoFreeMdl(k, o);
  }
  check();
}

describe('Pool.lookasideReclaimable (pages only lookaside-cached blocks hold)', () => {
  it('equals a naive recount from the outstanding blocks after every step of any alloc / free / cache / flush sequence (low memory host)', () => {
    fc.assert(fc.property(fc.array(cmd, { maxLength: 120 }), (cmds) => {
      run(Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false }), cmds);
    }), { numRuns: 60 });
  });

  it('equals the recount on a NOLOWMEM host, whose pool pages lie above 4 GiB (low pages 0)', () => {
    fc.assert(fc.property(fc.array(cmd, { maxLength: 120 }), (cmds) => {
      run(Kernel.boot({ ramBytes: 6 * GIB, nolowmem: true }), cmds);
    }), { numRuns: 40 });
    expect([...seen].sort()).toEqual(['cached', 'reclaimable-high', 'reclaimable-large', 'reclaimable-low']);
  });

  it('a slab stops being reclaimable when a block in use joins its cached ones, and becomes reclaimable when the last block in use leaves', () => {
    const k = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false });
    const list = new LOOKASIDE_LIST_EX();
    expect(ExInitializeLookasideListEx(k, list, null, null, NonPagedPoolNx, 0, 64, TAG, 0)).toBe(STATUS_SUCCESS);
    const entry = ExAllocateFromLookasideListEx(k, list)!;
    ExFreeToLookasideListEx(k, list, entry);
    expect(k.mm.pool.lookasideReclaimable()).toMatchObject({ blocks: 1, pages: 1, mappings: 1 });
    const plain = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG)!; // same class: same slab (NonPagedPoolNx)
    expect(Math.floor(plain / PAGE_SIZE)).toBe(Math.floor(entry / PAGE_SIZE));
    expect(k.mm.pool.lookasideReclaimable()).toMatchObject({ blocks: 1, pages: 0, mappings: 0 });
    ExFreePoolWithTag(k, plain, TAG);
    expect(k.mm.pool.lookasideReclaimable()).toMatchObject({ blocks: 1, pages: 1, mappings: 1 });
    ExDeleteLookasideListEx(k, list);
    expect(k.mm.pool.lookasideReclaimable()).toEqual({ blocks: 0, bytes: 0, pages: 0, lowPages: 0, mappings: 0 });
  });
});
