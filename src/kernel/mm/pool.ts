/**
 * Executive pool: ExAllocatePool2, ExFreePoolWithTag, ExFreePool, with per-tag accounting
 * (what poolmon shows). [ddi/wdm nf-wdm-exallocatepool2, nf-wdm-exfreepoolwithtag;
 * debugger bug-check-0xc2--bad-pool-caller]
 *
 * Why one file of this size: slabs, large blocks, per-tag accounting and the reclaimable-page
 * count change together on every allocation and free (each count is kept in O(1) there), so
 * they stay beside the code that moves them.
 *
 * Implementation notes
 * - NumberOfBytes >= PAGE_SIZE: whole pages (any physical pages, virtually contiguous),
 *   page-aligned. Smaller: a slot in a slab page of its size class (16-byte granules, 64 with
 *   POOL_FLAG_CACHE_ALIGNED), so a block is 16-byte aligned and never crosses a page, as the
 *   WDK promises. A slab keeps its slots in typed arrays (tag, size, driver) and a stack of
 *   free slots; it is one object per pool page, never per block.
 * - An empty slab gives its page back at once, so after every block is freed the PFN
 *   database is exactly as it was at boot.
 * - Contents: zeroed unless POOL_FLAG_UNINITIALIZED — then the block keeps whatever the page
 *   held before (freed pages keep their bytes), like real uninitialized pool.
 * - Paged and nonpaged pool are both resident (no paging is emulated); paged-ness is
 *   recorded for the IRQL and verifier rules.
 * - Pool pages come from the general page allocator, so under NOLOWMEM they are above 4 GiB.
 * - Bad frees bug-check BAD_POOL_CALLER (0xC2) with the documented first parameter: 0x07
 *   double free, 0x0A wrong tag, 0x40 user-mode address, 0x99 not a pool block, 0x08/0x09
 *   bad IRQL. ExFreePoolWithTag with Tag 0 checks no tag (ExFreePool's behaviour): the
 *   kmtests free MmAllocatePagesForMdl MDLs with ExFreePoolWithTag(Mdl, 0)
 *   (reactos modules/rostests/kmtests/ntos_mm/MmMdl.c).
 * - Kernel objects that live in pool but are handed to drivers as objects (MDLs, IRPs) are
 *   registered with `registerObject`; ExFreePool given such an object runs the object's own
 *   free rule (an MDL is freed like IoFreeMdl; an IRP is Driver Verifier's 0xC4/0x105).
 * - Per block the pool keeps its tag, requested size, allocating driver, whether quota was
 *   charged (ExQueryPoolBlockSize reports it) and which lookaside list, if any, holds it cached
 *   (leak accounting attributes cached blocks to the list, not to a leak).
 * - Pages held only by lookaside-cached blocks: a list's cached entries are allocated
 *   pool, so the pages under them are not free — yet they are the list's to give back (a flush,
 *   a delete, the balance set manager lowering Depth), not a leak. The pool keeps an exact count
 *   of those pages, incrementally: per slab the number of cached slots (`cached`); a slab whose
 *   used slots are all cached (`cached > 0 && cached === slots - freeTop`) is reclaimable — one
 *   page and one system mapping — and a cached large block is reclaimable with all its pages
 *   and its one mapping. Every transition (a block cached or handed out again, a slot taken from
 *   or freed into a slab) re-evaluates only the slab it touches, so the count costs O(1) per pool
 *   operation; `lookasideReclaimable()` reports it and MmCounters carries it. Leak accounting
 *   (host/accounting.ts and the test fixtures) counts those pages free and those blocks out of
 *   pool, as Windows' "available" memory counts pages the system can take back at once.
 */
import { PAGE_SIZE, addressOfPfn, type PhysicalMemory } from '../../bus/index.ts';
import { BAD_POOL_CALLER, DRIVER_VERIFIER_DETECTED_VIOLATION } from '../bugcheck.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../irql.ts';
import type { Kernel } from '../kernel.ts';
import type { Ref } from '../ref.ts';
import { isUlong } from '../ulong.ts';
import { ExRaiseStatus, STATUS_ACCESS_VIOLATION, STATUS_INSUFFICIENT_RESOURCES } from '../status.ts';
import { FIND_FAILED } from './free-run-index.ts';
import type { MemoryManager } from './memory-manager.ts';
import { LOW_LIMIT_PFN } from './page-allocator.ts';
import { MM_SYSTEM_RANGE_START, hexAddressOrValue } from './system-space.ts';

// POOL_FLAGS [ddi/wdm pool_flags]
export const POOL_FLAG_USE_QUOTA = 0x1;
export const POOL_FLAG_UNINITIALIZED = 0x2;
export const POOL_FLAG_SESSION = 0x4;
export const POOL_FLAG_CACHE_ALIGNED = 0x8;
export const POOL_FLAG_RAISE_ON_FAILURE = 0x20;
export const POOL_FLAG_NON_PAGED = 0x40;
export const POOL_FLAG_NON_PAGED_EXECUTE = 0x80;
export const POOL_FLAG_PAGED = 0x100;
/** Optional flag (bit 32): allocate from special pool. Accepted; special pool is not modelled. */
export const POOL_FLAG_SPECIAL_POOL = 0x1_0000_0000;

// POOL_TYPE as bug check parameters and poolmon report it.
export const NonPagedPool = 0;
export const PagedPool = 1;
export const NonPagedPoolNx = 0x200;

const MODELLED_REQUIRED_FLAGS =
  POOL_FLAG_USE_QUOTA | POOL_FLAG_UNINITIALIZED | POOL_FLAG_CACHE_ALIGNED | POOL_FLAG_RAISE_ON_FAILURE |
  POOL_FLAG_NON_PAGED | POOL_FLAG_NON_PAGED_EXECUTE | POOL_FLAG_PAGED;
