/**
 * Translation and protection table (TPT): the NIC's registration table.
 *
 * Implementation notes
 * - One slot per registration, all state in typed arrays indexed by slot. A region's page
 *   list (page-aligned BUS addresses: physical, or logical with an IOMMU) is stored at
 *   registration as its bus-contiguous extents — (start within the region, bus address) pairs
 *   in one Float64Array — so the caller cannot change it behind the NIC's back, `translate` is
 *   O(log extents + runs) instead of a walk over every page, and a contiguous region of any
 *   size costs one entry. `info` rebuilds the page list from the extents.
 * - Keys are slot index + generation (keys.ts). The handle (local key) and the remote key are
 *   different values; both change on re-registration and on deregistration. Every event that
 *   changes a key advances the slot's generation, so within 4095 such events of a slot no key
 *   of it comes back; generations whose remote key would equal the handle are skipped.
 * - Memory windows (IB type 2, rxe_mw.c) share the slots with regions; the slot state says
 *   which (a window's state is never a region's VALID). A window's
 *   handle is fixed for its life; each bind advances the slot's generation and gives the
 *   window a new remote key (never its handle, never 0), bound to one endpoint and to
 *   [base, base+length) of one region. The window remembers the region's slot and the handle
 *   that region had at bind time: deregistering or re-registering the region changes that
 *   handle, so the window dies without the table keeping lists of windows per region.
 * - `checkWindowBind` is the ONE place that decides whether a window may be bound (rxe_mw.c's
 *   rxe_check_bind_mw, kept beside the key lookup as there), in a fixed order.
 * - `lookup` is the ONE place that decides whether a key may be used, in rxe's fixed order:
 *   entry exists, full key matches, owner (local) / bound connection (remote) matches, all
 *   requested rights present, region valid / window bound; for a window then its region is
 *   still the same registration, and valid. A window grants no local right, so it never
 *   passes as a local key. `inRange` is the separate range check (a window's own length);
 *   `translate` serves regions and windows alike (a bound window holds its region's extents
 *   and a first-byte offset moved to the window's start).
 * - Free slots are reused in FIFO order, so a just-freed slot (and its stale keys' index) is
 *   the last to come back.
 * - The table never touches memory and never fails half-way: every call validates first.
 */
import { PAGE_SIZE, pageOffset, spanPages, type DmaRunList } from '../bus/index.ts';
import { GENERATION_SPAN, keyIndex, makeKey, nextGeneration, remoteGeneration } from './keys.ts';
import { NicStatus, Syndrome, type NicStatusCode } from './status.ts';

/** Access rights of a region (ibv_access_flags / WSD MEM_READ|MEM_WRITE). */
export const NicAccess = {
  LOCAL_READ: 1,
  LOCAL_WRITE: 2,
  REMOTE_READ: 4,
  REMOTE_WRITE: 8,
  /** Memory windows may be bound to the region (IBV_ACCESS_MW_BIND). */
  MW_BIND: 0x10,
} as const;
const ALL_ACCESS = 0x1f;
/** The rights a window can grant: remote only (a window is a remote key and nothing else). */
const WINDOW_RIGHTS = NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;

/** Slot states: free; a region, valid or invalidated; a window, unbound or bound. */
const FREE = 0;
const VALID = 1;
const INVALID = 2;
const WINDOW_UNBOUND = 3;
const WINDOW_BOUND = 4;
export type RegionState = 'valid' | 'invalid';
export type WindowState = 'bound' | 'unbound';

export interface RegionSpec {
  /** Page-aligned bus addresses, one per page the region spans. */
  pages: Float64Array;
  /** Offset of the first byte in pages[0] (0..4095), like an MDL's ByteOffset. */
  firstByteOffset: number;
  length: number;
  access: number;
}

export interface RegionInfo {
  handle: number;
  remoteKey: number;
  owner: number;
  access: number;
  length: number;
  firstByteOffset: number;
  pages: Float64Array;
  /** Endpoint handle the region's remote access is bound to, 0 when unbound. */
  boundEndpoint: number;
  state: RegionState;
}

