/**
 * IoAllocateIrp / IoSizeOfIrp / IoInitializeIrp / IoReuseIrp / IoFreeIrp.
 * Sources: WDK "IoAllocateIrp function (wdm.h)", "IoSizeOfIrp macro (wdm.h)", "IoInitializeIrp function
 * (wdm.h)", "IoReuseIrp function (wdm.h)", "IoFreeIrp function (wdm.h)", "Bug Check 0x44
 * MULTIPLE_IRP_COMPLETE_REQUESTS", "Bug Check 0xC4" (0x105: ExFreePool on an IRP);
 * ReactOS kmtests modules/rostests/kmtests/ntos_io/IoIrp.c (IoInitializeIrp(Irp, Size, 5): Type 6,
 * Size, StackCount 5, CurrentLocation 6, CurrentStackLocation one past the last location;
 * IoAllocateIrp(2, FALSE): Type 6, Size >= IoSizeOfIrp(2), StackCount 2, CurrentLocation 3,
 * IRP_ALLOCATED_FIXED_SIZE, not IRP_LOOKASIDE_ALLOCATION; IoAllocateIrp(2, TRUE): both);
 * the IRP lookaside lists: Windows Research Kernel base/ntos/io/iomgr/iosubs.c (IopAllocateIrpPrivate:
 * fixed size for StackSize <= IopLargeIrpStackLocations without quota or with LookasideIrpFloat > 0,
 * IRP_LOOKASIDE_ALLOCATION on a quota hit, IRP_QUOTA_CHARGED on a quota miss), ReactOS
 * ntoskrnl/io/iomgr/irp.c (IoAllocateIrp, IoFreeIrp) and iomgr.c (IopInitLookasideLists: sizes,
 * MaximumDepth 64 / 32, LookasideIrpFloat 512 / processors);
 * Wine dlls/ntoskrnl.exe/tests/driver.c test_irp_struct (IoAllocateIrp(1, FALSE): AllocationFlags ==
 * IRP_ALLOCATED_FIXED_SIZE, CurrentLocation 2; IoReuseIrp: CurrentLocation 2, AllocationFlags kept).
 */
import { describe, expect, it } from 'vitest';
import {
  IO_TYPE_IRP, IoAllocateIrp, IoFreeIrp, IoInitializeIrp, IoReuseIrp, IoSizeOfIrp, IRP_ALLOCATED_FIXED_SIZE, IRP_LOOKASIDE_ALLOCATION,
  IoGetNextIrpStackLocation, KernelMode,
} from '../../src/kernel/io/index.ts';
import { IRP_QUOTA_CHARGED, SIZEOF_IO_STACK_LOCATION, SIZEOF_IRP } from '../../src/kernel/io/irp.ts';
import { LARGE_IRP_STACK_LOCATIONS, LOOKASIDE_IRP_FLOAT } from '../../src/kernel/io/io-lookaside.ts';
import { lookasideCachedCount, MINIMUM_LOOKASIDE_DEPTH } from '../../src/kernel/ex/index.ts';
import { ExAllocatePool2, ExFreePool, ExQueryPoolBlockSize, POOL_FLAG_NON_PAGED, poolTag } from '../../src/kernel/mm/pool.ts';
import { ref } from '../../src/kernel/ref.ts';
import { DRIVER_VERIFIER_DETECTED_VIOLATION, MULTIPLE_IRP_COMPLETE_REQUESTS, IRQL_NOT_LESS_OR_EQUAL } from '../../src/kernel/bugcheck.ts';
import { DISPATCH_LEVEL } from '../../src/kernel/irql.ts';
import { STATUS_ACCESS_VIOLATION, STATUS_CANCELLED, STATUS_PENDING } from '../../src/kernel/status.ts';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MIB } from '../../src/bus/index.ts';
import { raisedStatus } from '../ps/fixture.ts';
import { expectBugCheck, fingerprint, poolBlocksInUse, small } from './helpers.ts';

describe('IoSizeOfIrp', () => {
  it('is sizeof(IRP) + StackSize * sizeof(IO_STACK_LOCATION) for x64: 0xD0 + n * 0x48, a USHORT', () => {
    expect([SIZEOF_IRP, SIZEOF_IO_STACK_LOCATION]).toEqual([0xd0, 0x48]);
    expect(IoSizeOfIrp(1)).toBe(0x118);
    expect(IoSizeOfIrp(2)).toBe(0x160);
    expect(IoSizeOfIrp(5)).toBe(0xd0 + 5 * 0x48);
    expect(IoSizeOfIrp(127)).toBe((0xd0 + 127 * 0x48) & 0xffff);
  });
});

