/**
 * A process's user address space: VAD-like range records kept sorted by start address.
 *
 * Implementation notes
 * - One `Vad` per reservation (VirtualAlloc MEM_RESERVE) or per user mapping of an MDL's pages
 *   (MmMapLockedPagesSpecifyCache UserMode). Lookups are a binary search over the sorted
 *   records; a process has tens of regions, not millions, so an array beats a tree here.
 * - Per-page state lives in typed arrays on the region, never an object per page:
 *   `pfn[i]` is the frame backing page i, or -1 while the page is untouched (demand zero) or
 *   not committed; `protect[i]` is the page protection (PAGE_NOACCESS 1, PAGE_READONLY 2,
 *   PAGE_READWRITE 4), 0 while the page is only reserved.
 * - Reservations start on the 64 KiB allocation granularity; commits and protection work on
 *   pages. [VirtualAlloc: "allocation granularity"]
 */
import { PAGE_SIZE } from '../../bus/address.ts';

/** Win32 page protections supported by the model (winnt.h values). */
export const PAGE_NOACCESS = 0x01;
export const PAGE_READONLY = 0x02;
export const PAGE_READWRITE = 0x04;

export const ALLOCATION_GRANULARITY = 0x1_0000;
/** The lowest 64 KiB of user space is never handed out (NULL-pointer guard). */
export const MM_LOWEST_USER_ADDRESS = 0x1_0000;
/** One past the highest user byte: MM_HIGHEST_USER_ADDRESS + 1 (= MmUserProbeAddress). */
export const MM_USER_SPACE_END = 0x7fff_ffff_0000;
/** MM_HIGHEST_USER_ADDRESS (x64: 0x7FFF_FFFE_FFFF; the last 64 KiB below it are never handed out). */
export const MM_HIGHEST_USER_ADDRESS = 0x7fff_fffe_ffff;
/** MM_HIGHEST_VAD_ADDRESS: the highest address a region may cover, MM_HIGHEST_USER_ADDRESS - 64 KiB. */
export const MM_HIGHEST_VAD_ADDRESS = MM_HIGHEST_USER_ADDRESS - 0x1_0000;

export type VadKind = 'private' | 'locked-pages';

export class Vad {
  readonly pfn: Int32Array;
  readonly protect: Uint8Array;
  /** Committed pages (protect != 0). */
  committed = 0;

  constructor(
    readonly start: number,
    readonly pageCount: number,
    readonly kind: VadKind,
    /** For 'locked-pages': the MDL whose pages this region maps (opaque here). */
    readonly mapping: object | null = null,
  ) {
    this.pfn = new Int32Array(pageCount).fill(-1);
    this.protect = new Uint8Array(pageCount);
  }

  get end(): number {
    return this.start + this.pageCount * PAGE_SIZE;
  }

  /** Index of the page holding `va` (caller ensures start <= va < end). */
  pageIndex(va: number): number {
    return Math.floor((va - this.start) / PAGE_SIZE);
  }
}

/** A run of pages [first, last) of one region, part of a larger range. */
export interface VadRun {
  vad: Vad;
  first: number;
  last: number;
}

export class AddressSpace {
  private readonly vads: Vad[] = [];

  get regions(): readonly Vad[] {
    return this.vads;
  }

  /** The region containing `va`, or null. */
  find(va: number): Vad | null {
    const i = this.indexAtOrBefore(va);
    if (i < 0) return null;
    const v = this.vads[i]!;
    return va < v.end ? v : null;
  }

  /**
   * The regions covering [start, end) (page aligned), as runs of page indexes, or null when
   * any byte of the range lies outside every region.
   */
  cover(start: number, end: number): VadRun[] | null {
    const runs: VadRun[] = [];
    let at = start;
    let i = this.indexAtOrBefore(at);
    if (i < 0) return null;
    while (at < end) {
      const v = this.vads[i];
      if (!v || at < v.start || at >= v.end) return null;
      const stop = Math.min(end, v.end);
      runs.push({ vad: v, first: v.pageIndex(at), last: v.pageIndex(stop - 1) + 1 });
      at = stop;
      i++;
    }
    return runs;
  }

  /** True when no region overlaps [start, end). */
  isFree(start: number, end: number): boolean {
    const i = this.indexAtOrBefore(end - 1);
    if (i < 0) return true;
    return this.vads[i]!.end <= start;
  }

  /**
   * A free, `alignment`-aligned range of `bytes` ending at or below `limit`: the lowest one, or
   * the highest with `topDown` (MEM_TOP_DOWN). 0 when none.
   */
  findFree(bytes: number, alignment = ALLOCATION_GRANULARITY, limit = MM_HIGHEST_VAD_ADDRESS + 1, topDown = false): number {
    if (topDown) {
      let ceiling = limit;
      for (let i = this.vads.length - 1; i >= -1; i--) {
        const floorEnd = i >= 0 ? this.vads[i]!.end : MM_LOWEST_USER_ADDRESS;
        const candidate = Math.floor((ceiling - bytes) / alignment) * alignment;
        if (candidate >= floorEnd && candidate >= MM_LOWEST_USER_ADDRESS) return candidate;
        if (i >= 0) ceiling = Math.min(ceiling, this.vads[i]!.start);
      }
      return 0;
    }
    let candidate = MM_LOWEST_USER_ADDRESS;
    for (const v of this.vads) {
      if (candidate + bytes <= v.start && candidate + bytes <= limit) return candidate;
      if (v.end > candidate) candidate = Math.ceil(v.end / alignment) * alignment;
    }
    return candidate + bytes <= limit ? candidate : 0;
  }

  insert(vad: Vad): void {
    if (!this.isFree(vad.start, vad.end)) {
      throw new Error(`address space invariant: region ${vad.start.toString(16)} overlaps another`);
    }
    const i = this.indexAtOrBefore(vad.start);
    this.vads.splice(i + 1, 0, vad);
  }

  remove(vad: Vad): void {
    const i = this.indexAtOrBefore(vad.start);
    if (i < 0 || this.vads[i] !== vad) throw new Error('address space invariant: removing an unknown region');
    this.vads.splice(i, 1);
  }

  /** Index of the last region starting at or before `va`; -1 when none. */
  private indexAtOrBefore(va: number): number {
    let lo = 0;
    let hi = this.vads.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.vads[mid]!.start <= va) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
