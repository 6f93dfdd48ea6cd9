/**
 * NtProtectVirtualMemory [ddi/ntifs nf-ntifs-ntprotectvirtualmemory]: the parameter checks in
 * the order ReactOS ntoskrnl/mm/ARM3/virtual.c makes them (protection, then BaseAddress → _2,
 * size → _3), committed pages only.
 */
import { describe, expect, test } from 'vitest';
import { boot, buffer, raisedStatus, bootState } from '../ps/fixture.ts';
import {
  MEM_RESERVE, NtProtectVirtualMemory, PAGE_EXECUTE_READ, PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE,
} from '../../src/kernel/mm/virtual-memory.ts';
import {
  STATUS_ACCESS_VIOLATION, STATUS_INVALID_PAGE_PROTECTION, STATUS_INVALID_PARAMETER_2, STATUS_INVALID_PARAMETER_3,
  STATUS_MEMORY_NOT_ALLOCATED, STATUS_NOT_COMMITTED, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
} from '../../src/kernel/status.ts';
import { MM_SYSTEM_RANGE_START } from '../../src/kernel/mm/system-space.ts';
import { ref } from '../../src/kernel/ref.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import type { Process } from '../../src/kernel/ps/process.ts';

const PAGE = 4096;
const protect = (k: Kernel, p: Process, base: number, size: number, prot: number) =>
  NtProtectVirtualMemory(k, p, ref(base), ref(size), prot, ref(0));

describe('NtProtectVirtualMemory', () => {
  test('returns the old protection and the rounded range, and enforces the new one on reads and writes', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 2 * PAGE);
    const b = ref(va + 10);
    const s = ref(20);
    const old = ref(0);
    expect(NtProtectVirtualMemory(k, p, b, s, PAGE_READONLY, old)).toBe(STATUS_SUCCESS);
    expect([b.value, s.value, old.value]).toEqual([va, PAGE, PAGE_READWRITE]);
    p.readMemory(va, new Uint8Array(4));
    expect(raisedStatus(() => p.writeMemory(va, new Uint8Array(4)))).toBe(STATUS_ACCESS_VIOLATION);
    expect(p.VirtualProtect(va, PAGE, PAGE_NOACCESS, old)).toBe(true);
    expect(old.value).toBe(PAGE_READONLY);
    expect(raisedStatus(() => p.readMemory(va, new Uint8Array(4)))).toBe(STATUS_ACCESS_VIOLATION);
  });

  test('a write spanning a writable and a read-only page changes no byte', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 2 * PAGE);
    p.VirtualProtect(va + PAGE, PAGE, PAGE_READONLY, ref(0));
    expect(raisedStatus(() => p.writeMemory(va + PAGE - 2, new Uint8Array([9, 9, 9, 9])))).toBe(STATUS_ACCESS_VIOLATION);
    const d = new Uint8Array(2);
    p.readMemory(va + PAGE - 2, d);
    expect([...d]).toEqual([0, 0]);
  });

  test('uncommitted pages (STATUS_NOT_COMMITTED), bad protections and unallocated ranges are refused', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = p.VirtualAlloc(0, 2 * PAGE, MEM_RESERVE, PAGE_READWRITE);
    expect(protect(k, p, va, PAGE, PAGE_READONLY)).toBe(STATUS_NOT_COMMITTED);
    expect(protect(k, p, va, PAGE, 0x3)).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(protect(k, p, va, PAGE, 0)).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(protect(k, p, va, PAGE, PAGE_EXECUTE_READ)).toBe(STATUS_NOT_SUPPORTED);
    expect(protect(k, p, 0x4000_0000, PAGE, PAGE_READONLY)).toBe(STATUS_MEMORY_NOT_ALLOCATED);
  });

  test('BaseAddress above MM_HIGHEST_USER_ADDRESS is STATUS_INVALID_PARAMETER_2; a size of 0 or past user space _3', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, PAGE);
    expect(protect(k, p, MM_SYSTEM_RANGE_START, PAGE, PAGE_READONLY)).toBe(STATUS_INVALID_PARAMETER_2);
    expect(protect(k, p, va, 0, PAGE_READONLY)).toBe(STATUS_INVALID_PARAMETER_3);
    expect(protect(k, p, va, 2 ** 47, PAGE_READONLY)).toBe(STATUS_INVALID_PARAMETER_3);
  });

  test('process exit returns every frame and owner: counters back to boot values', () => {
    const k = boot();
    const s0 = bootState(k);
    const p = k.ps.createProcess('app');
    const va = buffer(p, 64 * PAGE);
    p.writeMemory(va, new Uint8Array(64 * PAGE).fill(3));
    expect(k.ps.terminateProcess(p, 0)).toBe(STATUS_SUCCESS);
    expect(bootState(k)).toEqual(s0);
    expect(k.mm.audit()).toEqual([]);
  });
});
