/**
 * The classic lookaside lists: ExInitializeNPagedLookasideList / ExAllocateFromNPagedLookasideList /
 * ExFreeToNPagedLookasideList / ExDeleteNPagedLookasideList and the paged forms.
 * Sources: WDK "ExInitializeNPagedLookasideList function (wdm.h)" (Depth reserved, IRQL <=
 * DISPATCH_LEVEL, NULL Allocate/Free = ExAllocatePoolWithTag/ExFreePool), "ExInitializePagedLookasideList
 * function (wdm.h)" (IRQL <= APC_LEVEL), "ExAllocateFromNPagedLookasideList", "ExFreeToNPagedLookasideList",
 * "ExDeleteNPagedLookasideList" (frees every remaining entry), "GENERAL_LOOKASIDE structure",
 * "Using Lookaside Lists" (the system keeps the list's depth by its usage), "Bug Check 0xCE
 * DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS" (lookaside lists not deleted before unload).
 * Depth numbers (start 4, MaximumDepth 256, the periodic retuning) as Windows' executive keeps
 * them (ExMinimumLookasideDepth, ExpComputeLookasideDepth; ReactOS ntoskrnl/ex/lookas.c records
 * the same rules); Wine dlls/ntoskrnl.exe/tests/driver.c test_lookaside_list records the initial
 * fields on Windows (carried over below).
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LOOKASIDE_MAXIMUM_DEPTH, ExAllocateFromNPagedLookasideList, ExAllocateFromPagedLookasideList, ExDeleteNPagedLookasideList,
  ExDeletePagedLookasideList, ExFreeToNPagedLookasideList, ExFreeToPagedLookasideList, ExInitializeNPagedLookasideList,
  ExInitializePagedLookasideList, LOOKASIDE_MINIMUM_BLOCK_SIZE, MINIMUM_LOOKASIDE_DEPTH, NPAGED_LOOKASIDE_LIST, PAGED_LOOKASIDE_LIST,
  lookasideCachedCount,
} from '../../src/kernel/ex/index.ts';
import { computeLookasideDepth, GENERAL_LOOKASIDE } from '../../src/kernel/ex/lookaside.ts';
import { ExAllocatePool2, ExFreePool, NonPagedPool, PagedPool, POOL_FLAG_NON_PAGED, POOL_NX_ALLOCATION, NonPagedPoolNx, poolTag } from '../../src/kernel/mm/pool.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../../src/kernel/irql.ts';
import {
  DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, IRQL_NOT_LESS_OR_EQUAL, PAGE_FAULT_IN_NONPAGED_AREA,
} from '../../src/kernel/bugcheck.ts';
import { STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, STATUS_SUCCESS } from '../../src/kernel/status.ts';
import { IoLoadDriver, IoUnloadDriver } from '../../src/kernel/io/index.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { raisedStatus } from '../ps/fixture.ts';
import { expectBugCheck, fingerprint, small } from './helpers.ts';

const TAG = poolTag('LkTs');

function npaged(k: Kernel, size = 64): NPAGED_LOOKASIDE_LIST {
  const l = new NPAGED_LOOKASIDE_LIST();
  ExInitializeNPagedLookasideList(k, l, null, null, 0, size, TAG, 0);
  return l;
}

describe('ExInitializeNPagedLookasideList', () => {
  it('starts at Depth 4 with MaximumDepth 256 whatever Depth is passed (it is reserved), counters 0, Type/Size/Tag stored', () => {
    const k = small();
    for (const depth of [0, 1, 100, 4096]) {
      const l = new NPAGED_LOOKASIDE_LIST();
      ExInitializeNPagedLookasideList(k, l, null, null, POOL_NX_ALLOCATION, 200, TAG, depth);
      expect(l.L).toMatchObject({
        Depth: MINIMUM_LOOKASIDE_DEPTH, MaximumDepth: DEFAULT_LOOKASIDE_MAXIMUM_DEPTH, TotalAllocates: 0, AllocateMisses: 0,
        TotalFrees: 0, FreeMisses: 0, Type: NonPagedPool | POOL_NX_ALLOCATION, Size: 200, Tag: TAG,
      });
      expect([MINIMUM_LOOKASIDE_DEPTH, DEFAULT_LOOKASIDE_MAXIMUM_DEPTH]).toEqual([4, 256]);
      ExDeleteNPagedLookasideList(k, l);
    }
  });

  it('the first allocation misses and takes a pool block of Size with the Tag (NonPagedPoolNx with POOL_NX_ALLOCATION)', () => {
    const k = small();
    const l = new NPAGED_LOOKASIDE_LIST();
    ExInitializeNPagedLookasideList(k, l, null, null, POOL_NX_ALLOCATION, 200, TAG, 0);
    const e = ExAllocateFromNPagedLookasideList(k, l)!;
    expect(l.L.TotalAllocates).toBe(1);
    expect(l.L.AllocateMisses).toBe(1);
    expect(l.L.AllocateHits).toBe(1); // the union's other name
    const b = k.mm.pool.blockAt(e)!;
    expect([b.bytes, b.tag, b.poolType, b.lookaside]).toEqual([200, TAG, NonPagedPoolNx, 0]);
    ExFreeToNPagedLookasideList(k, l, e);
    ExDeleteNPagedLookasideList(k, l);
  });

  it('a freed entry is cached while fewer than Depth are cached and handed out again last-in first-out, without a miss', () => {
    const k = small();
    const l = npaged(k);
    const a = ExAllocateFromNPagedLookasideList(k, l)!;
    const b = ExAllocateFromNPagedLookasideList(k, l)!;
    ExFreeToNPagedLookasideList(k, l, a);
    ExFreeToNPagedLookasideList(k, l, b);
    expect(l.L).toMatchObject({ TotalFrees: 2, FreeMisses: 0 });
    expect(lookasideCachedCount(k, l)).toBe(2);
    expect(ExAllocateFromNPagedLookasideList(k, l)).toBe(b);
    expect(ExAllocateFromNPagedLookasideList(k, l)).toBe(a);
    expect(l.L).toMatchObject({ TotalAllocates: 4, AllocateMisses: 2 });
    ExFreeToNPagedLookasideList(k, l, a);
    ExFreeToNPagedLookasideList(k, l, b);
    ExDeleteNPagedLookasideList(k, l);
  });

  it('a free with Depth entries already cached misses (FreeMisses + 1) and returns the block to pool', () => {
    const k = small();
    const l = npaged(k);
    const held = Array.from({ length: 6 }, () => ExAllocateFromNPagedLookasideList(k, l)!);
    const blocks = k.mm.pool.outstandingBlocks;
    for (const e of held) ExFreeToNPagedLookasideList(k, l, e);
    expect(lookasideCachedCount(k, l)).toBe(4);
    expect(l.L).toMatchObject({ TotalFrees: 6, FreeMisses: 2 });
    expect(k.mm.pool.outstandingBlocks).toBe(blocks - 2);
    ExDeleteNPagedLookasideList(k, l);
  });

  it('cached entries are pool owned by the list (PoolBlockInfo.lookaside, lookasideCachedBlocks/Bytes) until handed out or deleted', () => {
    const k = small();
    const before = fingerprint(k);
    const blocks = k.mm.pool.outstandingBlocks;
    const l = npaged(k, 100);
    const a = ExAllocateFromNPagedLookasideList(k, l)!;
    const b = ExAllocateFromNPagedLookasideList(k, l)!;
    expect(k.mm.pool.lookasideCachedBlocks).toBe(0);
    ExFreeToNPagedLookasideList(k, l, a);
    ExFreeToNPagedLookasideList(k, l, b);
    expect(k.mm.pool.lookasideCachedBlocks).toBe(2);
    expect(k.mm.pool.lookasideCachedBytes).toBe(200);
    expect(k.mm.pool.blockAt(a)!.lookaside).not.toBe(0);
    expect(k.lookaside.counters()).toEqual({ activeLists: 1, cachedEntries: 2 });
    const again = ExAllocateFromNPagedLookasideList(k, l)!;
    expect(k.mm.pool.blockAt(again)!.lookaside).toBe(0);
    expect(k.mm.pool.lookasideCachedBlocks).toBe(1);
    ExFreeToNPagedLookasideList(k, l, again);
    ExDeleteNPagedLookasideList(k, l); // frees every cached entry
    expect(k.mm.pool.lookasideCachedBlocks).toBe(0);
    expect(k.mm.pool.lookasideCachedBytes).toBe(0);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    expect(k.lookaside.counters()).toEqual({ activeLists: 0, cachedEntries: 0 });
    expect(fingerprint(k)).toBe(before);
  });

  it('custom Allocate / Free routines get (PoolType, Size, Tag) and (Buffer), and delete hands them every cached entry', () => {
    const k = small();
    const calls: string[] = [];
    const l = new NPAGED_LOOKASIDE_LIST();
    ExInitializeNPagedLookasideList(k, l, (type, size, tag) => {
      calls.push(`alloc ${type} ${size} ${tag.toString(16)}`);
      return ExAllocatePool2(k, POOL_FLAG_NON_PAGED, size, tag);
    }, (buffer) => {
      calls.push('free');
      ExFreePool(k, buffer);
    }, 0, 48, TAG, 0);
    const a = ExAllocateFromNPagedLookasideList(k, l)!;
    const b = ExAllocateFromNPagedLookasideList(k, l)!;
    ExFreeToNPagedLookasideList(k, l, a);
    ExFreeToNPagedLookasideList(k, l, b);
    ExDeleteNPagedLookasideList(k, l);
    expect(calls).toEqual([`alloc 0 48 ${TAG.toString(16)}`, `alloc 0 48 ${TAG.toString(16)}`, 'free', 'free']);
  });

  it('a failing Allocate (injected pool failure) returns NULL; the counters count the attempt and the pool is unchanged', () => {
    const k = small();
    const l = npaged(k);
    const before = fingerprint(k);
    const blocks = k.mm.pool.outstandingBlocks;
    k.faults.setPolicy({ kind: 'always' }, { sites: ['ExAllocatePoolWithTag'] });
    expect(ExAllocateFromNPagedLookasideList(k, l)).toBeNull();
    expect(l.L).toMatchObject({ TotalAllocates: 1, AllocateMisses: 1 });
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    expect(fingerprint(k)).toBe(before);
    k.faults.setPolicy({ kind: 'none' });
    ExDeleteNPagedLookasideList(k, l);
  });

  it('above DISPATCH_LEVEL the nonpaged routines are IRQL_NOT_LESS_OR_EQUAL; at DISPATCH_LEVEL they work', () => {
    const k = small();
    const l = npaged(k);
    k.irql = DISPATCH_LEVEL;
    const e = ExAllocateFromNPagedLookasideList(k, l)!;
    ExFreeToNPagedLookasideList(k, l, e);
    k.irql = DISPATCH_LEVEL + 1;
    expectBugCheck(() => ExAllocateFromNPagedLookasideList(k, l), IRQL_NOT_LESS_OR_EQUAL);
  });

  it('a list never initialized is an access violation (its Allocate pointer is NULL); junk arguments raise, nothing registered', () => {
    const k = small();
    expect(raisedStatus(() => ExAllocateFromNPagedLookasideList(k, new NPAGED_LOOKASIDE_LIST()))).toBe(STATUS_ACCESS_VIOLATION);
    expect(raisedStatus(() => ExDeleteNPagedLookasideList(k, new NPAGED_LOOKASIDE_LIST()))).toBe(STATUS_ACCESS_VIOLATION);
    expect(raisedStatus(() => ExInitializeNPagedLookasideList(k, {} as never, null, null, 0, 16, TAG, 0))).toBe(STATUS_ACCESS_VIOLATION);
    expect(raisedStatus(() => ExInitializeNPagedLookasideList(k, new NPAGED_LOOKASIDE_LIST(), null, null, 0, -1, TAG, 0)))
      .toBe(STATUS_INVALID_PARAMETER);
    expect(raisedStatus(() => ExInitializeNPagedLookasideList(k, new NPAGED_LOOKASIDE_LIST(), 5 as never, null, 0, 16, TAG, 0)))
      .toBe(STATUS_INVALID_PARAMETER);
    expect(k.lookaside.counters().activeLists).toBe(0);
    const l = npaged(k);
    expect(raisedStatus(() => ExFreeToNPagedLookasideList(k, l, 0))).toBe(STATUS_ACCESS_VIOLATION);
    expect(raisedStatus(() => ExFreeToNPagedLookasideList(k, l, NaN))).toBe(STATUS_ACCESS_VIOLATION);
    expect(l.L.TotalFrees).toBe(0);
  });

  it('freeing an address that is not mapped system memory into a list with room faults (0x50) before anything changes', () => {
    const k = small();
    const l = npaged(k);
    const stop = expectBugCheck(() => ExFreeToNPagedLookasideList(k, l, 0x1234_0000), PAGE_FAULT_IN_NONPAGED_AREA, 0x1234_0000);
    expect(stop).toBeDefined();
    expect(l.L.TotalFrees).toBe(0);
  });

  it('deleting a list twice without the verifier frees nothing more (no stop)', () => {
    const k = small();
    const l = npaged(k);
    const e = ExAllocateFromNPagedLookasideList(k, l)!;
    ExFreeToNPagedLookasideList(k, l, e);
    ExDeleteNPagedLookasideList(k, l);
    const blocks = k.mm.pool.outstandingBlocks;
    ExDeleteNPagedLookasideList(k, l);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    expect(k.bugcheck.crashed).toBeNull();
  });

  it('re-initializing an active list without the verifier forgets its cached entries (they stay allocated pool)', () => {
    const k = small();
    const l = npaged(k);
    const e = ExAllocateFromNPagedLookasideList(k, l)!;
    ExFreeToNPagedLookasideList(k, l, e);
    const blocks = k.mm.pool.outstandingBlocks;
    ExInitializeNPagedLookasideList(k, l, null, null, 0, 64, TAG, 0);
    expect(lookasideCachedCount(k, l)).toBe(0);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    expect(k.mm.pool.blockAt(e)!.lookaside).toBe(0); // no longer the list's: a leak of the driver's
    expect(k.lookaside.counters().activeLists).toBe(1);
  });
});

describe('ExInitializeNPagedLookasideList / ExInitializePagedLookasideList (Wine dlls/ntoskrnl.exe/tests/driver.c test_lookaside_list)', () => {
  it('Size LOOKASIDE_MINIMUM_BLOCK_SIZE, Flags POOL_NX_ALLOCATION: Depth 4, MaximumDepth 256, counters and Last* 0, Type base | NX, Tag and Size as given', () => {
    const k = small();
    const tag = 0x454e4957;
    const n = new NPAGED_LOOKASIDE_LIST();
    ExInitializeNPagedLookasideList(k, n, null, null, POOL_NX_ALLOCATION, LOOKASIDE_MINIMUM_BLOCK_SIZE, tag, 0);
    const p = new PAGED_LOOKASIDE_LIST();
    ExInitializePagedLookasideList(k, p, null, null, POOL_NX_ALLOCATION, LOOKASIDE_MINIMUM_BLOCK_SIZE, tag, 0);
    for (const [l, type] of [[n, NonPagedPool | POOL_NX_ALLOCATION], [p, PagedPool | POOL_NX_ALLOCATION]] as const) {
      expect(l.L).toMatchObject({
        Depth: 4, MaximumDepth: 256, TotalAllocates: 0, AllocateMisses: 0, TotalFrees: 0, FreeMisses: 0, Type: type, Tag: tag,
        Size: LOOKASIDE_MINIMUM_BLOCK_SIZE, LastTotalAllocates: 0, LastAllocateMisses: 0,
      });
    }
    ExDeleteNPagedLookasideList(k, n);
    ExDeletePagedLookasideList(k, p);
  });

  it('a Depth of 20 and Flags 0 after a delete: Depth 4, MaximumDepth 256, Type NonPagedPool / PagedPool', () => {
    const k = small();
    const n = new NPAGED_LOOKASIDE_LIST();
    ExInitializeNPagedLookasideList(k, n, null, null, 0, LOOKASIDE_MINIMUM_BLOCK_SIZE, TAG, 0);
    ExDeleteNPagedLookasideList(k, n);
    n.L.Depth = 0;
    ExInitializeNPagedLookasideList(k, n, null, null, 0, LOOKASIDE_MINIMUM_BLOCK_SIZE, TAG, 20);
    expect([n.L.Depth, n.L.MaximumDepth, n.L.Type]).toEqual([4, 256, NonPagedPool]);
    const p = new PAGED_LOOKASIDE_LIST();
    ExInitializePagedLookasideList(k, p, null, null, 0, LOOKASIDE_MINIMUM_BLOCK_SIZE, TAG, 20);
    expect([p.L.Depth, p.L.MaximumDepth, p.L.Type]).toEqual([4, 256, PagedPool]);
    expect(LOOKASIDE_MINIMUM_BLOCK_SIZE).toBe(8);
  });
});

describe('ExInitializePagedLookasideList', () => {
  it('entries come from paged pool; the routines require IRQL <= APC_LEVEL', () => {
    const k = small();
    const l = new PAGED_LOOKASIDE_LIST();
    ExInitializePagedLookasideList(k, l, null, null, 0, 64, TAG, 0);
    expect(l.L.Type).toBe(PagedPool);
    k.irql = APC_LEVEL;
    const e = ExAllocateFromPagedLookasideList(k, l)!;
    expect(k.mm.pool.blockAt(e)!.poolType).toBe(PagedPool);
    ExFreeToPagedLookasideList(k, l, e);
    ExDeletePagedLookasideList(k, l);
    k.irql = DISPATCH_LEVEL;
    const l2 = new PAGED_LOOKASIDE_LIST();
    expectBugCheck(() => ExInitializePagedLookasideList(k, l2, null, null, 0, 64, TAG, 0), IRQL_NOT_LESS_OR_EQUAL);
  });
});

describe('lookaside depth (balance set manager scan)', () => {
  const list = (depth: number, maximum: number, totalAllocates: number) => {
    const L = new GENERAL_LOOKASIDE();
    L.Depth = depth;
    L.MaximumDepth = maximum;
    L.TotalAllocates = totalAllocates;
    return L;
  };

  it('fewer than 25 allocations per second of the scan period lower Depth by 10, never below 4', () => {
    expect(computeLookasideDepth(list(50, 256, 74), 10, 3, 4)).toBe(40);
    expect(computeLookasideDepth(list(8, 256, 0), 0, 3, 4)).toBe(4);
  });

  it('a miss rate under 0.5% lowers Depth by 1; a higher one raises it by min(30, rate*(Max-Depth)/2000 + 5), never above MaximumDepth', () => {
    expect(computeLookasideDepth(list(20, 256, 1000), 4, 3, 4)).toBe(19); // 4 per mille
    expect(computeLookasideDepth(list(4, 256, 1000), 1000, 3, 4)).toBe(34); // rate 1000: min(30, 126 + 5)
    expect(computeLookasideDepth(list(4, 256, 1000), 10, 3, 4)).toBe(10); // rate 10: 10*252/2000 + 5 = 6
    expect(computeLookasideDepth(list(250, 256, 1000), 1000, 3, 4)).toBe(256);
  });

  it('the scan consumes the allocations since the previous scan; minimum depth 0 (verifier) pins Depth at 0', () => {
    const L = list(4, 256, 1000);
    computeLookasideDepth(L, 1000, 3, 4);
    expect(L.LastTotalAllocates).toBe(1000);
    expect(computeLookasideDepth(L, 0, 3, 4)).toBe(4); // no new allocations: below the threshold
    expect(computeLookasideDepth(list(30, 256, 5000), 5000, 3, 0)).toBe(0);
  });

  it('a busy list that keeps missing grows on each scan and then caches more entries', () => {
    const k = small();
    const l = npaged(k);
    for (let round = 0; round < 3; round++) {
      const held = Array.from({ length: 200 }, () => ExAllocateFromNPagedLookasideList(k, l)!);
      for (const e of held) ExFreeToNPagedLookasideList(k, l, e);
      k.lookaside.balanceSetManagerScan();
    }
    expect(l.L.Depth).toBeGreaterThan(MINIMUM_LOOKASIDE_DEPTH);
    expect(l.L.Depth).toBeLessThanOrEqual(DEFAULT_LOOKASIDE_MAXIMUM_DEPTH);
    const held = Array.from({ length: 200 }, () => ExAllocateFromNPagedLookasideList(k, l)!);
    for (const e of held) ExFreeToNPagedLookasideList(k, l, e);
    expect(lookasideCachedCount(k, l)).toBe(Math.min(200, l.L.Depth));
    k.lookaside.balanceSetManagerScan(); // few new allocations → it shrinks again
    ExDeleteNPagedLookasideList(k, l);
    expect(k.mm.pool.lookasideCachedBlocks).toBe(0);
  });

  it('a list its driver did not delete before unloading stops the next scan with 0xCE (Bug Check 0xCE page)', () => {
    const k = small();
    const l = new NPAGED_LOOKASIDE_LIST();
    const status = IoLoadDriver(k, 'Lkdrv', (kk, drv) => {
      ExInitializeNPagedLookasideList(kk, l, null, null, 0, 64, TAG, 0);
      drv.DriverUnload = () => {};
      return STATUS_SUCCESS;
    });
    expect(status).toBe(STATUS_SUCCESS);
    k.lookaside.balanceSetManagerScan(); // still loaded: fine
    expect(IoUnloadDriver(k, 'Lkdrv')).toBe(STATUS_SUCCESS);
    const stop = expectBugCheck(() => k.lookaside.balanceSetManagerScan(), DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS);
    expect(stop.parameters[0]).toBe(k.lookaside.addressOf(l));
  });

  it('a driver that deletes its list in DriverUnload leaves nothing for the scan', () => {
    const k = small();
    const l = new NPAGED_LOOKASIDE_LIST();
    IoLoadDriver(k, 'Lkdrv', (kk, drv) => {
      ExInitializeNPagedLookasideList(kk, l, null, null, 0, 64, TAG, 0);
      drv.DriverUnload = () => ExDeleteNPagedLookasideList(kk, l);
      return STATUS_SUCCESS;
    });
    expect(IoUnloadDriver(k, 'Lkdrv')).toBe(STATUS_SUCCESS);
    k.lookaside.balanceSetManagerScan();
    expect(k.bugcheck.crashed).toBeNull();
    expect(k.lookaside.counters().activeLists).toBe(0);
  });
});
