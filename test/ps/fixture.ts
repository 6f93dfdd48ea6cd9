/** Shared set-up for the process / MDL / secure memory tests. */
import { Kernel, type KernelConfig } from '../../src/kernel/kernel.ts';
import { NtStatusError } from '../../src/kernel/status.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/virtual-memory.ts';
import type { Process } from '../../src/kernel/ps/process.ts';
export { bugCheckOf } from '../bug-check.ts';

export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;

export function boot(extra: Partial<KernelConfig> = {}): Kernel {
  return Kernel.boot({ ramBytes: 256 * MIB, nolowmem: false, ...extra });
}

/** A committed read-write buffer in `p`. */
export function buffer(p: Process, bytes: number): number {
  const va = p.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (va === 0) throw new Error(`VirtualAlloc(${bytes}) failed: ${p.lastError}`);
  return va;
}

/** Run fn and return the NTSTATUS it raised (fails the test if it did not raise). */
export function raisedStatus(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof NtStatusError) return e.status >>> 0;
    throw e;
  }
  throw new Error('expected a raised NTSTATUS, nothing was raised');
}


/**
 * The memory counters that must return to their boot values after a clean teardown. Pages only
 * lookaside-cached pool blocks hold (an IRP or MDL the I/O manager's lists keep) count as free,
 * their mappings as gone: the lists' to give back, not a leak (src/host/accounting.ts).
 */
export function bootState(k: Kernel) {
  const c = k.mm.counters();
  return {
    freePages: c.freePages + c.lookasideReclaimablePages,
    activePages: c.activePages - c.lookasideReclaimablePages,
    lockedPages: c.lockedPages,
    deletePendingPages: c.deletePendingPages,
    ownersLive: c.ownersLive,
    systemMappings: c.systemMappings - c.lookasideReclaimableMappings,
  };
}
