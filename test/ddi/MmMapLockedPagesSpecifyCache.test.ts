import { describe, expect, test } from 'vitest';
import { boot, buffer, raisedStatus, bugCheckOf, bootState, GIB } from '../ps/fixture.ts';
import {
  IoAllocateMdl, IoFreeMdl, IoWriteAccess, KernelMode, MDL_MAPPED_TO_SYSTEM_VA, MM_ALLOCATE_FULLY_REQUIRED,
  MM_DONT_ZERO_ALLOCATION, MmAllocatePagesForMdlEx, MmFreePagesFromMdl, MmGetMdlByteCount, MmGetMdlPfnArray,
  MmProbeAndLockPages, MmUnlockPages, UserMode, mdlAddress,
} from '../../src/kernel/mm/mdl.ts';
import {
  MdlMappingNoWrite, MmCached, MmGetSystemAddressForMdlSafe, MmMapLockedPagesSpecifyCache, MmNonCached,
  MmUnmapLockedPages, MmWriteCombined, NormalPagePriority,
} from '../../src/kernel/mm/mdl-mapping.ts';
import { MM_SYSTEM_RANGE_START } from '../../src/kernel/mm/system-space.ts';
import { MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE, NtAllocateVirtualMemory, PAGE_READWRITE } from '../../src/kernel/mm/virtual-memory.ts';
import {
  STATUS_ACCESS_VIOLATION, STATUS_CONFLICTING_ADDRESSES, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_ADDRESS, STATUS_UNABLE_TO_DELETE_SECTION,
} from '../../src/kernel/status.ts';
import { DRIVER_VERIFIER_DETECTED_VIOLATION, MEMORY_MANAGEMENT } from '../../src/kernel/bugcheck.ts';
import { NtFreeVirtualMemory } from '../../src/kernel/mm/virtual-memory.ts';
import { ref } from '../../src/kernel/ref.ts';

const PAGE = 4096;

function lockedUserMdl(bytes = 2 * PAGE) {
  const k = boot();
  const p = k.ps.createProcess('app');
  const va = buffer(p, bytes);
  const m = IoAllocateMdl(k, va + 16, bytes - 16, false, false, null)!;
  k.ps.runInProcess(p, () => MmProbeAndLockPages(k, m, UserMode, IoWriteAccess));
  return { k, p, va, m };
}

describe('MmGetSystemAddressForMdlSafe', () => {
  test('maps the locked pages once at a system VA that aliases the user buffer', () => {
    const { k, p, va, m } = lockedUserMdl();
    const mappings = k.mm.counters().systemMappings; // the MDL's own pool page
    const sva = MmGetSystemAddressForMdlSafe(k, m, NormalPagePriority)!;
    expect(sva).toBeGreaterThanOrEqual(MM_SYSTEM_RANGE_START);
    expect(sva % PAGE).toBe(16);
    expect(m.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA).toBe(MDL_MAPPED_TO_SYSTEM_VA);
    expect(MmGetSystemAddressForMdlSafe(k, m, NormalPagePriority)).toBe(sva);
    k.mm.system.write(sva, new Uint8Array([7, 8]));
    const d = new Uint8Array(2);
    p.readMemory(va + 16, d);
    expect([...d]).toEqual([7, 8]);
    // MmUnlockPages drops the system mapping.
    MmUnlockPages(k, m);
    expect(k.mm.system.lookup(sva)).toBeNull();
    expect(k.mm.counters().systemMappings).toBe(mappings);
  });

  test('returns NULL when the mapping cannot be made (fault injection)', () => {
    const { k, m } = lockedUserMdl();
    k.faults.setPolicy({ kind: 'always' }, { sites: ['MmMapLockedPagesSpecifyCache'] });
    expect(MmGetSystemAddressForMdlSafe(k, m, NormalPagePriority)).toBeNull();
    expect(m.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA).toBe(0);
  });
});

