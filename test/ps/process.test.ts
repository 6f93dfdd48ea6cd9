import { describe, expect, test } from 'vitest';
import { boot, buffer, bugCheckOf, bootState } from './fixture.ts';
import { IoAllocateMdl, IoFreeMdl, IoReadAccess, MmProbeAndLockPages, MmUnlockPages, UserMode, mdlAddress, mdlTrackerAddress } from '../../src/kernel/mm/mdl.ts';
import {
  KAPC_STATE, KeStackAttachProcess, KeUnstackDetachProcess, MAX_CREATE_PROCESS_NOTIFY_ROUTINES, PsSetCreateProcessNotifyRoutine, SYSTEM_PROCESS_ID,
} from '../../src/kernel/ps/process-manager.ts';
import { DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS, PROCESS_HAS_LOCKED_PAGES } from '../../src/kernel/bugcheck.ts';
import { STATUS_ACCESS_DENIED, STATUS_INSUFFICIENT_RESOURCES, STATUS_PROCESS_IS_TERMINATING, STATUS_SUCCESS } from '../../src/kernel/status.ts';
import { NtStatusError } from '../../src/kernel/status.ts';

const PAGE = 4096;

function leakLock(trackLockedPages: boolean, verifier = false) {
  const k = boot({ trackLockedPages, verifier });
  const p = k.ps.createProcess('switch-app');
  const va = buffer(p, 5 * PAGE);
  const m = IoAllocateMdl(k, va, 5 * PAGE, false, false, null)!;
  k.currentDriver = 'sanproxy.sys';
  k.ps.runInProcess(p, () => MmProbeAndLockPages(k, m, UserMode, IoReadAccess));
  k.currentDriver = null;
  return { k, p, m };
}

describe('process exit with pages still locked', () => {
  test('PROCESS_HAS_LOCKED_PAGES 0x76 (0, process id, pages, 0) without lock tracking', () => {
    const { k, p } = leakLock(false);
    const b = bugCheckOf(() => k.ps.terminateProcess(p, 0));
    expect([b.code, ...b.parameters]).toEqual([PROCESS_HAS_LOCKED_PAGES, 0, p.ProcessId, 5, 0]);
    expect(k.bugcheck.crashed).toBe(b);
    // The host is down: further kernel calls throw the same stop.
    expect(() => k.ps.createProcess('x')).toThrow(b);
  });

  test('DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS 0xCB (tracker, 0, MDL, pages) naming the driver with TrackLockedPages', () => {
    const { k, p, m } = leakLock(true);
    const b = bugCheckOf(() => k.ps.terminateProcess(p, 0));
    expect([b.code, ...b.parameters]).toEqual([DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS, mdlTrackerAddress(m), 0, mdlAddress(m), 5]);
    expect(b.detail).toContain('sanproxy.sys');
  });

  test('the verifier turns on lock tracking too (0xCB)', () => {
    const { k, p } = leakLock(false, true);
    expect(bugCheckOf(() => k.ps.terminateProcess(p, 0)).code).toBe(DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS);
  });

  test('a driver that unlocks in its process-exit notification avoids the bug check', () => {
    const { k, p, m } = leakLock(true);
    const s = PsSetCreateProcessNotifyRoutine(k, (_parent, pid, create) => {
      if (!create && pid === p.ProcessId) {
        expect(k.ps.current).toBe(p);
        MmUnlockPages(k, m);
        IoFreeMdl(k, m);
      }
    }, false);
    expect(s).toBe(STATUS_SUCCESS);
    expect(k.ps.terminateProcess(p, 0)).toBe(STATUS_SUCCESS);
  });
});