export interface WindowInfo {
  handle: number;
  owner: number;
  state: WindowState;
  /** Remote key of the current binding (0 when unbound). */
  remoteKey: number;
  /** Endpoint handle the binding is tied to (0 when unbound). */
  boundEndpoint: number;
  /** Handle the region had when the window was bound to it (0 when unbound). */
  region: number;
  /** The window's first byte in the region, its length and its rights (0 when unbound). */
  offset: number;
  length: number;
  access: number;
  /** Bound, and its region is still that registration and valid: remote access can succeed. */
  reachable: boolean;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export class TranslationProtectionTable {
  private readonly generation: Uint16Array;
  /** Current handle and remote key of each slot (derived from `generation`, kept so the
   *  access check compares instead of recomputing). */
  private readonly handle: Float64Array;
  private readonly remoteKey: Float64Array;
  private readonly state: Uint8Array;
  private readonly owner: Float64Array;
  private readonly access: Uint8Array;
  private readonly bound: Float64Array;
  /** Offset of byte 0 in the first page's extent (a window: its region's, plus the window's start). */
  private readonly firstByteOffset: Float64Array;
  private readonly length: Float64Array;
  /** Per slot: [start0, bus0, start1, bus1, …], starts in bytes from the first page's base.
   *  A bound window shares its region's array (frozen: re-registration makes a new one). */
  private readonly extents: (Float64Array | null)[];
  private readonly pageCount: Float64Array;
  /** Window slots: the slot of the region of the binding, the handle that region had at
   *  bind time, and the window's first byte in the region. */
  private readonly parent: Int32Array;
  private readonly parentHandle: Float64Array;
  private readonly base: Float64Array;
  private readonly freeRing: Int32Array;
  private freeHead = 0;
  private freeCount: number;
  /** Registrations in the table (valid or invalidated); windows are not counted. */
  count = 0;
  /** Windows in the table (bound or not). */
  windowCount = 0;

  constructor(
    readonly capacity: number,
    readonly maxRegionBytes: number,
  ) {
    this.generation = new Uint16Array(capacity);
    this.handle = new Float64Array(capacity);
    this.remoteKey = new Float64Array(capacity);
    this.state = new Uint8Array(capacity);
    this.owner = new Float64Array(capacity);
    this.access = new Uint8Array(capacity);
    this.bound = new Float64Array(capacity);
    this.firstByteOffset = new Float64Array(capacity);
    this.length = new Float64Array(capacity);
    this.extents = new Array<Float64Array | null>(capacity).fill(null);
    this.pageCount = new Float64Array(capacity);
    this.parent = new Int32Array(capacity).fill(-1);
    this.parentHandle = new Float64Array(capacity);
    this.base = new Float64Array(capacity);
    this.freeRing = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) {
      this.freeRing[i] = i;
      // Start every slot at a different generation so first keys are not all index*4096+1.
      let g = (i * 7) % (GENERATION_SPAN - 1) + 1;
      if (remoteGeneration(g) === g) g = nextGeneration(g);
      this.setGeneration(i, g);
    }
    this.freeCount = capacity;
  }

  handleOf(index: number): number {
    return this.handle[index]!;
  }

  remoteKeyOf(index: number): number {
    return this.remoteKey[index]!;
  }

  /**
   * The slot's next generation for a new handle: differs from the current one and from
   * `avoid` (the handle generation of a window leaving the slot, whose binds moved the
   * generation on), and is not a fixed point of remoteGeneration (three generations would
   * give a region a remote key equal to its handle).
   */
  private nextHandleGeneration(index: number, avoid: number): number {
    let g = this.generation[index]!;
    do g = nextGeneration(g);
    while (remoteGeneration(g) === g || g === avoid);
    return g;
  }

  private setGeneration(index: number, generation: number): void {
    this.generation[index] = generation;
    this.handle[index] = makeKey(index, generation);
    this.remoteKey[index] = makeKey(index, remoteGeneration(generation));
  }

  ownerOf(index: number): number {
    return this.owner[index]!;
  }