describe('IoAllocateIrp', () => {
  it('(2, FALSE): Type 6, Size of the large-IRP entry (>= IoSizeOfIrp(2)), StackCount 2, CurrentLocation 3, IRP_ALLOCATED_FIXED_SIZE only (kmtests IoIrp.c)', () => {
    const k = small();
    const irp = IoAllocateIrp(k, 2, false)!;
    expect(irp.Type).toBe(IO_TYPE_IRP);
    expect(irp.Type).toBe(6);
    // kmtests IoIrp.c: "Irp size should be more or equal to" IoSizeOfIrp(2) — the packet is the
    // large list's entry, sizeof(IRP) + 8 locations (ReactOS iomgr.c IopInitLookasideLists).
    expect(irp.Size).toBeGreaterThanOrEqual(IoSizeOfIrp(2));
    expect(irp.Size).toBe(IoSizeOfIrp(LARGE_IRP_STACK_LOCATIONS));
    expect(irp.StackCount).toBe(2);
    expect(irp.CurrentLocation).toBe(3);
    expect(irp.AllocationFlags & IRP_ALLOCATED_FIXED_SIZE).toBe(IRP_ALLOCATED_FIXED_SIZE);
    expect(irp.AllocationFlags & IRP_LOOKASIDE_ALLOCATION).toBe(0);
    // CurrentStackLocation points one past the last location until the first IoCallDriver.
    expect(irp.Tail.Overlay.CurrentStackLocation).toBeNull();
    expect(IoGetNextIrpStackLocation(irp)).toBe(irp.Stack[1]);
    expect([irp.MdlAddress, irp.AssociatedIrp.SystemBuffer, irp.IoStatus.Status, irp.RequestorMode, irp.Cancel])
      .toEqual([null, null, 0, KernelMode, false]);
    IoFreeIrp(k, irp);
  });

  it('(2, TRUE) from a list that holds a packet is IRP_ALLOCATED_FIXED_SIZE | IRP_LOOKASIDE_ALLOCATION (kmtests IoIrp.c on a running system); (1, FALSE) is exactly IRP_ALLOCATED_FIXED_SIZE, CurrentLocation 2 (Wine driver.c)', () => {
    const k = small();
    IoFreeIrp(k, IoAllocateIrp(k, 2, false)!); // a running system's large-IRP list is never empty
    const quota = IoAllocateIrp(k, 2, true)!;
    expect(quota.AllocationFlags).toBe(IRP_ALLOCATED_FIXED_SIZE | IRP_LOOKASIDE_ALLOCATION);
    const one = IoAllocateIrp(k, 1, false)!;
    expect(one.AllocationFlags).toBe(IRP_ALLOCATED_FIXED_SIZE);
    expect(one.CurrentLocation).toBe(2);
    expect(one.Size).toBe(IoSizeOfIrp(1));
    IoFreeIrp(k, quota);
    IoFreeIrp(k, one);
  });

  it('ChargeQuota with the list empty: a quota-charged pool packet, IRP_ALLOCATED_FIXED_SIZE | IRP_QUOTA_CHARGED; cached at IoFreeIrp with its quota returned (WRK iosubs.c IopAllocateIrpPrivate / IoFreeIrp)', () => {
    const k = small();
    const irp = IoAllocateIrp(k, 3, true)!;
    expect(irp.AllocationFlags).toBe(IRP_ALLOCATED_FIXED_SIZE | IRP_QUOTA_CHARGED);
    const charged = ref(false);
    ExQueryPoolBlockSize(k, irp.address, charged);
    expect(charged.value).toBe(true);
    const address = irp.address;
    IoFreeIrp(k, irp);
    expect(lookasideCachedCount(k, k.io.lookasideLists.largeIrp)).toBe(1);
    ExQueryPoolBlockSize(k, address, charged); // the block is the list's now, without quota
    expect(charged.value).toBe(false);
  });

  it('IRP_LOOKASIDE_ALLOCATION takes one unit of LookasideIrpFloat (512 per processor) and IoFreeIrp gives it back; with none left a quota request bypasses the lists', () => {
    const k = small();
    const lists = k.io.lookasideLists;
    expect(lists.lookasideIrpFloat).toBe(LOOKASIDE_IRP_FLOAT);
    expect(LOOKASIDE_IRP_FLOAT).toBe(512);
    IoFreeIrp(k, IoAllocateIrp(k, 1, false)!);
    const irp = IoAllocateIrp(k, 1, true)!;
    expect(irp.AllocationFlags & IRP_LOOKASIDE_ALLOCATION).toBe(IRP_LOOKASIDE_ALLOCATION);
    expect(lists.lookasideIrpFloat).toBe(511);
    IoFreeIrp(k, irp);
    expect(lists.lookasideIrpFloat).toBe(512);
    // No float left: not a lookaside packet at all — pool, quota charged, not fixed size.
    lists.lookasideIrpFloat = 0;
    const small1 = lists.smallIrp.L.TotalAllocates;
    const bypass = IoAllocateIrp(k, 1, true)!;
    expect(bypass.AllocationFlags).toBe(IRP_QUOTA_CHARGED);
    expect(lists.smallIrp.L.TotalAllocates).toBe(small1);
    const cachedBefore = lookasideCachedCount(k, lists.smallIrp);
    IoFreeIrp(k, bypass);
    expect(lookasideCachedCount(k, lists.smallIrp)).toBe(cachedBefore);
  });

  it('the IRP is a nonpaged pool block tagged "Irp " of its list\'s entry size; IoFreeIrp caches it on the list, which owns it (leak accounting: not the caller\'s)', () => {
    const k = small();
    const blocks = poolBlocksInUse(k);
    const irp = IoAllocateIrp(k, 3, false)!;
    expect(poolBlocksInUse(k)).toBe(blocks + 1);
    expect(k.mm.pool.blockAt(irp.address)).toMatchObject({ bytes: IoSizeOfIrp(LARGE_IRP_STACK_LOCATIONS), tag: poolTag('Irp '), lookaside: 0 });
    const address = irp.address;
    IoFreeIrp(k, irp);
    expect(poolBlocksInUse(k)).toBe(blocks);
    expect(k.mm.pool.blockAt(address)!.lookaside).not.toBe(0);
    expect(irp.Type).toBe(0);
  });

  it('StackSize outside 1..127 (a CCHAR), and an injected failure, return NULL with nothing allocated', () => {
    const k = small();
    const before = fingerprint(k);
    for (const n of [0, -1, 128, 1.5, NaN]) expect(IoAllocateIrp(k, n, false)).toBeNull();
    k.faults.setPolicy({ kind: 'always' }, { sites: ['IoAllocateIrp'] });
    expect(IoAllocateIrp(k, 2, false)).toBeNull();
    expect(fingerprint(k)).toBe(before);
    expect(k.io.irpsInFlight.size).toBe(0);
  });

  it('above DISPATCH_LEVEL is IRQL_NOT_LESS_OR_EQUAL', () => {
    const k = small();
    k.irql = DISPATCH_LEVEL + 1;
    expectBugCheck(() => IoAllocateIrp(k, 1, false), IRQL_NOT_LESS_OR_EQUAL);
  });
});

