/**
 * Mi-level page allocation on the PFN database and the free-run index (no fault injection
 * here: the routines that call this have already asked `k.faults`).
 *
 * Implementation notes
 * - Allocation = take pages out of the index, state ACTIVE, owner set, cache attribute set,
 *   PFN_FLAG_START on the first page and PFN_FLAG_END on the last (ReactOS marks
 *   StartOfAllocation / EndOfAllocation the same way), so a free finds its extent and a free
 *   from the middle is detectable.
 * - Freeing a page that is still locked (MmProbeAndLockPages reference) does not free it: it
 *   is marked DELETE_PENDING and freed at its last unlock, as Windows keeps a locked page
 *   until the MDL lets it go.
 * - PFN_FLAG_LOWMEM_DIRTY survives allocation and free: it is evidence for !chklowmem.
 * - Counters are kept incrementally; `audit()` recounts everything (tests only).
 */
import { pfnOf } from '../../bus/index.ts';
import type { FreeRunIndex } from './free-run-index.ts';
import { FIND_FAILED } from './free-run-index.ts';
import type { OwnerTable } from './owners.ts';
import {
  MAX_LOCK_COUNT,
  PFN_CACHE_MASK,
  PFN_CACHE_NONE,
  PFN_FLAG_DELETE_PENDING,
  PFN_FLAG_END,
  PFN_FLAG_LOWMEM_DIRTY,
  PFN_FLAG_START,
  PFN_STATE_ACTIVE,
  PFN_STATE_FREE,
  PFN_STATE_RESERVED,
  type PfnDatabase,
} from './pfn-database.ts';

/** First PFN at or above 4 GiB. */
export const LOW_LIMIT_PFN = 0x10_0000;

export interface PageCounters {
  usablePages: number;
  freePages: number;
  activePages: number;
  freeLowPages: number;
  freeHighPages: number;
  /** Pages with lockCount > 0. */
  lockedPages: number;
  /** Pages their owner freed while locked (freed at the last unlock). */
  deletePendingPages: number;
  reservedPages: number;
}

export class PageAllocator {
  usablePages = 0;
  reservedPages = 0;
  freeLowPages = 0;
  lockedPages = 0;
  deletePendingPages = 0;

  constructor(
    readonly pfn: PfnDatabase,
    readonly index: FreeRunIndex,
    readonly owners: OwnerTable,
  ) {}

  counters(): PageCounters {
    const free = this.index.freeCount;
    return {
      usablePages: this.usablePages,
      freePages: free,
      activePages: this.usablePages - free,
      freeLowPages: this.freeLowPages,
      freeHighPages: free - this.freeLowPages,
      lockedPages: this.lockedPages,
      deletePendingPages: this.deletePendingPages,
      reservedPages: this.reservedPages,
    };
  }

  /** Lowest free page in [lo, hi]; taken for `owner`. FIND_FAILED when none. */
  takePage(owner: number, lo: number, hi: number, cacheType = PFN_CACHE_NONE): number {
    const p = this.index.findFirstFree(lo, hi);
    if (p === FIND_FAILED) return FIND_FAILED;
    this.markActive(p, 1, owner, cacheType);
    return p;
  }

  /** Highest run of `pages` free pages in [lo, hi] within boundary windows; FIND_FAILED when none. */
  takeRun(pages: number, lo: number, hi: number, boundaryPages: number, owner: number, cacheType = PFN_CACHE_NONE): number {
    const first = this.index.findRunDown(pages, lo, hi, boundaryPages);
    if (first === FIND_FAILED) return FIND_FAILED;
    this.markActive(first, pages, owner, cacheType);
    return first;
  }

  private markActive(first: number, count: number, owner: number, cacheType: number): void {
    if (!this.owners.isLive(owner)) throw new Error(`PageAllocator: owner ${owner} is not live`);
    this.index.setRange(first, count, false); // asserts every page was free
    const { state, flags } = this.pfn;
    const end = first + count;
    state.fill(PFN_STATE_ACTIVE, first, end);
    this.pfn.owner.fill(owner, first, end);
    const c = cacheType & PFN_CACHE_MASK;
    for (let p = first; p < end; p++) flags[p] = (flags[p]! & PFN_FLAG_LOWMEM_DIRTY) | c;
    flags[first] |= PFN_FLAG_START;
    flags[end - 1] |= PFN_FLAG_END;
    this.freeLowPages -= lowOverlap(first, count);
    this.owners.addPages(owner, count);
  }

  private markFree(first: number, count: number): void {
    const { state, flags, owner } = this.pfn;
    const end = first + count;
    const id = owner[first]!;
    for (let p = first; p < end; p++) flags[p] = (flags[p]! & PFN_FLAG_LOWMEM_DIRTY) | PFN_CACHE_NONE;
    state.fill(PFN_STATE_FREE, first, end);
    owner.fill(0, first, end);
    this.index.setRange(first, count, true); // asserts every page was used
    this.freeLowPages += lowOverlap(first, count);
    this.owners.addPages(id, -count);
  }

  /**
   * Pages of the allocation that starts at `first` (START ... END), or 0 when `first` is not
   * the first page of a live allocation. Costs the allocation's length, never a PFN walk.
   */
  extentAt(first: number): number {
    const { state, flags, owner } = this.pfn;
    if (!Number.isSafeInteger(first) || first < 0 || first >= this.pfn.pageCount) return 0;
    if (state[first] !== PFN_STATE_ACTIVE || (flags[first]! & PFN_FLAG_START) === 0) return 0;
    const id = owner[first]!;
    for (let p = first; p < this.pfn.pageCount; p++) {
      if (state[p] !== PFN_STATE_ACTIVE || owner[p] !== id || (p > first && (flags[p]! & PFN_FLAG_START) !== 0)) return 0;
      if (flags[p]! & PFN_FLAG_END) return p - first + 1;
    }
    return 0;
  }