  /** Check a spec the way the hardware's registration command does; nothing is stored. */
  validateSpec(spec: unknown): NicStatusCode {
    if (spec === null || typeof spec !== 'object') return NicStatus.INVALID_PARAMETER;
    const s = spec as Partial<RegionSpec>;
    if (!(s.pages instanceof Float64Array) || s.pages.length === 0) return NicStatus.INVALID_PARAMETER;
    if (!isCount(s.firstByteOffset) || s.firstByteOffset >= PAGE_SIZE) return NicStatus.INVALID_PARAMETER;
    if (!isCount(s.length) || s.length === 0) return NicStatus.INVALID_PARAMETER;
    if (!isCount(s.access) || s.access === 0 || (s.access & ~ALL_ACCESS) !== 0) return NicStatus.INVALID_PARAMETER;
    // verbs rule (ibv_reg_mr): remote write needs local write.
    if ((s.access & NicAccess.REMOTE_WRITE) !== 0 && (s.access & NicAccess.LOCAL_WRITE) === 0) {
      return NicStatus.INVALID_PARAMETER;
    }
    if (s.length > this.maxRegionBytes) return NicStatus.REGION_TOO_LARGE;
    if (spanPages(s.firstByteOffset, s.length) !== s.pages.length) return NicStatus.INVALID_PARAMETER;
    const pages = s.pages;
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      if (!Number.isSafeInteger(p) || p < 0 || pageOffset(p) !== 0) return NicStatus.INVALID_PARAMETER;
    }
    return NicStatus.SUCCESS;
  }

  /** Take the oldest free slot, or -1 when the table is full. */
  private takeSlot(): number {
    if (this.freeCount === 0) return -1;
    const index = this.freeRing[this.freeHead]!;
    this.freeHead = (this.freeHead + 1) % this.capacity;
    this.freeCount--;
    return index;
  }

  private releaseSlot(index: number): void {
    this.freeRing[(this.freeHead + this.freeCount) % this.capacity] = index;
    this.freeCount++;
  }

  /** Register; the caller validated `spec` and `owner`. Returns the slot index or -1 when full. */
  register(owner: number, spec: RegionSpec): number {
    const index = this.takeSlot();
    if (index < 0) return -1;
    this.fill(index, spec);
    this.owner[index] = owner;
    this.bound[index] = 0;
    // Visible to lookups only now, fully set up.
    this.state[index] = VALID;
    this.count++;
    return index;
  }

  /** Slot of a live registration (a region, not a window) named by its handle, else -1. */
  indexOfHandle(handle: unknown): number {
    const index = this.indexOfLive(handle);
    return index >= 0 && this.state[index]! < WINDOW_UNBOUND ? index : -1;
  }

  /** Slot of a live window named by its handle, else -1. */
  indexOfWindow(handle: unknown): number {
    const index = this.indexOfLive(handle);
    return index >= 0 && this.state[index]! >= WINDOW_UNBOUND ? index : -1;
  }

  private indexOfLive(handle: unknown): number {
    if (typeof handle !== 'number') return -1;
    const index = keyIndex(handle);
    if (index < 0 || index >= this.capacity || this.state[index] === FREE) return -1;
    return this.handleOf(index) === handle ? index : -1;
  }

  deregister(index: number): void {
    // Hide first (state and generation), then drop the translation. Windows bound to the
    // region die with it: their recorded region handle no longer matches (see lookup).
    this.state[index] = FREE;
    this.setGeneration(index, this.nextHandleGeneration(index, 0));
    this.extents[index] = null;
    this.pageCount[index] = 0;
    this.bound[index] = 0;
    this.releaseSlot(index);
    this.count--;
  }

  /** Keep the slot and keys but make every access fail until re-registered. */
  invalidate(index: number): void {
    this.state[index] = INVALID;
  }

  /** New translation and rights in the same slot, with new keys; unbinds. */
  reregister(index: number, spec: RegionSpec): void {
    this.state[index] = INVALID;
    this.setGeneration(index, this.nextHandleGeneration(index, 0));
    this.fill(index, spec);
    this.bound[index] = 0;
    this.state[index] = VALID;
  }

  /** A region slot is valid (not invalidated). */
  isValid(index: number): boolean {
    return this.state[index] === VALID;
  }

  /** A window slot is bound. */
  isBound(index: number): boolean {
    return this.state[index] === WINDOW_BOUND;
  }

  accessOf(index: number): number {
    return this.access[index]!;
  }

  boundEndpointOf(index: number): number {
    return this.bound[index]!;
  }

  bind(index: number, endpointHandle: number): void {
    this.bound[index] = endpointHandle;
  }

  unbind(index: number): void {
    this.bound[index] = 0;
  }

  // ─────────────── memory windows (the caller validated every argument) ───────────────

  /**
   * THE bind check (rxe_check_bind_mw): may process `owner` bind `window` to [offset,
   * offset+length) of `region`, granting `access` on the connection whose own check gave
   * `endpointCheck`? Nothing changes; the first failed check's status is returned, in this
   * order:
   *   1. arguments: offset and length integers, length non-zero, access non-zero and remote
   *      only (INVALID_PARAMETER);
   *   2. the window: a live window (INVALID_HANDLE), `owner`'s (ACCESS_DENIED), not bound —
   *      type 2: invalidate before binding again (INVALID_STATE);
   *   3. the endpoint: `endpointCheck`, which the endpoint's table worked out (exists,
   *      `owner`'s, connected: INVALID_HANDLE, ACCESS_DENIED, INVALID_STATE);
   *   4. the region: a live region (INVALID_HANDLE), `owner`'s (ACCESS_DENIED), valid
   *      (INVALID_STATE), registered with MW_BIND (ACCESS_DENIED), with the local right behind
   *      each remote right granted — verbs: a window may not give the peer more than the region
   *      lets its owner do (ACCESS_DENIED);
   *   5. the range lies inside the region (INVALID_PARAMETER).
   */
  checkWindowBind(
    owner: number,
    window: number,
    endpointCheck: NicStatusCode,
    region: number,
    offset: number,
    length: number,
    access: number,
  ): NicStatusCode {
    if (!isCount(offset) || !isCount(length) || length === 0 || !isCount(access) || access === 0 ||
        (access & ~WINDOW_RIGHTS) !== 0) {
      return NicStatus.INVALID_PARAMETER;
    }
    const w = this.indexOfWindow(window);
    if (w < 0) return NicStatus.INVALID_HANDLE;
    if (this.owner[w] !== owner) return NicStatus.ACCESS_DENIED;
    if (this.state[w] === WINDOW_BOUND) return NicStatus.INVALID_STATE;
    if (endpointCheck !== NicStatus.SUCCESS) return endpointCheck;
    const r = this.indexOfHandle(region);
    if (r < 0) return NicStatus.INVALID_HANDLE;
    if (this.owner[r] !== owner) return NicStatus.ACCESS_DENIED;
    if (this.state[r] !== VALID) return NicStatus.INVALID_STATE;
    const granted = this.access[r]!;
    if ((granted & NicAccess.MW_BIND) === 0) return NicStatus.ACCESS_DENIED;
    if ((access & NicAccess.REMOTE_WRITE) !== 0 && (granted & NicAccess.LOCAL_WRITE) === 0) return NicStatus.ACCESS_DENIED;
    if ((access & NicAccess.REMOTE_READ) !== 0 && (granted & NicAccess.LOCAL_READ) === 0) return NicStatus.ACCESS_DENIED;
    if (!this.inRange(r, offset, length)) return NicStatus.INVALID_PARAMETER;
    return NicStatus.SUCCESS;
  }

  /** A new unbound window of `owner`; returns the slot index or -1 when the table is full. */
  allocateWindow(owner: number): number {
    const index = this.takeSlot();
    if (index < 0) return -1;
    this.owner[index] = owner;
    // No remote key until bound: key 0 never matches (keyIndex refuses it).
    this.remoteKey[index] = 0;
    this.clearBinding(index);
    this.state[index] = WINDOW_UNBOUND;
    this.windowCount++;
    return index;
  }

  /**
   * Bind an unbound window to [offset, offset+length) of region slot `region` for requests
   * arriving on `endpoint`, with a new remote key.
   */
  bindWindow(index: number, endpoint: number, region: number, offset: number, length: number, access: number): void {
    // Always-on invariant: a window grants remote rights only, which is also what keeps a
    // window handle from ever passing lookup as a local key.
    if (access === 0 || (access & ~WINDOW_RIGHTS) !== 0) {
      throw new Error(`TPT bindWindow: window rights 0x${access.toString(16)} are not remote-only`);
    }
    const handleGeneration = this.handle[index]! % GENERATION_SPAN;
    let g = nextGeneration(this.generation[index]!);
    // remoteGeneration is a bijection: exactly one generation would give the handle back.
    if (remoteGeneration(g) === handleGeneration) g = nextGeneration(g);
    this.generation[index] = g;
    this.remoteKey[index] = makeKey(index, remoteGeneration(g));
    this.parent[index] = region;
    this.parentHandle[index] = this.handle[region]!;
    this.base[index] = offset;
    // The window's translation is its region's, shifted: `translate` needs no window case.
    // lookup refuses the window once the region is deregistered or re-registered, so the
    // shared extents are never used after the region let them go.
    this.extents[index] = this.extents[region]!;
    this.pageCount[index] = this.pageCount[region]!;
    this.firstByteOffset[index] = this.firstByteOffset[region]! + offset;
    this.length[index] = length;
    this.access[index] = access;
    this.bound[index] = endpoint;
    // Visible to lookups only now, fully set up.
    this.state[index] = WINDOW_BOUND;
  }

  /** Local invalidate (IBV_WR_LOCAL_INV): the current remote key stops working. */
  invalidateWindow(index: number): void {
    this.state[index] = WINDOW_UNBOUND;
    this.extents[index] = null;
  }

  freeWindow(index: number): void {
    const handleGeneration = this.handle[index]! % GENERATION_SPAN;
    // Hide first; the next handle of the slot is never the one this window had.
    this.state[index] = FREE;
    this.setGeneration(index, this.nextHandleGeneration(index, handleGeneration));
    this.clearBinding(index);
    this.releaseSlot(index);
    this.windowCount--;
  }

  private clearBinding(index: number): void {
    this.extents[index] = null;
    this.pageCount[index] = 0;
    this.firstByteOffset[index] = 0;
    this.parent[index] = -1;
    this.parentHandle[index] = 0;
    this.base[index] = 0;
    this.length[index] = 0;
    this.access[index] = 0;
    this.bound[index] = 0;
  }

  windowInfo(index: number): WindowInfo {
    const bound = this.state[index] === WINDOW_BOUND;
    const parent = this.parent[index]!;
    return {
      handle: this.handleOf(index),
      owner: this.owner[index]!,
      state: bound ? 'bound' : 'unbound',
      remoteKey: bound ? this.remoteKey[index]! : 0,
      boundEndpoint: bound ? this.bound[index]! : 0,
      region: bound ? this.parentHandle[index]! : 0,
      offset: bound ? this.base[index]! : 0,
      length: bound ? this.length[index]! : 0,
      access: bound ? this.access[index]! : 0,
      reachable: bound && this.handle[parent] === this.parentHandle[index] && this.state[parent] === VALID,
    };
  }

  /**
   * THE access check. `principal` is the calling process (local) or the endpoint handle the
   * request arrived on (remote). Returns the slot index (a region's or a window's: `inRange`
   * and `translate` take either), or minus the syndrome of the first failed check.
   * A window slot runs the same checks on its own key, binding and rights; its state is never
   * VALID, so it leaves the regions' path only at check 5 (lookupNotValid) and the hot path
   * of a region has no extra test.
   */
  lookup(key: number, remote: boolean, principal: number, rights: number): number {
    const index = keyIndex(key);
    // 1. entry exists
    if (index < 0 || index >= this.capacity || this.state[index] === FREE) return -Syndrome.NO_ENTRY;
    // 2. the full key (generation included) matches
    if ((remote ? this.remoteKey[index] : this.handle[index]) !== key) return -Syndrome.KEY_MISMATCH;
    // 3. owner process / bound connection
    if (remote) {
      if (this.bound[index] === 0 || this.bound[index] !== principal) return -Syndrome.BINDING_MISMATCH;
    } else if (this.owner[index] !== principal) return -Syndrome.OWNER_MISMATCH;
    // 4. every requested right — a window grants remote rights only, so a window handle used
    //    as a local key fails here (rxe keeps windows in their own pool: an lkey never finds one)
    if ((this.access[index]! & rights) !== rights) return -Syndrome.ACCESS_DENIED;
    // 5. region valid
    if (this.state[index] !== VALID) return this.lookupNotValid(index, remote);
    return index;
  }

  /**
   * `lookup` from check 5 on for a slot that is not a valid region: an invalidated region, or
   * a window (checks 1-4 passed on the window's own key, binding and rights). Out of line so
   * the regions' path stays as small as it was (callers inline it; V8's budget is by size).
   */
  private lookupNotValid(index: number, remote: boolean): number {
    if (this.state[index] === INVALID) return -Syndrome.REGION_INVALID;
    // A window has no local right at all (reached only by a local lookup asking for none).
    if (!remote) return -Syndrome.ACCESS_DENIED;
    // 5. the window is bound
    if (this.state[index] !== WINDOW_BOUND) return -Syndrome.WINDOW_INVALID;
    // 6. its region is still the registration it was bound to (deregister and re-register
    //    change the handle), and 7. that region is valid.
    const parent = this.parent[index]!;
    if (this.handle[parent] !== this.parentHandle[index]) return -Syndrome.WINDOW_REGION_GONE;
    if (this.state[parent] !== VALID) return -Syndrome.REGION_INVALID;
    return index;
  }

  /** Range check: [offset, offset+length) inside the region or window; cannot overflow. */
  inRange(index: number, offset: number, length: number): boolean {
    const size = this.length[index]!;
    return offset >= 0 && length >= 0 && offset <= size && length <= size - offset;
  }

  /** Append the bus segments of [offset, +length) of a looked-up, range-checked region or window. */
  translate(index: number, offset: number, length: number, out: DmaRunList): void {
    const ext = this.extents[index]!;
    const extentCount = ext.length >> 1;
    const end = this.pageCount[index]! * PAGE_SIZE;
    let at = this.firstByteOffset[index]! + offset;
    // The last extent whose start is <= at (extent 0 starts at 0).
    let e = 0;
    let hi = extentCount - 1;
    while (e < hi) {
      const mid = (e + hi + 1) >> 1;
      if (ext[2 * mid]! <= at) e = mid;
      else hi = mid - 1;
    }
    let left = length;
    while (left > 0) {
      const start = ext[2 * e]!;
      const extentEnd = e + 1 < extentCount ? ext[2 * e + 2]! : end;
      const n = Math.min(extentEnd - at, left);
      out.push(ext[2 * e + 1]! + (at - start), n);
      left -= n;
      at += n;
      e++;
    }
  }

  info(index: number): RegionInfo {
    return {
      handle: this.handleOf(index),
      remoteKey: this.remoteKeyOf(index),
      owner: this.owner[index]!,
      access: this.access[index]!,
      length: this.length[index]!,
      firstByteOffset: this.firstByteOffset[index]!,
      pages: this.pagesOf(index),
      boundEndpoint: this.bound[index]!,
      state: this.state[index] === VALID ? 'valid' : 'invalid',
    };
  }

  /** The page list, rebuilt from the extents (a fresh array). */
  private pagesOf(index: number): Float64Array {
    const ext = this.extents[index]!;
    const pages = new Float64Array(this.pageCount[index]!);
    const extentCount = ext.length >> 1;
    for (let e = 0; e < extentCount; e++) {
      const first = ext[2 * e]! / PAGE_SIZE;
      const last = e + 1 < extentCount ? ext[2 * e + 2]! / PAGE_SIZE : pages.length;
      for (let p = first; p < last; p++) pages[p] = ext[2 * e + 1]! + (p - first) * PAGE_SIZE;
    }
    return pages;
  }

  private fill(index: number, spec: RegionSpec): void {
    const pages = spec.pages;
    let extentCount = 1;
    for (let i = 1; i < pages.length; i++) if (pages[i] !== pages[i - 1]! + PAGE_SIZE) extentCount++;
    const ext = new Float64Array(2 * extentCount);
    ext[0] = 0;
    ext[1] = pages[0]!;
    for (let i = 1, e = 1; i < pages.length; i++) {
      if (pages[i] !== pages[i - 1]! + PAGE_SIZE) {
        ext[2 * e] = i * PAGE_SIZE;
        ext[2 * e + 1] = pages[i]!;
        e++;
      }
    }
    this.extents[index] = ext;
    this.pageCount[index] = pages.length;
    this.firstByteOffset[index] = spec.firstByteOffset;
    this.length[index] = spec.length;
    this.access[index] = spec.access;
  }
}