describe('IoAllocateIrp and IoFreeIrp use the I/O manager\'s IRP lookaside lists (WRK iosubs.c, ReactOS io/iomgr/irp.c and iomgr.c)', () => {
  it('the lists are system lists of sizeof(IRP) + 1 and + 8 locations, MaximumDepth 32 and 64, Depth ExMinimumLookasideDepth (IopInitLookasideLists)', () => {
    const k = small();
    const { smallIrp, largeIrp } = k.io.lookasideLists;
    expect([smallIrp.L.Size, smallIrp.L.MaximumDepth, smallIrp.L.Depth]).toEqual([IoSizeOfIrp(1), 32, MINIMUM_LOOKASIDE_DEPTH]);
    expect([largeIrp.L.Size, largeIrp.L.MaximumDepth, largeIrp.L.Depth]).toEqual([IoSizeOfIrp(8), 64, MINIMUM_LOOKASIDE_DEPTH]);
    expect(k.lookaside.systemCounters().map((c) => c.tag).sort()).toEqual(['Irpl', 'Irps', 'Mdl '].sort());
    // A driver's view of "its" lists does not include the kernel's.
    expect(k.lookaside.counters()).toEqual({ activeLists: 0, cachedEntries: 0 });
  });

  it('allocate: TotalAllocates + 1 and a miss (AllocateMisses + 1) goes to pool; free: TotalFrees + 1 and the packet is cached; the next allocation takes that very packet (a hit)', () => {
    const k = small();
    const L = k.io.lookasideLists.smallIrp.L;
    const first = IoAllocateIrp(k, 1, false)!;
    expect([L.TotalAllocates, L.AllocateMisses]).toEqual([1, 1]);
    const address = first.address;
    IoFreeIrp(k, first);
    expect([L.TotalFrees, L.FreeMisses]).toEqual([1, 0]);
    expect(lookasideCachedCount(k, k.io.lookasideLists.smallIrp)).toBe(1);
    const again = IoAllocateIrp(k, 1, false)!;
    expect(again.address).toBe(address);
    // The same memory: the packet the list kept, reinitialized (a stale pointer to it now sees the new IRP, as in Windows).
    expect(again).toBe(first);
    expect([L.TotalAllocates, L.AllocateMisses]).toEqual([2, 1]);
    expect([again.Type, again.StackCount, again.CurrentLocation, again.IoStatus.Status]).toEqual([6, 1, 2, 0]);
    IoFreeIrp(k, again);
  });

  it('StackSize 1 uses the small list, 2..8 the large one, 9 and more plain pool (no IRP_ALLOCATED_FIXED_SIZE, Size IoSizeOfIrp(StackSize), freed to pool)', () => {
    const k = small();
    const { smallIrp, largeIrp } = k.io.lookasideLists;
    for (const n of [1, 2, 8, 9]) IoFreeIrp(k, IoAllocateIrp(k, n, false)!);
    expect([smallIrp.L.TotalAllocates, largeIrp.L.TotalAllocates]).toEqual([1, 2]);
    expect([smallIrp.L.TotalFrees, largeIrp.L.TotalFrees]).toEqual([1, 2]);
    const big = IoAllocateIrp(k, 9, false)!;
    expect([big.AllocationFlags, big.Size]).toEqual([0, IoSizeOfIrp(9)]);
    const blocks = k.mm.pool.outstandingBlocks;
    IoFreeIrp(k, big);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks - 1);
    expect([smallIrp.L.TotalFrees, largeIrp.L.TotalFrees]).toEqual([1, 2]);
  });

  it('a list caches at most Depth packets: the next free is a FreeMiss and goes to pool', () => {
    const k = small();
    const L = k.io.lookasideLists.largeIrp.L;
    const irps = Array.from({ length: L.Depth + 1 }, () => IoAllocateIrp(k, 2, false)!);
    const blocks = k.mm.pool.outstandingBlocks;
    for (const irp of irps) IoFreeIrp(k, irp);
    expect([L.TotalFrees, L.FreeMisses]).toEqual([L.Depth + 1, 1]);
    expect(lookasideCachedCount(k, k.io.lookasideLists.largeIrp)).toBe(L.Depth);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks - 1);
    expect(k.mm.pool.lookasideCachedBlocks).toBe(L.Depth);
  });

  it('with Driver Verifier (ExMinimumLookasideDepth 0) nothing is cached: every IRP is an ordinary pool block, every free a FreeMiss', () => {
    const k = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false, verifier: true });
    const L = k.io.lookasideLists.smallIrp.L;
    expect(L.Depth).toBe(0);
    const before = fingerprint(k);
    IoFreeIrp(k, IoAllocateIrp(k, 1, false)!);
    expect([L.TotalAllocates, L.AllocateMisses, L.TotalFrees, L.FreeMisses]).toEqual([1, 1, 1, 1]);
    expect(fingerprint(k)).toBe(before);
  });

  it('ExFreePool on an IRP frees its block to pool, not to the list (no lookaside counter moves)', () => {
    const k = small();
    const L = k.io.lookasideLists.smallIrp.L;
    const before = fingerprint(k);
    const irp = IoAllocateIrp(k, 1, false)!;
    ExFreePool(k, irp);
    expect([L.TotalFrees, lookasideCachedCount(k, k.io.lookasideLists.smallIrp)]).toEqual([0, 0]);
    expect(fingerprint(k)).toBe(before);
  });
});