const TWO_32 = 0x1_0000_0000;
const GRANULE = 16;
const CACHE_LINE = 64;

export interface PoolTagUsage {
  tag: number;
  /** The tag as poolmon prints it (little-endian characters). */
  tagText: string;
  poolType: 'Nonp' | 'Paged';
  allocs: number;
  frees: number;
  /** Bytes requested and not yet freed. */
  bytes: number;
}

export interface PoolBlockInfo {
  address: number;
  bytes: number;
  tag: number;
  poolType: number;
  driver: string | null;
  /** Id of the lookaside list holding this block in its cache (0 = in use, not cached). */
  lookaside: number;
}

/**
 * Pool held only by lookaside-cached blocks: what the lists would give back if every cache were
 * flushed now. `pages` counts slab pages whose every used slot is cached and the pages of cached
 * large blocks; `lowPages` those of them below 4 GiB; `mappings` their system mappings (one per
 * slab, one per large block).
 */
export interface LookasideReclaimable {
  blocks: number;
  bytes: number;
  pages: number;
  lowPages: number;
  mappings: number;
}

/** What ExFreePool does when it is handed a pool-resident kernel object (an MDL, an IRP). */
export type PoolObjectFree = (k: Kernel, routine: string) => void;

/**
 * Where a pool-resident object keeps its registration: a property of its own, set to undefined
 * (never deleted, which would slow the object down) when its block goes. A table keyed by
 * object (a WeakMap) made garbage collection a third of an MDL's allocate-lock-unlock-free
 * cycle (bench register).
 */
const POOL_OBJECT = Symbol('pool object');
interface PoolResident {
  [POOL_OBJECT]?: { pool: Pool; address: number; free: PoolObjectFree } | undefined;
}

interface Slab {
  va: number;
  pfn: number;
  poolType: number;
  classSize: number;
  slots: number;
  used: Uint8Array;
  tags: Uint32Array;
  sizes: Uint16Array;
  drivers: Uint16Array;
  /** 1 when the block was allocated with quota charged (POOL_FLAG_USE_QUOTA). */
  quota: Uint8Array;
  /** Lookaside list id caching the block, 0 when none. */
  cachedBy: Uint32Array;
  /** Slots whose cachedBy is not 0 (kept with cachedBy: the slab is reclaimable when all used slots are cached). */
  cached: number;
  freeStack: Uint16Array;
  freeTop: number;
  /** Position in its class's partial list, or -1 when full. */
  listIndex: number;
}

/** Slab descriptors kept per class size once their pages went back (see Pool.spareSlabs). */
const SPARE_SLABS_PER_CLASS = 4;

/** A slab descriptor for `classSize` blocks, with no page yet. */
function emptySlab(classSize: number): Slab {
  const slots = Math.floor(PAGE_SIZE / classSize);
  return {
    va: 0, pfn: 0, poolType: 0, classSize, slots,
    used: new Uint8Array(slots), tags: new Uint32Array(slots), sizes: new Uint16Array(slots),
    drivers: new Uint16Array(slots), quota: new Uint8Array(slots), cachedBy: new Uint32Array(slots), cached: 0,
    freeStack: new Uint16Array(slots), freeTop: 0, listIndex: -1,
  };
}

/** Every used slot of the slab is cached by a lookaside list (and there is at least one). */
const slabReclaimable = (s: Slab): boolean => s.cached > 0 && s.cached === s.slots - s.freeTop;

interface LargeBlock {
  va: number;
  bytes: number;
  tag: number;
  poolType: number;
  pfns: Int32Array;
  driver: number;
  quota: boolean;
  cachedBy: number;
}

/** "Tag1" style text of a tag as poolmon shows it. */
export function poolTagText(tag: number): string {
  let s = '';
  for (let i = 0; i < 4; i++) {
    const c = (tag >>> (8 * i)) & 0xff;
    s += c >= 0x20 && c <= 0x7e ? String.fromCharCode(c) : '.';
  }
  return s;
}

/** Tag from text: poolTag('Sanp') gives the ULONG a C compiler makes of 'panS'. */
export function poolTag(text: string): number {
  if (text.length < 1 || text.length > 4) throw new RangeError(`pool tag "${text}" must have 1 to 4 characters`);
  let v = 0;
  for (let i = 0; i < text.length; i++) v |= (text.charCodeAt(i) & 0xff) << (8 * i);
  return v >>> 0;
}

const isPaged = (poolType: number) => poolType === PagedPool;
const slabLabels = new Map<number, string>();
/** The system-space label of a slab of one size class (made once per class). */
function slabLabel(classSize: number): string {
  let label = slabLabels.get(classSize);
  if (label === undefined) slabLabels.set(classSize, (label = `pool slab ${classSize}`));
  return label;
}

export class Pool {
  private readonly slabs = new Map<number, Slab>();
  private readonly partial = new Map<number, Slab[]>();
  /**
   * Descriptors of slabs whose page went back to the system, by class size, for the next slab
   * of that class. The page and its VA are returned at once (free memory counts stay exact);
   * only the bookkeeping arrays are kept, because allocating six typed arrays per slab made a
   * free-then-allocate cycle of one block (an MDL per registration) cost microseconds.
   */
  private readonly spareSlabs = new Map<number, Slab[]>();
  private readonly large = new Map<number, LargeBlock>();
  private readonly usage = new Map<number, PoolTagUsage>();
  private readonly driverNames: string[] = [''];
  private readonly driverIds = new Map<string, number>();
  readonly nonPagedOwner: number;
  readonly pagedOwner: number;
  /** Pages held by the pool, per kind. */
  nonPagedPages = 0;
  pagedPages = 0;
  outstandingBlocks = 0;
  /** Blocks (and their requested bytes) held in lookaside caches: allocated pool the lists own. */
  lookasideCachedBlocks = 0;
  lookasideCachedBytes = 0;
  /** Pages (and of them below 4 GiB, and system mappings) held only by lookaside-cached blocks. */
  private reclaimablePages = 0;
  private reclaimableLowPages = 0;
  private reclaimableMappings = 0;

