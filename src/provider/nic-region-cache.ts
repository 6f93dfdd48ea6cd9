/**
 * The provider's cache of NIC-registered regions: memory the driver locked and registered
 * with the NIC, kept registered after the application deregistered it, for local memory
 * (WSPRegisterMemory) and for RDMA memory (WSPRegisterRdmaMemory) ("Caching Registered
 * Memory", "Securing and Releasing Ownership of Virtual Addresses").
 *
 * Implementation notes
 * - With caching on, every registration the driver makes is backed by one `CachedRegion`: the
 *   driver object (locked pages + NIC registration, or a low shadow), the range it covers and
 *   the MEM_READ/MEM_WRITE rights its pages were locked for. Registrations the application
 *   holds point into a region with an offset, so a cached region serves every request it
 *   contains — one application buffer reused with many sizes and offsets hits.
 * - Local regions are shared: their NIC handle is not bound to a connection, so any number of
 *   live registrations may use one region. Remote (RDMA) regions are exclusive: their remote
 *   key is bound to one connection and exposed to its peer while one registration holds it.
 * - A region nobody uses is idle. Idle regions stay registered and secured
 *   (MmSecureVirtualMemory through the driver), so the application cannot free or re-protect
 *   the pages without the switch hearing of it first. The peer loses access to an idle remote
 *   region, and a hit re-exposes exactly the buffer asked for under a new remote key, so the
 *   peer reaches no other byte: the region's memory window is invalidated, then bound over the
 *   buffer, from user mode. The pages stay locked throughout.
 * - A remote region is re-exposed only for a buffer of at least 1/RDMA_MIN_SHARE of its size:
 *   a small buffer in a large region would keep many pages locked for little use, so it is
 *   registered on its own.
 * - Idle regions are kept in LRU order (a list linked through the regions) with a byte and an
 *   entry bound.
 * - Lookups go through a per-(kind, NIC) list kept sorted by start address: a binary search
 *   finds the regions starting at or below the request, and only those that could contain it
 *   are looked at (the lists hold idle regions, at most `maxEntries`, plus the live ones).
 * - The table does no I/O: the provider asks the driver and tells the table what happened.
 */
import type { RegistrationKind } from './registration-handles.ts';
import type { Shadow } from './shadow.ts';

export interface CachedRegion {
  readonly kind: RegistrationKind;
  readonly nicIndex: number;
  readonly address: number;
  readonly length: number;
  /** MEM_READ | MEM_WRITE the pages were registered (locked) for. */
  readonly flags: number;
  /** NIC local handle (changes when a remote region is re-exposed). */
  nicHandle: number;
  /** NIC remote key (rdma; changes on re-exposure, the old one stays stale). */
  remoteKey: number;
  readonly driverId: number;
  readonly shadow: Shadow | null;
  /** MmSecureVirtualMemory handle through the driver; 0 while not secured. */
  secureHandle: number;
  /** Live registrations using the region. */
  users: number;
  /**
   * Remote region: the memory window the peer reaches it through (its NIC region has local
   * rights only), bound and invalidated from user mode. 0 for a local region.
   */
  readonly window: number;
  /** Remote region: the NIC refuses every access until it is re-exposed. */
  invalidated: boolean;
  /** Remote region: the provider socket its keys were last bound to. */
  socket: number;
  /** The idle list's links (NicRegionCache's own; absent until the region is first tracked). */
  idlePrev?: CachedRegion | null;
  idleNext?: CachedRegion | null;
  idle?: boolean;
}

export interface NicRegionCachePolicy {
  /** Bytes idle regions may keep locked. */
  maxBytes: number;
  /** Idle regions kept at most. */
  maxEntries: number;
}

export const DEFAULT_NIC_REGION_CACHE_POLICY: NicRegionCachePolicy = Object.freeze({ maxBytes: 64 * 1024 * 1024, maxEntries: 64 });

/** A remote region serves buffers of at least 1/RDMA_MIN_SHARE of its length. */
export const RDMA_MIN_SHARE = 4;

const listKey = (kind: RegistrationKind, nicIndex: number) => (kind === 'rdma' ? -1 - nicIndex : nicIndex);

export class NicRegionCache {
  private readonly lists = new Map<number, CachedRegion[]>();
  /**
   * Idle regions in LRU order, least recently used first: a list linked through the regions
   * themselves, so parking and taking a region cost no hash-table work.
   */
  private idleHead: CachedRegion | null = null;
  private idleTail: CachedRegion | null = null;
  private idleSize = 0;
  private idleBytesTotal = 0;
  /** Longest region per list, to bound the backward walk of a lookup. */
  private readonly longest = new Map<number, number>();
  policy: NicRegionCachePolicy = { ...DEFAULT_NIC_REGION_CACHE_POLICY };

  get idleCount(): number {
    return this.idleSize;
  }

  get idleBytes(): number {
    return this.idleBytesTotal;
  }

  /** Every region (live and idle); a copy, safe to iterate while releasing. */
  all(): CachedRegion[] {
    const out: CachedRegion[] = [];
    for (const list of this.lists.values()) out.push(...list);
    return out;
  }

