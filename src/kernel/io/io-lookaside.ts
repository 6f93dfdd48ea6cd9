/**
 * The I/O manager's lookaside lists: small IRPs (one stack location), large IRPs (up to
 * IopLargeIrpStackLocations) and fixed-size MDLs, and the packet allocator and free routine that
 * use them. [kernel: "Using Lookaside Lists"; ddi/wdm nf-wdm-ioallocateirp, nf-wdm-iofreeirp,
 * nf-wdm-ioallocatemdl, nf-wdm-iofreemdl]
 *
 * Implementation notes
 * - IopInitLookasideLists (ReactOS ntoskrnl/io/iomgr/iomgr.c) creates three system lists on
 *   ExSystemLookasideListHead: large IRPs of sizeof(IRP) + 8 stack locations (MaximumDepth 64),
 *   small IRPs of sizeof(IRP) + one location (32), MDLs of sizeof(MDL) + 23 PFNs (128, tag
 *   'Mdl '); each processor's PRCB gets the LookasideIrpFloat, 512 / KeNumberProcessors
 *   (DEFAULT_LOOKASIDE_IRP_LIMIT 512). Windows keeps a per-processor (P) list in front of each
 *   system-wide (L) list; the model has one processor and keeps the system-wide list only (a
 *   P-list miss that finds the L-list entry is one hit here). Depth starts at
 *   ExMinimumLookasideDepth (4; 0 under Driver Verifier, so nothing is cached and every packet is
 *   an ordinary pool block Pool Tracking sees); the balance set manager retunes it (ex/lookaside.ts).
 * - IoAllocateIrp (IopAllocateIrpPrivate as the Windows Research Kernel's iomgr/iosubs.c and
 *   ReactOS's io/iomgr/irp.c show it): a packet of at most 8 locations, asked for without quota
 *   or while the processor's LookasideIrpFloat is positive, is fixed size
 *   (IRP_ALLOCATED_FIXED_SIZE) and comes from the small list (StackSize 1) or the large list
 *   (2..8, the packet then has the large size: Irp->Size = IoSizeOfIrp(8), kmtests IoIrp.c only
 *   promises Size >= IoSizeOfIrp(StackSize)). A list miss (AllocateMisses + 1) falls back to
 *   nonpaged pool of the same size, charged to the process with ChargeQuota
 *   (IRP_QUOTA_CHARGED). A hit with ChargeQuota takes one unit of the float and is marked
 *   IRP_LOOKASIDE_ALLOCATION (and charges no quota) — kmtests IoIrp.c records
 *   IoAllocateIrp(2, TRUE) with both flags on a running system, whose lists are never empty.
 * - IoFreeIrp: IRP_LOOKASIDE_ALLOCATION gives its float unit back; a packet that is not fixed
 *   size (or was a must-succeed allocation), or whose Size is neither list's entry size, goes to
 *   pool; otherwise it is pushed while the list holds fewer than Depth entries (TotalFrees + 1;
 *   the quota of a quota-charged pool packet is returned first, ExReturnPoolQuota), else
 *   FreeMisses + 1 and pool.
 * - A cached packet is allocated pool that the list owns: pool.ts attributes it to the list and
 *   leak accounting counts it (and the pages only such packets hold) as the list's, not a leak.
 */
import { NPAGED_LOOKASIDE_LIST } from '../ex/lookaside.ts';
import type { Kernel } from '../kernel.ts';
import { FIXED_SIZE_MDL_PAGES, SIZEOF_MDL, TAG_MDL } from '../mm/mdl.ts';
import { NonPagedPool, poolTag } from '../mm/pool.ts';
import { freePool, TAG_IRP } from './io-pool.ts';
import {
  IoSizeOfIrp, IRP_ALLOCATED_FIXED_SIZE, IRP_ALLOCATED_MUST_SUCCEED, IRP_LOOKASIDE_ALLOCATION, IRP_QUOTA_CHARGED, type IRP,
} from './irp.ts';

/** IopLargeIrpStackLocations by default (DEFAULT_LARGE_IRP_LOCATIONS): the large list's packets have 8 locations. */
export const LARGE_IRP_STACK_LOCATIONS = 8;
/** DEFAULT_LOOKASIDE_IRP_LIMIT: quota-charged IRPs that may come from the lists at once (one processor). */
export const LOOKASIDE_IRP_FLOAT = 512;
/** MaximumDepth of the system lists (IopInitLookasideLists). */
export const LARGE_IRP_LOOKASIDE_MAXIMUM_DEPTH = 64;
export const SMALL_IRP_LOOKASIDE_MAXIMUM_DEPTH = 32;
export const MDL_LOOKASIDE_MAXIMUM_DEPTH = 128;
/** Entry sizes of the lists. */
export const SMALL_IRP_SIZE = IoSizeOfIrp(1);
export const LARGE_IRP_SIZE = IoSizeOfIrp(LARGE_IRP_STACK_LOCATIONS);
export const FIXED_SIZE_MDL_BYTES = SIZEOF_MDL + FIXED_SIZE_MDL_PAGES * 8;
/**
 * The IRP lists' Tag fields (IO_LARGEIRP, IO_SMALLIRP in ReactOS's tag.h). Informational: the I/O
 * manager allocates a packet on a miss itself, tagged 'Irp ' like every IRP.
 */