  constructor(
    private readonly k: Kernel,
    private readonly mm: MemoryManager,
  ) {
    this.nonPagedOwner = mm.owners.register('pool-nonpaged', 'nonpaged pool');
    this.pagedOwner = mm.owners.register('pool-paged', 'paged pool');
  }

  private get memory(): PhysicalMemory {
    return this.k.memory;
  }

  /** Per-tag usage, largest outstanding first (poolmon). */
  tags(): PoolTagUsage[] {
    return [...this.usage.values()].map((u) => ({ ...u })).sort((a, b) => b.bytes - a.bytes || a.tag - b.tag);
  }

  /** Outstanding blocks, optionally of one driver (leak reports at unload). */
  outstanding(driver?: string): PoolBlockInfo[] {
    const out: PoolBlockInfo[] = [];
    const want = driver === undefined ? -1 : this.driverIds.get(driver) ?? -2;
    for (const b of this.large.values()) {
      if (want === -1 || b.driver === want) out.push(this.info(b.va, b.bytes, b.tag, b.poolType, b.driver, b.cachedBy));
    }
    for (const s of this.slabs.values()) {
      for (let i = 0; i < s.slots; i++) {
        if (s.used[i] && (want === -1 || s.drivers[i] === want)) {
          out.push(this.info(s.va + i * s.classSize, s.sizes[i]!, s.tags[i]!, s.poolType, s.drivers[i]!, s.cachedBy[i]!));
        }
      }
    }
    return out.sort((a, b) => a.address - b.address);
  }

  private info(address: number, bytes: number, tag: number, poolType: number, driver: number, lookaside: number): PoolBlockInfo {
    return { address, bytes, tag, poolType, driver: driver === 0 ? null : this.driverNames[driver]!, lookaside };
  }

  /** The pool block containing `va` (any byte of it), or null. */
  blockAt(va: number): PoolBlockInfo | null {
    const rec = this.mm.system.lookup(va);
    if (!rec || rec.kind !== 'pool') return null;
    const large = this.large.get(rec.base);
    if (large) return this.info(large.va, large.bytes, large.tag, large.poolType, large.driver, large.cachedBy);
    const s = this.slabs.get(rec.base);
    if (!s) return null;
    const slot = Math.floor((va - s.va) / s.classSize);
    if (slot >= s.slots || !s.used[slot]) return null;
    return this.info(s.va + slot * s.classSize, s.sizes[slot]!, s.tags[slot]!, s.poolType, s.drivers[slot]!, s.cachedBy[slot]!);
  }

  /**
   * The lookaside list caching the live pool block containing `va` (0: none), or -1 when `va` is
   * in no live block: `blockAt(va)?.lookaside` without the record (a lookaside pop asks it).
   */
  cachedByAt(va: number): number {
    const rec = this.mm.system.lookup(va);
    if (!rec || rec.kind !== 'pool') return -1;
    const large = this.large.get(rec.base);
    if (large) return large.cachedBy;
    const s = this.slabs.get(rec.base);
    if (!s) return -1;
    const slot = Math.floor((va - s.va) / s.classSize);
    if (slot >= s.slots || !s.used[slot]) return -1;
    return s.cachedBy[slot]!;
  }

  /**
   * The block that starts exactly at `va`: its usable size (the whole slot or whole pages, as
   * ExQueryPoolBlockSize reports it) and whether quota was charged; null when `va` is not the
   * start of a live block.
   */
  blockStartingAt(va: number): { usable: number; bytes: number; tag: number; quota: boolean; poolType: number } | null {
    if (!Number.isSafeInteger(va)) return null;
    const rec = this.mm.system.lookup(va);
    if (!rec || rec.kind !== 'pool') return null;
    const large = this.large.get(rec.base);
    if (large) {
      return large.va === va
        ? { usable: large.pfns.length * PAGE_SIZE, bytes: large.bytes, tag: large.tag, quota: large.quota, poolType: large.poolType }
        : null;
    }
    const s = this.slabs.get(rec.base);
    if (!s || (va - s.va) % s.classSize !== 0) return null;
    const slot = (va - s.va) / s.classSize;
    if (slot >= s.slots || !s.used[slot]) return null;
    return { usable: s.classSize, bytes: s.sizes[slot]!, tag: s.tags[slot]!, quota: s.quota[slot] === 1, poolType: s.poolType };
  }

  /**
   * Mark the block at `va` as cached by lookaside list `listId` (0 = handed out again). The
   * block stays allocated pool; only the attribution changes. False when `va` is no block.
   */
  setCachedBy(va: number, listId: number): boolean {
    const rec = this.mm.system.lookup(va);
    if (!rec || rec.kind !== 'pool') return false;
    const large = this.large.get(rec.base);
    let previous: number;
    let bytes: number;
    if (large) {
      if (large.va !== va) return false;
      previous = large.cachedBy;
      bytes = large.bytes;
      large.cachedBy = listId;
      if ((previous === 0) !== (listId === 0)) this.countLargeReclaimable(large, listId !== 0 ? 1 : -1);
    } else {
      const s = this.slabs.get(rec.base);
      if (!s || (va - s.va) % s.classSize !== 0) return false;
      const slot = (va - s.va) / s.classSize;
      if (slot >= s.slots || !s.used[slot]) return false;
      previous = s.cachedBy[slot]!;
      bytes = s.sizes[slot]!;
      const was = slabReclaimable(s);
      s.cachedBy[slot] = listId;
      if (previous === 0 && listId !== 0) s.cached++;
      else if (previous !== 0 && listId === 0) s.cached--;
      this.recountSlab(s, was);
    }
    if (previous === 0 && listId !== 0) {
      this.lookasideCachedBlocks++;
      this.lookasideCachedBytes += bytes;
    } else if (previous !== 0 && listId === 0) {
      this.lookasideCachedBlocks--;
      this.lookasideCachedBytes -= bytes;
    }
    return true;
  }

