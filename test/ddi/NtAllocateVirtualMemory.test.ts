/**
 * NtAllocateVirtualMemory [ddi/ntifs nf-ntifs-ntallocatevirtualmemory]. Facts carried over from
 * ReactOS kmtests modules/rostests/kmtests/ntos_mm/ZwAllocateVirtualMemory.c (SimpleErrorChecks,
 * CustomBaseAllocation, SimpleAllocation), and the parameter-check order of
 * ntoskrnl/mm/ARM3/virtual.c.
 */
import { describe, expect, test } from 'vitest';
import { boot, buffer, raisedStatus, GIB } from '../ps/fixture.ts';
import {
  MEM_COMMIT, MEM_LARGE_PAGES, MEM_PHYSICAL, MEM_RESERVE, MEM_RESET, MEM_TOP_DOWN, MEM_WRITE_WATCH, NtAllocateVirtualMemory,
  NtFreeVirtualMemory, PAGE_EXECUTE_WRITECOPY, PAGE_GUARD, PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, PAGE_WRITECOMBINE,
  PAGE_WRITECOPY, MEM_RELEASE,
} from '../../src/kernel/mm/virtual-memory.ts';
import {
  STATUS_ACCESS_VIOLATION, STATUS_CONFLICTING_ADDRESSES, STATUS_INVALID_HANDLE, STATUS_INVALID_PAGE_PROTECTION,
  STATUS_INVALID_PARAMETER_2, STATUS_INVALID_PARAMETER_3, STATUS_INVALID_PARAMETER_4, STATUS_INVALID_PARAMETER_5,
  STATUS_NO_MEMORY, STATUS_NOT_SUPPORTED, STATUS_SUCCESS,
} from '../../src/kernel/status.ts';
import { ERROR_INVALID_PARAMETER, ERROR_NOT_ENOUGH_MEMORY } from '../../src/kernel/ps/process.ts';
import { MM_SYSTEM_RANGE_START } from '../../src/kernel/mm/system-space.ts';
import { MM_HIGHEST_VAD_ADDRESS } from '../../src/kernel/ps/address-space.ts';
import { ref } from '../../src/kernel/ref.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import type { Process } from '../../src/kernel/ps/process.ts';

const PAGE = 4096;

/** One call with fresh in/out boxes; returns the status and what the boxes hold after. */
function allocate(k: Kernel, p: unknown, base: number, zeroBits: number, size: number, type: number, protect: number) {
  const b = ref(base);
  const s = ref(size);
  const status = NtAllocateVirtualMemory(k, p as Process, b, zeroBits, s, type, protect);
  return { status, base: b.value, size: s.value };
}