  /**
   * Free the whole allocation [first, first+pages). Locked pages become DELETE_PENDING and
   * are freed at their last unlock. Throws (kernel invariant) when the range is not exactly
   * one live allocation: public routines validate and bug-check before calling this.
   */
  release(first: number, pages: number): void {
    if (this.extentAt(first) !== pages) {
      throw new Error(`PageAllocator invariant: [${first}, +${pages}) is not one live allocation`);
    }
    const { flags, lockCount } = this.pfn;
    const end = first + pages;
    let runStart = first;
    for (let p = first; p < end; p++) {
      if (lockCount[p]! > 0) {
        if (p > runStart) this.markFree(runStart, p - runStart);
        flags[p] = (flags[p]! & ~(PFN_FLAG_START | PFN_FLAG_END)) | PFN_FLAG_DELETE_PENDING;
        this.deletePendingPages++;
        runStart = p + 1;
      }
    }
    if (end > runStart) this.markFree(runStart, end - runStart);
  }

  lock(pfn: number): boolean {
    const { state, lockCount } = this.pfn;
    if (state[pfn] !== PFN_STATE_ACTIVE) throw new Error(`PageAllocator invariant: lock of page ${pfn} that is not active`);
    const n = lockCount[pfn]!;
    if (n >= MAX_LOCK_COUNT) return false;
    lockCount[pfn] = n + 1;
    if (n === 0) this.lockedPages++;
    return true;
  }

  unlock(pfn: number): void {
    const { flags, lockCount } = this.pfn;
    const n = lockCount[pfn]!;
    if (n === 0) throw new Error(`PageAllocator invariant: unlock of page ${pfn} that is not locked`);
    lockCount[pfn] = n - 1;
    if (n > 1) return;
    this.lockedPages--;
    if (flags[pfn]! & PFN_FLAG_DELETE_PENDING) {
      flags[pfn] = flags[pfn]! & ~PFN_FLAG_DELETE_PENDING;
      this.deletePendingPages--;
      this.markFree(pfn, 1);
    }
  }

  /**
   * Recount everything from the arrays and compare with the incremental counters and the
   * index (O(pages); for tests). Returns a list of discrepancies (empty = consistent).
   */
  audit(installed?: readonly { base: number; length: number }[]): string[] {
    const problems: string[] = [];
    const { state, flags, owner, lockCount, pageCount } = this.pfn;
    // Pages outside installed RAM must be holes and never free; checked with a fast scan.
    const spans = installed
      ? installed.map((r) => [pfnOf(r.base), pfnOf(r.base + r.length)] as const)
      : [[0, pageCount] as const];
    let covered = 0;
    for (const [a, b] of spans) covered += b - a;
    if (covered !== pageCount) {
      let lastEnd = 0;
      const holeCheck = (a: number, b: number) => {
        for (let p = a; p < b; p++) if (state[p] !== 0) return problems.push(`non-hole page ${p}`);
        return 0;
      };
      for (const [a, b] of spans) {
        holeCheck(lastEnd, a);
        lastEnd = b;
      }
      holeCheck(lastEnd, pageCount);
    }
    let free = 0;
    let freeLow = 0;
    let active = 0;
    let reserved = 0;
    let locked = 0;
    let pending = 0;
    const perOwner = new Map<number, number>();
    for (const [a, b] of spans) for (let p = a; p < b; p++) {
      const s = state[p]!;
      const isFree = this.index.isFree(p);
      if (s === PFN_STATE_FREE) {
        free++;
        if (p < LOW_LIMIT_PFN) freeLow++;
        if (!isFree) problems.push(`page ${p} FREE but not in the free index`);
        if (owner[p] !== 0 || lockCount[p] !== 0) problems.push(`free page ${p} has owner/lock`);
        if ((flags[p]! & ~PFN_FLAG_LOWMEM_DIRTY) !== PFN_CACHE_NONE) problems.push(`free page ${p} flags 0x${flags[p]!.toString(16)}`);
      } else {
        if (isFree) problems.push(`page ${p} state ${s} but in the free index`);
        if (s === PFN_STATE_ACTIVE) {
          active++;
          const id = owner[p]!;
          if (id === 0) problems.push(`active page ${p} has no owner`);
          perOwner.set(id, (perOwner.get(id) ?? 0) + 1);
          if (lockCount[p]! > 0) locked++;
          if (flags[p]! & PFN_FLAG_DELETE_PENDING) pending++;
        } else if (s === PFN_STATE_RESERVED) reserved++;
      }
    }
    if (free !== this.index.freeCount) problems.push(`free ${free} != index ${this.index.freeCount}`);
    if (free + active !== this.usablePages) problems.push(`free ${free} + active ${active} != usable ${this.usablePages}`);
    if (freeLow !== this.freeLowPages) problems.push(`freeLow ${freeLow} != counter ${this.freeLowPages}`);
    if (reserved !== this.reservedPages) problems.push(`reserved ${reserved} != counter ${this.reservedPages}`);
    if (locked !== this.lockedPages) problems.push(`locked ${locked} != counter ${this.lockedPages}`);
    if (pending !== this.deletePendingPages) problems.push(`pending ${pending} != counter ${this.deletePendingPages}`);
    for (const [id, n] of perOwner) {
      if (this.owners.pages[id] !== n) problems.push(`owner ${id} holds ${n} pages, table says ${this.owners.pages[id]}`);
    }
    return problems;
  }
}

/** Pages of [first, first+count) below 4 GiB. */
export function lowOverlap(first: number, count: number): number {
  return Math.max(0, Math.min(first + count, LOW_LIMIT_PFN) - first);
}
