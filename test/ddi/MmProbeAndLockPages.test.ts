import { describe, expect, test } from 'vitest';
import { boot, buffer, raisedStatus, bugCheckOf, bootState } from '../ps/fixture.ts';
import {
  IoAllocateMdl, IoFreeMdl, IoModifyAccess, IoReadAccess, IoWriteAccess, KernelMode, MDL_PAGES_LOCKED,
  MDL_WRITE_OPERATION, MDL_MAX_BYTES, MDL_ALLOCATED_FIXED_SIZE, MmBuildMdlForNonPagedPool, MmGetMdlByteCount, MmGetMdlByteOffset, MmGetMdlPfnArray,
  MmGetMdlVirtualAddress, MmProbeAndLockPages, MmUnlockPages, UserMode, mdlAddress, type MdlIrpLink,
} from '../../src/kernel/mm/mdl.ts';
import { MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE } from '../../src/kernel/mm/virtual-memory.ts';
import { STATUS_ACCESS_VIOLATION, STATUS_WORKING_SET_QUOTA } from '../../src/kernel/status.ts';
import { DRIVER_VERIFIER_DETECTED_VIOLATION, PROCESS_HAS_LOCKED_PAGES, BAD_POOL_CALLER } from '../../src/kernel/bugcheck.ts';
import { PFN_FLAG_DELETE_PENDING, PFN_STATE_FREE } from '../../src/kernel/mm/pfn-database.ts';
import { ExAllocatePool2, POOL_FLAG_NON_PAGED, POOL_FLAG_PAGED, poolTag } from '../../src/kernel/mm/pool.ts';
import { DISPATCH_LEVEL } from '../../src/kernel/irql.ts';
import { ref } from '../../src/kernel/ref.ts';

const PAGE = 4096;

describe('IoAllocateMdl', () => {
  test('describes an unaligned buffer: StartVa page-aligned, ByteOffset, span pages, Size', () => {
    const k = boot();
    const m = IoAllocateMdl(k, 0x10_0123, 2 * PAGE, false, false, null)!;
    expect(m.StartVa).toBe(0x10_0000);
    expect(MmGetMdlByteOffset(m)).toBe(0x123);
    expect(MmGetMdlByteCount(m)).toBe(2 * PAGE);
    expect(MmGetMdlVirtualAddress(m)).toBe(0x10_0123);
    expect(MmGetMdlPfnArray(m).length).toBe(3);
    expect(m.Size).toBe(48 + 3 * 8);
  });

  test('more than 4 GiB - PAGE_SIZE, non-integers and injected failures return NULL', () => {
    const k = boot();
    expect(IoAllocateMdl(k, 0x10_0000, MDL_MAX_BYTES + 1, false, false, null)).toBeNull();
    expect(IoAllocateMdl(k, 0x10_0000, MDL_MAX_BYTES, false, false, null)).not.toBeNull();
    expect(IoAllocateMdl(k, Number.NaN, 10, false, false, null)).toBeNull();
    expect(IoAllocateMdl(k, 0x10_0000, 1.5, false, false, null)).toBeNull();
    k.faults.setPolicy({ kind: 'always' }, { sites: ['IoAllocateMdl'] });
    expect(IoAllocateMdl(k, 0x10_0000, 10, false, false, null)).toBeNull();
  });

  test('links to Irp.MdlAddress, secondary buffers to the chain tail', () => {
    const k = boot();
    const irp: MdlIrpLink = { MdlAddress: null };
    const a = IoAllocateMdl(k, 0x10_0000, 10, false, false, irp)!;
    const b = IoAllocateMdl(k, 0x20_0000, 10, true, false, irp)!;
    const c = IoAllocateMdl(k, 0x30_0000, 10, true, false, irp)!;
    expect(irp.MdlAddress).toBe(a);
    expect(a.Next).toBe(b);
    expect(b.Next).toBe(c);
  });
});