describe('NtAllocateVirtualMemory', () => {
  test('MEM_RESERVE at a base rounds it down to 64 KiB and the end up to a page (kmtests CustomBaseAllocation)', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    // Base 0x60025000, 200 bytes: base 0x60020000, size 0x6000 (to the end of the page holding the last byte).
    const r = allocate(k, p, 0x6002_5000, 0, 200, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
    expect(r).toEqual({ status: STATUS_SUCCESS, base: 0x6002_0000, size: 0x6000 });
    // Freeing it with RegionSize 0 reports the whole region back.
    const b = ref(r.base);
    const s = ref(0);
    expect(NtFreeVirtualMemory(k, p, b, s, MEM_RELEASE)).toBe(STATUS_SUCCESS);
    expect(s.value).toBe(0x6000);
  });

  test('a blind MEM_COMMIT (BaseAddress NULL) reserves and commits whole pages of zeroes (kmtests SimpleAllocation)', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const r = allocate(k, p, 0, 0, 200, MEM_COMMIT, PAGE_READWRITE);
    expect(r.status).toBe(STATUS_SUCCESS);
    expect(r.size).toBe(PAGE);
    const d = new Uint8Array(PAGE).fill(1);
    p.readMemory(r.base, d);
    expect(d.every((x) => x === 0)).toBe(true);
  });

  test('MEM_TOP_DOWN | MEM_COMMIT is valid and takes the highest free range; MEM_TOP_DOWN alone is STATUS_INVALID_PARAMETER_5', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const low = allocate(k, p, 0, 0, PAGE, MEM_COMMIT, PAGE_READWRITE);
    const top = allocate(k, p, 0, 0, PAGE, MEM_TOP_DOWN | MEM_COMMIT, PAGE_READWRITE);
    expect(top.status).toBe(STATUS_SUCCESS);
    expect(top.base).toBeGreaterThan(low.base);
    expect(top.base + top.size).toBeLessThanOrEqual(MM_HIGHEST_VAD_ADDRESS + 1);
    expect(top.base % 0x1_0000).toBe(0);
    const again = allocate(k, p, 0, 0, PAGE, MEM_TOP_DOWN | MEM_RESERVE, PAGE_READWRITE);
    expect(again.base).toBeLessThan(top.base);
    expect(allocate(k, p, 0, 0, PAGE, MEM_TOP_DOWN, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER_5);
  });

  test('AllocationType is checked as STATUS_INVALID_PARAMETER_5 (kmtests "Allocation type tests")', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    for (const t of [MEM_PHYSICAL, MEM_COMMIT | MEM_RESET, 0, MEM_TOP_DOWN | MEM_RESET, MEM_PHYSICAL | MEM_COMMIT,
      MEM_RESET | MEM_COMMIT | MEM_RESERVE, -1, 0x40, MEM_WRITE_WATCH | MEM_COMMIT, MEM_LARGE_PAGES | MEM_RESERVE]) {
      expect(allocate(k, p, 0, 0, PAGE, t, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER_5);
    }
    expect(allocate(k, p, 0, 0, PAGE, MEM_COMMIT, PAGE_READWRITE).status).toBe(STATUS_SUCCESS);
    expect(allocate(k, p, 0, 0, PAGE, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_SUCCESS);
    // Valid in Windows, not modelled here (AWE, reset, write watch): a deviation kept, named.
    expect(allocate(k, p, 0, 0, PAGE, MEM_PHYSICAL | MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_NOT_SUPPORTED);
    expect(allocate(k, p, 0, 0, PAGE, MEM_RESET, PAGE_READWRITE).status).toBe(STATUS_NOT_SUPPORTED);
  });

  test('Protect is checked: 0, -1, NOACCESS with a modifier, copy-on-write for private memory → STATUS_INVALID_PAGE_PROTECTION', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    for (const prot of [0, -1, PAGE_NOACCESS | PAGE_GUARD, PAGE_NOACCESS | PAGE_WRITECOMBINE, 0x3]) {
      expect(allocate(k, p, 0, 0, PAGE, MEM_COMMIT | MEM_RESERVE, prot).status).toBe(STATUS_INVALID_PAGE_PROTECTION);
    }
    expect(allocate(k, p, 0, 0, PAGE, MEM_RESERVE, PAGE_WRITECOPY).status).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(allocate(k, p, 0, 0, PAGE, MEM_RESERVE, PAGE_EXECUTE_WRITECOPY).status).toBe(STATUS_INVALID_PAGE_PROTECTION);
    // A cache modifier on an accessible page is valid (kmtests: PAGE_READONLY | PAGE_WRITECOMBINE succeeds).
    expect(allocate(k, p, 0, 0, PAGE, MEM_COMMIT | MEM_RESERVE, PAGE_READONLY | PAGE_WRITECOMBINE).status).toBe(STATUS_SUCCESS);
  });

  test('a base above MM_HIGHEST_VAD_ADDRESS is STATUS_INVALID_PARAMETER_2 (kmtests: MmSystemRangeStart + 200)', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    expect(allocate(k, p, MM_SYSTEM_RANGE_START + 200, 0, PAGE, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER_2);
    expect(allocate(k, p, MM_SYSTEM_RANGE_START + 0x1000, 0, PAGE, MEM_COMMIT, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER_2);
    expect(allocate(k, p, -1, 0, PAGE, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER_2);
  });

  test('RegionSize 0, -1 or past the top of user space is STATUS_INVALID_PARAMETER_4 (kmtests "REGION SIZE TESTS")', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    for (const size of [0, -1, Number.NaN, 2 ** 48]) {
      expect(allocate(k, p, 0, 0, size, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER_4);
    }
    expect(allocate(k, p, 0x7fff_fffd_0000, 0, 0x2_0000, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER_4);
  });

  test('ZeroBits above 21 is STATUS_INVALID_PARAMETER_3; 21 leaves no room (STATUS_NO_MEMORY); 3 limits the base (kmtests "ZERO BITS TESTS")', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    expect(allocate(k, p, 0, 22, PAGE, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER_3);
    expect(allocate(k, p, 0, -1, PAGE, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER_3);
    expect(allocate(k, p, 0, 21, PAGE, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_NO_MEMORY);
    const r = allocate(k, p, 0, 3, PAGE, MEM_COMMIT | MEM_RESERVE | MEM_TOP_DOWN, PAGE_READWRITE);
    expect(r.status).toBe(STATUS_SUCCESS);
    expect(r.base + r.size).toBeLessThanOrEqual(2 ** 29);
  });

  test('a handle that is not a process is STATUS_INVALID_HANDLE, after the parameter checks (kmtests "HANDLE TESTS")', () => {
    const k = boot();
    expect(allocate(k, null, 0, 0, PAGE, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_HANDLE);
    expect(allocate(k, 0xdeadbeef, 0, 0, PAGE, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_HANDLE);
    expect(allocate(k, null, 0, 22, PAGE, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER_3);
  });

  test('out parameters that are not boxes are STATUS_ACCESS_VIOLATION (the capture faults)', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    expect(NtAllocateVirtualMemory(k, p, null as never, 0, ref(PAGE), MEM_COMMIT, PAGE_READWRITE)).toBe(STATUS_ACCESS_VIOLATION);
    expect(NtAllocateVirtualMemory(k, p, ref(0), 0, 7 as never, MEM_COMMIT, PAGE_READWRITE)).toBe(STATUS_ACCESS_VIOLATION);
  });

  test('a failure leaves the boxes and the address space as they were', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, PAGE);
    const regions = p.space.regions.length;
    const b = ref(va);
    const s = ref(PAGE);
    expect(NtAllocateVirtualMemory(k, p, b, 0, s, MEM_RESERVE, PAGE_READWRITE)).toBe(STATUS_CONFLICTING_ADDRESSES);
    expect([b.value, s.value]).toEqual([va, PAGE]);
    expect(allocate(k, p, va + 0x10_0000, 0, PAGE, MEM_COMMIT, PAGE_READWRITE).status).toBe(STATUS_CONFLICTING_ADDRESSES);
    expect(p.space.regions.length).toBe(regions);
  });

  test('reserved but uncommitted memory is an access violation; commit makes it demand-zero', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = p.VirtualAlloc(0, 4 * PAGE, MEM_RESERVE, PAGE_READWRITE);
    expect(raisedStatus(() => p.writeMemory(va, new Uint8Array([1])))).toBe(STATUS_ACCESS_VIOLATION);
    expect(p.VirtualAlloc(va + PAGE, PAGE, MEM_COMMIT, PAGE_READWRITE)).toBe(va + PAGE);
    expect(p.residentPages).toBe(0);
    const d = new Uint8Array(PAGE).fill(0xee);
    p.readMemory(va + PAGE, d);
    expect(d.every((b) => b === 0)).toBe(true);
    expect(p.residentPages).toBe(1);
  });

  test('demand-zero: first touch takes a page and zeroes it even if the frame held old data', () => {
    const k = boot();
    const a = k.ps.createProcess('a');
    const va = buffer(a, PAGE);
    a.writeMemory(va, new Uint8Array(PAGE).fill(0x5a));
    expect(a.VirtualFree(va, 0, MEM_RELEASE)).toBe(true);
    const b = k.ps.createProcess('b');
    const vb = buffer(b, PAGE);
    const d = new Uint8Array(PAGE);
    b.readMemory(vb, d);
    expect(d.every((x) => x === 0)).toBe(true);
  });

  test('demand-zero honours NOLOWMEM: user pages come from above 4 GiB', () => {
    const k = boot({ ramBytes: 6 * GIB, nolowmem: true });
    const p = k.ps.createProcess('app');
    const va = buffer(p, 16 * PAGE);
    p.writeMemory(va, new Uint8Array(16 * PAGE).fill(1));
    for (const v of p.space.regions) for (const f of v.pfn) if (f >= 0) expect(f).toBeGreaterThanOrEqual(0x10_0000);
  });

  test('fault injection: a refused reservation returns STATUS_NO_MEMORY; VirtualAlloc sets ERROR_NOT_ENOUGH_MEMORY, success leaves the last error', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    expect(p.VirtualAlloc(0, 0, MEM_RESERVE, PAGE_READWRITE)).toBe(0);
    expect(p.lastError).toBe(ERROR_INVALID_PARAMETER);
    // kernel32 sets the last error only on failure.
    expect(p.VirtualAlloc(0, PAGE, MEM_RESERVE, PAGE_READWRITE)).not.toBe(0);
    expect(p.lastError).toBe(ERROR_INVALID_PARAMETER);
    k.faults.setPolicy({ kind: 'always' }, { sites: ['NtAllocateVirtualMemory'] });
    expect(allocate(k, p, 0, 0, PAGE, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_NO_MEMORY);
    expect(p.VirtualAlloc(0, PAGE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)).toBe(0);
    expect(p.lastError).toBe(ERROR_NOT_ENOUGH_MEMORY);
    expect(p.space.regions.length).toBe(1);
  });

  test('a demand-zero fault with no page raises STATUS_NO_MEMORY and faults nothing in', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 8 * PAGE);
    k.faults.setPolicy({ kind: 'nth', n: 5 }, { sites: ['WriteProcessMemory'] });
    expect(raisedStatus(() => p.writeMemory(va, new Uint8Array(8 * PAGE)))).toBe(STATUS_NO_MEMORY);
    expect(p.residentPages).toBe(0);
  });
});
