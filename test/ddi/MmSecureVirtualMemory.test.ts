import { describe, expect, test } from 'vitest';
import { boot, buffer, bugCheckOf, bootState } from '../ps/fixture.ts';
import { MmSecureVirtualMemory, MmUnsecureVirtualMemory } from '../../src/kernel/mm/secure.ts';
import {
  MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE, NtFreeVirtualMemory, NtProtectVirtualMemory,
  PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE,
} from '../../src/kernel/mm/virtual-memory.ts';
import { STATUS_INVALID_PAGE_PROTECTION, STATUS_SUCCESS } from '../../src/kernel/status.ts';
import { MEMORY_MANAGEMENT } from '../../src/kernel/bugcheck.ts';
import { ref } from '../../src/kernel/ref.ts';

const PAGE = 4096;

function secured(probeMode = PAGE_READWRITE) {
  const k = boot();
  const p = k.ps.createProcess('app');
  const va = buffer(p, 4 * PAGE);
  const h = k.ps.runInProcess(p, () => MmSecureVirtualMemory(k, va + PAGE, 2 * PAGE, probeMode))!;
  expect(h).not.toBeNull();
  return { k, p, va, h };
}

describe('MmSecureVirtualMemory', () => {
  test('a secured range cannot be released or decommitted (STATUS_INVALID_PAGE_PROTECTION), the rest can', () => {
    const { k, p, va } = secured();
    expect(NtFreeVirtualMemory(k, p, ref(va), ref(0), MEM_RELEASE)).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(NtFreeVirtualMemory(k, p, ref(va + 2 * PAGE), ref(PAGE), MEM_DECOMMIT)).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(NtFreeVirtualMemory(k, p, ref(va + 3 * PAGE), ref(PAGE), MEM_DECOMMIT)).toBe(STATUS_SUCCESS);
    expect(p.VirtualFree(va, 0, MEM_RELEASE)).toBe(false);
    expect(p.space.regions.length).toBe(1);
  });

  test('ProbeMode PAGE_READWRITE forbids READONLY and NOACCESS; PAGE_READONLY forbids only NOACCESS', () => {
    const rw = secured(PAGE_READWRITE);
    expect(NtProtectVirtualMemory(rw.k, rw.p, ref(rw.va + PAGE), ref(PAGE), PAGE_READONLY, ref(0))).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(NtProtectVirtualMemory(rw.k, rw.p, ref(rw.va + PAGE), ref(PAGE), PAGE_NOACCESS, ref(0))).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(NtProtectVirtualMemory(rw.k, rw.p, ref(rw.va), ref(PAGE), PAGE_NOACCESS, ref(0))).toBe(STATUS_SUCCESS);
    const ro = secured(PAGE_READONLY);
    expect(NtProtectVirtualMemory(ro.k, ro.p, ref(ro.va + PAGE), ref(PAGE), PAGE_READONLY, ref(0))).toBe(STATUS_SUCCESS);
    expect(NtProtectVirtualMemory(ro.k, ro.p, ref(ro.va + PAGE), ref(PAGE), PAGE_NOACCESS, ref(0))).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(NtProtectVirtualMemory(ro.k, ro.p, ref(ro.va + PAGE), ref(PAGE), PAGE_READWRITE, ref(0))).toBe(STATUS_SUCCESS);
  });

  test('secured-release notification order: callbacks see the still-allocated range, then the release succeeds', () => {
    const { k, p, va, h } = secured();
    const log: string[] = [];
    p.AddSecureMemoryCacheCallback((addr, range) => {
      log.push(`first ${addr.toString(16)} ${range.toString(16)} mapped=${p.space.find(va) !== null}`);
      return false; // not ours
    });
    p.AddSecureMemoryCacheCallback((addr, range) => {
      log.push(`cache ${addr.toString(16)} ${range.toString(16)} current=${k.ps.current === p}`);
      MmUnsecureVirtualMemory(k, h); // what the switch's provider asks the proxy to do
      return true;
    });
    expect(p.VirtualFree(va, 0, MEM_RELEASE)).toBe(true);
    expect(log).toEqual([
      `first ${va.toString(16)} ${(4 * PAGE).toString(16)} mapped=true`,
      `cache ${va.toString(16)} ${(4 * PAGE).toString(16)} current=true`,
    ]);
    expect(p.space.find(va)).toBeNull();
  });

  test('if the range is still secured after the callbacks, the release fails and nothing changes', () => {
    const { p, va } = secured();
    let calls = 0;
    const cb = () => {
      calls++;
      return true; // claims it unsecured but did not
    };
    p.AddSecureMemoryCacheCallback(cb);
    expect(p.VirtualFree(va, 0, MEM_RELEASE)).toBe(false);
    expect(p.lastStatus).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(calls).toBe(1);
    expect(p.VirtualProtect(va + PAGE, PAGE, PAGE_READONLY, ref(0))).toBe(false);
    expect(calls).toBe(2);
    expect(p.RemoveSecureMemoryCacheCallback(cb)).toBe(true);
    expect(p.RemoveSecureMemoryCacheCallback(cb)).toBe(false);
    expect(p.space.find(va)!.committed).toBe(4);
  });

  test('NULL for uncommitted, too-protected, kernel, zero-length, wrapping ranges and bad ProbeMode', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const reserved = p.VirtualAlloc(0, 2 * PAGE, MEM_RESERVE, PAGE_READWRITE);
    const va = buffer(p, 2 * PAGE);
    p.VirtualProtect(va, PAGE, PAGE_READONLY, ref(0));
    k.ps.runInProcess(p, () => {
      expect(MmSecureVirtualMemory(k, reserved, PAGE, PAGE_READONLY)).toBeNull();
      expect(MmSecureVirtualMemory(k, va, PAGE, PAGE_READWRITE)).toBeNull();
      expect(MmSecureVirtualMemory(k, va, PAGE, PAGE_READONLY)).not.toBeNull();
      expect(MmSecureVirtualMemory(k, va, 0, PAGE_READONLY)).toBeNull();
      expect(MmSecureVirtualMemory(k, 0x8000_0000_0000, PAGE, PAGE_READONLY)).toBeNull();
      expect(MmSecureVirtualMemory(k, va, 2 ** 52, PAGE_READONLY)).toBeNull();
      expect(MmSecureVirtualMemory(k, va, PAGE, PAGE_NOACCESS)).toBeNull();
      k.faults.setPolicy({ kind: 'always' }, { sites: ['MmSecureVirtualMemory'] });
      expect(MmSecureVirtualMemory(k, va, PAGE, PAGE_READONLY)).toBeNull();
    });
    expect(p.secureEntries.size).toBe(1);
  });
});