describe('MmProbeAndLockPages', () => {
  test('locks committed user pages, faulting untouched ones in, and fills the PFN array', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 4 * PAGE);
    const m = IoAllocateMdl(k, va + 100, 3 * PAGE, false, false, null)!;
    k.ps.runInProcess(p, () => MmProbeAndLockPages(k, m, UserMode, IoWriteAccess));
    expect(m.MdlFlags & (MDL_PAGES_LOCKED | MDL_WRITE_OPERATION)).toBe(MDL_PAGES_LOCKED | MDL_WRITE_OPERATION);
    expect(m.Process).toBe(p);
    const pfns = MmGetMdlPfnArray(m);
    expect(pfns.length).toBe(4);
    for (let i = 0; i < 4; i++) {
      expect(pfns[i]).toBe(p.space.regions[0]!.pfn[i]);
      expect(k.mm.pfn.lockCount[pfns[i]!]).toBe(1);
    }
    expect(p.lockedPages).toBe(4);
    MmUnlockPages(k, m);
    for (const f of pfns) expect(k.mm.pfn.lockCount[f]).toBe(0);
    expect(p.lockedPages).toBe(0);
    IoFreeMdl(k, m);
  });

  test('two MDLs on one page lock it twice; it unlocks at the last MmUnlockPages', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, PAGE);
    const a = IoAllocateMdl(k, va, 10, false, false, null)!;
    const b = IoAllocateMdl(k, va + 20, 10, false, false, null)!;
    k.ps.runInProcess(p, () => {
      MmProbeAndLockPages(k, a, UserMode, IoReadAccess);
      MmProbeAndLockPages(k, b, UserMode, IoModifyAccess);
    });
    const f = MmGetMdlPfnArray(a)[0]!;
    expect(k.mm.pfn.lockCount[f]).toBe(2);
    MmUnlockPages(k, a);
    expect(k.mm.pfn.lockCount[f]).toBe(1);
    MmUnlockPages(k, b);
    expect(k.mm.pfn.lockCount[f]).toBe(0);
  });

  test('IoReadAccess needs a readable page, IoWriteAccess/IoModifyAccess a writable one', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 2 * PAGE);
    p.VirtualProtect(va, PAGE, PAGE_READONLY, ref(0));
    p.VirtualProtect(va + PAGE, PAGE, PAGE_NOACCESS, ref(0));
    const ro = IoAllocateMdl(k, va, PAGE, false, false, null)!;
    const na = IoAllocateMdl(k, va + PAGE, PAGE, false, false, null)!;
    k.ps.runInProcess(p, () => {
      expect(raisedStatus(() => MmProbeAndLockPages(k, ro, UserMode, IoWriteAccess))).toBe(STATUS_ACCESS_VIOLATION);
      expect(raisedStatus(() => MmProbeAndLockPages(k, ro, KernelMode, IoModifyAccess))).toBe(STATUS_ACCESS_VIOLATION);
      MmProbeAndLockPages(k, ro, UserMode, IoReadAccess);
      expect(raisedStatus(() => MmProbeAndLockPages(k, na, UserMode, IoReadAccess))).toBe(STATUS_ACCESS_VIOLATION);
    });
    expect(na.MdlFlags & MDL_PAGES_LOCKED).toBe(0);
    MmUnlockPages(k, ro);
  });

  test('a bad range raises STATUS_ACCESS_VIOLATION with nothing locked and nothing faulted in', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 4 * PAGE);
    p.VirtualFree(va + 3 * PAGE, PAGE, MEM_DECOMMIT);
    // Pages 0-2 are fine (and untouched), page 3 is decommitted: the whole probe fails.
    const m = IoAllocateMdl(k, va, 4 * PAGE, false, false, null)!;
    const before = k.mm.counters();
    k.ps.runInProcess(p, () => {
      expect(raisedStatus(() => MmProbeAndLockPages(k, m, UserMode, IoReadAccess))).toBe(STATUS_ACCESS_VIOLATION);
    });
    expect(k.mm.counters()).toEqual(before);
    expect(p.residentPages).toBe(0);
    expect(p.lockedPages).toBe(0);
    expect(m.MdlFlags).toBe(MDL_ALLOCATED_FIXED_SIZE);
  });

  test('UserMode: kernel addresses and ranges wrapping into kernel space are access violations', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const kva = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, PAGE, poolTag('Test'))!;
    const m1 = IoAllocateMdl(k, kva, 16, false, false, null)!;
    const m2 = IoAllocateMdl(k, 0x7fff_fffe_f000, 0x2000, false, false, null)!;
    const m3 = IoAllocateMdl(k, 0xffff_ffff_f000, 0x2000, false, false, null)!; // wraps the 48-bit space
    const m4 = IoAllocateMdl(k, 0x1_0000, PAGE, false, false, null)!; // nothing allocated there
    k.ps.runInProcess(p, () => {
      expect(raisedStatus(() => MmProbeAndLockPages(k, m1, UserMode, IoReadAccess))).toBe(STATUS_ACCESS_VIOLATION);
      expect(raisedStatus(() => MmProbeAndLockPages(k, m2, UserMode, IoReadAccess))).toBe(STATUS_ACCESS_VIOLATION);
      expect(raisedStatus(() => MmProbeAndLockPages(k, m3, KernelMode, IoReadAccess))).toBe(STATUS_ACCESS_VIOLATION);
      expect(raisedStatus(() => MmProbeAndLockPages(k, m4, UserMode, IoReadAccess))).toBe(STATUS_ACCESS_VIOLATION);
    });
    expect(k.mm.counters().lockedPages).toBe(0);
  });

  test('KernelMode on a system buffer locks its frames (no process charged)', () => {
    const k = boot();
    const kva = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 2 * PAGE, poolTag('Test'))!;
    const m = IoAllocateMdl(k, kva, 2 * PAGE, false, false, null)!;
    MmProbeAndLockPages(k, m, KernelMode, IoWriteAccess);
    expect(m.Process).toBeNull();
    expect(MmGetMdlPfnArray(m)[0]).toBe(Math.floor(k.mm.system.physicalAddress(kva)! / PAGE));
    MmUnlockPages(k, m);
    expect(k.mm.counters().lockedPages).toBe(0);
  });

  test('fault injection raises STATUS_WORKING_SET_QUOTA and locks nothing', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 2 * PAGE);
    const m = IoAllocateMdl(k, va, 2 * PAGE, false, false, null)!;
    k.faults.setPolicy({ kind: 'always' }, { sites: ['MmProbeAndLockPages'] });
    k.ps.runInProcess(p, () => {
      expect(raisedStatus(() => MmProbeAndLockPages(k, m, UserMode, IoReadAccess))).toBe(STATUS_WORKING_SET_QUOTA);
    });
    expect(p.residentPages).toBe(0);
    expect(k.mm.counters().lockedPages).toBe(0);
  });

  test('verifier: probing an already-locked MDL is 0xC4/0xB0; probing pageable memory above APC_LEVEL is 0xC4/0x70', () => {
    const k = boot({ verifier: true });
    const p = k.ps.createProcess('app');
    const va = buffer(p, PAGE);
    const m = IoAllocateMdl(k, va, PAGE, false, false, null)!;
    k.ps.runInProcess(p, () => MmProbeAndLockPages(k, m, UserMode, IoReadAccess));
    const b = bugCheckOf(() => k.ps.runInProcess(p, () => MmProbeAndLockPages(k, m, UserMode, IoReadAccess)));
    expect([b.code, b.parameters[0], b.parameters[1]]).toEqual([DRIVER_VERIFIER_DETECTED_VIOLATION, 0xb0, mdlAddress(m)]);

    const k2 = boot({ verifier: true });
    const p2 = k2.ps.createProcess('app');
    const va2 = buffer(p2, PAGE);
    const m2 = IoAllocateMdl(k2, va2, PAGE, false, false, null)!;
    k2.irql = DISPATCH_LEVEL;
    const b2 = bugCheckOf(() => k2.ps.runInProcess(p2, () => MmProbeAndLockPages(k2, m2, UserMode, IoReadAccess)));
    expect([b2.code, b2.parameters[0], b2.parameters[1]]).toEqual([DRIVER_VERIFIER_DETECTED_VIOLATION, 0x70, DISPATCH_LEVEL]);
  });
});