describe('MmMapLockedPagesSpecifyCache', () => {
  test('UserMode maps into the current process; the mapping is gone after MmUnmapLockedPages', () => {
    const k = boot();
    const app = k.ps.createProcess('app');
    const mdl = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, 3 * PAGE, MmCached, 0)!;
    k.memory.write(MmGetMdlPfnArray(mdl)[1]! * PAGE, new Uint8Array([0xab]));
    const uva = k.ps.runInProcess(app, () => MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmCached, null, false, NormalPagePriority))!;
    expect(uva).toBeLessThan(0x7fff_ffff_0000);
    const d = new Uint8Array(1);
    app.readMemory(uva + PAGE, d);
    expect(d[0]).toBe(0xab);
    // The process cannot free a mapping of kernel pages.
    expect(NtFreeVirtualMemory(k, app, ref(uva), ref(0), MEM_RELEASE)).toBe(STATUS_UNABLE_TO_DELETE_SECTION);
    k.ps.runInProcess(app, () => MmUnmapLockedPages(k, uva, mdl));
    expect(raisedStatus(() => app.readMemory(uva, d))).toBe(STATUS_ACCESS_VIOLATION);
    MmFreePagesFromMdl(k, mdl);
    IoFreeMdl(k, mdl);
  });

  test('MdlMappingNoWrite makes a read-only user mapping', () => {
    const k = boot();
    const app = k.ps.createProcess('app');
    const mdl = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, PAGE, MmCached, 0)!;
    const uva = k.ps.runInProcess(app, () =>
      MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmCached, null, false, NormalPagePriority | MdlMappingNoWrite))!;
    expect(raisedStatus(() => app.writeMemory(uva, new Uint8Array(1)))).toBe(STATUS_ACCESS_VIOLATION);
    k.ps.runInProcess(app, () => MmUnmapLockedPages(k, uva, mdl));
  });

  test('UserMode failure raises, KernelMode failure returns NULL', () => {
    const k = boot();
    const app = k.ps.createProcess('app');
    const mdl = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, PAGE, MmCached, 0)!;
    k.faults.setPolicy({ kind: 'always' }, { sites: ['MmMapLockedPagesSpecifyCache'] });
    k.ps.runInProcess(app, () => {
      expect(raisedStatus(() => MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmCached, null, false, 0))).toBe(STATUS_INSUFFICIENT_RESOURCES);
    });
    expect(MmMapLockedPagesSpecifyCache(k, mdl, KernelMode, MmCached, null, false, 0)).toBeNull();
    expect(app.space.regions.length).toBe(0);
  });

  test('a mapping with a cache type different from the page\'s current one is recorded as a conflict', () => {
    const k = boot();
    const mdl = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, 2 * PAGE, MmCached, 0)!;
    const a = MmMapLockedPagesSpecifyCache(k, mdl, KernelMode, MmNonCached, null, false, 0)!;
    expect(k.mm.counters().cacheConflicts).toBe(0);
    MmUnmapLockedPages(k, a, mdl);
    MmMapLockedPagesSpecifyCache(k, mdl, KernelMode, MmWriteCombined, null, false, 0);
    expect(k.mm.counters().cacheConflicts).toBe(2);
    expect(k.mm.cacheConflicts[0]).toMatchObject({ pfn: MmGetMdlPfnArray(mdl)[0], existing: MmNonCached, requested: MmWriteCombined });
  });

  test('kernel memory mapped into a process is unmapped when the process exits', () => {
    const k = boot();
    const s0 = bootState(k);
    const app = k.ps.createProcess('app');
    const mdl = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, 2 * PAGE, MmCached, 0)!;
    k.ps.runInProcess(app, () => MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmCached, null, false, 0));
    expect(mdl.userMappings.length).toBe(1);
    expect(k.ps.terminateProcess(app, 0)).toBe(0);
    expect(mdl.userMappings.length).toBe(0);
    // The pages are still the MDL's, and freeing them is now legal.
    MmFreePagesFromMdl(k, mdl);
    IoFreeMdl(k, mdl);
    expect(bootState(k)).toEqual(s0);
  });

  test('unlocked MDL: 0x1A/0x1236, or 0xC4/0xB3 under the verifier', () => {
    const k = boot();
    const m = IoAllocateMdl(k, 0x10_0000, PAGE, false, false, null)!;
    const b = bugCheckOf(() => MmMapLockedPagesSpecifyCache(k, m, KernelMode, MmCached, null, false, 0));
    expect([b.code, b.parameters[0]]).toEqual([MEMORY_MANAGEMENT, 0x1236]);
    const kv = boot({ verifier: true });
    const mv = IoAllocateMdl(kv, 0x10_0000, PAGE, false, false, null)!;
    expect(bugCheckOf(() => MmMapLockedPagesSpecifyCache(kv, mv, KernelMode, MmCached, null, false, 0)).parameters[0]).toBe(0xb3);
  });
});

describe('MmUnmapLockedPages', () => {
  test('unmapping an address the MDL does not have mapped bug-checks (0xC4/0xB6 under the verifier)', () => {
    const { k, m } = lockedUserMdl();
    const b = bugCheckOf(() => MmUnmapLockedPages(k, MM_SYSTEM_RANGE_START + 0x1000, m));
    expect([b.code, b.parameters[0]]).toEqual([MEMORY_MANAGEMENT, 0x1235]);
    const kv = boot({ verifier: true });
    const mv = MmAllocatePagesForMdlEx(kv, 0, 0xffff_ffff, 0, PAGE, MmCached, 0)!;
    const bv = bugCheckOf(() => MmUnmapLockedPages(kv, 0x10_0000, mv));
    expect([bv.code, bv.parameters[0], bv.parameters[1]]).toEqual([DRIVER_VERIFIER_DETECTED_VIOLATION, 0xb6, mdlAddress(mv)]);
  });

  test('IoFreeMdl on a still-mapped MDL is 0xC4/0xB8 under the verifier', () => {
    const k = boot({ verifier: true });
    const m = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, PAGE, MmCached, 0)!;
    MmGetSystemAddressForMdlSafe(k, m, NormalPagePriority);
    expect(bugCheckOf(() => IoFreeMdl(k, m)).parameters[0]).toBe(0xb8);
  });
});