describe('process manager', () => {
  test('processes get distinct ids; System is 4 and cannot be terminated', () => {
    const k = boot();
    const a = k.ps.createProcess('a');
    const b = k.ps.createProcess('b');
    expect(a.ProcessId).not.toBe(b.ProcessId);
    expect(k.ps.current.ProcessId).toBe(SYSTEM_PROCESS_ID);
    expect(k.ps.terminateProcess(k.ps.system, 0)).toBe(STATUS_ACCESS_DENIED);
    expect(k.ps.terminateProcess(a, 0)).toBe(STATUS_SUCCESS);
    expect(k.ps.terminateProcess(a, 0)).toBe(STATUS_PROCESS_IS_TERMINATING);
    expect(k.ps.lookup(a.ProcessId)).toBeNull();
    expect(a.VirtualAlloc(0, PAGE, 0x3000, 4)).toBe(0);
  });

  // WDK "KeStackAttachProcess function (ntifs.h)": (PROCESS, out PRKAPC_STATE ApcState) — the caller
  // provides the KAPC_STATE and hands the same one to KeUnstackDetachProcess.
  test('KeStackAttachProcess fills the caller\'s KAPC_STATE and nests; detaching out of order bug-checks', () => {
    const k = boot();
    const a = k.ps.createProcess('a');
    const b = k.ps.createProcess('b');
    const sa = new KAPC_STATE();
    const sb = new KAPC_STATE();
    KeStackAttachProcess(k, a, sa);
    expect([sa.attachedTo, sa.previous, sa.active]).toEqual([a, k.ps.system, true]);
    KeStackAttachProcess(k, b, sb);
    expect(k.ps.current).toBe(b);
    KeUnstackDetachProcess(k, sb);
    expect(k.ps.current).toBe(a);
    KeUnstackDetachProcess(k, sa);
    expect(k.ps.current).toBe(k.ps.system);
    const s1 = new KAPC_STATE();
    KeStackAttachProcess(k, a, s1);
    KeStackAttachProcess(k, b, new KAPC_STATE());
    expect(bugCheckOf(() => KeUnstackDetachProcess(k, s1)).code).toBe(0x06);
  });

  test('a KAPC_STATE still in use cannot be attached again (0x05); a non-KAPC_STATE raises an access violation', () => {
    const k = boot();
    const a = k.ps.createProcess('a');
    const s = new KAPC_STATE();
    KeStackAttachProcess(k, a, s);
    expect(bugCheckOf(() => KeStackAttachProcess(k, a, s)).code).toBe(0x05);
    const k2 = boot();
    expect(() => KeStackAttachProcess(k2, k2.ps.createProcess('x'), {} as never)).toThrow(/KAPC_STATE/);
  });

  test('PsSetCreateProcessNotifyRoutine: 64 routines at most; a duplicate or an unknown removal is STATUS_INVALID_PARAMETER', () => {
    // WDK "PsSetCreateProcessNotifyRoutine function (ntddk.h)", return values.
    const k = boot();
    const routines = Array.from({ length: MAX_CREATE_PROCESS_NOTIFY_ROUTINES + 1 }, () => () => undefined);
    for (let i = 0; i < MAX_CREATE_PROCESS_NOTIFY_ROUTINES; i++) expect(PsSetCreateProcessNotifyRoutine(k, routines[i]!, false)).toBe(0);
    expect(PsSetCreateProcessNotifyRoutine(k, routines[MAX_CREATE_PROCESS_NOTIFY_ROUTINES]!, false)).toBe(0xc000000d);
    expect(PsSetCreateProcessNotifyRoutine(k, routines[0]!, false)).toBe(0xc000000d);
    expect(PsSetCreateProcessNotifyRoutine(k, routines[MAX_CREATE_PROCESS_NOTIFY_ROUTINES]!, true)).toBe(0xc000000d);
    expect(PsSetCreateProcessNotifyRoutine(k, routines[0]!, true)).toBe(0);
    expect(MAX_CREATE_PROCESS_NOTIFY_ROUTINES).toBe(64);
  });

  test('createProcess failure (fault injection) raises STATUS_INSUFFICIENT_RESOURCES and creates nothing', () => {
    const k = boot();
    const s0 = bootState(k);
    k.faults.setPolicy({ kind: 'always' }, { sites: ['PspCreateProcess'] });
    let status = 0;
    try {
      k.ps.createProcess('x');
    } catch (e) {
      status = (e as NtStatusError).status;
    }
    expect(status).toBe(STATUS_INSUFFICIENT_RESOURCES);
    expect(k.ps.processes.length).toBe(1);
    expect(bootState(k)).toEqual(s0);
  });

  test('two processes have separate address spaces at the same virtual address', () => {
    const k = boot();
    const a = k.ps.createProcess('a');
    const b = k.ps.createProcess('b');
    const va = buffer(a, PAGE);
    expect(buffer(b, PAGE)).toBe(va);
    a.writeMemory(va, new Uint8Array([1]));
    b.writeMemory(va, new Uint8Array([2]));
    const d = new Uint8Array(1);
    a.readMemory(va, d);
    expect(d[0]).toBe(1);
  });
});

test('kernel exit handlers (handle rundown) run before the locked-pages check, in the exiting process', () => {
  const { k, p, m } = leakLock(true);
  const order: string[] = [];
  PsSetCreateProcessNotifyRoutine(k, () => order.push('notify'), false);
  k.ps.addExitHandler((proc) => {
    order.push(`cleanup ${proc === p} current=${k.ps.current === p}`);
    MmUnlockPages(k, m); // IRP_MJ_CLEANUP in the proxy releases the registration
    IoFreeMdl(k, m);
  });
  expect(k.ps.terminateProcess(p, 0)).toBe(STATUS_SUCCESS);
  expect(order).toEqual(['notify', 'cleanup true current=true']);
  expect(p.state).toBe('terminated');
});