  /**
   * Pool held only by lookaside-cached blocks (see the notes): exact at every moment, kept
   * incrementally. Leak accounting counts these pages free and these blocks out of pool.
   */
  lookasideReclaimable(): LookasideReclaimable {
    return {
      blocks: this.lookasideCachedBlocks,
      bytes: this.lookasideCachedBytes,
      pages: this.reclaimablePages,
      lowPages: this.reclaimableLowPages,
      mappings: this.reclaimableMappings,
    };
  }

  /** A slab changed (`was` = reclaimable before): move its page in or out of the reclaimable count. */
  private recountSlab(s: Slab, was: boolean): void {
    const now = slabReclaimable(s);
    if (now === was) return;
    const d = now ? 1 : -1;
    this.reclaimablePages += d;
    if (s.pfn < LOW_LIMIT_PFN) this.reclaimableLowPages += d;
    this.reclaimableMappings += d;
  }

  /** A large block became cached (+1) or stopped being cached (-1). */
  private countLargeReclaimable(b: LargeBlock, d: 1 | -1): void {
    let low = 0;
    for (const p of b.pfns) if (p < LOW_LIMIT_PFN) low++;
    this.reclaimablePages += d * b.pfns.length;
    this.reclaimableLowPages += d * low;
    this.reclaimableMappings += d;
  }

  /**
   * ExReturnPoolQuota: the quota charged for the block at `va` goes back to the process (the I/O
   * manager does this before it caches a quota-charged IRP on its lookaside list). False when `va`
   * is not the start of a live block.
   */
  returnQuota(va: number): boolean {
    const rec = this.mm.system.lookup(va);
    if (!rec || rec.kind !== 'pool') return false;
    const large = this.large.get(rec.base);
    if (large) {
      if (large.va !== va) return false;
      large.quota = false;
      return true;
    }
    const s = this.slabs.get(rec.base);
    if (!s || (va - s.va) % s.classSize !== 0) return false;
    const slot = (va - s.va) / s.classSize;
    if (slot >= s.slots || !s.used[slot]) return false;
    s.quota[slot] = 0;
    return true;
  }

  /** A pool-resident kernel object (an MDL, an IRP) at `address`, and what ExFreePool does with it. */
  registerObject(object: object, address: number, free: PoolObjectFree): void {
    (object as PoolResident)[POOL_OBJECT] = { pool: this, address, free };
  }

  /** Forget an object whose block was freed by its own routine (IoFreeMdl, IoFreeIrp). */
  unregisterObject(object: object): void {
    const o = object as PoolResident;
    if (o[POOL_OBJECT]?.pool === this) o[POOL_OBJECT] = undefined;
  }

  /** The registration of a pool-resident object of this pool, or undefined. */
  objectOf(object: unknown): { address: number; free: PoolObjectFree } | undefined {
    if (object === null || typeof object !== 'object') return undefined;
    const r = (object as PoolResident)[POOL_OBJECT];
    return r !== undefined && r.pool === this ? r : undefined;
  }

  /** POOL_TYPE of the pool page holding `va`, or null when `va` is not pool. */
  poolTypeOf(va: number): number | null {
    const rec = this.mm.system.lookup(va);
    if (!rec || rec.kind !== 'pool') return null;
    return this.large.get(rec.base)?.poolType ?? this.slabs.get(rec.base)?.poolType ?? null;
  }

  private driverId(): number {
    const name = this.k.currentDriver;
    if (name === null) return 0;
    let id = this.driverIds.get(name);
    if (id === undefined) {
      id = this.driverNames.length;
      this.driverNames.push(name);
      this.driverIds.set(name, id);
    }
    return id;
  }

  private account(tag: number, poolType: number, bytes: number, alloc: boolean): void {
    const key = tag * 2 + (isPaged(poolType) ? 1 : 0);
    let u = this.usage.get(key);
    if (!u) {
      u = { tag, tagText: poolTagText(tag), poolType: isPaged(poolType) ? 'Paged' : 'Nonp', allocs: 0, frees: 0, bytes: 0 };
      this.usage.set(key, u);
    }
    if (alloc) {
      u.allocs++;
      u.bytes += bytes;
      this.outstandingBlocks++;
    } else {
      u.frees++;
      u.bytes -= bytes;
      this.outstandingBlocks--;
    }
  }

  private ownerOf(poolType: number): number {
    return isPaged(poolType) ? this.pagedOwner : this.nonPagedOwner;
  }

  private takePoolPage(poolType: number): number {
    const lo = this.mm.nolowmemActive ? LOW_LIMIT_PFN : 0;
    // Pool pages are mapped cached (MmCached = 1).
    const pfn = this.mm.pages.takePage(this.ownerOf(poolType), lo, this.mm.pfn.pageCount - 1, 1);
    if (pfn !== FIND_FAILED) {
      if (isPaged(poolType)) this.pagedPages++;
      else this.nonPagedPages++;
    }
    return pfn;
  }

