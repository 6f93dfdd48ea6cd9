/**
 * The memory manager of one host: the internal (Mi*) services every kernel routine uses.
 *
 * Implementation notes
 * - Owns the RAM layout, the PFN database, the free-run index, the owner table, system
 *   space and the pool. Public WDK routines live in contiguous.ts and pool.ts and stay thin.
 * - `allocatePage` / `allocateRun` are the allocation entry points for other kernel parts
 *   (processes, MDL pages, common buffers). Each asks `k.faults.shouldFail` first with the
 *   caller's site, so Low Resources Simulation can fail any of them.
 * - NOLOWMEM: when active, a general page allocation never gets a page below 4 GiB; a
 *   request explicitly bounded below 4 GiB (its highest PFN < 4 GiB) may, which is how a SAN
 *   proxy still obtains RDMA-reachable low memory on a NOLOWMEM machine. [B19, core page P3]
 * - Every failure returns -1 before touching anything.
 */
import { PAGE_SIZE, pfnOf } from '../../bus/index.ts';
import type { Kernel } from '../kernel.ts';
import { LowMemoryCheck, type ChklowmemReport } from './chklowmem.ts';
import { FIND_FAILED, FreeRunIndex } from './free-run-index.ts';
import { OwnerTable } from './owners.ts';
import { LOW_LIMIT_PFN, PageAllocator, type PageCounters } from './page-allocator.ts';
import { PFN_CACHE_NONE, PFN_STATE_FREE, PFN_STATE_RESERVED, PfnDatabase } from './pfn-database.ts';
import { Pool } from './pool.ts';
import type { RamLayout } from './ram-layout.ts';
import { SystemSpace } from './system-space.ts';

export interface CacheConflict {
  pfn: number;
  existing: number;
  requested: number;
  what: string;
}

export interface MmCounters extends PageCounters {
  ownersLive: number;
  systemMappings: number;
  systemMappedPages: number;
  cacheConflicts: number;
  chklowmemViolations: number;
  /**
   * Active pool pages that only lookaside-cached blocks hold (pool.ts notes): counted in
   * activePages / systemMappedPages, yet the lists' to give back. Leak accounting adds them to
   * freePages (and the low ones to freeLowPages) and takes them, and their system mappings
   * (`lookasideReclaimableMappings`), out of the active and mapped counts.
   */
  lookasideReclaimablePages: number;
  lookasideReclaimableLowPages: number;
  lookasideReclaimableMappings: number;
}

/** Keep at most this many conflict records (the count keeps going). */
const MAX_CONFLICT_RECORDS = 1024;

export class MemoryManager {
  readonly pfn: PfnDatabase;
  readonly index: FreeRunIndex;
  readonly owners = new OwnerTable();
  readonly pages: PageAllocator;
  readonly system: SystemSpace;
  readonly pool: Pool;
  readonly nolowmemActive: boolean;
  readonly lowmem: LowMemoryCheck;
  readonly cacheConflicts: CacheConflict[] = [];
  cacheConflictCount = 0;
  /** First PFN at or above 4 GiB. */
  readonly lowLimitPfn = LOW_LIMIT_PFN;

  constructor(
    private readonly k: Kernel,
    readonly layout: RamLayout,
  ) {
    const pageCount = layout.topOfMemory / PAGE_SIZE;
    this.pfn = new PfnDatabase(pageCount);
    this.index = new FreeRunIndex(pageCount);
    this.pages = new PageAllocator(this.pfn, this.index, this.owners);
    for (const r of layout.reserved) {
      this.pfn.state.fill(PFN_STATE_RESERVED, pfnOf(r.base), pfnOf(r.base + r.length));
      this.pages.reservedPages += r.length / PAGE_SIZE;
    }
    for (const r of layout.ranges) {
      const first = r.base / PAGE_SIZE;
      const n = r.length / PAGE_SIZE;
      this.pfn.state.fill(PFN_STATE_FREE, first, first + n);
      this.index.bootSetFree(first, n);
      this.pages.usablePages += n;
      this.pages.freeLowPages += Math.max(0, Math.min(first + n, LOW_LIMIT_PFN) - first);
    }
    this.index.rebuild();
    this.nolowmemActive = layout.nolowmemActive;
    this.lowmem = new LowMemoryCheck(this.pfn, this.nolowmemActive);
    this.lowmem.install(k.memory);
    this.system = new SystemSpace(k.memory, k.bugcheck);
    this.pool = new Pool(k, this);
  }

  /** Bytes of per-page metadata: PFN database plus free-run index. */
  get metadataBytesPerPage(): number {
    return this.pfn.metadataBytesPerPage + this.index.bytesPerPage;
  }

  private driver(): string | undefined {
    return this.k.currentDriver ?? undefined;
  }