describe('MmUnsecureVirtualMemory', () => {
  test('unsecuring twice bug-checks MEMORY_MANAGEMENT 0x15001', () => {
    const { k, p, h } = secured();
    k.ps.runInProcess(p, () => MmUnsecureVirtualMemory(k, h));
    const b = bugCheckOf(() => k.ps.runInProcess(p, () => MmUnsecureVirtualMemory(k, h)));
    expect([b.code, b.parameters[0], b.parameters[1]]).toEqual([MEMORY_MANAGEMENT, 0x15001, h]);
  });

  test('a handle never returned by MmSecureVirtualMemory bug-checks 0x15000; another process\'s handle 0x15001', () => {
    const { k, h } = secured();
    expect(bugCheckOf(() => MmUnsecureVirtualMemory(k, 0x1234)).parameters[0]).toBe(0x15000);
    const s = secured();
    const other = s.k.ps.createProcess('other');
    expect(bugCheckOf(() => s.k.ps.runInProcess(other, () => MmUnsecureVirtualMemory(s.k, s.h))).parameters[0]).toBe(0x15001);
    void h;
  });

  test('secures are dropped automatically at process exit and the release then happens', () => {
    const k = boot();
    const s0 = bootState(k);
    const p = k.ps.createProcess('app');
    const va = buffer(p, 2 * PAGE);
    p.writeMemory(va, new Uint8Array(2 * PAGE).fill(1));
    k.ps.runInProcess(p, () => MmSecureVirtualMemory(k, va, 2 * PAGE, PAGE_READWRITE));
    expect(k.ps.terminateProcess(p, 0)).toBe(STATUS_SUCCESS);
    expect(p.secureEntries.size).toBe(0);
    expect(bootState(k)).toEqual(s0);
  });
});

test('committing already-committed secured pages to a more restrictive protection is refused', () => {
  const { k, p, va } = secured();
  expect(p.VirtualAlloc(va + PAGE, PAGE, MEM_COMMIT, PAGE_READONLY)).toBe(0);
  expect(p.lastStatus).toBe(STATUS_INVALID_PAGE_PROTECTION);
  void k;
});