describe('IoFreeIrp', () => {
  it('freeing an IRP twice is MULTIPLE_IRP_COMPLETE_REQUESTS (0x44) with P1 the IRP; nothing else is freed', () => {
    const k = small();
    const irp = IoAllocateIrp(k, 1, false)!;
    IoFreeIrp(k, irp);
    const blocks = k.mm.pool.outstandingBlocks;
    expectBugCheck(() => IoFreeIrp(k, irp), MULTIPLE_IRP_COMPLETE_REQUESTS, irp.address);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
  });

  it('ExFreePool on an IRP is 0xC4/0x105 under the verifier (P2 the IRP); without it the block is simply freed', () => {
    const kv = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false, verifier: true });
    const irp = IoAllocateIrp(kv, 1, false)!;
    const stop = expectBugCheck(() => ExFreePool(kv, irp), DRIVER_VERIFIER_DETECTED_VIOLATION, 0x105);
    expect(stop.parameters[1]).toBe(irp.address);
    const k = small();
    const before = fingerprint(k);
    const plain = IoAllocateIrp(k, 1, false)!;
    ExFreePool(k, plain);
    expect(fingerprint(k)).toBe(before);
  });

  it('something that is not an IRP raises the access violation of the dereference', () => {
    expect(raisedStatus(() => IoFreeIrp(small(), {} as never))).toBe(STATUS_ACCESS_VIOLATION);
  });
});