describe('MmUnlockPages', () => {
  test('an MDL that was never locked bug-checks 0x76 with P1 = 1 (0xC4/0x7C under the verifier)', () => {
    const k = boot();
    const m = IoAllocateMdl(k, 0x10_0000, PAGE, false, false, null)!;
    const b = bugCheckOf(() => MmUnlockPages(k, m));
    expect([b.code, b.parameters[0], b.parameters[1]]).toEqual([PROCESS_HAS_LOCKED_PAGES, 1, mdlAddress(m)]);
    expect(k.bugcheck.crashed).toBe(b);

    const kv = boot({ verifier: true });
    const mv = IoAllocateMdl(kv, 0x10_0000, PAGE, false, false, null)!;
    const bv = bugCheckOf(() => MmUnlockPages(kv, mv));
    expect([bv.code, bv.parameters[0], bv.parameters[1]]).toEqual([DRIVER_VERIFIER_DETECTED_VIOLATION, 0x7c, mdlAddress(mv)]);
  });

  test('double unlock is the never-locked bug check, with the first unlock fully done', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, PAGE);
    const m = IoAllocateMdl(k, va, PAGE, false, false, null)!;
    k.ps.runInProcess(p, () => MmProbeAndLockPages(k, m, UserMode, IoReadAccess));
    MmUnlockPages(k, m);
    expect(k.mm.counters().lockedPages).toBe(0);
    expect(bugCheckOf(() => MmUnlockPages(k, m)).parameters[0]).toBe(1);
  });

  test('an MDL built by MmBuildMdlForNonPagedPool is 0xC4/0x7D under the verifier', () => {
    const k = boot({ verifier: true });
    const kva = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, PAGE, poolTag('Test'))!;
    const m = IoAllocateMdl(k, kva, PAGE, false, false, null)!;
    MmBuildMdlForNonPagedPool(k, m);
    expect(bugCheckOf(() => MmUnlockPages(k, m)).parameters[0]).toBe(0x7d);
  });

  test('locked pages keep their frames: release while locked leaves the frame DELETE_PENDING, freed at unlock', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 2 * PAGE);
    p.writeMemory(va, new Uint8Array(2 * PAGE).fill(0x42));
    const m = IoAllocateMdl(k, va, 2 * PAGE, false, false, null)!;
    k.ps.runInProcess(p, () => MmProbeAndLockPages(k, m, UserMode, IoWriteAccess));
    const [f0, f1] = MmGetMdlPfnArray(m);
    expect(p.VirtualFree(va, 0, MEM_RELEASE)).toBe(true);
    for (const f of [f0!, f1!]) {
      expect(k.mm.pfn.flags[f]! & PFN_FLAG_DELETE_PENDING).toBe(PFN_FLAG_DELETE_PENDING);
      expect(k.mm.pfn.owner[f]).toBe(p.pageOwner);
    }
    // The driver still sees the bytes through the frames.
    const d = new Uint8Array(1);
    k.memory.read(f0! * PAGE, d);
    expect(d[0]).toBe(0x42);
    MmUnlockPages(k, m);
    for (const f of [f0!, f1!]) expect(k.mm.pfn.state[f]).toBe(PFN_STATE_FREE);
    IoFreeMdl(k, m);
    expect(k.ps.terminateProcess(p, 0)).toBe(0);
  });
});

