/**
 * The bytes of an emulated host's physical memory.
 *
 * Implementation notes
 * - Contents are sparse: 256 KiB chunks created on first write of a non-zero byte; memory
 *   that was never written reads as zero, so a 64 GiB host costs only what it touches. A
 *   chunk in a slab (below) commits host memory only for the pages actually written, so a
 *   sparse touch costs a page of RSS and 256 KiB of address space. 256 KiB rather than 64:
 *   a large DMA is a quarter as many typed-array copies, worth 5-10% of bandwidth at
 *   128 KiB-8 MiB transfers (bench rdma); merging adjacent chunks into one bigger copy was
 *   measured slower at 2 MiB (L2-sized pieces stream better than one long copy).
 * - Nothing here knows about ownership. Freed pages keep their bytes, as real RAM does: a
 *   driver that maps a page to user mode without zeroing it leaks the previous owner's data.
 * - Every access is by physical address and may cross page and chunk boundaries; work is
 *   done per chunk with typed-array copies, never per byte. `copyFrom` moves bytes chunk to
 *   chunk between two memories (device-to-device DMA) with no staging buffer and no
 *   per-chunk closure: the data path of every RDMA transfer.
 * - Chunks are carved from 32 MiB slabs (one ArrayBuffer each), never allocated one by one.
 *   glibc serves a request that large with mmap (its dynamic mmap threshold never exceeds
 *   32 MiB), so a slab is page-aligned and committed only where written, and every chunk of
 *   every such memory has the same alignment. That matters: a copy between buffers
 *   misaligned to each other by 16 bytes runs 35-40% slower at 128-512 KiB (measured), so
 *   chunks allocated singly made DMA speed depend on allocation luck. A memory smaller than
 *   16 MiB (unit-test hosts) allocates chunk by chunk instead: V8 counts a slab as external
 *   memory, and hundreds of tiny hosts with a big slab each make it collect garbage far too
 *   often. A released chunk goes to a per-memory spare list and is zeroed when reused.
 * - `writeObserver` lets the kernel watch writes (chklowmem, the verifier); it is called once
 *   per write with the whole range, before the bytes change.
 */
import type { PhysicalAddress } from './address.ts';

export const CHUNK_SHIFT = 18;
export const CHUNK_SIZE = 1 << CHUNK_SHIFT;

/** Bytes per slab (see the notes: at least glibc's largest mmap threshold). */
export const SLAB_SIZE = 32 * 1024 * 1024;
/** Memories below this size allocate chunk by chunk (a slab is one chunk). */
const SMALL_MEMORY = 16 * 1024 * 1024;

export type WriteObserver = (address: PhysicalAddress, length: number) => void;

export class PhysicalMemory {
  private readonly chunks = new Map<number, Uint8Array>();
  private slab: ArrayBuffer | null = null;
  private readonly chunksPerSlab: number;
  /** Chunks carved from `slab` so far. */
  private slabUsed: number;
  /** Released chunks, to be zeroed and reused before carving new ones. */
  private readonly spare: Uint8Array[] = [];
  writeObserver: WriteObserver | null = null;