  private givePoolPage(pfn: number, poolType: number): void {
    this.mm.pages.release(pfn, 1);
    if (isPaged(poolType)) this.pagedPages--;
    else this.nonPagedPages--;
  }

  /**
   * Allocate; returns the VA or 0 when memory (pages or system VA) runs out. Arguments valid.
   * A request of 0 bytes (ExAllocatePoolWithTag allows it) takes one granule.
   */
  allocate(poolType: number, bytes: number, tag: number, cacheAligned: boolean, zero: boolean, quota = false): number {
    return bytes >= PAGE_SIZE ? this.allocateLarge(poolType, bytes, tag, zero, quota)
      : this.allocateSmall(poolType, bytes, tag, cacheAligned, zero, quota);
  }

  private allocateLarge(poolType: number, bytes: number, tag: number, zero: boolean, quota: boolean): number {
    const n = Math.ceil(bytes / PAGE_SIZE);
    if (n > this.mm.index.freeCount) return 0; // fail fast, before taking anything
    const pfns = new Int32Array(n);
    let got = 0;
    for (; got < n; got++) {
      const p = this.takePoolPage(poolType);
      if (p === FIND_FAILED) break;
      pfns[got] = p;
    }
    const va = got === n ? this.mm.system.map(pfns, 1, 'pool', `pool ${poolTagText(tag)}`) : 0;
    if (va === 0) {
      for (let i = 0; i < got; i++) this.givePoolPage(pfns[i]!, poolType);
      return 0;
    }
    if (zero) this.mm.system.fill(va, n * PAGE_SIZE, 0);
    this.large.set(va, { va, bytes, tag, poolType, pfns, driver: this.driverId(), quota, cachedBy: 0 });
    this.account(tag, poolType, bytes, true);
    return va;
  }

  private allocateSmall(poolType: number, bytes: number, tag: number, cacheAligned: boolean, zero: boolean, quota: boolean): number {
    const unit = cacheAligned ? CACHE_LINE : GRANULE;
    const classSize = Math.max(1, Math.ceil(bytes / unit)) * unit;
    const key = poolType * 8192 + classSize;
    let list = this.partial.get(key);
    if (!list) {
      list = [];
      this.partial.set(key, list);
    }
    let s = list[list.length - 1];
    if (!s) {
      const created = this.newSlab(poolType, classSize);
      if (!created) return 0;
      s = created;
      s.listIndex = list.length;
      list.push(s);
    }
    // A slab holding only cached blocks stops being reclaimable once a block in use joins them.
    const was = slabReclaimable(s);
    const slot = s.freeStack[--s.freeTop]!;
    s.used[slot] = 1;
    s.tags[slot] = tag;
    s.sizes[slot] = bytes;
    s.drivers[slot] = this.driverId();
    s.quota[slot] = quota ? 1 : 0;
    s.cachedBy[slot] = 0;
    if (was) this.recountSlab(s, was);
    if (s.freeTop === 0) this.unlist(s, list);
    const va = s.va + slot * classSize;
    if (zero) this.memory.fill(addressOfPfn(s.pfn) + slot * classSize, classSize, 0);
    this.account(tag, poolType, bytes, true);
    return va;
  }

  private newSlab(poolType: number, classSize: number): Slab | null {
    const pfn = this.takePoolPage(poolType);
    if (pfn === FIND_FAILED) return null;
    const va = this.mm.system.map([pfn], 1, 'pool', slabLabel(classSize));
    if (va === 0) {
      this.givePoolPage(pfn, poolType);
      return null;
    }
    const s = this.spareSlabs.get(classSize)?.pop() ?? emptySlab(classSize);
    s.va = va;
    s.pfn = pfn;
    s.poolType = poolType;
    s.listIndex = -1;
    s.cached = 0;
    // Hand out low slots first (stack top = slot 0). A recycled descriptor's arrays are all
    // zero already (every block was freed) but for the tags a double free reports: clear them.
    s.tags.fill(0);
    for (let i = 0; i < s.slots; i++) s.freeStack[i] = s.slots - 1 - i;
    s.freeTop = s.slots;
    this.slabs.set(va, s);
    return s;
  }

  /** An empty slab's page and VA go back to the system; its descriptor is kept for reuse. */
  private releaseSlab(s: Slab): void {
    this.slabs.delete(s.va);
    this.mm.system.unmap(s.va);
    this.givePoolPage(s.pfn, s.poolType);
    let spares = this.spareSlabs.get(s.classSize);
    if (spares === undefined) this.spareSlabs.set(s.classSize, (spares = []));
    if (spares.length < SPARE_SLABS_PER_CLASS) spares.push(s);
  }

  private unlist(s: Slab, list: Slab[]): void {
    const last = list.pop()!;
    if (last !== s) {
      list[s.listIndex] = last;
      last.listIndex = s.listIndex;
    }
    s.listIndex = -1;
  }