const TAG_LARGE_IRP = poolTag('Irpl');
const TAG_SMALL_IRP = poolTag('Irps');

/** The I/O manager's lists (IoLargeIrpLookaside, IoSmallIrpLookaside, IopMdlLookasideList) and the IRP float. */
export class IoLookasideLists {
  readonly largeIrp = new NPAGED_LOOKASIDE_LIST();
  readonly smallIrp = new NPAGED_LOOKASIDE_LIST();
  readonly mdl = new NPAGED_LOOKASIDE_LIST();
  /** PRCB LookasideIrpFloat: quota-charged packets the lists may still hand out. */
  lookasideIrpFloat = LOOKASIDE_IRP_FLOAT;
  initialized = false;
  /**
   * The IRP object of each packet an IRP list caches, by address: the memory is the IRP, so the
   * next IoAllocateIrp that takes the packet reinitializes that object (irp.ts reinitializeIrp)
   * rather than building another — what keeps a request from leaving a packet's worth of garbage.
   */
  readonly packets = new Map<number, IRP>();
}

/** IopInitLookasideLists: the three system lists, at boot. */
export function IopInitLookasideLists(k: Kernel, lists: IoLookasideLists): void {
  if (lists.initialized) return;
  k.lookaside.initializeSystemList(lists.largeIrp, NonPagedPool, LARGE_IRP_SIZE, TAG_LARGE_IRP, LARGE_IRP_LOOKASIDE_MAXIMUM_DEPTH);
  k.lookaside.initializeSystemList(lists.smallIrp, NonPagedPool, SMALL_IRP_SIZE, TAG_SMALL_IRP, SMALL_IRP_LOOKASIDE_MAXIMUM_DEPTH);
  k.lookaside.initializeSystemList(lists.mdl, NonPagedPool, FIXED_SIZE_MDL_BYTES, TAG_MDL, MDL_LOOKASIDE_MAXIMUM_DEPTH);
  lists.initialized = true;
}

/** Where a packet of `stackSize` locations comes from: its list and entry size, or null for pool. */
export function irpLookasideFor(lists: IoLookasideLists, stackSize: number, chargeQuota: boolean):
  { list: NPAGED_LOOKASIDE_LIST; size: number } | null {
  if (stackSize > LARGE_IRP_STACK_LOCATIONS || (chargeQuota && lists.lookasideIrpFloat <= 0)) return null;
  return stackSize === 1 ? { list: lists.smallIrp, size: SMALL_IRP_SIZE } : { list: lists.largeIrp, size: LARGE_IRP_SIZE };
}

/**
 * IoFreeIrp's disposal of a packet from IoAllocateIrp (see the notes): its list when it is a
 * fixed-size packet of a list's size and the list has room, else pool. The IRP object is dead
 * afterwards (Type 0, unregistered from the pool).
 */
export function iopFreeIrpPacket(k: Kernel, irp: IRP): void {
  const lists = k.io.lookasideLists;
  irp.Type = 0;
  k.mm.pool.unregisterObject(irp);
  if ((irp.AllocationFlags & IRP_LOOKASIDE_ALLOCATION) !== 0) {
    irp.AllocationFlags ^= IRP_LOOKASIDE_ALLOCATION;
    lists.lookasideIrpFloat++;
  }
  const flags = irp.AllocationFlags;
  const list = irp.Size === SMALL_IRP_SIZE ? lists.smallIrp : irp.Size === LARGE_IRP_SIZE ? lists.largeIrp : null;
  if ((flags & IRP_ALLOCATED_FIXED_SIZE) === 0 || (flags & IRP_ALLOCATED_MUST_SUCCEED) !== 0 || list === null ||
      !k.lookaside.pushSystemEntry(list, irp.address)) {
    freePool(k, irp.address, TAG_IRP);
    return;
  }
  // Cached: the quota a pool-allocated packet was charged goes back now (ExReturnPoolQuota).
  if ((flags & IRP_QUOTA_CHARGED) !== 0) {
    irp.AllocationFlags ^= IRP_QUOTA_CHARGED;
    k.mm.pool.returnQuota(irp.address);
  }
  lists.packets.set(irp.address, irp);
}

/** The IRP object of a packet just popped from an IRP list, if the list's packet had one. */
export function takeCachedPacket(lists: IoLookasideLists, address: number): IRP | undefined {
  const irp = lists.packets.get(address);
  if (irp !== undefined) lists.packets.delete(address);
  return irp;
}
