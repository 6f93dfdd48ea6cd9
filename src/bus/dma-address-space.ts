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
import type { BusAddress, PhysicalAddress } from './address.ts';
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

/**
 * THE scatter/gather run list of the bus and of every device on it: runs (address, length) in
 * two growable Float64Arrays, the allocation-free form of `DmaRun[]` for the data path. The
 * addresses are in whatever space the stage works in: bus addresses as a device emits them (a
 * NIC's gather list, built from its translation table) or physical addresses once a view has
 * resolved them (`resolveInto`). Reused across transfers; `push` merges a run that continues
 * the previous one, so a contiguous buffer is one run however many pages it spans.
 */
export class DmaRunList {
  address: Float64Array;
  length: Float64Array;
  count = 0;
  total = 0;

  constructor(capacity = 16) {
    this.address = new Float64Array(capacity);
    this.length = new Float64Array(capacity);
  }

  clear(): void {
    this.count = 0;
    this.total = 0;
  }

  /** Append a run, merging it into the last one when it continues it. */
  push(address: number, length: number): void {
    const last = this.count - 1;
    if (last >= 0 && this.address[last]! + this.length[last]! === address) {
      this.length[last] = this.length[last]! + length;
      this.total += length;
    } else this.add(address, length);
  }

  /** Append a run as its own entry. */
  add(address: number, length: number): void {
    if (this.count === this.address.length) this.grow();
    this.address[this.count] = address;
    this.length[this.count] = length;
    this.count++;
    this.total += length;
  }

  /**
   * Append the runs that hold bytes [offset, offset + length) of `from`, the first and last
   * cut to fit (a packet's share of a message's list). `from` is walked from its first run:
   * lists are short.
   */
  pushRange(from: DmaRunList, offset: number, length: number): void {
    if (from === this) throw new Error('DmaRunList.pushRange: a list cannot take a range of itself');
    let skip = offset;
    let left = length;
    for (let i = 0; i < from.count && left > 0; i++) {
      const len = from.length[i]!;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      const take = Math.min(len - skip, left);
      this.push(from.address[i]! + skip, take);
      left -= take;
      skip = 0;
    }
  }

  /** Drop every run pushed after the list held `count` runs and `total` bytes. */
  truncate(count: number, total: number, lastLength: number): void {
    this.count = count;
    this.total = total;
    if (count > 0) this.length[count - 1] = lastLength;
  }

