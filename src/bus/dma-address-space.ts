/**
 * Memory as one device sees it (QEMU's AddressSpace for a bus master). A device holds one of
 * these and never a pointer to RAM or a virtual address.
 *
 * - The device emits `addressBits`-wide addresses: a 32-bit device handed an address at or
 *   above 4 GiB silently truncates it, as real hardware does. It does not refuse.
 * - With an IOMMU domain, emitted addresses are logical and translated page by page.
 * - Addresses that decode to no RAM (the MMIO hole, past the top) are a master abort.
 * - Every access is checked in full before the first byte moves, so a failed access moves no
 *   byte; then it is done in runs of physically contiguous bytes, never per byte.
 * - `observer` lets the host's verifier see each physical run a device touches.
 */
import { FOUR_GIB, type BusAddress, type PhysicalAddress } from './address.ts';
import type { IommuDomain } from './iommu.ts';
import type { PhysicalMemory } from './physical-memory.ts';

export const DMA_OK = 0;
/** The address decodes to no RAM (PCIe unsupported request / master abort). */
export const DMA_MASTER_ABORT = 1;
/** The IOMMU refused the access (unmapped logical address or missing right). */
export const DMA_IOMMU_FAULT = 2;
export type DmaStatus = typeof DMA_OK | typeof DMA_MASTER_ABORT | typeof DMA_IOMMU_FAULT;

export interface RamRange {
  readonly base: PhysicalAddress;
  readonly length: number;
}

export type DmaObserver = (
  device: string,
  direction: 'read' | 'write',
  physical: PhysicalAddress,
  length: number,
) => void;

export interface DmaRun {
  physical: PhysicalAddress;
  length: number;
}

export interface DeviceDmaOptions {
  name: string;
  addressBits: number;
  iommu?: IommuDomain | null;
}

export class DeviceDmaView {
  readonly name: string;
  readonly addressBits: number;
  readonly iommu: IommuDomain | null;
  observer: DmaObserver | null = null;
  private readonly ram: readonly RamRange[];

  constructor(
    readonly memory: PhysicalMemory,
    ram: readonly RamRange[],
    options: DeviceDmaOptions,
  ) {
    if (!Number.isInteger(options.addressBits) || options.addressBits < 12 || options.addressBits > 64) {
      throw new RangeError(`DeviceDmaView ${options.name}: addressBits must be 12..64, got ${options.addressBits}`);
    }
    this.name = options.name;
    this.addressBits = options.addressBits;
    this.iommu = options.iommu ?? null;
    this.ram = [...ram].sort((a, b) => a.base - b.base);
  }

  /** The address the device actually emits for `address` (truncated to its width). */
  emitted(address: BusAddress): BusAddress {
    return this.addressBits >= 53 ? address : address % 2 ** this.addressBits;
  }

  /**
   * Resolve a device access to physical runs, or a failure status. Nothing is touched.
   * Truncation applies per emitted address, so a range that crosses the device's address
   * limit wraps around to zero, as a real counter would.
   */
  resolve(address: BusAddress, length: number, write: boolean): DmaRun[] | DmaStatus {
    if (!Number.isSafeInteger(address) || !Number.isSafeInteger(length) || address < 0 || length < 0) {
      return DMA_MASTER_ABORT;
    }
    const runs: DmaRun[] = [];
    const span = this.addressBits >= 53 ? Infinity : 2 ** this.addressBits;
    let done = 0;
    while (done < length) {
      const emitted = this.emitted(address + done);
      // A run may not cross the device's wrap point.
      let n = Math.min(length - done, span - emitted);
      let physical = emitted;
      if (this.iommu) {
        const t = this.iommu.translate(emitted, write);
        if (!t) {
          this.iommu.faults++;
          return DMA_IOMMU_FAULT;
        }
        physical = t.physical;
        n = Math.min(n, t.length);
      }
      const ramLeft = this.ramBytesFrom(physical);
      if (ramLeft === 0) return DMA_MASTER_ABORT;
      n = Math.min(n, ramLeft);
      const last = runs[runs.length - 1];
      if (last && last.physical + last.length === physical) last.length += n;
      else runs.push({ physical, length: n });
      done += n;
    }
    return runs;
  }

  read(address: BusAddress, dst: Uint8Array, dstOffset = 0, length = dst.length - dstOffset): DmaStatus {
    const runs = this.resolve(address, length, false);
    if (typeof runs === 'number') return runs;
    let at = dstOffset;
    for (const r of runs) {
      this.observer?.(this.name, 'read', r.physical, r.length);
      this.memory.read(r.physical, dst, at, r.length);
      at += r.length;
    }
    return DMA_OK;
  }

  write(address: BusAddress, src: Uint8Array, srcOffset = 0, length = src.length - srcOffset): DmaStatus {
    const runs = this.resolve(address, length, true);
    if (typeof runs === 'number') return runs;
    let at = srcOffset;
    for (const r of runs) {
      this.observer?.(this.name, 'write', r.physical, r.length);
      this.memory.write(r.physical, src, at, r.length);
      at += r.length;
    }
    return DMA_OK;
  }

  /**
   * Device-to-device transfer: this device reads [source, +length) and `target` writes it at
   * [destination, +length) — in one copy, chunk to chunk, with both sides resolved before any
   * byte moves. The two views may belong to different hosts (RDMA across the fabric).
   */
  transferTo(
    source: BusAddress,
    target: DeviceDmaView,
    destination: BusAddress,
    length: number,
  ): { status: DmaStatus; side: 'source' | 'target' | null } {
    const from = this.resolve(source, length, false);
    if (typeof from === 'number') return { status: from, side: 'source' };
    const to = target.resolve(destination, length, true);
    if (typeof to === 'number') return { status: to, side: 'target' };
    let ti = 0;
    let tOff = 0;
    for (const r of from) {
      this.observer?.(this.name, 'read', r.physical, r.length);
      this.memory.forEachRun(r.physical, r.length, (view, _offset, n) => {
        let left = n;
        let vOff = 0;
        while (left > 0) {
          const t = to[ti]!;
          const m = Math.min(left, t.length - tOff);
          target.observer?.(target.name, 'write', t.physical + tOff, m);
          if (view) target.memory.write(t.physical + tOff, view, vOff, m);
          else target.memory.fill(t.physical + tOff, m, 0);
          left -= m;
          vOff += m;
          tOff += m;
          if (tOff === t.length) {
            ti++;
            tOff = 0;
          }
        }
      });
    }
    return { status: DMA_OK, side: null };
  }

  /** Bytes of RAM from `physical` to the end of its RAM range; 0 when it is not RAM. */
  private ramBytesFrom(physical: PhysicalAddress): number {
    let lo = 0;
    let hi = this.ram.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ram[mid]!;
      if (physical < r.base) hi = mid - 1;
      else if (physical >= r.base + r.length) lo = mid + 1;
      else return r.base + r.length - physical;
    }
    return 0;
  }
}

/** True when every byte of [address, +length) is below 4 GiB. */
export const isBelow4G = (address: number, length: number): boolean => address + length <= FOUR_GIB;
