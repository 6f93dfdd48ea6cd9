import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FOUR_GIB, PAGE_SIZE } from '../../src/bus/index.ts';
import { BAD_POOL_CALLER, DRIVER_VERIFIER_DETECTED_VIOLATION } from '../../src/kernel/bugcheck.ts';
import { DISPATCH_LEVEL, HIGH_LEVEL } from '../../src/kernel/irql.ts';
import { Kernel } from '../../src/kernel/kernel.ts';
import {
  ExAllocatePool2, ExFreePool, MmGetPhysicalAddress, NonPagedPool, NonPagedPoolNx, POOL_FLAG_CACHE_ALIGNED,
  POOL_FLAG_NON_PAGED, POOL_FLAG_NON_PAGED_EXECUTE, POOL_FLAG_PAGED, POOL_FLAG_RAISE_ON_FAILURE, POOL_FLAG_SESSION,
  POOL_FLAG_SPECIAL_POOL, POOL_FLAG_UNINITIALIZED, PagedPool, poolTag,
} from '../../src/kernel/mm/index.ts';
import { NtStatusError, STATUS_INSUFFICIENT_RESOURCES } from '../../src/kernel/status.ts';
import { expectBugCheck, fingerprint, small } from './helpers.ts';

const TAG = poolTag('Sanp');