  private grow(): void {
    const a = new Float64Array(this.address.length * 2);
    const l = new Float64Array(this.address.length * 2);
    a.set(this.address);
    l.set(this.length);
    this.address = a;
    this.length = l;
  }
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
    const list = new DmaRunList(4);
    const status = this.resolveInto(address, length, write, list);
    if (status !== DMA_OK) return status;
    const runs: DmaRun[] = new Array(list.count);
    for (let i = 0; i < list.count; i++) runs[i] = { physical: list.address[i]!, length: list.length[i]! };
    return runs;
  }

  /**
   * `resolve` into a reusable run list: appends the runs of [address, +length) to `out`
   * (merging with its last run when physically contiguous) and returns DMA_OK, or returns the
   * failure status with `out` exactly as it was. Nothing is touched.
   */
  resolveInto(address: BusAddress, length: number, write: boolean, out: DmaRunList): DmaStatus {
    if (!Number.isSafeInteger(address) || !Number.isSafeInteger(length) || address < 0 || length < 0) {
      return DMA_MASTER_ABORT;
    }
    const count = out.count;
    const total = out.total;
    const lastLength = count > 0 ? out.length[count - 1]! : 0;
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
          out.truncate(count, total, lastLength);
          return DMA_IOMMU_FAULT;
        }
        physical = t.physical;
        n = Math.min(n, t.length);
      }
      const ramLeft = this.ramBytesFrom(physical);
      if (ramLeft === 0) {
        out.truncate(count, total, lastLength);
        return DMA_MASTER_ABORT;
      }
      n = Math.min(n, ramLeft);
      out.push(physical, n);
      done += n;
    }
    return DMA_OK;
  }

  /**
   * The physical address of [address, +length) when the whole range is ONE physically
   * contiguous run that needs no translation (no IOMMU, no wrap, one RAM range); otherwise -1,
   * and `resolveInto` gives the runs or the failure. Nothing is touched. The data path's
   * shortcut for the common case.
   */
  resolveContiguous(address: BusAddress, length: number): PhysicalAddress {
    if (this.iommu !== null || !Number.isSafeInteger(address) || !Number.isSafeInteger(length) || address < 0 ||
        length <= 0) {
      return -1;
    }
    const emitted = this.emitted(address);
    if (this.addressBits < 53 && emitted + length > 2 ** this.addressBits) return -1;
    return this.ramBytesFrom(emitted) >= length ? emitted : -1;
  }

  read(address: BusAddress, dst: Uint8Array, dstOffset = 0, length = dst.length - dstOffset): DmaStatus {
    return this.access(address, dst, dstOffset, length, false);
  }

  write(address: BusAddress, src: Uint8Array, srcOffset = 0, length = src.length - srcOffset): DmaStatus {
    return this.access(address, src, srcOffset, length, true);
  }

  /** Resolve the whole range first, then move the bytes run by run (the observer sees each run). */
  private access(address: BusAddress, bytes: Uint8Array, offset: number, length: number, write: boolean): DmaStatus {
    const runs = this.resolve(address, length, write);
    if (typeof runs === 'number') return runs;
    let at = offset;
    for (const r of runs) {
      this.observer?.(this.name, write ? 'write' : 'read', r.physical, r.length);
      if (write) this.memory.write(r.physical, bytes, at, r.length);
      else this.memory.read(r.physical, bytes, at, r.length);
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
    const from = new DmaRunList(4);
    const to = new DmaRunList(4);
    const fromStatus = this.resolveInto(source, length, false, from);
    if (fromStatus !== DMA_OK) return { status: fromStatus, side: 'source' };
    const toStatus = target.resolveInto(destination, length, true, to);
    if (toStatus !== DMA_OK) return { status: toStatus, side: 'target' };
    copyDmaRunList(this, from, target, to);
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

/**
 * Move bytes read by `source` from the physical runs `from` to the physical runs `to` written
 * by `target` (runs already resolved by each view, so nothing can fail half-way), chunk to
 * chunk without an intermediate buffer and with no allocation or closure per run. Target
 * observer first for every run (before any byte moves), then per source run the source
 * observer and the copy, memory to memory (PhysicalMemory.copyFrom). The two lists must cover
 * the same number of bytes.
 */
export function copyDmaRunList(source: DeviceDmaView, from: DmaRunList, target: DeviceDmaView, to: DmaRunList): void {
  if (from.total !== to.total) {
    throw new RangeError(`copyDmaRunList: source runs cover ${from.total} bytes but target runs ${to.total}`);
  }
  const targetObserver = target.observer;
  if (targetObserver !== null) {
    for (let i = 0; i < to.count; i++) targetObserver(target.name, 'write', to.address[i]!, to.length[i]!);
  }
  const sourceObserver = source.observer;
  const sourceMemory = source.memory;
  const targetMemory = target.memory;
  let ti = 0;
  let tOff = 0;
  for (let fi = 0; fi < from.count; fi++) {
    const fPhys = from.address[fi]!;
    const fLen = from.length[fi]!;
    sourceObserver?.(source.name, 'read', fPhys, fLen);
    let done = 0;
    while (done < fLen) {
      const tLen = to.length[ti]!;
      const m = Math.min(fLen - done, tLen - tOff);
      targetMemory.copyFrom(sourceMemory, fPhys + done, to.address[ti]! + tOff, m);
      done += m;
      tOff += m;
      if (tOff === tLen) {
        ti++;
        tOff = 0;
      }
    }
  }
}

/**
 * `copyDmaRunList` for one run on each side (both from `resolveContiguous`): the same
 * observer calls in the same order, then one memory-to-memory copy.
 */
export function copyDmaRun(
  source: DeviceDmaView,
  from: PhysicalAddress,
  target: DeviceDmaView,
  to: PhysicalAddress,
  length: number,
): void {
  target.observer?.(target.name, 'write', to, length);
  source.observer?.(source.name, 'read', from, length);
  target.memory.copyFrom(source.memory, from, to, length);
}