  /**
   * Free the block at P. `tag` null or 0 = no tag check (ExFreePool, ExFreePoolWithTag(P, 0)).
   * Bug-checks 0xC2 on a bad free; nothing changes before the checks pass.
   */
  free(P: number, tag: number | null): void {
    const bc = this.k.bugcheck;
    if (!Number.isSafeInteger(P) || P < 0) {
      bc.KeBugCheckEx(BAD_POOL_CALLER, 0x99, 0, 0, 0, `free of pool at invalid address ${String(P)}`);
    }
    if (P < MM_SYSTEM_RANGE_START) {
      bc.KeBugCheckEx(BAD_POOL_CALLER, 0x40, P, MM_SYSTEM_RANGE_START, 0,
        `free of pool at user-mode address ${hexAddressOrValue(P)}`);
    }
    const rec = this.mm.system.lookup(P);
    const large = rec && rec.kind === 'pool' ? this.large.get(rec.base) : undefined;
    const slab = rec && rec.kind === 'pool' ? this.slabs.get(rec.base) : undefined;
    let slot = -1;
    let blockTag = 0;
    let poolType = 0;
    if (large && large.va === P) {
      blockTag = large.tag;
      poolType = large.poolType;
    } else if (slab && (P - slab.va) % slab.classSize === 0) {
      slot = (P - slab.va) / slab.classSize;
      if (slot >= slab.slots) slot = -1;
      else if (!slab.used[slot]) {
        bc.KeBugCheckEx(BAD_POOL_CALLER, 0x07, 0, slab.tags[slot]!, P, `double free of pool block ${hexAddressOrValue(P)}`);
      }
      blockTag = slab.tags[slot]!;
      poolType = slab.poolType;
    }
    if (!(large && large.va === P) && slot < 0) {
      const old = this.mm.system.history(P);
      if (!rec && old && old.kind === 'pool') {
        bc.KeBugCheckEx(BAD_POOL_CALLER, 0x07, 0, 0, P, `double free of pool block ${hexAddressOrValue(P)} (its page is gone)`);
      }
      bc.KeBugCheckEx(BAD_POOL_CALLER, 0x99, P, 0, 0,
        `free of ${hexAddressOrValue(P)}, which is not the start of a pool block` + (rec ? ` (it is ${rec.kind} "${rec.label}")` : ''));
    }
    const irql = this.k.irql;
    if (irql > DISPATCH_LEVEL || (isPaged(poolType) && irql >= DISPATCH_LEVEL)) {
      bc.KeBugCheckEx(BAD_POOL_CALLER, 0x09, irql, poolType, P, `pool free at IRQL ${irql}`);
    }
    if (tag !== null && tag !== 0 && tag !== blockTag) {
      bc.KeBugCheckEx(BAD_POOL_CALLER, 0x0a, P, blockTag, tag,
        `ExFreePoolWithTag(${hexAddressOrValue(P)}, '${poolTagText(tag)}'): block was allocated with '${poolTagText(blockTag)}'`);
    }
    const blockBytes = large ? large.pfns.length * PAGE_SIZE : slab!.classSize;
    // Driver Verifier: a block that holds an active lookaside list may not be freed (0xC4/0xCC).
    this.k.verifier?.checkPoolFreeForLookasides(P, blockBytes);
    const cachedBy = large ? large.cachedBy : slab!.cachedBy[slot]!;
    if (cachedBy !== 0) {
      // A block freed while a lookaside list still caches it: the list loses it (the list's
      // own free routine, or a driver freeing a block it already gave back).
      this.lookasideCachedBlocks--;
      this.lookasideCachedBytes -= large ? large.bytes : slab!.sizes[slot]!;
    }
    if (large) {
      if (cachedBy !== 0) this.countLargeReclaimable(large, -1);
      this.large.delete(P);
      this.mm.system.unmap(P);
      for (const p of large.pfns) this.givePoolPage(p, poolType);
      this.account(blockTag, poolType, large.bytes, false);
      return;
    }
    const s = slab!;
    const bytes = s.sizes[slot]!;
    const was = slabReclaimable(s);
    if (cachedBy !== 0) s.cached--;
    s.used[slot] = 0;
    s.sizes[slot] = 0;
    s.drivers[slot] = 0;
    s.quota[slot] = 0;
    s.cachedBy[slot] = 0;
    // s.tags[slot] keeps the old tag: the "pool header contents" a double free reports.
    s.freeStack[s.freeTop++] = slot;
    // Freeing the last block in use beside cached ones makes the slab reclaimable; freeing a
    // cached one may leave it empty (released below) or still all-cached.
    this.recountSlab(s, was);
    this.account(blockTag, poolType, bytes, false);
    const key = poolType * 8192 + s.classSize;
    const list = this.partial.get(key)!;
    if (s.freeTop === s.slots) {
      if (s.listIndex >= 0) this.unlist(s, list);
      this.releaseSlab(s);
    } else if (s.listIndex < 0) {
      s.listIndex = list.length;
      list.push(s);
    }
  }
}

/** An allocation's failure: null, or the raise POOL_FLAG_RAISE_ON_FAILURE asks for. */
function poolAllocationFailed(raise: boolean, why: string, routine = 'ExAllocatePool2'): null {
  if (raise) ExRaiseStatus(STATUS_INSUFFICIENT_RESOURCES, `${routine}: ${why}`);
  return null;
}

/**
 * ExAllocatePool2 [ddi/wdm nf-wdm-exallocatepool2]. Returns the block's VA, or null when
 * memory is short, the tag is 0, the flags are invalid, or NumberOfBytes is 0 — raising
 * STATUS_INSUFFICIENT_RESOURCES instead when POOL_FLAG_RAISE_ON_FAILURE is set.
 */
