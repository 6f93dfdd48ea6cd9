/**
 * Pool-resident kernel objects (pool.ts notes): an MDL or IRP registered with a host's pool is
 * found by that pool's `objectOf` — so ExFreePool given the object runs its own free rule — until
 * its block is freed, and never by another host's pool. `cachedByAt` answers what
 * `blockAt(va)?.lookaside` answers, without the record (the lookaside pop asks it).
 */
import { describe, expect, it } from 'vitest';
import { MIB, PAGE_SIZE } from '../../bus/index.ts';
import { Kernel } from '../kernel.ts';
import { IoAllocateMdl, IoFreeMdl } from './mdl.ts';
import { ExAllocatePool2, ExFreePoolWithTag, POOL_FLAG_NON_PAGED, poolTag } from './pool.ts';

const TAG = poolTag('Objs');

describe('Pool.registerObject / objectOf (ExFreePool of a pool-resident object)', () => {
  it('finds an MDL in its own host\'s pool only, and not once IoFreeMdl freed its block', () => {
    const a = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false, name: 'a' });
    const b = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false, name: 'b' });
    const mdl = IoAllocateMdl(a, 0x10000, PAGE_SIZE, false, false, null)!;
    expect(a.mm.pool.objectOf(mdl)?.address).toBe(mdl.poolAddress);
    expect(b.mm.pool.objectOf(mdl)).toBeUndefined();
    expect(a.mm.pool.objectOf(null)).toBeUndefined();
    expect(a.mm.pool.objectOf(7)).toBeUndefined();
    IoFreeMdl(a, mdl);
    expect(a.mm.pool.objectOf(mdl)).toBeUndefined();
  });

  it('ExFreePoolWithTag(Mdl, 0) runs the MDL\'s own free rule (kmtests MmMdl.c)', () => {
    const k = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false });
    const outstanding = k.mm.pool.outstandingBlocks;
    const mdl = IoAllocateMdl(k, 0x10000, 64 * PAGE_SIZE, false, false, null)!; // not fixed size: pool, not the lookaside
    expect(k.mm.pool.outstandingBlocks).toBe(outstanding + 1);
    ExFreePoolWithTag(k, mdl as unknown as number, 0);
    expect(k.mm.pool.outstandingBlocks).toBe(outstanding);
    expect(k.mm.pool.objectOf(mdl)).toBeUndefined();
  });
});

describe('Pool.cachedByAt', () => {
  it('is blockAt(va)?.lookaside for live blocks and -1 outside them', () => {
    const k = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false });
    const small = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 100, TAG)!;
    const large = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 2 * PAGE_SIZE, TAG)!;
    for (const va of [small, small + 50, large, large + PAGE_SIZE]) {
      expect(k.mm.pool.cachedByAt(va)).toBe(k.mm.pool.blockAt(va)!.lookaside);
    }
    expect(k.mm.pool.setCachedBy(small, 5)).toBe(true);
    expect(k.mm.pool.cachedByAt(small)).toBe(5);
    expect(k.mm.pool.setCachedBy(small, 0)).toBe(true);
    ExFreePoolWithTag(k, small, TAG);
    expect(k.mm.pool.cachedByAt(small)).toBe(-1);
    expect(k.mm.pool.blockAt(small)).toBeNull();
    expect(k.mm.pool.cachedByAt(0x1000)).toBe(-1);
    ExFreePoolWithTag(k, large, TAG);
  });
});
