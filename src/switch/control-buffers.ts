/**
 * Pools of control-message buffers in registered memory ("Using the Session Protocol").
 *
 * Implementation notes
 * - A pool is one virtually contiguous region of `count` equal slots in the application
 *   process, committed with VirtualAlloc and registered once with WSPRegisterMemory on the
 *   connection's socket (the switch registers two regions per socket, one for the messages
 *   it sends and one for the receives it posts: "Registering Memory for Operations on a SAN"). When the socket's NIC cannot reach
 *   the process's pages, the provider backs the region with proxy low memory — the switch
 *   does not need to know.
 * - Free slots are a stack in an Int32Array: acquire and release are O(1), no object per slot.
 * - Creation is all-or-nothing: a failed registration frees the region and reports the WSA
 *   error (WSAENOBUFS when the proxy or NIC is out of memory).
 */
import type { Process } from '../kernel/ps/process.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../kernel/mm/virtual-memory.ts';
import { ref } from '../kernel/ref.ts';
import { MEM_READWRITE, NO_ERROR, WSAEFAULT, WSAENOBUFS, type SanServiceProvider } from '../provider/index.ts';

/** The smallest control buffer a pool makes (a header and some payload). */
export const MIN_SLOT_BYTES = 64;

export class ControlBufferPool {
  private readonly free: Int32Array;
  private top: number;
  private destroyed = false;

  private constructor(
    private readonly provider: SanServiceProvider,
    private readonly process: Process,
    readonly socket: number,
    /** Base of the region in the process. */
    readonly base: number,
    /** WSPRegisterMemory handle of the whole region. */
    readonly handle: number,
    readonly slotBytes: number,
    readonly count: number,
  ) {
    this.free = new Int32Array(count);
    for (let i = 0; i < count; i++) this.free[i] = count - 1 - i;
    this.top = count;
  }

  /** Allocate and register a pool on socket `s`. Returns the pool or a WSA error. */
  static create(provider: SanServiceProvider, process: Process, s: number, slotBytes: number, count: number): ControlBufferPool | number {
    if (!Number.isSafeInteger(slotBytes) || slotBytes < MIN_SLOT_BYTES || !Number.isSafeInteger(count) || count < 1) {
      throw new RangeError(`ControlBufferPool: slotBytes ${slotBytes} (>= ${MIN_SLOT_BYTES}) and count ${count} (>= 1) must be integers`);
    }
    const bytes = slotBytes * count;
    const base = process.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (base === 0) return WSAENOBUFS;
    const e = ref(0);
    const handle = provider.WSPRegisterMemory(s, base, bytes, MEM_READWRITE, e);
    if (handle === null) {
      process.VirtualFree(base, 0, MEM_RELEASE);
      return e.value === NO_ERROR ? WSAENOBUFS : e.value;
    }
    return new ControlBufferPool(provider, process, s, base, handle, slotBytes, count);
  }

  get available(): number {
    return this.top;
  }

  /** A free slot index, or -1 when all are in use. */
  acquire(): number {
    if (this.top === 0) return -1;
    return this.free[--this.top]!;
  }

  release(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.count || this.top >= this.count) {
      throw new RangeError(`ControlBufferPool: release of slot ${slot} (count ${this.count}, free ${this.top})`);
    }
    this.free[this.top++] = slot;
  }

  address(slot: number): number {
    return this.base + slot * this.slotBytes;
  }

  /** WSABUFEX for `length` bytes of `slot`. */
  buffer(slot: number, length = this.slotBytes): { len: number; buf: number; handle: number } {
    return { len: length, buf: this.address(slot), handle: this.handle };
  }

  /**
   * Deregister and free the region. `deregister` false: the socket is already closed (the
   * provider released the registration with it), only the memory goes.
   */
  destroy(deregister: boolean): number {
    if (this.destroyed) return NO_ERROR;
    let error = NO_ERROR;
    if (deregister) {
      const e = ref(0);
      if (this.provider.WSPDeregisterMemory(this.socket, this.handle, e) !== 0) error = e.value;
    }
    // With the registration gone (or parked in the provider's cache, which the secured-range
    // notification releases now) the pages can go back.
    if (this.process.state === 'running' && !this.process.VirtualFree(this.base, 0, MEM_RELEASE) && error === NO_ERROR) {
      error = WSAEFAULT;
    }
    this.destroyed = true;
    return error;
  }
}