export function ExAllocatePool2(k: Kernel, Flags: number, NumberOfBytes: number, Tag: number): number | null {
  k.bugcheck.assertRunning();
  const raise = Number.isSafeInteger(Flags) && Flags >= 0 && (Flags % TWO_32 & POOL_FLAG_RAISE_ON_FAILURE) !== 0;
  if (!Number.isSafeInteger(Flags) || Flags < 0) return poolAllocationFailed(raise, `invalid Flags ${String(Flags)}`);
  const low = Flags % TWO_32;
  const high = Math.floor(Flags / TWO_32);
  // Only POOL_FLAG_SPECIAL_POOL is known among the optional (high) flags.
  if ((low & ~MODELLED_REQUIRED_FLAGS) !== 0 || (high & ~1) !== 0) {
    return poolAllocationFailed(raise, `invalid or unsupported Flags 0x${Flags.toString(16)}`);
  }
  const typeBits = low & (POOL_FLAG_NON_PAGED | POOL_FLAG_NON_PAGED_EXECUTE | POOL_FLAG_PAGED);
  const poolType = typeBits === POOL_FLAG_NON_PAGED ? NonPagedPoolNx
    : typeBits === POOL_FLAG_NON_PAGED_EXECUTE ? NonPagedPool
    : typeBits === POOL_FLAG_PAGED ? PagedPool : -1;
  if (poolType < 0) return poolAllocationFailed(raise, `Flags 0x${Flags.toString(16)} must name exactly one pool type`);
  const tagOk = isUlong(Tag);
  const sizeOk = Number.isSafeInteger(NumberOfBytes) && NumberOfBytes >= 0;
  if (k.config.verifier) {
    if (tagOk && Tag === 0) {
      k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x9b, poolType, sizeOk ? NumberOfBytes : 0, 0, 'pool allocation with tag 0');
    }
    if (NumberOfBytes === 0) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, 0x00, k.irql, poolType, 0, 'zero-byte pool allocation');
    }
  }
  if (!tagOk || Tag === 0) return poolAllocationFailed(raise, `invalid Tag ${String(Tag)}`);
  if (!sizeOk || NumberOfBytes === 0) return poolAllocationFailed(raise, `invalid NumberOfBytes ${String(NumberOfBytes)}`);
  if (k.irql > DISPATCH_LEVEL) {
    k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x08, k.irql, poolType, NumberOfBytes, `pool allocation at IRQL ${k.irql}`);
  }
  // B16: at DISPATCH_LEVEL only nonpaged pool can be had.
  if (poolType === PagedPool && k.irql === DISPATCH_LEVEL) return poolAllocationFailed(raise, 'paged pool requested at DISPATCH_LEVEL');
  if (NumberOfBytes > k.mm.index.freeCount * PAGE_SIZE) return poolAllocationFailed(raise, `${NumberOfBytes} bytes exceed free memory`);
  if (k.faults.shouldFail({ site: 'ExAllocatePool2', tag: Tag, bytes: NumberOfBytes, driver: k.currentDriver ?? undefined })) {
    return poolAllocationFailed(raise, 'injected failure (low resources simulation)');
  }
  const va = k.mm.pool.allocate(poolType, NumberOfBytes, Tag, (low & POOL_FLAG_CACHE_ALIGNED) !== 0,
    (low & POOL_FLAG_UNINITIALIZED) === 0, (low & POOL_FLAG_USE_QUOTA) !== 0);
  return va === 0 ? poolAllocationFailed(raise, 'insufficient memory') : va;
}

// POOL_TYPE (wdm.h) as ExAllocatePoolWithTag and lookaside lists take it.
export const NonPagedPoolMustSucceed = 2;
export const NonPagedPoolCacheAligned = 4;
export const PagedPoolCacheAligned = 5;
export const NonPagedPoolNxCacheAligned = 0x204;
/** POOL_TYPE modifier bits. */
export const POOL_QUOTA_FAIL_INSTEAD_OF_RAISE = 8;
export const POOL_RAISE_IF_ALLOCATION_FAILURE = 16;
export const POOL_COLD_ALLOCATION = 256;
export const POOL_NX_ALLOCATION = 512;
const POOL_TYPE_SESSION = 32;
const POOL_TYPE_KNOWN_BITS = 7 | POOL_QUOTA_FAIL_INSTEAD_OF_RAISE | POOL_RAISE_IF_ALLOCATION_FAILURE | POOL_TYPE_SESSION |
  POOL_COLD_ALLOCATION | POOL_NX_ALLOCATION;

/**
 * The pool a POOL_TYPE names: { poolType (NonPagedPool / PagedPool / NonPagedPoolNx), cache
 * aligned, raise on failure } or why it is refused. Base types 0 (NonPagedPool), 1 (PagedPool),
 * 4 and 5 (their cache-aligned forms); bit 0x200 makes nonpaged pool no-execute; session pool
 * (bit 0x20) is ordinary system pool here (no sessions are modelled). MustSucceed (2, 6) is
 * BAD_POOL_CALLER 0x9A as the bug-check page documents.
 */
export function decodePoolType(PoolType: number):
  { poolType: number; cacheAligned: boolean; raise: boolean } | { mustSucceed: true } | null {
  if (!Number.isInteger(PoolType) || PoolType < 0 || PoolType > 0xffff || (PoolType & ~POOL_TYPE_KNOWN_BITS) !== 0) return null;
  const base = PoolType & 7;
  if (base === NonPagedPoolMustSucceed || base === 6) return { mustSucceed: true };
  if (base === 3 || base === 7) return null;
  const paged = (base & 1) === 1;
  const poolType = paged ? PagedPool : (PoolType & POOL_NX_ALLOCATION) !== 0 ? NonPagedPoolNx : NonPagedPool;
  return { poolType, cacheAligned: (base & 4) !== 0, raise: (PoolType & POOL_RAISE_IF_ALLOCATION_FAILURE) !== 0 };
}

/**
 * ExAllocatePoolWithTag(k, PoolType, NumberOfBytes, Tag) [ddi/wdm nf-wdm-exallocatepoolwithtag]
 * (deprecated for ExAllocatePool2, still what a lookaside list's default Allocate routine calls).
 * Returns the block or NULL; with POOL_RAISE_IF_ALLOCATION_FAILURE in PoolType a failure
 * raises STATUS_INSUFFICIENT_RESOURCES instead. Contents are not initialized. Driver Verifier
 * stops a zero-byte request (0xC4/0x00) and a tag of 0 (0xC2/0x9B); without it both are
 * served (0 bytes take the smallest block). MustSucceed pool is 0xC2/0x9A (no longer supported).
 */
