/**
 * NtFreeVirtualMemory [ddi/ntifs nf-ntifs-ntfreevirtualmemory]; statuses as ReactOS kmtests
 * modules/rostests/kmtests/ntos_mm/ZwAllocateVirtualMemory.c and
 * MmMapLockedPagesSpecifyCache_user.c (CHECK_ALLOC) record them.
 */
import { describe, expect, test } from 'vitest';
import { boot, buffer, raisedStatus } from '../ps/fixture.ts';
import {
  MEM_DECOMMIT, MEM_RELEASE, NtFreeVirtualMemory,
} from '../../src/kernel/mm/virtual-memory.ts';
import {
  STATUS_ACCESS_VIOLATION, STATUS_FREE_VM_NOT_AT_BASE, STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER_2,
  STATUS_INVALID_PARAMETER_3, STATUS_INVALID_PARAMETER_4, STATUS_MEMORY_NOT_ALLOCATED, STATUS_SUCCESS, STATUS_UNABLE_TO_FREE_VM,
} from '../../src/kernel/status.ts';
import { ERROR_INVALID_ADDRESS } from '../../src/kernel/ps/process.ts';
import { MM_SYSTEM_RANGE_START } from '../../src/kernel/mm/system-space.ts';
import { ref } from '../../src/kernel/ref.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import type { Process } from '../../src/kernel/ps/process.ts';

const PAGE = 4096;
const free = (k: Kernel, p: unknown, base: number, size: number, type: number) => NtFreeVirtualMemory(k, p as Process, ref(base), ref(size), type);

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

  test('MEM_RELEASE needs the region base (STATUS_FREE_VM_NOT_AT_BASE) and size 0 or the whole region', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, 4 * PAGE);
    expect(free(k, p, va + PAGE, 0, MEM_RELEASE)).toBe(STATUS_FREE_VM_NOT_AT_BASE);
    expect(free(k, p, va, PAGE, MEM_RELEASE)).toBe(STATUS_UNABLE_TO_FREE_VM);
    expect(free(k, p, va, 8 * PAGE, MEM_DECOMMIT)).toBe(STATUS_UNABLE_TO_FREE_VM);
    const b = ref(va);
    const s = ref(0);
    expect(NtFreeVirtualMemory(k, p, b, s, MEM_RELEASE)).toBe(STATUS_SUCCESS);
    expect([b.value, s.value]).toEqual([va, 4 * PAGE]);
    expect(free(k, p, va, 0, MEM_RELEASE)).toBe(STATUS_MEMORY_NOT_ALLOCATED);
    expect(p.VirtualFree(va, 0, MEM_RELEASE)).toBe(false);
    expect(p.lastError).toBe(ERROR_INVALID_ADDRESS);
  });

  test('FreeType other than exactly MEM_DECOMMIT or MEM_RELEASE is STATUS_INVALID_PARAMETER_4', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    const va = buffer(p, PAGE);
    for (const t of [MEM_RELEASE | MEM_DECOMMIT, 0, 0x1000, -1]) expect(free(k, p, va, 0, t)).toBe(STATUS_INVALID_PARAMETER_4);
  });

  test('a system address is STATUS_INVALID_PARAMETER_2, a range past user space STATUS_INVALID_PARAMETER_3 (kmtests)', () => {
    const k = boot();
    const p = k.ps.createProcess('app');
    expect(free(k, p, MM_SYSTEM_RANGE_START + 200, 0, MEM_RELEASE)).toBe(STATUS_INVALID_PARAMETER_2);
    expect(free(k, p, 0x7fff_fff0_0000, 0x100_0000, MEM_DECOMMIT)).toBe(STATUS_INVALID_PARAMETER_3);
  });

  test('a handle that is not a process is STATUS_INVALID_HANDLE (kmtests "HANDLE TESTS")', () => {
    const k = boot();
    expect(free(k, null, 0x1_0000, 0, MEM_RELEASE)).toBe(STATUS_INVALID_HANDLE);
  });
});
