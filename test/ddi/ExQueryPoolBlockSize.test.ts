/**
 * ExQueryPoolBlockSize(PoolBlock, QuotaCharged).
 * Sources: WDK "ExQueryPoolBlockSize function (ntddk.h)"; ReactOS kmtests
 * modules/rostests/kmtests/ntos_ex/ExPools.c (TestQueryPoolBlockSize), whose assertions are
 * carried over: 8 bytes → at least 8, no quota; a quota-charged block → TRUE; PAGE_SIZE →
 * PAGE_SIZE and page aligned; PAGE_SIZE + 1 → two pages.
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import {
  ExAllocatePool2, ExAllocatePoolWithTag, ExFreePoolWithTag, ExQueryPoolBlockSize, NonPagedPool, POOL_FLAG_NON_PAGED,
  POOL_FLAG_PAGED, POOL_FLAG_USE_QUOTA, poolTag,
} from '../../src/kernel/mm/pool.ts';
import { STATUS_ACCESS_VIOLATION } from '../../src/kernel/status.ts';
import { ref } from '../../src/kernel/ref.ts';
import { raisedStatus } from '../ps/fixture.ts';
import { small } from './helpers.ts';

const TAG = poolTag('Test');

describe('ExQueryPoolBlockSize', () => {
  it('an 8-byte block reports at least 8 bytes and no quota (ExPools.c)', () => {
    const k = small();
    const p = ExAllocatePoolWithTag(k, NonPagedPool, 8, TAG)!;
    const quota = ref(true);
    expect(ExQueryPoolBlockSize(k, p, quota)).toBeGreaterThanOrEqual(8);
    expect(quota.value).toBe(false);
    ExFreePoolWithTag(k, p, TAG);
  });

  it('a block charged to the process quota reports QuotaCharged TRUE (ExPools.c, ExAllocatePoolWithQuotaTag)', () => {
    const k = small();
    const p = ExAllocatePool2(k, POOL_FLAG_PAGED | POOL_FLAG_USE_QUOTA, 8, TAG)!;
    const quota = ref(false);
    expect(ExQueryPoolBlockSize(k, p, quota)).toBeGreaterThanOrEqual(8);
    expect(quota.value).toBe(true);
    ExFreePoolWithTag(k, p, TAG);
  });

  it('PAGE_SIZE reports PAGE_SIZE for a page-aligned block; PAGE_SIZE + 1 reports two pages (ExPools.c)', () => {
    const k = small();
    const page = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, PAGE_SIZE, TAG)!;
    expect(page % PAGE_SIZE).toBe(0);
    const quota = ref(true);
    expect(ExQueryPoolBlockSize(k, page, quota)).toBe(PAGE_SIZE);
    expect(quota.value).toBe(false);
    const more = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, PAGE_SIZE + 1, TAG)!;
    expect(ExQueryPoolBlockSize(k, more, quota)).toBe(2 * PAGE_SIZE);
    ExFreePoolWithTag(k, page, TAG);
    ExFreePoolWithTag(k, more, TAG);
  });

  it('every small size reports a usable size at least as large as asked (property over 1..4096 by steps)', () => {
    const k = small();
    const quota = ref(false);
    for (let n = 1; n <= PAGE_SIZE; n += 37) {
      const p = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, n, TAG)!;
      const usable = ExQueryPoolBlockSize(k, p, quota);
      expect(usable).toBeGreaterThanOrEqual(n);
      expect(usable).toBeLessThanOrEqual(n < PAGE_SIZE ? PAGE_SIZE : 2 * PAGE_SIZE);
      ExFreePoolWithTag(k, p, TAG);
    }
  });

  it('a pointer that is not the start of a live pool block raises STATUS_ACCESS_VIOLATION (model; Windows reads garbage), QuotaCharged untouched', () => {
    const k = small();
    const p = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG)!;
    const quota = ref(true);
    expect(raisedStatus(() => ExQueryPoolBlockSize(k, p + 16, quota))).toBe(STATUS_ACCESS_VIOLATION);
    expect(raisedStatus(() => ExQueryPoolBlockSize(k, NaN, quota))).toBe(STATUS_ACCESS_VIOLATION);
    ExFreePoolWithTag(k, p, TAG);
    expect(raisedStatus(() => ExQueryPoolBlockSize(k, p, quota))).toBe(STATUS_ACCESS_VIOLATION);
    expect(quota.value).toBe(true);
    expect(raisedStatus(() => ExQueryPoolBlockSize(k, p, null as never))).toBe(STATUS_ACCESS_VIOLATION);
  });
});