describe('ExAllocatePool2', () => {
  it('blocks >= PAGE_SIZE are page-aligned; smaller ones are 16-byte aligned and never cross a page (property)', () => {
    const k = small();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 * PAGE_SIZE }), fc.boolean(), (n, aligned) => {
        const p = ExAllocatePool2(k, POOL_FLAG_NON_PAGED | (aligned ? POOL_FLAG_CACHE_ALIGNED : 0), n, TAG)!;
        if (n >= PAGE_SIZE) expect(p % PAGE_SIZE).toBe(0);
        else {
          expect(p % (aligned ? 64 : 16)).toBe(0);
          expect(Math.floor(p / PAGE_SIZE)).toBe(Math.floor((p + n - 1) / PAGE_SIZE));
        }
        ExFreePool(k, p);
      }),
      { numRuns: 300 },
    );
    expect(k.mm.counters().activePages).toBe(0);
  });

  it('memory is zeroed unless POOL_FLAG_UNINITIALIZED, which keeps what the page held', () => {
    const k = small();
    const p = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG)!;
    k.mm.system.write(p, new Uint8Array(64).fill(0xaa));
    ExFreePool(k, p);
    const z = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG)!;
    const buf = new Uint8Array(64);
    k.mm.system.read(z, buf);
    expect(buf.every((b) => b === 0)).toBe(true);
    k.mm.system.write(z, new Uint8Array(64).fill(0xbb));
    ExFreePool(k, z);
    const u = ExAllocatePool2(k, POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED, 64, TAG)!;
    k.mm.system.read(u, buf);
    expect(buf.every((b) => b === 0xbb)).toBe(true);
  });

  it('per-tag accounting by pool type (poolmon)', () => {
    const k = small();
    const a = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 100, TAG)!;
    ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 5000, TAG);
    ExAllocatePool2(k, POOL_FLAG_PAGED, 10, TAG);
    ExFreePool(k, a);
    expect(k.mm.pool.tags()).toEqual([
      { tag: TAG, tagText: 'Sanp', poolType: 'Nonp', allocs: 2, frees: 1, bytes: 5000 },
      { tag: TAG, tagText: 'Sanp', poolType: 'Paged', allocs: 1, frees: 0, bytes: 10 },
    ]);
  });

  it('records the pool type and the allocating driver of each block', () => {
    const k = small();
    k.currentDriver = 'sanproxy.sys';
    const a = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 32, TAG)!;
    const b = ExAllocatePool2(k, POOL_FLAG_NON_PAGED_EXECUTE, 32, TAG)!;
    k.currentDriver = null;
    const c = ExAllocatePool2(k, POOL_FLAG_PAGED, 32, TAG)!;
    expect(k.mm.pool.poolTypeOf(a)).toBe(NonPagedPoolNx);
    expect(k.mm.pool.poolTypeOf(b)).toBe(NonPagedPool);
    expect(k.mm.pool.poolTypeOf(c)).toBe(PagedPool);
    expect(k.mm.pool.outstanding('sanproxy.sys').map((x) => x.address)).toEqual([a, b].sort((x, y) => x - y));
    expect(k.mm.pool.blockAt(a + 31)).toMatchObject({ address: a, bytes: 32, tag: TAG, driver: 'sanproxy.sys' });
  });

  it('NOLOWMEM: pool pages come from above 4 GiB', () => {
    const k = small(true);
    for (let i = 0; i < 50; i++) {
      const p = ExAllocatePool2(k, i % 2 ? POOL_FLAG_PAGED : POOL_FLAG_NON_PAGED, 1 + i * 97, TAG)!;
      expect(MmGetPhysicalAddress(k, p)).toBeGreaterThanOrEqual(FOUR_GIB);
    }
  });

  it('returns NULL for tag 0, zero bytes, bad sizes and invalid flags, changing nothing', () => {
    const k = small();
    const before = fingerprint(k);
    const cases: [number, number, number][] = [
      [POOL_FLAG_NON_PAGED, 16, 0],
      [POOL_FLAG_NON_PAGED, 16, -1],
      [POOL_FLAG_NON_PAGED, 16, 2 ** 32],
      [POOL_FLAG_NON_PAGED, 16, 1.5],
      [POOL_FLAG_NON_PAGED, 0, TAG],
      [POOL_FLAG_NON_PAGED, -1, TAG],
      [POOL_FLAG_NON_PAGED, 1.5, TAG],
      [POOL_FLAG_NON_PAGED, NaN, TAG],
      [POOL_FLAG_NON_PAGED, 2 ** 60, TAG],
      [POOL_FLAG_NON_PAGED, 1 << 30, TAG], // more than the host has
      [0, 16, TAG], // no pool type
      [POOL_FLAG_NON_PAGED | POOL_FLAG_PAGED, 16, TAG], // two pool types
      [POOL_FLAG_NON_PAGED | 0x10, 16, TAG], // reserved bit
      [POOL_FLAG_NON_PAGED | POOL_FLAG_SESSION, 16, TAG], // session pool is not modelled
      [POOL_FLAG_NON_PAGED + 2 ** 33, 16, TAG], // unknown optional flag
      [-1, 16, TAG],
      [NaN, 16, TAG],
    ];
    for (const [f, n, t] of cases) expect(ExAllocatePool2(k, f, n, t)).toBeNull();
    expect(fingerprint(k)).toBe(before);
    expect(k.mm.pool.tags()).toEqual([]);
    expect(ExAllocatePool2(k, POOL_FLAG_NON_PAGED | POOL_FLAG_SPECIAL_POOL, 16, TAG)).not.toBeNull();
  });

  it('POOL_FLAG_RAISE_ON_FAILURE raises STATUS_INSUFFICIENT_RESOURCES instead of returning NULL', () => {
    const k = small();
    const before = fingerprint(k);
    for (const [n, t] of [[16, 0], [1 << 30, TAG]] as const) {
      let e: unknown = null;
      try {
        ExAllocatePool2(k, POOL_FLAG_NON_PAGED | POOL_FLAG_RAISE_ON_FAILURE, n, t);
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(NtStatusError);
      expect((e as NtStatusError).status).toBe(STATUS_INSUFFICIENT_RESOURCES);
    }
    expect(fingerprint(k)).toBe(before);
  });

  it('B16: paged pool at DISPATCH_LEVEL returns NULL; nonpaged works there', () => {
    const k = small();
    k.irql = DISPATCH_LEVEL;
    expect(ExAllocatePool2(k, POOL_FLAG_PAGED, 16, TAG)).toBeNull();
    expect(ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 16, TAG)).not.toBeNull();
  });

  it('BAD_POOL_CALLER 0x08: allocation above DISPATCH_LEVEL', () => {
    const k = small();
    k.irql = HIGH_LEVEL;
    const b = expectBugCheck(() => ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 16, TAG), BAD_POOL_CALLER, 0x08);
    expect(b.parameters.slice(1)).toEqual([HIGH_LEVEL, NonPagedPoolNx, 16]);
  });

  it('with Driver Verifier: tag 0 is BAD_POOL_CALLER 0x9B and zero bytes is 0xC4/0x00', () => {
    const v = () => Kernel.boot({ ramBytes: 64 * 1024 * 1024, nolowmem: false, verifier: true });
    expectBugCheck(() => ExAllocatePool2(v(), POOL_FLAG_NON_PAGED, 16, 0), BAD_POOL_CALLER, 0x9b);
    expectBugCheck(() => ExAllocatePool2(v(), POOL_FLAG_NON_PAGED, 0, TAG), DRIVER_VERIFIER_DETECTED_VIOLATION, 0x00);
  });

  it('an injected failure carries site, tag, size and driver', () => {
    const k = small();
    k.currentDriver = 'sanproxy.sys';
    k.faults.setPolicy({ kind: 'always' }, { tags: [TAG] });
    expect(ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 77, TAG)).toBeNull();
    expect(k.faults.injected[0]).toMatchObject({ site: 'ExAllocatePool2', tag: TAG, bytes: 77, driver: 'sanproxy.sys' });
    expect(ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 77, poolTag('Othr'))).not.toBeNull();
  });
});
