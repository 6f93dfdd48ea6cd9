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
import { KAPC_STATE, KeStackAttachProcess, KeUnstackDetachProcess } from '../../src/kernel/ps/process-manager.ts';

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
          case 13: return vm.NtAllocateVirtualMemory(k, (useRealMdl ? p : a) as typeof p, { value: n(b) }, n(c), (useRealMdl ? { value: n(d) } : d) as never, n(a), n(b));
          case 14: return vm.NtFreeVirtualMemory(k, p, { value: n(b) }, (useRealMdl ? { value: n(c) } : c) as never, n(d));
          case 15: return vm.NtProtectVirtualMemory(k, p, { value: n(b) }, { value: n(c) }, n(d), (useRealMdl ? { value: 0 } : a) as never);
          case 16: return [p.readMemory(n(a), b as Uint8Array), p.writeMemory(n(a), c as Uint8Array), p.VirtualProtect(n(a), n(b), n(c), d as never)];
          default: {
            const state = new KAPC_STATE();
            KeStackAttachProcess(k, a as typeof p, (useRealMdl ? state : b) as KAPC_STATE);
            return KeUnstackDetachProcess(k, (useRealMdl ? state : c) as KAPC_STATE);
          }
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

test('the pool, lookaside, IRP and event routines never leak a raw JavaScript error on bad arguments', async () => {
  const pool = await import('../../src/kernel/mm/pool.ts');
  const nc = await import('../../src/kernel/mm/noncached.ts');
  const ex = await import('../../src/kernel/ex/lookaside.ts');
  const irps = await import('../../src/kernel/io/irp-alloc.ts');
  const irp = await import('../../src/kernel/io/irp.ts');
  const ke = await import('../../src/kernel/ke/event.ts');
  const seen = { returned: 0, raised: 0, bugChecks: 0 };
  const answer = (fn: () => unknown) => {
    try {
      fn();
      seen.returned++;
    } catch (e) {
      if (e instanceof NtStatusError) seen.raised++;
      else if (e instanceof BugCheck) seen.bugChecks++;
      else throw e;
    }
  };
  const runs = 1500;
  fc.assert(
    fc.property(fc.nat(25), junk, junk, junk, junk, fc.boolean(), (which, a, b, c, d, real) => {
      const k = boot({ ramBytes: 64 * MIB });
      const n = (x: unknown) => x as number;
      const list = new ex.NPAGED_LOOKASIDE_LIST();
      const listEx = new ex.LOOKASIDE_LIST_EX();
      ex.ExInitializeNPagedLookasideList(k, list, null, null, 0, 64, 0x4b4e554a, 0);
      ex.ExInitializeLookasideListEx(k, listEx, null, null, 0, 0, 64, 0x4b4e554a, 0);
      const block = pool.ExAllocatePoolWithTag(k, 0, 64, 0x4b4e554a)!;
      const anIrp = irps.IoAllocateIrp(k, 2, false)!;
      const l = (real ? list : a) as typeof list;
      const lx = (real ? listEx : a) as typeof listEx;
      const ip = (real ? anIrp : a) as typeof anIrp;
      const ev = (real ? new ke.KEVENT() : a) as InstanceType<typeof ke.KEVENT>;
      answer(() => {
        switch (which) {
          case 0: return mdl.MmAllocatePagesForMdl(k, n(a), n(b), n(c), n(d));
          case 1: return nc.MmAllocateNonCachedMemory(k, n(a));
          case 2: return nc.MmFreeNonCachedMemory(k, n(a), n(b));
          case 3: return pool.ExAllocatePoolWithTag(k, n(a), n(b), n(c));
          case 4: return pool.ExQueryPoolBlockSize(k, real ? block : n(a), (real ? { value: false } : b) as never);
          case 5: return pool.ExFreePoolWithTag(k, real ? block : n(a), n(b));
          case 6: return ex.ExInitializeNPagedLookasideList(k, l, a as never, b as never, n(c), n(d), n(a), n(b));
          case 7: return ex.ExAllocateFromNPagedLookasideList(k, l);
          case 8: return ex.ExFreeToNPagedLookasideList(k, l, real ? block : n(b));
          case 9: return ex.ExDeleteNPagedLookasideList(k, l);
          case 10: return ex.ExInitializeLookasideListEx(k, lx, (real ? null : a) as never, (real ? null : b) as never, n(c), n(d), n(a), n(b), n(c));
          case 11: return ex.ExAllocateFromLookasideListEx(k, lx);
          case 12: return ex.ExFreeToLookasideListEx(k, lx, n(b));
          case 13: return [ex.ExFlushLookasideListEx(k, lx), ex.ExDeleteLookasideListEx(k, lx)];
          case 14: return irps.IoAllocateIrp(k, n(a), b as boolean);
          case 15: return irps.IoFreeIrp(k, ip);
          case 16: return irps.IoInitializeIrp(k, (real ? block : a) as never, n(b), n(c));
          case 17: return irps.IoReuseIrp(k, ip, n(b));
          case 18: return irp.IoSetCompletionRoutine(ip, b as never, c, d as boolean, a as boolean, b as boolean);
          case 19: return [irp.IoSkipCurrentIrpStackLocation(ip), irp.IoCopyCurrentIrpStackLocationToNext(ip)];
          case 20: return irps.IoSetCompletionRoutineEx(k, a as never, ip, b as never, c, true, true, true);
          case 21: return irps.IoBuildDeviceIoControlRequest(k, n(a), b as never, n(c), n(d), n(a), n(b), false, null, c as never);
          case 22: return ke.KeInitializeEvent(k, ev, n(b), c as boolean);
          case 23: return [ke.KeSetEvent(k, ev, n(b), false), ke.KeResetEvent(k, ev), ke.KeReadStateEvent(k, ev)];
          case 24: return ke.KeWaitForSingleObject(k, (real ? a : ev) as never, 0, 0, false, { value: 0 });
          default: return irp.IoGetNextIrpStackLocation(ip);
        }
      });
    }),
    { numRuns: runs },
  );
  expect(seen.returned + seen.raised + seen.bugChecks).toBe(runs);
  expect(seen.raised).toBeGreaterThan(0);
  expect(seen.bugChecks).toBeGreaterThan(0);
  expect(seen.returned).toBeGreaterThan(0);
});
