/**
 * The LOOKASIDE_LIST_EX family: ExInitializeLookasideListEx, ExAllocateFromLookasideListEx,
 * ExFreeToLookasideListEx, ExFlushLookasideListEx, ExDeleteLookasideListEx.
 * Sources: WDK "ExInitializeLookasideListEx function (wdm.h)" (returns NTSTATUS; PoolType, Flags
 * EX_LOOKASIDE_LIST_EX_FLAGS_RAISE_ON_FAIL / _FAIL_NO_RAISE, Depth reserved: 0), "ExAllocateFromLookasideListEx
 * function (wdm.h)", "ExFreeToLookasideListEx function (wdm.h)", "ExFlushLookasideListEx function (wdm.h)"
 * (on return the list is empty and the storage of all its entries freed), "ExDeleteLookasideListEx
 * function (wdm.h)", "LOOKASIDE_LIST_EX structure (wdm.h)", "Using Lookaside Lists".
 * The statuses for bad arguments (_4 PoolType, _5 Flags, _8 Depth outside 0 or 256..1024) and the
 * Size minimum are what Windows' ExInitializeLookasideListEx returns and stores.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LOOKASIDE_MAXIMUM_DEPTH, EX_LOOKASIDE_LIST_EX_FLAGS_FAIL_NO_RAISE, EX_LOOKASIDE_LIST_EX_FLAGS_RAISE_ON_FAIL,
  ExAllocateFromLookasideListEx, ExDeleteLookasideListEx, ExFlushLookasideListEx, ExFreeToLookasideListEx, ExInitializeLookasideListEx,
  LOOKASIDE_LIST_EX, MINIMUM_LOOKASIDE_DEPTH, lookasideCachedCount,
} from '../../src/kernel/ex/index.ts';
import {
  ExAllocatePool2, ExFreePool, NonPagedPool, NonPagedPoolNx, PagedPool, POOL_FLAG_NON_PAGED, POOL_NX_ALLOCATION,
  POOL_QUOTA_FAIL_INSTEAD_OF_RAISE, POOL_RAISE_IF_ALLOCATION_FAILURE, poolTag,
} from '../../src/kernel/mm/pool.ts';
import {
  STATUS_ACCESS_VIOLATION, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER_4, STATUS_INVALID_PARAMETER_5,
  STATUS_INVALID_PARAMETER_8, STATUS_SUCCESS,
} from '../../src/kernel/status.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../../src/kernel/irql.ts';
import { IRQL_NOT_LESS_OR_EQUAL } from '../../src/kernel/bugcheck.ts';
import { raisedStatus } from '../ps/fixture.ts';
import { expectBugCheck, fingerprint, small } from './helpers.ts';

const TAG = poolTag('LkEx');

describe('ExInitializeLookasideListEx', () => {
  it('returns STATUS_SUCCESS; Depth 4, MaximumDepth 256 for Depth 0, counters 0, Type/Size/Tag as given', () => {
    const k = small();
    const l = new LOOKASIDE_LIST_EX();
    expect(ExInitializeLookasideListEx(k, l, null, null, NonPagedPoolNx, 0, 96, TAG, 0)).toBe(STATUS_SUCCESS);
    expect(l.L).toMatchObject({
      Depth: MINIMUM_LOOKASIDE_DEPTH, MaximumDepth: DEFAULT_LOOKASIDE_MAXIMUM_DEPTH, TotalAllocates: 0, AllocateMisses: 0,
      TotalFrees: 0, FreeMisses: 0, Type: NonPagedPoolNx, Size: 96, Tag: TAG,
    });
    ExDeleteLookasideListEx(k, l);
  });

  it('a Depth of 256..1024 becomes MaximumDepth; any other non-zero Depth is STATUS_INVALID_PARAMETER_8 and nothing is set up', () => {
    const k = small();
    for (const depth of [256, 512, 1024]) {
      const l = new LOOKASIDE_LIST_EX();
      expect(ExInitializeLookasideListEx(k, l, null, null, NonPagedPool, 0, 32, TAG, depth)).toBe(STATUS_SUCCESS);
      expect(l.L.MaximumDepth).toBe(depth);
      expect(l.L.Depth).toBe(MINIMUM_LOOKASIDE_DEPTH);
      ExDeleteLookasideListEx(k, l);
    }
    for (const depth of [1, 255, 1025, -1, 1.5]) {
      const l = new LOOKASIDE_LIST_EX();
      expect(ExInitializeLookasideListEx(k, l, null, null, NonPagedPool, 0, 32, TAG, depth)).toBe(STATUS_INVALID_PARAMETER_8);
      expect(raisedStatus(() => ExAllocateFromLookasideListEx(k, l))).toBe(STATUS_ACCESS_VIOLATION);
    }
    expect(k.lookaside.counters().activeLists).toBe(0);
  });

  it('Flags other than 0, RAISE_ON_FAIL or FAIL_NO_RAISE are STATUS_INVALID_PARAMETER_5', () => {
    const k = small();
    for (const flags of [3, 4, 0x100, -1]) {
      expect(ExInitializeLookasideListEx(k, new LOOKASIDE_LIST_EX(), null, null, NonPagedPool, flags, 32, TAG, 0))
        .toBe(STATUS_INVALID_PARAMETER_5);
    }
    expect(k.lookaside.counters().activeLists).toBe(0);
  });

  it('a PoolType with unknown bits, or both low bits set, is STATUS_INVALID_PARAMETER_4', () => {
    const k = small();
    for (const type of [3, 7, 0x400, 0x10, 0x8, 0x1_0000]) {
      expect(ExInitializeLookasideListEx(k, new LOOKASIDE_LIST_EX(), null, null, type, 0, 32, TAG, 0)).toBe(STATUS_INVALID_PARAMETER_4);
    }
    for (const type of [NonPagedPool, PagedPool, NonPagedPool | POOL_NX_ALLOCATION, 4, 5]) {
      const l = new LOOKASIDE_LIST_EX();
      expect(ExInitializeLookasideListEx(k, l, null, null, type, 0, 32, TAG, 0)).toBe(STATUS_SUCCESS);
      ExDeleteLookasideListEx(k, l);
    }
  });

  it('a Size below 8 is stored as 8 (without the verifier)', () => {
    const k = small();
    const l = new LOOKASIDE_LIST_EX();
    expect(ExInitializeLookasideListEx(k, l, null, null, NonPagedPool, 0, 1, TAG, 0)).toBe(STATUS_SUCCESS);
    expect(l.L.Size).toBe(8);
    ExDeleteLookasideListEx(k, l);
  });

  it('RAISE_ON_FAIL adds POOL_RAISE_IF_ALLOCATION_FAILURE: a failed allocation raises STATUS_INSUFFICIENT_RESOURCES', () => {
    const k = small();
    const l = new LOOKASIDE_LIST_EX();
    ExInitializeLookasideListEx(k, l, null, null, NonPagedPool, EX_LOOKASIDE_LIST_EX_FLAGS_RAISE_ON_FAIL, 64, TAG, 0);
    expect(l.L.Type).toBe(NonPagedPool | POOL_RAISE_IF_ALLOCATION_FAILURE);
    const before = fingerprint(k);
    k.faults.setPolicy({ kind: 'always' }, { sites: ['ExAllocatePoolWithTag'] });
    expect(raisedStatus(() => ExAllocateFromLookasideListEx(k, l))).toBe(STATUS_INSUFFICIENT_RESOURCES);
    expect(fingerprint(k)).toBe(before);
    k.faults.setPolicy({ kind: 'none' });
    const e = ExAllocateFromLookasideListEx(k, l)!;
    expect(e).not.toBeNull();
    ExFreeToLookasideListEx(k, l, e);
    ExDeleteLookasideListEx(k, l);
  });

  it('FAIL_NO_RAISE adds POOL_QUOTA_FAIL_INSTEAD_OF_RAISE; no flag: a failed allocation returns NULL', () => {
    const k = small();
    const l = new LOOKASIDE_LIST_EX();
    ExInitializeLookasideListEx(k, l, null, null, PagedPool, EX_LOOKASIDE_LIST_EX_FLAGS_FAIL_NO_RAISE, 64, TAG, 0);
    expect(l.L.Type).toBe(PagedPool | POOL_QUOTA_FAIL_INSTEAD_OF_RAISE);
    ExDeleteLookasideListEx(k, l);
    const plain = new LOOKASIDE_LIST_EX();
    ExInitializeLookasideListEx(k, plain, null, null, NonPagedPool, 0, 64, TAG, 0);
    k.faults.setPolicy({ kind: 'always' }, { sites: ['ExAllocatePoolWithTag'] });
    expect(ExAllocateFromLookasideListEx(k, plain)).toBeNull();
  });

  it('custom AllocateEx / FreeEx routines receive the list itself', () => {
    const k = small();
    const l = new LOOKASIDE_LIST_EX();
    const seen: unknown[] = [];
    ExInitializeLookasideListEx(k, l, (type, size, tag, list) => {
      seen.push(list);
      expect([type, size, tag]).toEqual([NonPagedPool, 40, TAG]);
      return ExAllocatePool2(k, POOL_FLAG_NON_PAGED, size, tag);
    }, (buffer, list) => {
      seen.push(list);
      ExFreePool(k, buffer);
    }, NonPagedPool, 0, 40, TAG, 0);
    const e = ExAllocateFromLookasideListEx(k, l)!;
    ExFreeToLookasideListEx(k, l, e);
    ExDeleteLookasideListEx(k, l);
    expect(seen).toEqual([l, l]);
  });

  it('a junk Allocate / Free or storage raises the access violation of calling through it; nothing registered', () => {
    const k = small();
    expect(raisedStatus(() => ExInitializeLookasideListEx(k, new LOOKASIDE_LIST_EX(), 7 as never, null, 0, 0, 32, TAG, 0)))
      .toBe(STATUS_ACCESS_VIOLATION);
    expect(raisedStatus(() => ExInitializeLookasideListEx(k, null as never, null, null, 0, 0, 32, TAG, 0))).toBe(STATUS_ACCESS_VIOLATION);
    expect(k.lookaside.counters().activeLists).toBe(0);
  });

  it('above DISPATCH_LEVEL is IRQL_NOT_LESS_OR_EQUAL; a paged list allocates only at IRQL <= APC_LEVEL', () => {
    const k = small();
    const l = new LOOKASIDE_LIST_EX();
    ExInitializeLookasideListEx(k, l, null, null, PagedPool, 0, 32, TAG, 0);
    k.irql = APC_LEVEL;
    const e = ExAllocateFromLookasideListEx(k, l)!;
    ExFreeToLookasideListEx(k, l, e);
    k.irql = DISPATCH_LEVEL;
    expectBugCheck(() => ExAllocateFromLookasideListEx(k, l), IRQL_NOT_LESS_OR_EQUAL);
    const k2 = small();
    k2.irql = DISPATCH_LEVEL + 1;
    expectBugCheck(() => ExInitializeLookasideListEx(k2, new LOOKASIDE_LIST_EX(), null, null, NonPagedPool, 0, 32, TAG, 0),
      IRQL_NOT_LESS_OR_EQUAL);
  });
});

describe('ExFlushLookasideListEx', () => {
  it('frees every cached entry; the list stays usable and its counters are unchanged', () => {
    const k = small();
    const l = new LOOKASIDE_LIST_EX();
    ExInitializeLookasideListEx(k, l, null, null, NonPagedPool, 0, 64, TAG, 0);
    const blocks = k.mm.pool.outstandingBlocks;
    const held = [1, 2, 3].map(() => ExAllocateFromLookasideListEx(k, l)!);
    for (const e of held) ExFreeToLookasideListEx(k, l, e);
    expect(lookasideCachedCount(k, l)).toBe(3);
    const counters = { ...l.L };
    ExFlushLookasideListEx(k, l);
    expect(lookasideCachedCount(k, l)).toBe(0);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    expect(k.mm.pool.lookasideCachedBlocks).toBe(0);
    expect(l.L).toMatchObject({ TotalAllocates: counters.TotalAllocates, TotalFrees: counters.TotalFrees, Depth: counters.Depth });
    const again = ExAllocateFromLookasideListEx(k, l)!;
    expect(l.L.AllocateMisses).toBe(counters.AllocateMisses + 1);
    ExFreeToLookasideListEx(k, l, again);
    ExDeleteLookasideListEx(k, l);
  });

  it('flushing a list never initialized is an access violation', () => {
    expect(raisedStatus(() => ExFlushLookasideListEx(small(), new LOOKASIDE_LIST_EX()))).toBe(STATUS_ACCESS_VIOLATION);
  });
});

describe('ExDeleteLookasideListEx', () => {
  it('frees every cached entry and leaves the list inactive; the pool is back where it was', () => {
    const k = small();
    const before = fingerprint(k);
    const blocks = k.mm.pool.outstandingBlocks;
    const l = new LOOKASIDE_LIST_EX();
    ExInitializeLookasideListEx(k, l, null, null, NonPagedPool, 0, 300, TAG, 0);
    const held = [1, 2, 3, 4].map(() => ExAllocateFromLookasideListEx(k, l)!);
    for (const e of held) ExFreeToLookasideListEx(k, l, e);
    ExDeleteLookasideListEx(k, l);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    expect(k.lookaside.counters()).toEqual({ activeLists: 0, cachedEntries: 0 });
    expect(fingerprint(k)).toBe(before);
    expect(raisedStatus(() => ExDeleteLookasideListEx(k, new LOOKASIDE_LIST_EX()))).toBe(STATUS_ACCESS_VIOLATION);
  });
});
