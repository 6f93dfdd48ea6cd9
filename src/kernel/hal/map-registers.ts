/**
 * Map registers and bounce pages.
 *
 * Implementation notes
 * - A map register aliases one logical (device-visible) page to one physical page ("Map
 *   Registers", kernel/ DMA docs). On a machine without an IOMMU the HAL needs them only when a
 *   page is out of the adapter's reach (a 32-bit adapter and a page at or above 4 GiB): the
 *   register is then backed by a bounce page the adapter can reach, and the HAL copies between the
 *   bounce page and the real page at the right moment (before the device reads, after it writes).
 * - The host has a fixed file of `capacity` registers, state in typed arrays indexed by register
 *   number: the bounce page backing it, the physical page it stands for, the scatter/gather list
 *   that holds it (0 = free). Free registers sit on an Int32Array stack: allocate and release are
 *   O(registers), never a scan of the file.
 * - Bounce pages are taken from the memory manager when registers are handed out and returned
 *   when they are released, so an idle HAL holds no memory and the memory manager's counters
 *   return to their boot values once every list is put. They are explicit low requests (bounded
 *   contiguous runs), which NOLOWMEM permits below 4 GiB.
 * - A list's bounce pages are first asked for as one contiguous run (one memory-manager call
 *   instead of one per page, and adjacent bounce pages merge into fewer scatter/gather
 *   elements); only when no such run exists are they taken a page at a time. An injected failure
 *   of the run request fails the whole request: fault injection must never be absorbed by a
 *   fallback. `runLength` marks the register holding a run's first page with the run's length
 *   (1 for a single page, 0 for the other members), so release frees each run once, whole.
 * - A failed `allocate` says why (`lastFailure`): a shortage of registers or bounce pages is
 *   waited out by the scatter/gather wait queue (scatter-gather.ts); an injected failure is not.
 */
import { PAGE_SIZE } from '../../bus/index.ts';
import type { Kernel } from '../kernel.ts';

export const DEFAULT_MAP_REGISTER_COUNT = 4096;

/**
 * Why the last `allocate` returned null: the file has too few free registers, memory has no
 * bounce page in reach, or fault injection failed a bounce request. The first two are the
 * momentary shortage a scatter/gather request waits out; an injected failure is not.
 */
export type MapRegisterFailure = 'registers' | 'bounce-pages' | 'injected';

export class MapRegisterFile {
  readonly capacity: number;
  private readonly bouncePfn: Int32Array;
  private readonly targetPfn: Int32Array;
  private readonly holder: Int32Array;
  private readonly runLength: Int32Array;
  private readonly freeStack: Int32Array;
  private freeTop: number;
  /** Reason of the last failed `allocate` (meaningful only right after it returned null). */
  lastFailure: MapRegisterFailure | null = null;

  constructor(
    private readonly k: Kernel,
    capacity = DEFAULT_MAP_REGISTER_COUNT,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 24) {
      throw new RangeError(`MapRegisterFile: capacity must be an integer 1..${1 << 24}, got ${capacity}`);
    }
    this.capacity = capacity;
    this.bouncePfn = new Int32Array(capacity).fill(-1);
    this.targetPfn = new Int32Array(capacity).fill(-1);
    this.holder = new Int32Array(capacity);
    this.runLength = new Int32Array(capacity);
    this.freeStack = new Int32Array(capacity);
    // Lowest register number on top, so allocation order is predictable in reports.
    for (let i = 0; i < capacity; i++) this.freeStack[i] = capacity - 1 - i;
    this.freeTop = capacity;
  }

  get free(): number {
    return this.freeTop;
  }

  get inUse(): number {
    return this.capacity - this.freeTop;
  }

  /**
   * Take `targets.length` registers for list `holderId`, each backed by a bounce page whose
   * frame number is at most `highestPfn`. Returns the register numbers, or null (nothing taken,
   * `lastFailure` says why) when registers or bounce pages run out.
   */
  allocate(targets: ArrayLike<number>, highestPfn: number, holderId: number, owner: number, site: string): Int32Array | null {
    const n = targets.length;
    this.lastFailure = null;
    if (n > this.freeTop) {
      this.lastFailure = 'registers';
      return null;
    }
    const regs = new Int32Array(n);
    if (n === 0) return regs;
    const injectedBefore = this.k.faults.injected.length;
    const run = this.k.mm.allocateRun(n, 0, highestPfn, 0, owner, `${site}-run`);
    if (run >= 0) {
      for (let i = 0; i < n; i++) regs[i] = this.take(run + i, targets[i]!, holderId, i === 0 ? n : 0);
      return regs;
    }
    if (this.k.faults.injected.length !== injectedBefore) {
      this.lastFailure = 'injected';
      return null;
    }
    for (let i = 0; i < n; i++) {
      const bounce = this.k.mm.allocateRun(1, 0, highestPfn, 0, owner, site);
      if (bounce < 0) {
        this.releaseRegisters(regs.subarray(0, i));
        this.lastFailure = this.k.faults.injected.length !== injectedBefore ? 'injected' : 'bounce-pages';
        return null;
      }
      regs[i] = this.take(bounce, targets[i]!, holderId, 1);
    }
    return regs;
  }

  private take(bounce: number, target: number, holderId: number, runLength: number): number {
    const r = this.freeStack[--this.freeTop]!;
    this.bouncePfn[r] = bounce;
    this.targetPfn[r] = target;
    this.holder[r] = holderId;
    this.runLength[r] = runLength;
    return r;
  }

  /** Release registers and give their bounce pages back. */
  release(regs: Int32Array): void {
    this.releaseRegisters(regs);
  }

  bounceOf(register: number): number {
    return this.bouncePfn[register]!;
  }

  targetOf(register: number): number {
    return this.targetPfn[register]!;
  }

  holderOf(register: number): number {
    return this.holder[register]!;
  }

  /** Bytes of bounce memory currently held. */
  get bounceBytes(): number {
    return this.inUse * PAGE_SIZE;
  }

  private releaseRegisters(regs: Int32Array): void {
    // Every run must be released whole, with its first page's register.
    let covered = 0;
    for (let i = 0; i < regs.length; i++) {
      const r = regs[i]!;
      if (this.holder[r] === 0) throw new Error(`map register ${r} released twice (HAL invariant)`);
      covered += this.runLength[r]!;
    }
    if (covered !== regs.length) throw new Error('map registers released apart from their bounce run (HAL invariant)');
    for (let i = 0; i < regs.length; i++) {
      const r = regs[i]!;
      if (this.runLength[r]! > 0) this.k.mm.freeRun(this.bouncePfn[r]!, this.runLength[r]!);
    }
    for (let i = 0; i < regs.length; i++) {
      const r = regs[i]!;
      this.bouncePfn[r] = -1;
      this.targetPfn[r] = -1;
      this.holder[r] = 0;
      this.runLength[r] = 0;
      this.freeStack[this.freeTop++] = r;
    }
  }
}
