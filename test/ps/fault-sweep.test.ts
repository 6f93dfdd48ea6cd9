/**
 * Systematic fault injection over the registration path: fail the n-th allocation for every
 * n the clean run performs; each failure must surface as the routine's documented answer
 * (NULL, a status, a raise) and, after the scenario cleans up what it got, nothing leaks.
 */
import { expect, test } from 'vitest';
import { boot, bootState } from './fixture.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { IoAllocateMdl, IoFreeMdl, IoWriteAccess, MmAllocatePagesForMdlEx, MmFreePagesFromMdl, MmProbeAndLockPages, MmUnlockPages, UserMode } from '../../src/kernel/mm/mdl.ts';
import { MmCached, MmGetSystemAddressForMdlSafe, MmMapLockedPagesSpecifyCache, MmUnmapLockedPages } from '../../src/kernel/mm/mdl-mapping.ts';
import { MmSecureVirtualMemory, MmUnsecureVirtualMemory } from '../../src/kernel/mm/secure.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/virtual-memory.ts';
import { NtStatusError } from '../../src/kernel/status.ts';

const PAGE = 4096;

/** Returns the number of steps that failed. */
function scenario(k: Kernel): number {
  let failures = 0;
  const tryRaise = (fn: () => void): boolean => {
    try {
      fn();
      return true;
    } catch (e) {
      if (!(e instanceof NtStatusError)) throw e;
      failures++;
      return false;
    }
  };
  let p;
  try {
    p = k.ps.createProcess('app');
  } catch (e) {
    if (e instanceof NtStatusError) return 1;
    throw e;
  }
  const app = p;
  const va = app.VirtualAlloc(0, 8 * PAGE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (va === 0) failures++;
  else {
    tryRaise(() => app.writeMemory(va, new Uint8Array(2 * PAGE).fill(1)));
    const mdl = IoAllocateMdl(k, va + 8, 6 * PAGE, false, false, null);
    if (!mdl) failures++;
    else {
      if (tryRaise(() => k.ps.runInProcess(app, () => MmProbeAndLockPages(k, mdl, UserMode, IoWriteAccess)))) {
        if (MmGetSystemAddressForMdlSafe(k, mdl, 16) === null) failures++;
        let uva: number | null = null;
        tryRaise(() => { uva = k.ps.runInProcess(app, () => MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmCached, null, false, 16)); });
        const h = k.ps.runInProcess(app, () => MmSecureVirtualMemory(k, va, 4 * PAGE, PAGE_READWRITE));
        if (h === null) failures++;
        else k.ps.runInProcess(app, () => MmUnsecureVirtualMemory(k, h));
        if (uva !== null) k.ps.runInProcess(app, () => MmUnmapLockedPages(k, uva!, mdl));
        MmUnlockPages(k, mdl);
      }
      IoFreeMdl(k, mdl);
    }
    if (!app.VirtualFree(va, 0, MEM_RELEASE)) failures++;
  }
  const pages = MmAllocatePagesForMdlEx(k, 0, 0xffff_ffff, 0, 4 * PAGE, MmCached, 0);
  if (!pages) failures++;
  else {
    // A refused page shows as fewer pages than asked (documented behaviour).
    if (pages.ByteCount < 4 * PAGE) failures++;
    MmFreePagesFromMdl(k, pages);
    IoFreeMdl(k, pages);
  }
  expect(k.ps.terminateProcess(app, 0)).toBe(0);
  return failures;
}

test('failing the n-th allocation of the registration path fails cleanly and leaks nothing, for every n', () => {
  const clean = boot();
  const s0 = bootState(clean);
  const seen = () => [...clean.faults.sitesSeen.values()].reduce((a, b) => a + b, 0);
  const atBoot = seen();
  expect(scenario(clean)).toBe(0);
  expect(bootState(clean)).toEqual(s0);
  const allocations = seen() - atBoot;
  expect(allocations).toBeGreaterThan(15);
  for (let n = 1; n <= allocations; n++) {
    const k = boot();
    const b0 = bootState(k);
    k.faults.setPolicy({ kind: 'nth', n });
    const failures = scenario(k);
    expect(k.faults.injected.length, `n=${n}`).toBe(1);
    expect(failures, `n=${n} (${k.faults.injected[0]?.site}) must be reported by the routine`).toBeGreaterThan(0);
    expect(bootState(k), `n=${n} (${k.faults.injected[0]?.site})`).toEqual(b0);
    expect(k.mm.audit()).toEqual([]);
  }
});