describe('MmAllocatePagesForMdlEx', () => {
  test('honours the physical bounds and zeroes the pages', () => {
    const k = boot({ ramBytes: 6 * GIB });
    const low = 0x1_0000_0000;
    const high = 0x1_0fff_ffff;
    // Dirty some frames in the window first.
    k.memory.fill(low, 64 * PAGE, 0xcc);
    const m = MmAllocatePagesForMdlEx(k, low, high, 0, 16 * PAGE, MmCached, 0)!;
    expect(MmGetMdlByteCount(m)).toBe(16 * PAGE);
    for (const f of MmGetMdlPfnArray(m)) {
      expect(f * PAGE).toBeGreaterThanOrEqual(low);
      expect(f * PAGE).toBeLessThanOrEqual(high);
      expect(k.memory.isUntouched(f * PAGE, PAGE)).toBe(true);
    }
    MmFreePagesFromMdl(k, m);
  });

  test('under NOLOWMEM an explicit below-4-GiB request still gets low pages', () => {
    const k = boot({ ramBytes: 6 * GIB, nolowmem: true });
    const m = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, 4 * PAGE, MmCached, 0)!;
    for (const f of MmGetMdlPfnArray(m)) expect(f).toBeLessThan(0x10_0000);
    const any = MmAllocatePagesForMdlEx(k, 0, 2 ** 40, 0, 4 * PAGE, MmCached, 0)!;
    for (const f of MmGetMdlPfnArray(any)) expect(f).toBeGreaterThanOrEqual(0x10_0000);
  });

  test('may return fewer pages than asked; MM_ALLOCATE_FULLY_REQUIRED makes that NULL; SkipBytes moves the window', () => {
    const k = boot();
    const window = 8 * PAGE;
    const lowPfn = 0x1000;
    const part = MmAllocatePagesForMdlEx(k, lowPfn * PAGE, lowPfn * PAGE + window - 1, 0, 32 * PAGE, MmCached, MM_DONT_ZERO_ALLOCATION)!;
    expect(MmGetMdlByteCount(part)).toBe(8 * PAGE);
    expect(MmAllocatePagesForMdlEx(k, lowPfn * PAGE, lowPfn * PAGE + window - 1, 0, PAGE, MmCached, 0)).toBeNull();
    const before = k.mm.counters().freePages;
    expect(MmAllocatePagesForMdlEx(k, 0x2000 * PAGE, 0x2000 * PAGE + window - 1, 0, 32 * PAGE, MmCached, MM_ALLOCATE_FULLY_REQUIRED)).toBeNull();
    expect(k.mm.counters().freePages).toBe(before);
    const skipped = MmAllocatePagesForMdlEx(k, lowPfn * PAGE, lowPfn * PAGE + window - 1, window, 4 * PAGE, MmCached, 0)!;
    for (const f of MmGetMdlPfnArray(skipped)) expect(f).toBeGreaterThanOrEqual(lowPfn + 8);
  });

  test('bad arguments and injected failures return NULL and allocate nothing', () => {
    const k = boot();
    const s0 = bootState(k);
    expect(MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, 0, MmCached, 0)).toBeNull();
    expect(MmAllocatePagesForMdlEx(k, 10 * PAGE, PAGE, 0, PAGE, MmCached, 0)).toBeNull();
    expect(MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 100, PAGE, MmCached, 0)).toBeNull();
    expect(MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, PAGE, 9, 0)).toBeNull();
    expect(MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, PAGE, MmCached, 0x1000)).toBeNull();
    k.faults.setPolicy({ kind: 'always' }, { sites: ['MmAllocatePagesForMdlEx'] });
    expect(MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, PAGE, MmCached, 0)).toBeNull();
    expect(bootState(k)).toEqual(s0);
  });

  test('MmFreePagesFromMdl returns every page and owner; on a probe-locked MDL it bug-checks 0x1A/0x1236', () => {
    const k = boot();
    const s0 = bootState(k);
    const m = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, 5 * PAGE, MmCached, 0)!;
    MmFreePagesFromMdl(k, m);
    IoFreeMdl(k, m);
    expect(bootState(k)).toEqual(s0);
    const { k: k2, m: locked } = lockedUserMdl();
    const b = bugCheckOf(() => MmFreePagesFromMdl(k2, locked));
    expect([b.code, b.parameters[0]]).toEqual([MEMORY_MANAGEMENT, 0x1236]);
  });
});

