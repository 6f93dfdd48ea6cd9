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
 *   different values; both change on re-registration and on deregistration.
 * - `lookup` is the ONE place that decides whether a key may be used, in rxe's fixed order:
 *   entry exists, full key matches, owner (local) / bound connection (remote) matches, all
 *   requested rights present, region valid. `inRange` is the separate range check.
 * - Free slots are reused in FIFO order, so a just-freed slot (and its stale keys' index) is
 *   the last to come back.
 * - The table never touches memory and never fails half-way: every call validates first.
 */
import { PAGE_SIZE, spanPages } from '../bus/index.ts';
import { GENERATION_SPAN, keyIndex, makeKey, nextGeneration, remoteGeneration } from './keys.ts';
import type { SegmentList } from './segments.ts';
import { NicStatus, Syndrome, type NicStatusCode } from './status.ts';

/** Access rights of a region (ibv_access_flags / WSD MEM_READ|MEM_WRITE). */
export const NicAccess = {
  LOCAL_READ: 1,
  LOCAL_WRITE: 2,
  REMOTE_READ: 4,
  REMOTE_WRITE: 8,
} as const;
const ALL_ACCESS = 0xf;

const FREE = 0;
const VALID = 1;
const INVALID = 2;
export type RegionState = 'valid' | 'invalid';

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
  private readonly firstByteOffset: Uint16Array;
  private readonly length: Float64Array;
  /** Per slot: [start0, bus0, start1, bus1, …], starts in bytes from the first page's base. */
  private readonly extents: (Float64Array | null)[];
  private readonly pageCount: Float64Array;
  private readonly freeRing: Int32Array;
  private freeHead = 0;
  private freeCount: number;
  /** Registrations in the table (valid or invalidated). */
  count = 0;

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
    this.firstByteOffset = new Uint16Array(capacity);
    this.length = new Float64Array(capacity);
    this.extents = new Array<Float64Array | null>(capacity).fill(null);
    this.pageCount = new Float64Array(capacity);
    this.freeRing = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) {
      this.freeRing[i] = i;
      // Start every slot at a different generation so first keys are not all index*4096+1.
      this.setGeneration(i, (i * 7) % (GENERATION_SPAN - 1) + 1);
    }
    this.freeCount = capacity;
  }

  handleOf(index: number): number {
    return this.handle[index]!;
  }

  remoteKeyOf(index: number): number {
    return this.remoteKey[index]!;
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
      if (!Number.isSafeInteger(p) || p < 0 || p % PAGE_SIZE !== 0) return NicStatus.INVALID_PARAMETER;
    }
    return NicStatus.SUCCESS;
  }

  /** Register; the caller validated `spec` and `owner`. Returns the slot index or -1 when full. */
  register(owner: number, spec: RegionSpec): number {
    if (this.freeCount === 0) return -1;
    const index = this.freeRing[this.freeHead]!;
    this.freeHead = (this.freeHead + 1) % this.capacity;
    this.freeCount--;
    this.fill(index, spec);
    this.owner[index] = owner;
    this.bound[index] = 0;
    // Visible to lookups only now, fully set up.
    this.state[index] = VALID;
    this.count++;
    return index;
  }

  /** Slot of a live registration named by its handle (driver interface), else -1. */
  indexOfHandle(handle: unknown): number {
    if (typeof handle !== 'number') return -1;
    const index = keyIndex(handle);
    if (index < 0 || index >= this.capacity || this.state[index] === FREE) return -1;
    return this.handleOf(index) === handle ? index : -1;
  }

  deregister(index: number): void {
    // Hide first (state and generation), then drop the translation.
    this.state[index] = FREE;
    this.setGeneration(index, nextGeneration(this.generation[index]!));
    this.extents[index] = null;
    this.pageCount[index] = 0;
    this.bound[index] = 0;
    this.freeRing[(this.freeHead + this.freeCount) % this.capacity] = index;
    this.freeCount++;
    this.count--;
  }

  /** Keep the slot and keys but make every access fail until re-registered. */
  invalidate(index: number): void {
    this.state[index] = INVALID;
  }

  /** New translation and rights in the same slot, with new keys; unbinds. */
  reregister(index: number, spec: RegionSpec): void {
    this.state[index] = INVALID;
    this.setGeneration(index, nextGeneration(this.generation[index]!));
    this.fill(index, spec);
    this.bound[index] = 0;
    this.state[index] = VALID;
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

  /**
   * THE access check. `principal` is the calling process (local) or the endpoint handle the
   * request arrived on (remote). Returns the slot index, or minus the syndrome of the first
   * failed check.
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
    // 4. every requested right
    if ((this.access[index]! & rights) !== rights) return -Syndrome.ACCESS_DENIED;
    // 5. region valid
    if (this.state[index] !== VALID) return -Syndrome.REGION_INVALID;
    return index;
  }

  /** Range check: [offset, offset+length) inside the region; written so it cannot overflow. */
  inRange(index: number, offset: number, length: number): boolean {
    const size = this.length[index]!;
    return offset >= 0 && length >= 0 && offset <= size && length <= size - offset;
  }

  /** Append the bus segments of [offset, +length) of a looked-up, range-checked region. */
  translate(index: number, offset: number, length: number, out: SegmentList): void {
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
