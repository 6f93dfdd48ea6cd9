/**
 * IoAllocateIrp / IoSizeOfIrp / IoInitializeIrp / IoReuseIrp / IoFreeIrp.
 * Sources: WDK "IoAllocateIrp function (wdm.h)", "IoSizeOfIrp macro (wdm.h)", "IoInitializeIrp function
 * (wdm.h)", "IoReuseIrp function (wdm.h)", "IoFreeIrp function (wdm.h)", "Bug Check 0x44
 * MULTIPLE_IRP_COMPLETE_REQUESTS", "Bug Check 0xC4" (0x105: ExFreePool on an IRP);
 * ReactOS kmtests modules/rostests/kmtests/ntos_io/IoIrp.c (IoInitializeIrp(Irp, Size, 5): Type 6,
 * Size, StackCount 5, CurrentLocation 6, CurrentStackLocation one past the last location;
 * IoAllocateIrp(2, FALSE): Type 6, StackCount 2, CurrentLocation 3, IRP_ALLOCATED_FIXED_SIZE, not
 * IRP_LOOKASIDE_ALLOCATION; IoAllocateIrp(2, TRUE): both);
 * Wine dlls/ntoskrnl.exe/tests/driver.c test_irp_struct (IoAllocateIrp(1, FALSE): AllocationFlags ==
 * IRP_ALLOCATED_FIXED_SIZE, CurrentLocation 2; IoReuseIrp: CurrentLocation 2, AllocationFlags kept).
 */
import { describe, expect, it } from 'vitest';
import {
  IO_TYPE_IRP, IoAllocateIrp, IoFreeIrp, IoInitializeIrp, IoReuseIrp, IoSizeOfIrp, IRP_ALLOCATED_FIXED_SIZE, IRP_LOOKASIDE_ALLOCATION,
  IoGetNextIrpStackLocation, KernelMode,
} from '../../src/kernel/io/index.ts';
import { SIZEOF_IO_STACK_LOCATION, SIZEOF_IRP } from '../../src/kernel/io/irp.ts';
import { ExAllocatePool2, ExFreePool, POOL_FLAG_NON_PAGED, poolTag } from '../../src/kernel/mm/pool.ts';
import { DRIVER_VERIFIER_DETECTED_VIOLATION, MULTIPLE_IRP_COMPLETE_REQUESTS, IRQL_NOT_LESS_OR_EQUAL } from '../../src/kernel/bugcheck.ts';
import { DISPATCH_LEVEL } from '../../src/kernel/irql.ts';
import { STATUS_ACCESS_VIOLATION, STATUS_CANCELLED, STATUS_PENDING } from '../../src/kernel/status.ts';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MIB } from '../../src/bus/index.ts';
import { raisedStatus } from '../ps/fixture.ts';
import { expectBugCheck, fingerprint, small } from './helpers.ts';

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
  it('(2, FALSE): Type 6, Size IoSizeOfIrp(2), StackCount 2, CurrentLocation 3, IRP_ALLOCATED_FIXED_SIZE only (kmtests IoIrp.c)', () => {
    const k = small();
    const irp = IoAllocateIrp(k, 2, false)!;
    expect(irp.Type).toBe(IO_TYPE_IRP);
    expect(irp.Type).toBe(6);
    expect(irp.Size).toBe(IoSizeOfIrp(2));
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

  it('(2, TRUE) adds IRP_LOOKASIDE_ALLOCATION (kmtests IoIrp.c); (1, FALSE) is exactly IRP_ALLOCATED_FIXED_SIZE, CurrentLocation 2 (Wine driver.c)', () => {
    const k = small();
    const quota = IoAllocateIrp(k, 2, true)!;
    expect(quota.AllocationFlags & (IRP_ALLOCATED_FIXED_SIZE | IRP_LOOKASIDE_ALLOCATION)).toBe(IRP_ALLOCATED_FIXED_SIZE | IRP_LOOKASIDE_ALLOCATION);
    const one = IoAllocateIrp(k, 1, false)!;
    expect(one.AllocationFlags).toBe(IRP_ALLOCATED_FIXED_SIZE);
    expect(one.CurrentLocation).toBe(2);
    IoFreeIrp(k, quota);
    IoFreeIrp(k, one);
  });

  it('the IRP is one nonpaged pool block of IoSizeOfIrp bytes tagged "Irp "; IoFreeIrp returns it', () => {
    const k = small();
    const before = fingerprint(k);
    const blocks = k.mm.pool.outstandingBlocks;
    const irp = IoAllocateIrp(k, 3, false)!;
    expect(k.mm.pool.outstandingBlocks).toBe(blocks + 1);
    expect(k.mm.pool.blockAt(irp.address)).toMatchObject({ bytes: IoSizeOfIrp(3), tag: poolTag('Irp ') });
    IoFreeIrp(k, irp);
    expect(k.mm.pool.outstandingBlocks).toBe(blocks);
    expect(fingerprint(k)).toBe(before);
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
