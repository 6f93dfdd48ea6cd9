/**
 * !chklowmem. With NOLOWMEM on, Windows fills the physical pages below 4 GiB that nobody owns
 * with a fill pattern (its value is undocumented) and `!chklowmem` reports every such page
 * whose pattern changed — the footprint of a device or driver that truncated a 64-bit
 * physical address to 32 bits and wrote to low memory. [debugger: -chklowmem; bcdedit nolowmem]
 *
 * Implementation notes
 * - The pattern is never materialised: a free, unowned low page "holds the pattern" by
 *   definition, so the check watches writes instead (PhysicalMemory.writeObserver, called
 *   for CPU and device writes alike before the bytes change). A write that touches a FREE page
 *   below 4 GiB sets PFN_FLAG_LOWMEM_DIRTY and records the PFN once.
 * - Only when NOLOWMEM is active: otherwise no pattern is laid down and nothing is checked.
 * - The flag is persistent evidence: it survives the page being allocated and freed again,
 *   until `reset()`.
 */
import { FOUR_GIB, pfnOf, type PhysicalMemory } from '../../bus/index.ts';
import { PFN_FLAG_LOWMEM_DIRTY, PFN_STATE_FREE, type PfnDatabase } from './pfn-database.ts';

export interface ChklowmemReport {
  violations: number;
  /** Ascending PFNs of low pages written while free. */
  pfns: number[];
}

export class LowMemoryCheck {
  private readonly dirty: number[] = [];
  /** Writes that hit at least one free low page. */
  offendingWrites = 0;

  constructor(
    private readonly pfn: PfnDatabase,
    readonly active: boolean,
  ) {}

  install(memory: PhysicalMemory): void {
    if (!this.active) return;
    const previous = memory.writeObserver;
    memory.writeObserver = (address, length) => {
      this.observe(address, length);
      previous?.(address, length);
    };
  }

  observe(address: number, length: number): void {
    if (address >= FOUR_GIB || length <= 0) return;
    const first = pfnOf(address);
    const last = pfnOf(Math.min(address + length, FOUR_GIB) - 1);
    const { state, flags } = this.pfn;
    let hit = false;
    for (let p = first; p <= last && p < this.pfn.pageCount; p++) {
      if (state[p] === PFN_STATE_FREE) {
        hit = true;
        if ((flags[p]! & PFN_FLAG_LOWMEM_DIRTY) === 0) {
          flags[p] = flags[p]! | PFN_FLAG_LOWMEM_DIRTY;
          this.dirty.push(p);
        }
      }
    }
    if (hit) this.offendingWrites++;
  }

  report(): ChklowmemReport {
    const pfns = [...this.dirty].sort((a, b) => a - b);
    return { violations: pfns.length, pfns };
  }

  reset(): void {
    const { flags } = this.pfn;
    for (const p of this.dirty) flags[p] = flags[p]! & ~PFN_FLAG_LOWMEM_DIRTY;
    this.dirty.length = 0;
    this.offendingWrites = 0;
  }
}
