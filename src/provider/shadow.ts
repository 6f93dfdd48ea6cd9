/**
 * Shadow registrations: what the provider does when its NIC cannot reach the user's pages
 * (a 32-bit NIC on a NOLOWMEM host, where every user page lies above 4 GiB).
 *
 * The proxy driver never hands the NIC an address it cannot reach; it answers REGISTER_BUFFER
 * with SHADOW_TRIGGER_STATUS. The provider then "asks its proxy driver to allocate physical
 * memory" ("Allocating and Releasing Memory for a SAN Proxy Driver"): a same-size low buffer
 * (IOCTL_SANPROXY_ALLOCATE_MEMORY: zeroed, mapped into this process, registered with the NIC)
 * that stands in for the user buffer on the wire. Bytes move between the two only at the
 * moments the WSD protocol makes them observable:
 *   user → shadow  before a send or RDMA write is posted from the buffer, and when a readable
 *                  buffer is exposed by WSPRegisterRdmaMemory (the peer may RDMA-read it);
 *   shadow → user  when WSPGetOverlappedResult reports a completed receive or RDMA read into
 *                  it, and at WSPDeregisterRdmaMemory of a writable buffer (the peer wrote it).
 * Every copied byte is counted (`shadowCopyBytes`): the price of the 32-bit NIC.
 */
import type { Process } from '../kernel/ps/process.ts';
import { STATUS_NOT_SUPPORTED } from '../kernel/status.ts';

/**
 * The status REGISTER_BUFFER fails with when the NIC cannot reach the pages
 * (src/proxy/interface.ts: STATUS_NOT_SUPPORTED). Only this status makes a shadow;
 * STATUS_INSUFFICIENT_RESOURCES stays WSAENOBUFS (a real shortage).
 */
export const SHADOW_TRIGGER_STATUS = STATUS_NOT_SUPPORTED;

export interface Shadow {
  /** Where the driver mapped the low buffer in this process. */
  readonly userAddress: number;
  readonly bytes: number;
  /** ALLOCATE_MEMORY id (RELEASE_MEMORY frees it). */
  readonly id: number;
}

const CHUNK = 64 * 1024;

/** Copies between a user buffer and its shadow in chunks, counting bytes. */
export class ShadowCopier {
  shadowCopyBytes = 0;
  private readonly chunk = new Uint8Array(CHUNK);

  /** Copy `length` bytes at `offset` of the registration from the user buffer into the shadow. */
  toShadow(process: Process, userAddress: number, shadow: Shadow, offset: number, length: number): void {
    this.copy(process, userAddress + offset, shadow.userAddress + offset, length);
  }

  /** Copy `length` bytes at `offset` of the registration from the shadow back to the user buffer. */
  fromShadow(process: Process, userAddress: number, shadow: Shadow, offset: number, length: number): void {
    this.copy(process, shadow.userAddress + offset, userAddress + offset, length);
  }

  /**
   * A process-context copy: both ranges are the process's own memory, so an access violation
   * (the application freed the buffer under a registration) raises as it would in user mode;
   * the provider catches it around the call ("Caching Registered Memory": every access to a
   * secured buffer inside try/except).
   */
  private copy(process: Process, from: number, to: number, length: number): void {
    for (let done = 0; done < length; ) {
      const n = Math.min(CHUNK, length - done);
      process.readMemory(from + done, this.chunk, 0, n);
      process.writeMemory(to + done, this.chunk, 0, n);
      done += n;
      this.shadowCopyBytes += n;
    }
  }
}
