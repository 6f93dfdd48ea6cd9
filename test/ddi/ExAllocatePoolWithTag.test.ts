/**
 * ExAllocatePoolWithTag(PoolType, NumberOfBytes, Tag) — what a lookaside list's default
 * Allocate routine calls.
 * Sources: WDK "ExAllocatePoolWithTag function (wdm.h)", "POOL_TYPE enumeration (wdm.h)",
 * "Bug Check 0xC2 BAD_POOL_CALLER" (0x08 IRQL, 0x9A MustSucceed, 0x9B tag 0 under the verifier),
 * "Bug Check 0xC4 DRIVER_VERIFIER_DETECTED_VIOLATION" (0x00: zero bytes);
 * ReactOS kmtests modules/rostests/kmtests/ntos_ex/ExPools.c (paged / nonpaged blocks, 0 bytes).
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import {
  ExAllocatePoolWithTag, ExFreePool, ExFreePoolWithTag, NonPagedPool, NonPagedPoolCacheAligned, NonPagedPoolMustSucceed,
  NonPagedPoolNx, PagedPool, POOL_NX_ALLOCATION, POOL_RAISE_IF_ALLOCATION_FAILURE, poolTag,
} from '../../src/kernel/mm/pool.ts';
import { BAD_POOL_CALLER, DRIVER_VERIFIER_DETECTED_VIOLATION } from '../../src/kernel/bugcheck.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../../src/kernel/irql.ts';
import { STATUS_INSUFFICIENT_RESOURCES } from '../../src/kernel/status.ts';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MIB } from '../../src/bus/index.ts';
import { raisedStatus } from '../ps/fixture.ts';
import { expectBugCheck, fingerprint, small } from './helpers.ts';

const TAG = poolTag('Test');
const verifierHost = () => Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false, verifier: true });

describe('ExAllocatePoolWithTag', () => {
  it('serves NonPagedPool, PagedPool and NonPagedPoolNx (NonPagedPool | POOL_NX_ALLOCATION) with the tag and pool type', () => {
    const k = small();
    for (const [type, expected] of [[NonPagedPool, NonPagedPool], [PagedPool, PagedPool], [NonPagedPool | POOL_NX_ALLOCATION, NonPagedPoolNx]]) {
      const p = ExAllocatePoolWithTag(k, type!, 100, TAG)!;
      const b = k.mm.pool.blockAt(p)!;
      expect([b.tag, b.poolType, b.bytes]).toEqual([TAG, expected, 100]);
      ExFreePoolWithTag(k, p, TAG);
    }
  });

  it('cache-aligned types return cache-line aligned blocks', () => {
    const k = small();
    for (let i = 0; i < 8; i++) {
      const p = ExAllocatePoolWithTag(k, NonPagedPoolCacheAligned, 24, TAG)!;
      expect(p % 64).toBe(0);
    }
  });

  it('zero bytes is served without the verifier (the smallest block) and is 0xC4/0x00 with it', () => {
    const k = small();
    const p = ExAllocatePoolWithTag(k, NonPagedPool, 0, TAG)!;
    expect(p).not.toBeNull();
    ExFreePool(k, p);
    expectBugCheck(() => ExAllocatePoolWithTag(verifierHost(), NonPagedPool, 0, TAG), DRIVER_VERIFIER_DETECTED_VIOLATION, 0x00);
  });

  it('tag 0 is accepted without the verifier and is BAD_POOL_CALLER 0x9B with it', () => {
    const k = small();
    const p = ExAllocatePoolWithTag(k, NonPagedPool, 16, 0)!;
    expect(p).not.toBeNull();
    ExFreePool(k, p);
    expectBugCheck(() => ExAllocatePoolWithTag(verifierHost(), NonPagedPool, 16, 0), BAD_POOL_CALLER, 0x9b);
  });

  it('MustSucceed pool is BAD_POOL_CALLER 0x9A (no longer supported)', () => {
    const b = expectBugCheck(() => ExAllocatePoolWithTag(small(), NonPagedPoolMustSucceed, 16, TAG), BAD_POOL_CALLER, 0x9a);
    expect(b.parameters[1]).toBe(NonPagedPoolMustSucceed);
  });

  it('paged pool above APC_LEVEL and any pool above DISPATCH_LEVEL is BAD_POOL_CALLER 0x08', () => {
    const k = small();
    k.irql = DISPATCH_LEVEL;
    expect(ExAllocatePoolWithTag(k, NonPagedPool, 16, TAG)).not.toBeNull();
    expectBugCheck(() => ExAllocatePoolWithTag(k, PagedPool, 16, TAG), BAD_POOL_CALLER, 0x08);
    const k2 = small();
    k2.irql = APC_LEVEL;
    expect(ExAllocatePoolWithTag(k2, PagedPool, 16, TAG)).not.toBeNull();
    k2.irql = DISPATCH_LEVEL + 1;
    expectBugCheck(() => ExAllocatePoolWithTag(k2, NonPagedPool, 16, TAG), BAD_POOL_CALLER, 0x08);
  });

  it('failure returns NULL, or raises STATUS_INSUFFICIENT_RESOURCES with POOL_RAISE_IF_ALLOCATION_FAILURE; nothing changes', () => {
    const k = small();
    const before = fingerprint(k);
    expect(ExAllocatePoolWithTag(k, NonPagedPool, 1024 * MIB, TAG)).toBeNull();
    expect(raisedStatus(() => ExAllocatePoolWithTag(k, NonPagedPool | POOL_RAISE_IF_ALLOCATION_FAILURE, 1024 * MIB, TAG)))
      .toBe(STATUS_INSUFFICIENT_RESOURCES);
    k.faults.setPolicy({ kind: 'always' }, { sites: ['ExAllocatePoolWithTag'] });
    expect(ExAllocatePoolWithTag(k, NonPagedPool, PAGE_SIZE, TAG)).toBeNull();
    expect(fingerprint(k)).toBe(before);
  });

  it('junk PoolType, size or tag is NULL, never a JavaScript error', () => {
    const k = small();
    for (const [type, n, tag] of [[3, 16, TAG], [0x4000, 16, TAG], [NaN, 16, TAG], [0, -1, TAG], [0, 1.5, TAG], [0, 16, -1], [0, 16, 2 ** 32]]) {
      expect(ExAllocatePoolWithTag(k, type!, n!, tag!)).toBeNull();
    }
  });
});

describe('ExFreePoolWithTag (Tag 0)', () => {
  it('Tag 0 checks no tag: it frees a block of any tag like ExFreePool (WDK ExFreePoolWithTag; kmtests MmMdl.c frees MDLs so)', () => {
    const k = small();
    const before = fingerprint(k);
    const p = ExAllocatePoolWithTag(k, NonPagedPool, 64, TAG)!;
    ExFreePoolWithTag(k, p, 0);
    expect(k.bugcheck.crashed).toBeNull();
    expect(fingerprint(k)).toBe(before);
  });

  it('a non-zero wrong tag is still BAD_POOL_CALLER 0x0A', () => {
    const k = small();
    const p = ExAllocatePoolWithTag(k, NonPagedPool, 64, TAG)!;
    expectBugCheck(() => ExFreePoolWithTag(k, p, poolTag('Othr')), BAD_POOL_CALLER, 0x0a);
  });
});
