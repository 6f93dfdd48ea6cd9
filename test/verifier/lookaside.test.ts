/**
 * Driver Verifier's view of lookaside lists.
 * Sources: WDK "Bug Check 0xC4 DRIVER_VERIFIER_DETECTED_VIOLATION" (0xCA: re-initializing an
 * active list, P2 the list; 0xCB: deleting a list that is not initialized, P2 the list; 0xCC:
 * freeing pool that holds an active list, P2 the list, P3 the block, P4 its size; 0xCD: an entry
 * size too small for the list, P2 the list, P3 the size, P4 the minimum — LOOKASIDE_MINIMUM_BLOCK_SIZE; 0x62: pool left at
 * unload), "Pool Tracking" (Driver Verifier; with it on, Windows disables lookaside caching —
 * ExMinimumLookasideDepth 0 — so every block goes back to pool and is tracked), "Bug Check 0xC2
 * BAD_POOL_CALLER" (pool rules of the list's blocks).
 */
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MIB } from '../../src/bus/index.ts';
import {
  ExAllocateFromLookasideListEx, ExAllocateFromNPagedLookasideList, ExDeleteLookasideListEx, ExDeleteNPagedLookasideList,
  ExFreeToLookasideListEx, ExFreeToNPagedLookasideList, ExInitializeLookasideListEx, ExInitializeNPagedLookasideList,
  LOOKASIDE_LIST_EX, LOOKASIDE_MINIMUM_BLOCK_SIZE, NPAGED_LOOKASIDE_LIST, lookasideCachedCount,
} from '../../src/kernel/ex/index.ts';
import { ExAllocatePool2, ExFreePool, NonPagedPool, POOL_FLAG_NON_PAGED, poolTag } from '../../src/kernel/mm/pool.ts';
import { DRIVER_VERIFIER_DETECTED_VIOLATION } from '../../src/kernel/bugcheck.ts';
import { IoLoadDriver, IoUnloadDriver } from '../../src/kernel/io/index.ts';
import { STATUS_SUCCESS } from '../../src/kernel/status.ts';
import { VERIFIER_POOL_LEAKED_AT_UNLOAD } from '../../src/kernel/verifier/index.ts';
import { bugCheckOf } from '../bug-check.ts';

const TAG = poolTag('LkVf');
const host = (verifier = true) => Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false, verifier });

function exList(k: Kernel, size = 64, at: number | null = null): LOOKASIDE_LIST_EX {
  const l = new LOOKASIDE_LIST_EX(at);
  expect(ExInitializeLookasideListEx(k, l, null, null, NonPagedPool, 0, size, TAG, 0)).toBe(STATUS_SUCCESS);
  return l;
}

