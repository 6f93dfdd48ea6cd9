/**
 * Garbage in: every public routine of this area answers with NULL / an NTSTATUS / a raised
 * status / a bug check — never a raw JavaScript TypeError or RangeError.
 */
import { expect, test } from 'vitest';
import fc from 'fast-check';
import { boot, buffer, MIB } from './fixture.ts';
import { BugCheck } from '../../src/kernel/bugcheck.ts';
import { NtStatusError } from '../../src/kernel/status.ts';
import * as mdl from '../../src/kernel/mm/mdl.ts';
import * as mapping from '../../src/kernel/mm/mdl-mapping.ts';
import * as secure from '../../src/kernel/mm/secure.ts';
import * as vm from '../../src/kernel/mm/virtual-memory.ts';
import { KeStackAttachProcess, KeUnstackDetachProcess } from '../../src/kernel/ps/process-manager.ts';

const junk = fc.oneof(
  fc.anything(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, 1, 2, 4, 4096, 0x7fff_ffff_0000, 0x8000_0000_0000, 2 ** 53, -1, Number.NaN, Infinity),
);

/** How the routines answered: a value, a raised status, a bug check. Anything else fails. */
const answers = { returned: 0, raised: 0, bugChecks: 0 };

function onlyKernelAnswers(fn: () => unknown): void {
  try {
    fn();
    answers.returned++;
  } catch (e) {
    if (e instanceof NtStatusError) answers.raised++;
    else if (e instanceof BugCheck) answers.bugChecks++;
    else throw e;
  }
}

test('public memory routines never leak a raw JavaScript error on bad arguments', () => {
  fc.assert(
    fc.property(fc.nat(17), junk, junk, junk, junk, fc.boolean(), (which, a, b, c, d, useRealMdl) => {
      const k = boot({ ramBytes: 64 * MIB });
      const p = k.ps.createProcess('app');
      const va = buffer(p, 4 * 4096);
      const realMdl = mdl.IoAllocateMdl(k, va, 4096, false, false, null)!;
      const m = (useRealMdl ? realMdl : a) as mdl.Mdl;
      const n = (x: unknown) => x as number;
      onlyKernelAnswers(() => k.ps.runInProcess(p, () => {
        switch (which) {
          case 0: return mdl.IoAllocateMdl(k, n(a), n(b), c as boolean, d as boolean, b as mdl.MdlIrpLink);
          case 1: return mdl.MmProbeAndLockPages(k, m, n(b), n(c));
          case 2: return mdl.MmUnlockPages(k, m);
          case 3: return mdl.IoFreeMdl(k, m);
          case 4: return mdl.MmBuildMdlForNonPagedPool(k, m);
          case 5: return [mdl.MmGetMdlPfnArray(m), mdl.MmGetMdlVirtualAddress(m), mdl.MmGetMdlByteCount(m), mdl.MmGetMdlByteOffset(m)];
          case 6: return mdl.MmAllocatePagesForMdlEx(k, n(a), n(b), n(c), n(d), n(a), n(b));
          case 7: return mdl.MmFreePagesFromMdl(k, m);
          case 8: return mapping.MmMapLockedPagesSpecifyCache(k, m, n(b), n(c), d as number | null, b as boolean, n(c));
          case 9: return mapping.MmGetSystemAddressForMdlSafe(k, m, n(b));
          case 10: return mapping.MmUnmapLockedPages(k, n(b), m);
          case 11: return secure.MmSecureVirtualMemory(k, n(a), n(b), n(c));
          case 12: return secure.MmUnsecureVirtualMemory(k, n(a));
          case 13: return vm.NtAllocateVirtualMemory(k, (useRealMdl ? p : a) as typeof p, n(b), n(c), n(d), n(a));
          case 14: return vm.NtFreeVirtualMemory(k, p, n(b), n(c), n(d));
          case 15: return vm.NtProtectVirtualMemory(k, p, n(b), n(c), n(d));
          case 16: return [p.readMemory(n(a), b as Uint8Array), p.writeMemory(n(a), c as Uint8Array), p.VirtualProtect(n(a), n(b), n(c), d as never)];
          default: return KeUnstackDetachProcess(k, KeStackAttachProcess(k, a as typeof p) && (b as never));
        }
      }));
    }),
    { numRuns: 1500 },
  );
  // The junk really reached the routines' checks: each kind of kernel answer happened.
  expect(answers.returned + answers.raised + answers.bugChecks).toBe(1500);
  expect(answers.raised).toBeGreaterThan(0);
  expect(answers.bugChecks).toBeGreaterThan(0);
  expect(answers.returned).toBeGreaterThan(0);
});
