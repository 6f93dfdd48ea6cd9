/**
 * The buffers the I/O manager hangs off an IRP for its requester: the system buffer of
 * buffered I/O (Irp->AssociatedIrp.SystemBuffer) and the MDL chain of direct I/O
 * (Irp->MdlAddress). One way to attach each and one way to release both, for user requests
 * (io-requests.ts), IoBuildDeviceIoControlRequest (irp-alloc.ts) and completion
 * (irp-completion.ts), so the outstanding counters always balance.
 */
import type { Kernel } from '../kernel.ts';
import { IoAllocateMdl, IoFreeMdl, MmUnlockPages, MDL_PAGES_LOCKED, type Mdl } from '../mm/mdl.ts';
import { allocateNonPaged, freePool, TAG_SYSTEM_BUFFER } from './io-pool.ts';
import { IRP_BUFFERED_IO, IRP_DEALLOCATE_BUFFER, type IRP } from './irp.ts';

/**
 * Give `irp` a nonpaged system buffer of `size` bytes (uninitialized, as in Windows), to be
 * freed with the IRP. False when the pool has none; true with no buffer when `size` is 0.
 */
export function attachSystemBuffer(k: Kernel, irp: IRP, size: number): boolean {
  if (size === 0) return true;
  const va = allocateNonPaged(k, size, TAG_SYSTEM_BUFFER, false);
  if (va === null) return false;
  irp.AssociatedIrp.SystemBuffer = va;
  irp.Flags |= IRP_BUFFERED_IO | IRP_DEALLOCATE_BUFFER;
  k.io.systemBuffersOutstanding++;
  return true;
}

/** An MDL for [va, va + length) as Irp->MdlAddress (not yet probed), or null. */
export function attachMdl(k: Kernel, irp: IRP, va: number, length: number): Mdl | null {
  const mdl = IoAllocateMdl(k, va, length, false, false, irp);
  if (mdl !== null) k.io.mdlsOutstanding++;
  return mdl;
}

/**
 * Free the system buffer (when the I/O manager allocated it) and every MDL of the chain,
 * unlocking locked pages first. `freed` sees each MDL after it is freed.
 */
export function releaseIrpBuffers(k: Kernel, irp: IRP, freed?: (mdl: Mdl) => void): void {
  const io = k.io;
  if ((irp.Flags & IRP_DEALLOCATE_BUFFER) !== 0 && irp.AssociatedIrp.SystemBuffer !== null) {
    freePool(k, irp.AssociatedIrp.SystemBuffer, TAG_SYSTEM_BUFFER);
    irp.AssociatedIrp.SystemBuffer = null;
    io.systemBuffersOutstanding--;
  }
  for (let mdl = irp.MdlAddress; mdl !== null; ) {
    const next = mdl.Next;
    if ((mdl.MdlFlags & MDL_PAGES_LOCKED) !== 0) MmUnlockPages(k, mdl);
    IoFreeMdl(k, mdl);
    freed?.(mdl);
    io.mdlsOutstanding--;
    mdl = next;
  }
  irp.MdlAddress = null;
}