describe('IoFreeMdl', () => {
  test('freeing an MDL with locked pages leaves them locked: the process exit bug-checks 0x76', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 3 * PAGE);
    const m = IoAllocateMdl(k, va, 3 * PAGE, false, false, null)!;
    k.ps.runInProcess(p, () => MmProbeAndLockPages(k, m, UserMode, IoReadAccess));
    IoFreeMdl(k, m);
    expect(k.mm.counters().lockedPages).toBe(3);
    const b = bugCheckOf(() => k.ps.terminateProcess(p, 0));
    expect([b.code, ...b.parameters]).toEqual([PROCESS_HAS_LOCKED_PAGES, 0, p.ProcessId, 3, 0]);
  });

  test('IoFreeMdl twice is a pool double free (0xC2/0x07)', () => {
    const k = boot();
    const m = IoAllocateMdl(k, 0x10_0000, PAGE, false, false, null)!;
    IoFreeMdl(k, m);
    const b = bugCheckOf(() => IoFreeMdl(k, m));
    expect([b.code, b.parameters[0]]).toEqual([BAD_POOL_CALLER, 0x07]);
  });
});

describe('MmBuildMdlForNonPagedPool', () => {
  test('fills the PFN array from the pool mapping and sets MappedSystemVa', () => {
    const k = boot();
    const kva = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 3 * PAGE, poolTag('Test'))!;
    const m = IoAllocateMdl(k, kva, 3 * PAGE, false, false, null)!;
    MmBuildMdlForNonPagedPool(k, m);
    expect(m.MappedSystemVa).toBe(kva);
    for (let i = 0; i < 3; i++) expect(MmGetMdlPfnArray(m)[i]).toBe(Math.floor(k.mm.system.physicalAddress(kva + i * PAGE)! / PAGE));
  });

  test('paged pool is 0xC4/0x7F under the verifier; a user address is 0x1A/0x1240 without it', () => {
    const k = boot({ verifier: true });
    const kva = ExAllocatePool2(k, POOL_FLAG_PAGED, PAGE, poolTag('Test'))!;
    const m = IoAllocateMdl(k, kva, PAGE, false, false, null)!;
    expect(bugCheckOf(() => MmBuildMdlForNonPagedPool(k, m)).parameters[0]).toBe(0x7f);
    const k2 = boot();
    const m2 = IoAllocateMdl(k2, 0x10_0000, PAGE, false, false, null)!;
    const b = bugCheckOf(() => MmBuildMdlForNonPagedPool(k2, m2));
    expect([b.code, b.parameters[0]]).toEqual([0x1a, 0x1240]);
  });
});

test('a clean lock/unlock cycle leaves the machine at its boot state', () => {
  const k = boot();
  const s0 = bootState(k);
  const p = k.ps.createProcess('app');
  const va = p.VirtualAlloc(0, 8 * PAGE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  const m = IoAllocateMdl(k, va, 8 * PAGE, false, false, null)!;
  k.ps.runInProcess(p, () => MmProbeAndLockPages(k, m, UserMode, IoWriteAccess));
  MmUnlockPages(k, m);
  IoFreeMdl(k, m);
  k.ps.terminateProcess(p, 0);
  expect(bootState(k)).toEqual(s0);
  expect(k.mm.audit()).toEqual([]);
});
