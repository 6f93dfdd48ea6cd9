/**
 * The I/O manager's pool use, in one place: IRPs, file objects, device objects and system
 * buffers are nonpaged pool blocks with the I/O manager's tags, so `!poolused`-style
 * accounting (k.mm.pool.tags()) and the fault-injection point see them.
 */
import type { Kernel } from '../kernel.ts';
import { ExAllocatePool2, ExFreePoolWithTag, POOL_FLAG_NON_PAGED, POOL_FLAG_UNINITIALIZED, poolTag } from '../mm/pool.ts';

export const TAG_IRP = poolTag('Irp ');
export const TAG_FILE = poolTag('File');
export const TAG_DEVICE = poolTag('Devi');
/** System buffers of buffered I/O (our choice of tag; Windows charges them to the caller). */
export const TAG_SYSTEM_BUFFER = poolTag('IoSb');

/** Nonpaged, optionally uninitialized: a VA or null (allocation failed or was failed on purpose). */
export function allocateNonPaged(k: Kernel, bytes: number, tag: number, initialized: boolean): number | null {
  const flags = POOL_FLAG_NON_PAGED | (initialized ? 0 : POOL_FLAG_UNINITIALIZED);
  const va = ExAllocatePool2(k, flags, bytes, tag);
  return va === null || va === 0 ? null : va;
}

export function freePool(k: Kernel, va: number, tag: number): void {
  ExFreePoolWithTag(k, va, tag);
}