describe('Verifier: lookaside lists', () => {
  it('with the verifier every list keeps Depth 0: each free goes back to pool (FreeMisses), nothing is cached, the scan keeps 0', () => {
    const k = host();
    const l = exList(k);
    const blocks = k.mm.pool.outstandingBlocks;
    expect(l.L.Depth).toBe(0);
    const held = [1, 2, 3].map(() => ExAllocateFromLookasideListEx(k, l)!);
    for (const e of held) ExFreeToLookasideListEx(k, l, e);
    expect(l.L).toMatchObject({ TotalAllocates: 3, AllocateMisses: 3, TotalFrees: 3, FreeMisses: 3 });
    expect(lookasideCachedCount(k, l)).toBe(0);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    k.lookaside.balanceSetManagerScan();
    expect(l.L.Depth).toBe(0);
    ExDeleteLookasideListEx(k, l);
    expect(k.verifier!.findings()).toEqual([]);
  });

  it('initializing an active list again is 0xC4/0xCA with P2 the list', () => {
    const k = host();
    const l = exList(k);
    const stop = bugCheckOf(() => ExInitializeLookasideListEx(k, l, null, null, NonPagedPool, 0, 64, TAG, 0));
    expect(stop.code).toBe(DRIVER_VERIFIER_DETECTED_VIOLATION);
    expect(stop.parameters.slice(0, 2)).toEqual([0xca, k.lookaside.addressOf(l)]);
    const k2 = host();
    const n = new NPAGED_LOOKASIDE_LIST();
    ExInitializeNPagedLookasideList(k2, n, null, null, 0, 32, TAG, 0);
    expect(bugCheckOf(() => ExInitializeNPagedLookasideList(k2, n, null, null, 0, 32, TAG, 0)).parameters[0]).toBe(0xca);
  });

  it('deleting a list that is not initialized, or deleting it twice, is 0xC4/0xCB with P2 the list', () => {
    const k = host();
    const never = new NPAGED_LOOKASIDE_LIST();
    const stop = bugCheckOf(() => ExDeleteNPagedLookasideList(k, never));
    expect(stop.code).toBe(DRIVER_VERIFIER_DETECTED_VIOLATION);
    expect(stop.parameters.slice(0, 2)).toEqual([0xcb, k.lookaside.addressOf(never)]);
    const k2 = host();
    const l = exList(k2);
    ExDeleteLookasideListEx(k2, l);
    expect(bugCheckOf(() => ExDeleteLookasideListEx(k2, l)).parameters.slice(0, 2)).toEqual([0xcb, k2.lookaside.addressOf(l)]);
  });

  it('freeing the pool block that holds an active list is 0xC4/0xCC: P2 the list, P3 the block, P4 its size; nothing freed', () => {
    const k = host();
    const block = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 256, TAG)!;
    const l = exList(k, 64, block + 0x40);
    const blocks = k.mm.pool.outstandingBlocks;
    const stop = bugCheckOf(() => ExFreePool(k, block));
    expect(stop.code).toBe(DRIVER_VERIFIER_DETECTED_VIOLATION);
    expect(stop.parameters).toEqual([0xcc, block + 0x40, block, 256]);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    expect(k.verifier!.byRule('lookaside-in-freed-pool')).toHaveLength(1);
    void l;
  });

  it('deleting the list first, then freeing its block, is clean', () => {
    const k = host();
    const block = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 256, TAG)!;
    const l = exList(k, 64, block);
    ExDeleteLookasideListEx(k, l);
    ExFreePool(k, block);
    expect(k.bugcheck.crashed).toBeNull();
  });

  it('a LOOKASIDE_LIST_EX entry size below LOOKASIDE_MINIMUM_BLOCK_SIZE (8) is 0xC4/0xCD: P2 the list, P3 the size, P4 8', () => {
    const k = host();
    const l = new LOOKASIDE_LIST_EX();
    const stop = bugCheckOf(() => ExInitializeLookasideListEx(k, l, null, null, NonPagedPool, 0, 4, TAG, 0));
    expect(stop.code).toBe(DRIVER_VERIFIER_DETECTED_VIOLATION);
    expect(stop.parameters.slice(0, 4)).toEqual([0xcd, k.lookaside.addressOf(l), 4, LOOKASIDE_MINIMUM_BLOCK_SIZE]);
    const ok = new LOOKASIDE_LIST_EX();
    expect(ExInitializeLookasideListEx(host(), ok, null, null, NonPagedPool, 0, LOOKASIDE_MINIMUM_BLOCK_SIZE, TAG, 0)).toBe(STATUS_SUCCESS);
  });

  it('an entry freed to another list than the one it came from is a finding (Windows does not stop; the block goes to pool)', () => {
    const k = host();
    const a = exList(k, 64);
    const b = exList(k, 128);
    const e = ExAllocateFromLookasideListEx(k, a)!;
    ExFreeToLookasideListEx(k, b, e);
    const f = k.verifier!.byRule('lookaside-free-to-wrong-list');
    expect(f).toHaveLength(1);
    expect(f[0]!.parameters.slice(0, 2)).toEqual([k.lookaside.addressOf(b), e]);
    expect(k.bugcheck.crashed).toBeNull();
    expect(k.mm.pool.blockAt(e)).toBeNull(); // Depth 0: freed to pool
    ExDeleteLookasideListEx(k, a);
    ExDeleteLookasideListEx(k, b);
    expect(k.verifier!.byRule('lookaside-deleted-with-entries-outstanding')).toHaveLength(0);
  });

  it('deleting a list while entries are still handed out is a finding naming the list and the count', () => {
    const k = host();
    const l = exList(k);
    const e1 = ExAllocateFromLookasideListEx(k, l)!;
    ExAllocateFromLookasideListEx(k, l);
    ExDeleteLookasideListEx(k, l);
    const f = k.verifier!.byRule('lookaside-deleted-with-entries-outstanding');
    expect(f).toHaveLength(1);
    expect(f[0]!.parameters.slice(0, 3)).toEqual([k.lookaside.addressOf(l), 2, e1]);
    expect(k.bugcheck.crashed).toBeNull();
  });

  it('entries a driver still holds at unload are its pool: Pool Tracking stops with 0xC4/0x62', () => {
    const k = host();
    const l = new NPAGED_LOOKASIDE_LIST();
    expect(IoLoadDriver(k, 'lkleak', (kk, d) => {
      ExInitializeNPagedLookasideList(kk, l, null, null, 0, 64, TAG, 0);
      ExAllocateFromNPagedLookasideList(kk, l); // never freed
      d.DriverUnload = () => ExDeleteNPagedLookasideList(kk, l);
      return STATUS_SUCCESS;
    })).toBe(STATUS_SUCCESS);
    const stop = bugCheckOf(() => IoUnloadDriver(k, 'lkleak'));
    expect(stop.code).toBe(DRIVER_VERIFIER_DETECTED_VIOLATION);
    expect(stop.parameters[0]).toBe(VERIFIER_POOL_LEAKED_AT_UNLOAD);
    expect(stop.parameters[3]).toBe(1);
  });

  it('a driver that frees its entries and deletes its list in DriverUnload unloads clean', () => {
    const k = host();
    const l = new NPAGED_LOOKASIDE_LIST();
    IoLoadDriver(k, 'lkgood', (kk, d) => {
      ExInitializeNPagedLookasideList(kk, l, null, null, 0, 64, TAG, 0);
      const e = ExAllocateFromNPagedLookasideList(kk, l)!;
      ExFreeToNPagedLookasideList(kk, l, e);
      d.DriverUnload = () => ExDeleteNPagedLookasideList(kk, l);
      return STATUS_SUCCESS;
    });
    expect(IoUnloadDriver(k, 'lkgood')).toBe(STATUS_SUCCESS);
    expect(k.bugcheck.crashed).toBeNull();
    expect(k.verifier!.findings()).toEqual([]);
  });

  it('without the verifier, cached entries are marked as the list\'s until DriverUnload deletes the list; then no pool is left', () => {
    const k = host(false);
    const l = new NPAGED_LOOKASIDE_LIST();
    IoLoadDriver(k, 'lkcache', (kk, d) => {
      ExInitializeNPagedLookasideList(kk, l, null, null, 0, 64, TAG, 0);
      const held = [1, 2, 3].map(() => ExAllocateFromNPagedLookasideList(kk, l)!);
      for (const e of held) ExFreeToNPagedLookasideList(kk, l, e);
      d.DriverUnload = () => ExDeleteNPagedLookasideList(kk, l);
      return STATUS_SUCCESS;
    });
    expect(k.mm.pool.outstanding('lkcache').filter((b) => b.lookaside !== 0)).toHaveLength(3);
    expect(IoUnloadDriver(k, 'lkcache')).toBe(STATUS_SUCCESS);
    expect(k.mm.pool.outstanding('lkcache')).toHaveLength(0);
  });
});
