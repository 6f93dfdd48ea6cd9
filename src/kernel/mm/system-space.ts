/**
 * Kernel virtual address space (system PTEs): kernel VAs that map lists of PFNs.
 *
 * Implementation notes
 * - A mapping is one range record (base, PFN list, cache type, kind, label) kept in an array
 *   sorted by base and found by binary search: no object per page.
 * - VAs come from a bump pointer and are never reused, with an unmapped guard page after each
 *   mapping. Windows does reuse system PTEs, but then a stale pointer silently aliases whoever
 *   got the VA next; in the emulation we would rather have the stale access bug-check 0x50
 *   PAGE_FAULT_IN_NONPAGED_AREA at once, which is what Windows' verifier tries to achieve.
 *   Retired records stay (without their PFN list) so a report can say "this was freed
 *   contiguous memory" and the pool can tell a double free from a wild pointer — the newest
 *   RETIRED_KEPT of them: a long run unmaps without end (pool slabs come and go), so older ones
 *   are dropped in one pass whenever twice that many have piled up (amortized O(1) per unmap,
 *   memory bounded by the live mappings). A stale pointer into a dropped one still bug-checks;
 *   only the "was …" note is lost.
 * - Addresses follow CONTRIBUTING: system space starts at MM_SYSTEM_RANGE_START
 *   (0x8000_0000_0000 stands for 0xFFFF8000_00000000).
 * - An access is checked in full before a byte moves, so a faulting access changes nothing.
 */
import { PAGE_SIZE, addressOfPfn, hexAddress, pfnOf, type PhysicalMemory } from '../../bus/index.ts';
import { PAGE_FAULT_IN_NONPAGED_AREA, type BugCheckState } from '../bugcheck.ts';

export const MM_SYSTEM_RANGE_START = 0x8000_0000_0000;
export const MM_USER_PROBE_ADDRESS = 0x7fff_ffff_0000;
export const MM_HIGHEST_USER_ADDRESS = 0x7fff_fffe_ffff;
/** Our system PTE region (stands for 0xFFFFF880_00000000 .. 0xFFFFF900_00000000). */
export const SYSTEM_PTE_START = 0xf880_0000_0000;
export const SYSTEM_PTE_END = 0xf900_0000_0000;

export type VirtualAddress = number;

/** Retired mappings remembered for diagnostics (see the notes). */
export const RETIRED_KEPT = 4096;

export interface SystemMapping {
  /** Page-aligned first VA of the mapping. */
  readonly base: VirtualAddress;
  /** The VA handed out (base + byteOffset). */
  readonly va: VirtualAddress;
  readonly pages: number;
  pfns: Int32Array;
  readonly cacheType: number;
  readonly kind: string;
  readonly label: string;
  live: boolean;
}

export class SystemSpace {
  private records: SystemMapping[] = [];
  /** Retired records in `records`. */
  private retired = 0;
  private next = SYSTEM_PTE_START;
  liveMappings = 0;
  livePages = 0;
  /** Mappings ever made (each takes fresh VAs: a figure of churn, e.g. pool slabs made and unmade). */
  mappingsMade = 0;

  constructor(
    private readonly memory: PhysicalMemory,
    private readonly bugcheck: BugCheckState,
    private readonly limit = SYSTEM_PTE_END,
  ) {}

