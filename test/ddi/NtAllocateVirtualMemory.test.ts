import { describe, expect, test } from 'vitest';
import { boot, buffer, raisedStatus, bootState, GIB } from '../ps/fixture.ts';
import {
  MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE, NtAllocateVirtualMemory, NtFreeVirtualMemory,
  NtProtectVirtualMemory, PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE,
} from '../../src/kernel/mm/virtual-memory.ts';
import {
  STATUS_ACCESS_VIOLATION, STATUS_CONFLICTING_ADDRESSES, STATUS_FREE_VM_NOT_AT_BASE, STATUS_INVALID_PAGE_PROTECTION,
  STATUS_INVALID_PARAMETER, STATUS_MEMORY_NOT_ALLOCATED, STATUS_NO_MEMORY, STATUS_NOT_COMMITTED, STATUS_SUCCESS,
  STATUS_UNABLE_TO_FREE_VM,
} from '../../src/kernel/status.ts';
import { ERROR_INVALID_ADDRESS, ERROR_NOT_ENOUGH_MEMORY } from '../../src/kernel/ps/process.ts';
import { ref } from '../../src/kernel/ref.ts';

const PAGE = 4096;

describe('NtAllocateVirtualMemory', () => {
  test('MEM_RESERVE rounds the base down to 64 KiB and the size up to pages', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const r = NtAllocateVirtualMemory(k, p, 0x1234_5678, 100, MEM_RESERVE, PAGE_READWRITE);
    expect(r.status).toBe(STATUS_SUCCESS);
    expect(r.baseAddress).toBe(0x1234_0000);
    expect(r.regionSize).toBe(0x6000); // [0x1234_0000, page_ceil(0x1234_5678 + 100))
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
    // The freed frame keeps its bytes; the next demand-zero page must not show them.
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

  test('bad input gets an NTSTATUS and changes nothing', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const before = p.space.regions.length;
    expect(NtAllocateVirtualMemory(k, p, 0, 0, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER);
    expect(NtAllocateVirtualMemory(k, p, 0, PAGE, 0x40, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER);
    expect(NtAllocateVirtualMemory(k, p, 0, PAGE, MEM_RESERVE, 0x40).status).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(NtAllocateVirtualMemory(k, p, 0x7fff_fffe_0000, 0x2_0000, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER);
    expect(NtAllocateVirtualMemory(k, p, 0x8000_0000_0000, PAGE, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER);
    expect(NtAllocateVirtualMemory(k, p, -1, PAGE, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER);
    expect(NtAllocateVirtualMemory(k, p, 0, Number.NaN, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_INVALID_PARAMETER);
    const va = buffer(p, PAGE);
    expect(NtAllocateVirtualMemory(k, p, va, PAGE, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_CONFLICTING_ADDRESSES);
    expect(NtAllocateVirtualMemory(k, p, va + 0x10_0000, PAGE, MEM_COMMIT, PAGE_READWRITE).status).toBe(STATUS_CONFLICTING_ADDRESSES);
    expect(p.space.regions.length).toBe(before + 1);
  });

  test('fault injection: a refused reservation returns STATUS_NO_MEMORY and VirtualAlloc sets ERROR_NOT_ENOUGH_MEMORY', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    k.faults.setPolicy({ kind: 'always' }, { sites: ['NtAllocateVirtualMemory'] });
    expect(NtAllocateVirtualMemory(k, p, 0, PAGE, MEM_RESERVE, PAGE_READWRITE).status).toBe(STATUS_NO_MEMORY);
    expect(p.VirtualAlloc(0, PAGE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)).toBe(0);
    expect(p.lastError).toBe(ERROR_NOT_ENOUGH_MEMORY);
    expect(p.space.regions.length).toBe(0);
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

describe('NtFreeVirtualMemory', () => {
  test('MEM_DECOMMIT frees the frames; the range reads as an access violation afterwards', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const free0 = k.mm.counters().freePages;
    const va = buffer(p, 4 * PAGE);
    p.writeMemory(va, new Uint8Array(4 * PAGE).fill(7));
    expect(k.mm.counters().freePages).toBe(free0 - 4);
    expect(p.VirtualFree(va + PAGE, 2 * PAGE, MEM_DECOMMIT)).toBe(true);
    expect(k.mm.counters().freePages).toBe(free0 - 2);
    expect(raisedStatus(() => p.readMemory(va + PAGE, new Uint8Array(1)))).toBe(STATUS_ACCESS_VIOLATION);
    const d = new Uint8Array(1);
    p.readMemory(va + 3 * PAGE, d);
    expect(d[0]).toBe(7);
  });

  test('MEM_RELEASE needs the region base and size 0 (or the whole region)', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 4 * PAGE);
    expect(NtFreeVirtualMemory(k, p, va + PAGE, 0, MEM_RELEASE).status).toBe(STATUS_FREE_VM_NOT_AT_BASE);
    expect(NtFreeVirtualMemory(k, p, va, PAGE, MEM_RELEASE).status).toBe(STATUS_UNABLE_TO_FREE_VM);
    expect(NtFreeVirtualMemory(k, p, va, 0, MEM_RELEASE | MEM_DECOMMIT).status).toBe(STATUS_INVALID_PARAMETER);
    expect(NtFreeVirtualMemory(k, p, va, 8 * PAGE, MEM_DECOMMIT).status).toBe(STATUS_UNABLE_TO_FREE_VM);
    expect(NtFreeVirtualMemory(k, p, va, 0, MEM_RELEASE).status).toBe(STATUS_SUCCESS);
    expect(NtFreeVirtualMemory(k, p, va, 0, MEM_RELEASE).status).toBe(STATUS_MEMORY_NOT_ALLOCATED);
    expect(p.VirtualFree(va, 0, MEM_RELEASE)).toBe(false);
    expect(p.lastError).toBe(ERROR_INVALID_ADDRESS);
  });
});

describe('NtProtectVirtualMemory', () => {
  test('returns the old protection and enforces the new one on reads and writes', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 2 * PAGE);
    const old = ref(0);
    expect(p.VirtualProtect(va, PAGE, PAGE_READONLY, old)).toBe(true);
    expect(old.value).toBe(PAGE_READWRITE);
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

  test('uncommitted pages and bad protections are refused', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = p.VirtualAlloc(0, 2 * PAGE, MEM_RESERVE, PAGE_READWRITE);
    expect(NtProtectVirtualMemory(k, p, va, PAGE, PAGE_READONLY).status).toBe(STATUS_NOT_COMMITTED);
    expect(NtProtectVirtualMemory(k, p, va, PAGE, 0x20).status).toBe(STATUS_INVALID_PAGE_PROTECTION);
    expect(NtProtectVirtualMemory(k, p, 0x4000_0000, PAGE, PAGE_READONLY).status).toBe(STATUS_MEMORY_NOT_ALLOCATED);
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
