/**
 * An IOMMU translation domain (one per device). The HAL maps page lists at logical (IOVA)
 * addresses it allocates here; every device access is then translated page by page. A device
 * that emits a physical address instead of the logical one the HAL gave it faults, exactly as
 * the WDK warns ("use the LogicalAddress, never MmGetPhysicalAddress").
 *
 * Mappings are range records (base, page list, rights) kept sorted by base for binary search:
 * no object per page. Logical addresses are allocated first-fit below a limit, so a 32-bit
 * device gets IOVAs below 4 GiB whatever the physical pages are.
 */
import { PAGE_SIZE, addressOfPfn, type LogicalAddress, type Pfn } from './address.ts';

export const IOMMU_READ = 1;
export const IOMMU_WRITE = 2;

export interface IommuMapping {
  readonly base: LogicalAddress;
  readonly pfns: Int32Array;
  readonly rights: number;
}

export interface Translation {
  physical: number;
  /** Bytes from `physical` that stay physically contiguous and mapped (QEMU's window). */
  length: number;
}

export class IommuDomain {
  private readonly mappings: IommuMapping[] = [];
  /** Device accesses refused by translation (for the verifier and tests). */
  faults = 0;

  constructor(readonly name: string) {}

  get mappingCount(): number {
    return this.mappings.length;
  }

  get mappedPages(): number {
    let n = 0;
    for (const m of this.mappings) n += m.pfns.length;
    return n;
  }

  /**
   * Map `pfns` at a free logical range inside [lowest, limit) (lowest defaults to, and is never
   * below, PAGE_SIZE) — page 0 stays unmapped so a zero logical address always faults. Returns
   * the logical base or null when no room. `lowest` serves AllocateCommonBufferWithBounds.
   */
  map(pfns: ArrayLike<Pfn>, rights: number, limit: number, lowest = PAGE_SIZE): LogicalAddress | null {
    const pages = pfns.length;
    if (pages === 0) return null;
    const bytes = pages * PAGE_SIZE;
    let candidate = Math.max(PAGE_SIZE, Math.ceil(lowest / PAGE_SIZE) * PAGE_SIZE);
    let insertAt = 0;
    for (; insertAt < this.mappings.length; insertAt++) {
      const m = this.mappings[insertAt]!;
      if (candidate + bytes <= m.base) break;
      candidate = Math.max(candidate, m.base + m.pfns.length * PAGE_SIZE);
    }
    if (candidate + bytes > limit) return null;
    this.mappings.splice(insertAt, 0, { base: candidate, pfns: Int32Array.from(pfns), rights });
    return candidate;
  }

  /** Remove the mapping that starts at `base`; false when there is none. */
  unmap(base: LogicalAddress): boolean {
    const i = this.indexOf(base);
    if (i < 0 || this.mappings[i]!.base !== base) return false;
    this.mappings.splice(i, 1);
    return true;
  }

  mappingAt(base: LogicalAddress): IommuMapping | null {
    const i = this.indexOf(base);
    return i >= 0 && this.mappings[i]!.base === base ? this.mappings[i]! : null;
  }

  /** Translate one logical address; null when unmapped or the right is missing. */
  translate(logical: LogicalAddress, write: boolean): Translation | null {
    const i = this.indexOf(logical);
    if (i < 0) return null;
    const m = this.mappings[i]!;
    const offset = logical - m.base;
    const page = Math.floor(offset / PAGE_SIZE);
    if (page >= m.pfns.length) return null;
    if ((m.rights & (write ? IOMMU_WRITE : IOMMU_READ)) === 0) return null;
    const within = offset - page * PAGE_SIZE;
    let last = page;
    while (last + 1 < m.pfns.length && m.pfns[last + 1] === m.pfns[last]! + 1) last++;
    return { physical: addressOfPfn(m.pfns[page]!) + within, length: (last - page + 1) * PAGE_SIZE - within };
  }

  /** Index of the last mapping whose base <= address, or -1. */
  private indexOf(address: number): number {
    let lo = 0;
    let hi = this.mappings.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.mappings[mid]!.base <= address) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