  /**
   * Map `pfns` at fresh system VAs; returns base + byteOffset, or 0 when system PTEs are
   * exhausted. Throws on a malformed request (kernel-internal callers validate first).
   */
  map(pfns: ArrayLike<number>, cacheType: number, kind: string, label: string, byteOffset = 0): VirtualAddress {
    const n = pfns.length;
    if (!(n > 0) || !Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset >= PAGE_SIZE) {
      throw new RangeError(`SystemSpace.map: ${n} pages at byte offset ${byteOffset}`);
    }
    const maxPfn = pfnOf(this.memory.limit);
    const copy = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const p = pfns[i]!;
      if (!Number.isInteger(p) || p < 0 || p >= maxPfn) throw new RangeError(`SystemSpace.map: bad PFN ${p}`);
      copy[i] = p;
    }
    const base = this.next;
    const end = base + n * PAGE_SIZE;
    if (end > this.limit) return 0;
    this.next = end + PAGE_SIZE; // guard page
    this.records.push({ base, va: base + byteOffset, pages: n, pfns: copy, cacheType, kind, label, live: true });
    this.liveMappings++;
    this.livePages += n;
    this.mappingsMade++;
    return base + byteOffset;
  }

  /** Unmap the mapping whose first page holds `va`; false when `va` is not such an address. */
  unmap(va: VirtualAddress): boolean {
    const r = this.find(va);
    if (!r || !r.live || va >= r.base + PAGE_SIZE) return false;
    r.live = false;
    r.pfns = new Int32Array(0);
    this.liveMappings--;
    this.livePages -= r.pages;
    if (++this.retired >= 2 * RETIRED_KEPT) this.dropOldRetired();
    return true;
  }

  /** Keep the live records and the newest RETIRED_KEPT retired ones (VAs only grow: newest = highest base). */
  private dropOldRetired(): void {
    let skip = this.retired - RETIRED_KEPT;
    this.records = this.records.filter((r) => r.live || skip-- <= 0);
    this.retired = RETIRED_KEPT;
  }

  /** The live mapping containing `va`, or null. */
  lookup(va: VirtualAddress): SystemMapping | null {
    const r = this.find(va);
    return r && r.live ? r : null;
  }

  /** The mapping (live or retired) that contained `va`, or null: for diagnostics. */
  history(va: VirtualAddress): SystemMapping | null {
    return this.find(va);
  }

  /** PhysicalAddress behind `va`, or null when unmapped. */
  physicalAddress(va: VirtualAddress): number | null {
    const r = this.lookup(va);
    if (!r) return null;
    const off = va - r.base;
    const page = Math.floor(off / PAGE_SIZE);
    return addressOfPfn(r.pfns[page]!) + (off - page * PAGE_SIZE);
  }

  read(va: VirtualAddress, dst: Uint8Array, off = 0, len = dst.length - off): void {
    this.access(va, dst, off, len, false);
  }

  write(va: VirtualAddress, src: Uint8Array, off = 0, len = src.length - off): void {
    this.access(va, src, off, len, true);
  }

  /** Fill [va, va+len) with `value` (zeroing a buffer before handing it out). */
  fill(va: VirtualAddress, len: number, value: number): void {
    const r = this.checkRange(va, len, true);
    this.forPages(r, va, len, (pa, n) => this.memory.fill(pa, n, value));
  }

  private access(va: VirtualAddress, buf: Uint8Array, off: number, len: number, write: boolean): void {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0 || off + len > buf.length) {
      throw new RangeError(`SystemSpace.${write ? 'write' : 'read'}: buffer slice [${off}, +${len}) of ${buf.length}`);
    }
    const r = this.checkRange(va, len, write);
    let at = off;
    this.forPages(r, va, len, (pa, n) => {
      if (write) this.memory.write(pa, buf, at, n);
      else this.memory.read(pa, buf, at, n);
      at += n;
    });
  }

  /** The mapping holding all of [va, va+len), or bug check 0x50 at the first unmapped byte. */
  private checkRange(va: VirtualAddress, len: number, write: boolean): SystemMapping {
    const r = Number.isSafeInteger(va) ? this.lookup(va) : null;
    const faultAt = !r ? va : va + len > r.base + r.pages * PAGE_SIZE ? r.base + r.pages * PAGE_SIZE : -1;
    if (faultAt !== -1) {
      const old = Number.isSafeInteger(va) ? this.history(faultAt) : null;
      this.bugcheck.KeBugCheckEx(
        PAGE_FAULT_IN_NONPAGED_AREA,
        Number.isSafeInteger(faultAt) ? faultAt : 0,
        write ? 2 : 0,
        0,
        0,
        `${write ? 'write' : 'read'} of ${len} bytes at ${hexAddress(va)} touches unmapped system address ` +
          `${hexAddress(faultAt)}` + (old && old.base <= faultAt && faultAt < old.base + old.pages * PAGE_SIZE
            ? ` (was ${old.kind} "${old.label}", unmapped)` : ''),
      );
    }
    return r!;
  }

  private forPages(r: SystemMapping, va: number, len: number, run: (pa: number, n: number) => void): void {
    let done = 0;
    while (done < len) {
      const off = va + done - r.base;
      const page = Math.floor(off / PAGE_SIZE);
      const within = off - page * PAGE_SIZE;
      // Merge physically consecutive pages into one run.
      let n = PAGE_SIZE - within;
      let last = page;
      while (n < len - done && last + 1 < r.pages && r.pfns[last + 1] === r.pfns[last]! + 1) {
        last++;
        n += PAGE_SIZE;
      }
      n = Math.min(n, len - done);
      run(addressOfPfn(r.pfns[page]!) + within, n);
      done += n;
    }
  }

  /** Index of the last record whose base <= va, its record, or null. */
  private find(va: number): SystemMapping | null {
    const recs = this.records;
    let lo = 0;
    let hi = recs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (recs[mid]!.base <= va) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return null;
    const r = recs[found]!;
    return va < r.base + r.pages * PAGE_SIZE ? r : null;
  }
}

/** hexAddress for numbers that may not be safe integers (messages about bad input). */
export function hexAddressOrValue(v: number): string {
  return Number.isSafeInteger(v) && v >= 0 ? hexAddress(v) : String(v);
}