export function ExAllocatePoolWithTag(k: Kernel, PoolType: number, NumberOfBytes: number, Tag: number): number | null {
  k.bugcheck.assertRunning();
  const type = decodePoolType(PoolType);
  const sizeOk = Number.isSafeInteger(NumberOfBytes) && NumberOfBytes >= 0;
  if (type !== null && 'mustSucceed' in type) {
    k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x9a, PoolType, sizeOk ? NumberOfBytes : 0, Number.isInteger(Tag) ? Tag >>> 0 : 0,
      'ExAllocatePoolWithTag: MustSucceed pool is no longer supported');
  }
  const raise = type !== null && type.raise;
  if (type === null) return poolAllocationFailed(raise, `invalid PoolType ${String(PoolType)}`, 'ExAllocatePoolWithTag');
  const tagOk = isUlong(Tag);
  if (k.config.verifier) {
    if (tagOk && Tag === 0) {
      k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x9b, type.poolType, sizeOk ? NumberOfBytes : 0, 0, 'pool allocation with tag 0');
    }
    if (NumberOfBytes === 0) {
      k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DETECTED_VIOLATION, 0x00, k.irql, type.poolType, 0, 'zero-byte pool allocation');
    }
  }
  if (!tagOk) return poolAllocationFailed(raise, `invalid Tag ${String(Tag)}`, 'ExAllocatePoolWithTag');
  if (!sizeOk) return poolAllocationFailed(raise, `invalid NumberOfBytes ${String(NumberOfBytes)}`, 'ExAllocatePoolWithTag');
  if (k.irql > DISPATCH_LEVEL || (type.poolType === PagedPool && k.irql > APC_LEVEL)) {
    k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x08, k.irql, type.poolType, NumberOfBytes, `pool allocation at IRQL ${k.irql}`);
  }
  if (NumberOfBytes > k.mm.index.freeCount * PAGE_SIZE) {
    return poolAllocationFailed(raise, `${NumberOfBytes} bytes exceed free memory`, 'ExAllocatePoolWithTag');
  }
  if (k.faults.shouldFail({ site: 'ExAllocatePoolWithTag', tag: Tag, bytes: NumberOfBytes, driver: k.currentDriver ?? undefined })) {
    return poolAllocationFailed(raise, 'injected failure (low resources simulation)', 'ExAllocatePoolWithTag');
  }
  const va = k.mm.pool.allocate(type.poolType, NumberOfBytes, Tag, type.cacheAligned, false);
  return va === 0 ? poolAllocationFailed(raise, 'insufficient memory', 'ExAllocatePoolWithTag') : va;
}

/** A freed kernel object handed to ExFreePool as its pointer: its own free rule runs. */
function freePoolObject(k: Kernel, P: unknown, routine: string): boolean {
  const o = k.mm.pool.objectOf(P);
  if (o === undefined) return false;
  o.free(k, routine);
  return true;
}

/**
 * ExFreePoolWithTag [ddi/wdm nf-wdm-exfreepoolwithtag]: a non-zero Tag must be the
 * allocation's (0xC2/0x0A otherwise); Tag 0 checks nothing, as ExFreePool. `P` may be a
 * pool-resident kernel object (an MDL from MmAllocatePagesForMdl, freed so by
 * kmtests/ntos_mm/MmMdl.c).
 */
export function ExFreePoolWithTag(k: Kernel, P: number | object, Tag: number): void {
  k.bugcheck.assertRunning();
  if (typeof P === 'object' && P !== null && freePoolObject(k, P, 'ExFreePoolWithTag')) return;
  k.mm.pool.free(P as number, isUlong(Tag) ? Tag : -1);
}

/** ExFreePool: no tag check. `P` may be a pool-resident kernel object (see ExFreePoolWithTag). */
export function ExFreePool(k: Kernel, P: number | object): void {
  k.bugcheck.assertRunning();
  if (typeof P === 'object' && P !== null && freePoolObject(k, P, 'ExFreePool')) return;
  k.mm.pool.free(P as number, null);
}

/**
 * ExQueryPoolBlockSize(k, PoolBlock, QuotaCharged) [ddi/ntddk nf-ntddk-exquerypoolblocksize]:
 * the usable size of the block (its whole slot; whole pages for a block of PAGE_SIZE or more)
 * and, through QuotaCharged, whether quota was charged for it. As recorded by
 * kmtests/ntos_ex/ExPools.c (TestQueryPoolBlockSize): 8 bytes → at least 8, not charged;
 * PAGE_SIZE → PAGE_SIZE; PAGE_SIZE + 1 → 2 pages; a quota-charged block → TRUE.
 * Windows reads the pool header in front of PoolBlock, so a pointer that is not the start of a
 * pool block reads garbage; the model raises STATUS_ACCESS_VIOLATION instead.
 */
export function ExQueryPoolBlockSize(k: Kernel, PoolBlock: number, QuotaCharged: Ref<boolean>): number {
  k.bugcheck.assertRunning();
  if (QuotaCharged === null || typeof QuotaCharged !== 'object') {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'ExQueryPoolBlockSize: QuotaCharged is not a PBOOLEAN');
  }
  const b = k.mm.pool.blockStartingAt(PoolBlock);
  if (b === null) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `ExQueryPoolBlockSize(${hexAddressOrValue(PoolBlock)}): not the start of a pool block`);
  }
  QuotaCharged.value = b.quota;
  return b.usable;
}