describe('IoInitializeIrp', () => {
  it('on driver memory of IoSizeOfIrp(5): Type 6, Size, StackCount 5, CurrentLocation 6, CurrentStackLocation past the end (kmtests IoIrp.c)', () => {
    const k = small();
    const size = IoSizeOfIrp(5);
    const mem = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, size, poolTag('Test'))!;
    k.mm.system.write(mem, new Uint8Array(size).fill(0xee));
    const irp = IoInitializeIrp(k, mem, size, 5);
    expect([irp.Type, irp.Size, irp.StackCount, irp.CurrentLocation, irp.AllocationFlags]).toEqual([6, size, 5, 6, 0]);
    expect(irp.Tail.Overlay.CurrentStackLocation).toBeNull();
    expect(IoGetNextIrpStackLocation(irp)).toBe(irp.Stack[4]);
    // RtlZeroMemory(Irp, PacketSize): the packet's memory is cleared.
    const bytes = new Uint8Array(size);
    k.mm.system.read(mem, bytes);
    expect(bytes.every((b) => b === 0)).toBe(true);
    ExFreePool(k, mem);
  });

  it('a PacketSize too small for StackSize, or memory that is not system memory, raises an access violation', () => {
    const k = small();
    const mem = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, IoSizeOfIrp(1), poolTag('Test'))!;
    expect(raisedStatus(() => IoInitializeIrp(k, mem, IoSizeOfIrp(1), 2))).toBe(STATUS_ACCESS_VIOLATION);
    expect(raisedStatus(() => IoInitializeIrp(k, 0x1000, IoSizeOfIrp(1), 1))).toBe(STATUS_ACCESS_VIOLATION);
    expect(raisedStatus(() => IoInitializeIrp(k, mem, NaN, 1))).toBe(STATUS_ACCESS_VIOLATION);
  });
});

describe('IoReuseIrp', () => {
  it('puts CurrentLocation back to StackCount + 1, keeps AllocationFlags, sets IoStatus.Status, clears the rest (Wine driver.c)', () => {
    const k = small();
    const irp = IoAllocateIrp(k, 1, false)!;
    irp.CurrentLocation = 1;
    irp.Cancel = true;
    irp.IoStatus.Information = 99;
    irp.PendingReturned = true;
    IoReuseIrp(k, irp, STATUS_CANCELLED);
    expect(irp.CurrentLocation).toBe(2);
    expect(irp.AllocationFlags).toBe(IRP_ALLOCATED_FIXED_SIZE);
    expect(irp.IoStatus).toEqual({ Status: STATUS_CANCELLED, Information: 0 });
    expect([irp.Cancel, irp.PendingReturned, irp.Type, irp.StackCount]).toEqual([false, false, 6, 1]);
    IoReuseIrp(k, irp, STATUS_PENDING);
    IoFreeIrp(k, irp);
    expect(raisedStatus(() => IoReuseIrp(k, irp, 0))).toBe(STATUS_ACCESS_VIOLATION);
  });
});