  /** `limit`: one past the highest physical address that can hold bytes. */
  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit <= 0) {
      throw new RangeError(`PhysicalMemory: limit must be a positive safe integer, got ${limit}`);
    }
    this.chunksPerSlab = limit >= SMALL_MEMORY ? SLAB_SIZE / CHUNK_SIZE : 1;
    this.slabUsed = this.chunksPerSlab;
  }

  /** Bytes of host memory actually holding contents. */
  get residentBytes(): number {
    return this.chunks.size * CHUNK_SIZE;
  }

  // read and write walk the chunks in a loop of their own rather than through eachChunk: they
  // run per packet on the wire paths (a frame built or placed), where a closure per call was
  // an allocation per packet.
  read(address: PhysicalAddress, dst: Uint8Array, dstOffset = 0, length = dst.length - dstOffset): void {
    this.checkRange(address, length);
    for (let done = 0; done < length; ) {
      const a = address + done;
      const index = Math.floor(a / CHUNK_SIZE);
      const within = a - index * CHUNK_SIZE;
      const n = Math.min(CHUNK_SIZE - within, length - done);
      const chunk = this.chunks.get(index);
      if (chunk) dst.set(n === CHUNK_SIZE ? chunk : chunk.subarray(within, within + n), dstOffset + done);
      else dst.fill(0, dstOffset + done, dstOffset + done + n);
      done += n;
    }
  }

  write(address: PhysicalAddress, src: Uint8Array, srcOffset = 0, length = src.length - srcOffset): void {
    this.checkRange(address, length);
    if (length === 0) return;
    this.writeObserver?.(address, length);
    for (let done = 0; done < length; ) {
      const a = address + done;
      const index = Math.floor(a / CHUNK_SIZE);
      const within = a - index * CHUNK_SIZE;
      const n = Math.min(CHUNK_SIZE - within, length - done);
      const from = srcOffset + done;
      this.chunkForWrite(index).set(from === 0 && n === src.length ? src : src.subarray(from, from + n), within);
      done += n;
    }
  }

  fill(address: PhysicalAddress, length: number, value: number): void {
    this.checkRange(address, length);
    if (length === 0) return;
    this.writeObserver?.(address, length);
    this.eachChunk(address, length, (index, within, n) => {
      const chunk = this.chunks.get(index);
      if (chunk) {
        if (value === 0 && n === CHUNK_SIZE) this.release(index, chunk);
        else chunk.fill(value, within, within + n);
      } else if (value !== 0) {
        this.chunkForWrite(index).fill(value, within, within + n);
      }
    });
  }

  /** memmove within this memory. */
  copy(dst: PhysicalAddress, src: PhysicalAddress, length: number): void {
    this.checkRange(dst, length);
    this.checkRange(src, length);
    if (length === 0 || dst === src) return;
    // Overlap-safe: stage through a temporary when the ranges overlap.
    if (src < dst + length && dst < src + length) {
      const tmp = new Uint8Array(length);
      this.read(src, tmp);
      this.write(dst, tmp);
      return;
    }
    this.copyFrom(this, src, dst, length);
  }

  /**
   * Copy [srcAddress, +length) of `source` to [dstAddress, +length) of this memory, chunk to
   * chunk. `source` may be this memory (overlap is handled as memmove). The write observer
   * sees the whole destination range once, before any byte changes. A source chunk that was
   * never written reads as zero, so its part of the destination is zero-filled exactly as
   * `fill(…, 0)` does (a whole zeroed chunk is released).
   */
  copyFrom(source: PhysicalMemory, srcAddress: PhysicalAddress, dstAddress: PhysicalAddress, length: number): void {
    source.checkRange(srcAddress, length);
    this.checkRange(dstAddress, length);
    if (length === 0) return;
    if (source === this && srcAddress < dstAddress + length && dstAddress < srcAddress + length) {
      this.copy(dstAddress, srcAddress, length);
      return;
    }
    this.writeObserver?.(dstAddress, length);
    const from = source.chunks;
    let s = srcAddress;
    let d = dstAddress;
    let left = length;
    while (left > 0) {
      const si = Math.floor(s / CHUNK_SIZE);
      const di = Math.floor(d / CHUNK_SIZE);
      const sw = s - si * CHUNK_SIZE;
      const dw = d - di * CHUNK_SIZE;
      // Both offsets advance together, so each step ends at the nearer chunk boundary.
      const n = Math.min(left, CHUNK_SIZE - (sw > dw ? sw : dw));
      const chunk = from.get(si);
      if (chunk !== undefined) {
        this.chunkForWrite(di).set(n === CHUNK_SIZE ? chunk : chunk.subarray(sw, sw + n), dw);
      } else {
        const target = this.chunks.get(di);
        if (target !== undefined) {
          if (n === CHUNK_SIZE) this.release(di, target);
          else target.fill(0, dw, dw + n);
        }
      }
      s += n;
      d += n;
      left -= n;
    }
  }

  /**
   * Visit [address, address+length) as runs inside single chunks: `view` is a live subarray
   * of the contents, or null where nothing was ever written (reads as zero). `offset` is the
   * run's position within the request. For zero-copy transfers between memories.
   */
  forEachRun(
    address: PhysicalAddress,
    length: number,
    visit: (view: Uint8Array | null, offset: number, length: number) => void,
  ): void {
    this.checkRange(address, length);
    this.eachChunk(address, length, (index, within, n, done) => {
      const chunk = this.chunks.get(index);
      visit(chunk ? chunk.subarray(within, within + n) : null, done, n);
    });
  }

  /** True when no byte of the range was ever written with a non-zero value (or was zeroed). */
  isUntouched(address: PhysicalAddress, length: number): boolean {
    let untouched = true;
    this.forEachRun(address, length, (view) => {
      if (view && untouched) untouched = view.every((b) => b === 0);
    });
    return untouched;
  }

  /**
   * Split [address, +length) at chunk boundaries: `visit` gets the chunk's index, the run's
   * offset in the chunk, its length and its offset in the request.
   */
  private eachChunk(
    address: PhysicalAddress,
    length: number,
    visit: (index: number, within: number, n: number, done: number) => void,
  ): void {
    let done = 0;
    while (done < length) {
      const a = address + done;
      const index = Math.floor(a / CHUNK_SIZE);
      const within = a - index * CHUNK_SIZE;
      const n = Math.min(CHUNK_SIZE - within, length - done);
      visit(index, within, n, done);
      done += n;
    }
  }

  private chunkForWrite(index: number): Uint8Array {
    let chunk = this.chunks.get(index);
    if (chunk === undefined) {
      chunk = this.spare.pop();
      if (chunk !== undefined) chunk.fill(0);
      else {
        if (this.slabUsed === this.chunksPerSlab) {
          this.slab = new ArrayBuffer(this.chunksPerSlab * CHUNK_SIZE);
          this.slabUsed = 0;
        }
        chunk = new Uint8Array(this.slab!, this.slabUsed * CHUNK_SIZE, CHUNK_SIZE);
        this.slabUsed++;
      }
      this.chunks.set(index, chunk);
    }
    return chunk;
  }

  private release(index: number, chunk: Uint8Array): void {
    this.chunks.delete(index);
    this.spare.push(chunk);
  }

  private checkRange(address: number, length: number): void {
    if (!Number.isSafeInteger(address) || !Number.isSafeInteger(length) || address < 0 || length < 0 ||
        address + length > this.limit) {
      throw new RangeError(
        `physical access [${address}, +${length}) is outside [0, ${this.limit}) or not an integer range`,
      );
    }
  }
}