describe('MmMapLockedPagesSpecifyCache IRQL rules (verifier)', () => {
  test('UserMode above APC_LEVEL is 0xC4/0x77; KernelMode at DISPATCH_LEVEL is fine', () => {
    const k = boot({ verifier: true });
    const app = k.ps.createProcess('app');
    const m = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, PAGE, MmCached, 0)!;
    k.irql = 2;
    const sva = MmMapLockedPagesSpecifyCache(k, m, KernelMode, MmCached, null, false, NormalPagePriority);
    expect(sva).not.toBeNull();
    const b = bugCheckOf(() => k.ps.runInProcess(app, () => MmMapLockedPagesSpecifyCache(k, m, UserMode, MmCached, null, false, 0)));
    expect([b.code, b.parameters[0], b.parameters[1]]).toEqual([DRIVER_VERIFIER_DETECTED_VIOLATION, 0x77, 2]);
  });

  test('BugCheckOnFailure TRUE is flagged by the verifier (0xC4/0x82)', () => {
    const k = boot({ verifier: true });
    const m = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, PAGE, MmCached, 0)!;
    expect(bugCheckOf(() => MmMapLockedPagesSpecifyCache(k, m, KernelMode, MmCached, null, true, 0)).parameters[0]).toBe(0x82);
  });
});

/**
 * RequestedAddress for a UserMode mapping, and what the mapped range then refuses.
 * Sources: WDK "MmMapLockedPagesSpecifyCache function (wdm.h)" (RequestedAddress: the user address to
 * map at); ReactOS kmtests modules/rostests/kmtests/ntos_mm/MmMapLockedPagesSpecifyCache_user.c
 * (an unaligned RequestedAddress raises STATUS_INVALID_ADDRESS; NtAllocateVirtualMemory over the
 * mapping is STATUS_CONFLICTING_ADDRESSES; NtFreeVirtualMemory on it is STATUS_UNABLE_TO_DELETE_SECTION).
 */
describe('MmMapLockedPagesSpecifyCache(UserMode, RequestedAddress)', () => {
  const setup = () => {
    const k = boot();
    const app = k.ps.createProcess('app');
    const mdl = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, 2 * PAGE, MmCached, 0)!;
    return { k, app, mdl, run: <T>(fn: () => T): T => k.ps.runInProcess(app, fn) };
  };

  test('a RequestedAddress that is not page aligned raises STATUS_INVALID_ADDRESS (not CONFLICTING_ADDRESSES); nothing is mapped', () => {
    const { k, app, mdl, run } = setup();
    const before = mdl.userMappings.length;
    expect(raisedStatus(() => run(() => MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmCached, 0x1000_0123, false, NormalPagePriority))))
      .toBe(STATUS_INVALID_ADDRESS);
    expect(mdl.userMappings.length).toBe(before);
    expect(app.space.regions.length).toBe(0);
  });

  test('a free page-aligned RequestedAddress is where the mapping goes; one overlapping an allocation raises STATUS_CONFLICTING_ADDRESSES', () => {
    const { k, app, mdl, run } = setup();
    const at = 0x1000_1000; // page aligned, not 64 KiB aligned: accepted
    const va = run(() => MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmCached, at, false, NormalPagePriority));
    expect(va).toBe(at + mdl.ByteOffset);
    const other = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, PAGE, MmCached, 0)!;
    expect(raisedStatus(() => run(() => MmMapLockedPagesSpecifyCache(k, other, UserMode, MmCached, at + PAGE, false, NormalPagePriority))))
      .toBe(STATUS_CONFLICTING_ADDRESSES);
    void app;
  });

  test('over the mapped range NtAllocateVirtualMemory is STATUS_CONFLICTING_ADDRESSES and NtFreeVirtualMemory STATUS_UNABLE_TO_DELETE_SECTION', () => {
    const { k, app, mdl, run } = setup();
    const va = run(() => MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmCached, null, false, NormalPagePriority))!;
    const base = ref(va);
    const size = ref(PAGE);
    expect(NtAllocateVirtualMemory(k, app, base, 0, size, MEM_RESERVE, PAGE_READWRITE)).toBe(STATUS_CONFLICTING_ADDRESSES);
    for (const type of [MEM_DECOMMIT, MEM_RELEASE]) {
      const b = ref(va);
      const s = ref(type === MEM_RELEASE ? 0 : PAGE);
      expect(NtFreeVirtualMemory(k, app, b, s, type)).toBe(STATUS_UNABLE_TO_DELETE_SECTION);
    }
    expect(mdl.userMappings.length).toBe(1);
  });
});