  /**
   * One page for a general allocation (pool, process demand-zero, MDL pages): the lowest free
   * page in bounds; never below 4 GiB under NOLOWMEM unless `bounds.highestPfn` is below
   * 4 GiB (an explicit low request). Returns the PFN or -1 (none, or an injected failure).
   */
  allocatePage(owner: number, site: string, bounds?: { lowestPfn?: number; highestPfn?: number }): number {
    const lo0 = bounds?.lowestPfn ?? 0;
    const hi0 = bounds?.highestPfn ?? this.pfn.pageCount - 1;
    if (!Number.isSafeInteger(lo0) || !Number.isSafeInteger(hi0)) {
      throw new RangeError(`allocatePage(${site}): bounds must be integers, got [${lo0}, ${hi0}]`);
    }
    if (this.k.faults.shouldFail({ site, bytes: PAGE_SIZE, driver: this.driver() })) return -1;
    const { lo, hi } = this.effectiveBounds(lo0, hi0);
    if (lo > hi) return -1;
    return this.pages.takePage(owner, lo, hi);
  }

  /**
   * Physically contiguous run of `pages` in [lowestPfn, highestPfn] not crossing a multiple of
   * `boundaryPages` (0 or a power of two >= pages), highest addresses first. Under NOLOWMEM
   * the run stays above 4 GiB unless highestPfn is below 4 GiB. Returns the first PFN or -1.
   */
  allocateRun(pages: number, lowestPfn: number, highestPfn: number, boundaryPages: number, owner: number,
              site: string, cacheType: number = PFN_CACHE_NONE): number {
    if (!Number.isSafeInteger(pages) || pages <= 0 || !Number.isSafeInteger(lowestPfn) ||
        !Number.isSafeInteger(highestPfn) || !Number.isSafeInteger(boundaryPages) || boundaryPages < 0 ||
        (boundaryPages !== 0 && ((boundaryPages & (boundaryPages - 1)) !== 0 || boundaryPages < pages ||
          boundaryPages > 0x4000_0000))) {
      throw new RangeError(
        `allocateRun(${site}): ${pages} pages in [${lowestPfn}, ${highestPfn}] boundary ${boundaryPages}`,
      );
    }
    if (this.k.faults.shouldFail({ site, bytes: pages * PAGE_SIZE, driver: this.driver() })) return -1;
    const { lo, hi } = this.effectiveBounds(lowestPfn, highestPfn);
    if (lo > hi) return -1;
    // A boundary larger than memory constrains nothing.
    const b = boundaryPages >= this.pfn.pageCount ? 0 : boundaryPages;
    return this.pages.takeRun(pages, lo, hi, b, owner, cacheType);
  }

  private effectiveBounds(lo: number, hi: number): { lo: number; hi: number } {
    lo = Math.max(0, lo);
    hi = Math.min(this.pfn.pageCount - 1, hi);
    if (this.nolowmemActive && hi >= LOW_LIMIT_PFN) lo = Math.max(lo, LOW_LIMIT_PFN);
    return { lo, hi };
  }

  /** Free one page allocated by allocatePage (kept bytes; freed at last unlock if locked). */
  freePage(pfn: number): void {
    this.pages.release(pfn, 1);
  }

  freeRun(firstPfn: number, pages: number): void {
    this.pages.release(firstPfn, pages);
  }

  lockPage(pfn: number): boolean {
    return this.pages.lock(pfn);
  }

  unlockPage(pfn: number): void {
    this.pages.unlock(pfn);
  }

  /**
   * A mapping of `pfn` with `cacheType` is being made. Windows keeps one cache attribute per
   * physical page (mixing them is undefined behaviour on x86 — B4); a mapping with a different
   * type is recorded as a conflict. A page with no attribute yet takes this one.
   */
  noteMapping(pfn: number, cacheType: number, what: string): void {
    const existing = this.pfn.cacheType(pfn);
    if (existing === PFN_CACHE_NONE) {
      this.pfn.setCacheType(pfn, cacheType);
      return;
    }
    if (existing !== cacheType) {
      this.cacheConflictCount++;
      this.k.verifier?.cacheConflict(pfn, existing, cacheType, what);
      if (this.cacheConflicts.length < MAX_CONFLICT_RECORDS) {
        this.cacheConflicts.push({ pfn, existing, requested: cacheType, what });
      }
    }
  }

  counters(): MmCounters {
    const reclaimable = this.pool.lookasideReclaimable();
    return {
      ...this.pages.counters(),
      ownersLive: this.owners.liveCount,
      systemMappings: this.system.liveMappings,
      systemMappedPages: this.system.livePages,
      cacheConflicts: this.cacheConflictCount,
      chklowmemViolations: this.lowmem.report().violations,
      lookasideReclaimablePages: reclaimable.pages,
      lookasideReclaimableLowPages: reclaimable.lowPages,
      lookasideReclaimableMappings: reclaimable.mappings,
    };
  }

  /** !chklowmem: low pages written while free (NOLOWMEM only). */
  chklowmem(): ChklowmemReport {
    return this.lowmem.report();
  }

  resetChklowmem(): void {
    this.lowmem.reset();
  }

  /** Full consistency check (O(pages), tests only). Empty = consistent. */
  audit(): string[] {
    return this.pages.audit(this.layout.installed);
  }
}

export { FIND_FAILED };
