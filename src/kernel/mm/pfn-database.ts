/**
 * The PFN database: one entry per physical page frame, as flat typed arrays indexed by PFN
 * (ReactOS MMPFN, reduced to what the emulation needs). No object per page.
 *
 * Implementation notes — layout, 6 bytes per page:
 *   state     Uint8Array   PFN_STATE_HOLE (no RAM) / RESERVED / FREE / ACTIVE
 *   flags     Uint8Array   bits 0-2 cache attribute (MEMORY_CACHING_TYPE 0..5, 7 = none yet)
 *                          0x08 PFN_FLAG_START   first page of an allocation
 *                          0x10 PFN_FLAG_END     last page of an allocation
 *                          0x20 PFN_FLAG_LOWMEM_DIRTY   written while free below 4 GiB (chklowmem)
 *                          0x40 PFN_FLAG_DELETE_PENDING freed by its owner while locked
 *                          0x80 PFN_FLAG_WRITTEN        written since allocated (verifier)
 *   owner     Uint16Array  OwnerId (owners.ts), 0 = none
 *   lockCount Uint16Array  probe-and-lock references (MmProbeAndLockPages)
 * The free-run index (free-run-index.ts) adds 1 bit per page plus its summary tree.
 */
export const PFN_STATE_HOLE = 0;
export const PFN_STATE_RESERVED = 1;
export const PFN_STATE_FREE = 2;
export const PFN_STATE_ACTIVE = 3;

export const PFN_CACHE_MASK = 0x07;
export const PFN_CACHE_NONE = 7;
export const PFN_FLAG_START = 0x08;
export const PFN_FLAG_END = 0x10;
export const PFN_FLAG_LOWMEM_DIRTY = 0x20;
export const PFN_FLAG_DELETE_PENDING = 0x40;
/** Written since allocated (set on active pages by the verifier's write observer; cleared by the allocator). */
export const PFN_FLAG_WRITTEN = 0x80;

export const MAX_LOCK_COUNT = 0xffff;

export class PfnDatabase {
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  readonly owner: Uint16Array;
  readonly lockCount: Uint16Array;
  /** Bytes of this database per page frame. */
  readonly metadataBytesPerPage = 6;

  constructor(readonly pageCount: number) {
    if (!Number.isSafeInteger(pageCount) || pageCount <= 0 || pageCount > 0x7fff_ffff) {
      throw new RangeError(`PfnDatabase: page count must be in [1, 2^31), got ${pageCount}`);
    }
    this.state = new Uint8Array(pageCount);
    this.flags = new Uint8Array(pageCount).fill(PFN_CACHE_NONE);
    this.owner = new Uint16Array(pageCount);
    this.lockCount = new Uint16Array(pageCount);
  }

  cacheType(pfn: number): number {
    return this.flags[pfn]! & PFN_CACHE_MASK;
  }

  setCacheType(pfn: number, t: number): void {
    this.flags[pfn] = (this.flags[pfn]! & ~PFN_CACHE_MASK) | (t & PFN_CACHE_MASK);
  }

  /** Copies of the four arrays (tests compare a teardown state with the boot state). */
  snapshot(): { state: Uint8Array; flags: Uint8Array; owner: Uint16Array; lockCount: Uint16Array } {
    return { state: this.state.slice(), flags: this.flags.slice(), owner: this.owner.slice(), lockCount: this.lockCount.slice() };
  }
}