  /** Idle regions, least recently used first (a copy). */
  idleRegions(): CachedRegion[] {
    const out: CachedRegion[] = [];
    for (let r = this.idleHead; r !== null; r = r.idleNext ?? null) out.push(r);
    return out;
  }

  /**
   * The region that serves [address, address+length) with `flags`: of `kind` on `nicIndex`,
   * containing the range, locked for at least the rights asked; remote regions only when idle
   * and at most RDMA_MIN_SHARE times the buffer's length.
   * The smallest such region wins (it pins the least). Null when none.
   */
  find(kind: RegistrationKind, nicIndex: number, address: number, length: number, flags: number): CachedRegion | null {
    const list = this.lists.get(listKey(kind, nicIndex));
    if (list === undefined) return null;
    const end = address + length;
    const reach = this.longest.get(listKey(kind, nicIndex)) ?? 0;
    let best: CachedRegion | null = null;
    // Regions start in ascending order: walk back from the last one starting at or below
    // `address` while a region that long could still reach `end`.
    for (let i = upperBound(list, address) - 1; i >= 0; i--) {
      const r = list[i]!;
      if (r.address + reach < end) break;
      if (r.address + r.length < end || (r.flags & flags) !== flags) continue;
      if (kind === 'rdma' && (r.users > 0 || length * RDMA_MIN_SHARE < r.length)) continue;
      if (best === null || r.length < best.length) best = r;
    }
    return best;
  }

  /** Every region overlapping [address, address+length) (any kind, any NIC). */
  overlapping(address: number, length: number): CachedRegion[] {
    const end = address + length;
    const out: CachedRegion[] = [];
    for (const [key, list] of this.lists) {
      const reach = this.longest.get(key) ?? 0;
      for (let i = upperBound(list, end - 1) - 1; i >= 0; i--) {
        const r = list[i]!;
        if (r.address + reach <= address) break;
        if (r.address + r.length > address) out.push(r);
      }
    }
    return out;
  }

  /** Start tracking a region the driver just made; it has one user. */
  add(r: CachedRegion): void {
    const key = listKey(r.kind, r.nicIndex);
    let list = this.lists.get(key);
    if (list === undefined) this.lists.set(key, (list = []));
    list.splice(upperBound(list, r.address), 0, r);
    if (r.length > (this.longest.get(key) ?? 0)) this.longest.set(key, r.length);
  }

  /** Stop tracking a region (released to the driver). */
  remove(r: CachedRegion): void {
    const key = listKey(r.kind, r.nicIndex);
    const list = this.lists.get(key);
    const at = list === undefined ? -1 : list.indexOf(r, lowerBound(list, r.address));
    if (list === undefined || at < 0) throw new Error(`region cache invariant: region at 0x${r.address.toString(16)} is not tracked`);
    list.splice(at, 1);
    this.unlinkIdle(r);
    if (list.length === 0) {
      this.lists.delete(key);
      this.longest.delete(key);
    } else if (r.length === this.longest.get(key)) {
      let m = 0;
      for (const x of list) if (x.length > m) m = x.length;
      this.longest.set(key, m);
    }
  }

  /** A live registration took the region. */
  use(r: CachedRegion): void {
    this.unlinkIdle(r);
    r.users++;
  }

  /** The region's last user left and it stays cached: most recently used. */
  park(r: CachedRegion): void {
    if (r.users !== 0) throw new Error(`region cache invariant: parking a region with ${r.users} users`);
    this.unlinkIdle(r); // parked again: it moves to the most recently used end
    r.idle = true;
    r.idlePrev = this.idleTail;
    r.idleNext = null;
    if (this.idleTail !== null) this.idleTail.idleNext = r;
    else this.idleHead = r;
    this.idleTail = r;
    this.idleSize++;
    this.idleBytesTotal += r.length;
  }

  isIdle(r: CachedRegion): boolean {
    return r.idle === true;
  }

  private unlinkIdle(r: CachedRegion): void {
    if (r.idle !== true) return;
    const prev = r.idlePrev ?? null;
    const next = r.idleNext ?? null;
    if (prev !== null) prev.idleNext = next;
    else this.idleHead = next;
    if (next !== null) next.idlePrev = prev;
    else this.idleTail = prev;
    r.idle = false;
    r.idlePrev = null;
    r.idleNext = null;
    this.idleSize--;
    this.idleBytesTotal -= r.length;
  }

  /** The least recently used idle region when the bound is exceeded, else null. */
  overBound(): CachedRegion | null {
    if (this.idleSize === 0) return null;
    if (this.idleSize <= this.policy.maxEntries && this.idleBytesTotal <= this.policy.maxBytes) return null;
    return this.idleHead;
  }
}

/** First index whose region starts above `address`. */
function upperBound(list: readonly CachedRegion[], address: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.address <= address) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index whose region starts at or above `address`. */
function lowerBound(list: readonly CachedRegion[], address: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.address < address) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
