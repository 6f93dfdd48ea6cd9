/**
 * The verifier's checks, each tried with a deliberately buggy driver (the right stop code and
 * parameters, recorded as a finding with our own call sites) and with a correct driver that
 * must leave no finding.
 */
import { describe, expect, it } from 'vitest';
import { FOUR_GIB, PAGE_SIZE } from '../../src/bus/index.ts';
import { DRIVER_VERIFIER_DETECTED_VIOLATION, DRIVER_VERIFIER_DMA_VIOLATION } from '../../src/kernel/bugcheck.ts';
import { IoGetDmaAdapter } from '../../src/kernel/hal/dma-adapter.ts';
import { bootHost, v3Description } from '../../src/kernel/hal/test-fixtures.ts';
import { IoLoadDriver, IoUnloadDriver, type DRIVER_OBJECT } from '../../src/kernel/io/index.ts';
import {
  ExAllocatePool2, ExFreePoolWithTag, IoAllocateMdl, IoFreeMdl, MmAllocateContiguousMemorySpecifyCache, MmBuildMdlForNonPagedPool,
  MmCached, MmFreeContiguousMemory, MmGetPhysicalAddress, MmMapLockedPagesSpecifyCache, MmProbeAndLockPages, MmUnlockPages, IoWriteAccess, MmNonCached, MmUnmapLockedPages,
  MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE, POOL_FLAG_NON_PAGED, UserMode, poolTag,
} from '../../src/kernel/mm/index.ts';
import { ref } from '../../src/kernel/ref.ts';
import { STATUS_SUCCESS } from '../../src/kernel/status.ts';
import {
  DMA_FAULT_FREE_PAGE, DMA_FAULT_UNLOCKED_PAGE, DMA_VIOLATION_ADAPTER_LEAKED_AT_UNLOAD, DMA_VIOLATION_ILLEGAL_DMA, FINDING_ONLY,
  VERIFIER_POOL_LEAKED_AT_UNLOAD,
} from '../../src/kernel/verifier/index.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { bugCheckOf as stopOf } from '../bug-check.ts';

const TAG = poolTag('Bug!');


function load(k: Kernel, name: string, entry: (d: DRIVER_OBJECT) => void, unload: (d: DRIVER_OBJECT) => void = () => {}): void {
  expect(IoLoadDriver(k, name, (_k, d) => {
    entry(d);
    d.DriverUnload = unload;
    return STATUS_SUCCESS;
  })).toBe(STATUS_SUCCESS);
}

describe('Verifier: pool tracking at unload (0xC4/0x62)', () => {
  it('pool left at unload stops the host with 0xC4, P1 0x62, P4 the outstanding count', () => {
    const { k } = bootHost({ verifier: true });
    load(k, 'leaky', () => {
      ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 100, TAG);
      ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 5000, TAG);
    });
    const stop = stopOf(() => IoUnloadDriver(k, 'leaky'));
    expect(stop.code).toBe(DRIVER_VERIFIER_DETECTED_VIOLATION);
    expect(stop.parameters[0]).toBe(VERIFIER_POOL_LEAKED_AT_UNLOAD);
    expect(stop.parameters[1]).toBeGreaterThan(0);
    expect(stop.parameters[3]).toBe(2);
    const f = k.verifier!.byRule('pool-leaked-at-unload');
    expect(f).toHaveLength(1);
    expect(f[0]!.driver).toBe('leaky');
    expect(f[0]!.stopped).toBe(true);
    expect(f[0]!.stack.some((s) => s.includes('src/kernel/io/io-manager.ts'))).toBe(true);
  });

  it('a driver that frees its pool before unload unloads without a finding', () => {
    const { k } = bootHost({ verifier: true });
    let va = 0;
    load(k, 'tidy', () => { va = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 100, TAG)!; }, () => ExFreePoolWithTag(k, va, TAG));
    expect(IoUnloadDriver(k, 'tidy')).toBe(STATUS_SUCCESS);
    expect(k.verifier!.findings()).toEqual([]);
  });
});

describe('Verifier: DMA adapters not put at unload (0xE6/0x27)', () => {
  it('an adapter never put stops the host at unload naming the adapter', () => {
    const { k, pdo64 } = bootHost({ verifier: true });
    load(k, 'adapterleak', () => { expect(IoGetDmaAdapter(k, pdo64, v3Description(64), ref(0))).not.toBeNull(); });
    const stop = stopOf(() => IoUnloadDriver(k, 'adapterleak'));
    expect(stop.code).toBe(DRIVER_VERIFIER_DMA_VIOLATION);
    expect(stop.parameters[0]).toBe(DMA_VIOLATION_ADAPTER_LEAKED_AT_UNLOAD);
    expect(stop.parameters.slice(2)).toEqual([0, 0]);
    expect(k.verifier!.byRule('adapter-not-put-at-unload')[0]!.driver).toBe('adapterleak');
  });

  it('an adapter put in DriverUnload leaves no finding', () => {
    const { k, pdo64 } = bootHost({ verifier: true });
    let adapter: ReturnType<typeof IoGetDmaAdapter> = null;
    load(k, 'adapterok', () => { adapter = IoGetDmaAdapter(k, pdo64, v3Description(64), ref(0)); },
      () => adapter!.DmaOperations.PutDmaAdapter(adapter!));
    expect(IoUnloadDriver(k, 'adapterok')).toBe(STATUS_SUCCESS);
    expect(k.verifier!.findings()).toEqual([]);
  });
});

describe('Verifier: DMA into memory the device may not touch (0xE6/0x26)', () => {
  it('a 32-bit device handed a pool address above 4 GiB truncates it and DMAs into a free low page', () => {
    const { k, nic32 } = bootHost({ verifier: true, nolowmem: true });
    // Nonpaged memory at 4 GiB + 16 MiB: the device emits 16 MiB, a free page under NOLOWMEM.
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, FOUR_GIB + 0x100_0000, FOUR_GIB + 0x100_0fff, 0, MmCached)!;
    const physical = MmGetPhysicalAddress(k, va);
    expect(physical).toBe(FOUR_GIB + 0x100_0000);
    const stop = stopOf(() => nic32.dmaView.write(physical, new Uint8Array(64)));
    expect(stop.code).toBe(DRIVER_VERIFIER_DMA_VIOLATION);
    expect(stop.parameters).toEqual([DMA_VIOLATION_ILLEGAL_DMA, nic32.id, physical % FOUR_GIB, DMA_FAULT_FREE_PAGE]);
    expect(k.verifier!.byRule('dma-into-free-page')).toHaveLength(1);
  });

  it('DMA into an unlocked user page is refused before any byte moves', () => {
    const { k, nic64 } = bootHost({ verifier: true });
    const p = k.ps.createProcess('app');
    const va = p.VirtualAlloc(0, PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    p.writeMemory(va, new Uint8Array([1, 2, 3]));
    // The page's frame, as a driver would have seen it while it had the page locked.
    const mdl = IoAllocateMdl(k, va, PAGE_SIZE, false, false, null)!;
    k.ps.runInProcess(p, () => MmProbeAndLockPages(k, mdl, UserMode, IoWriteAccess));
    const physical = mdl.pfnArray[0]! * PAGE_SIZE;
    MmUnlockPages(k, mdl);
    IoFreeMdl(k, mdl);
    const stop = stopOf(() => nic64.dmaView.write(physical, new Uint8Array([9, 9, 9])));
    expect(stop.parameters).toEqual([DMA_VIOLATION_ILLEGAL_DMA, nic64.id, physical, DMA_FAULT_UNLOCKED_PAGE]);
    const now = new Uint8Array(3);
    k.memory.read(physical, now);
    expect([...now]).toEqual([1, 2, 3]);
  });

  it('DMA into contiguous low memory (nonpaged, owned) is allowed and counted', () => {
    const { k, nic32 } = bootHost({ verifier: true, nolowmem: true });
    const va = MmAllocateContiguousMemorySpecifyCache(k, 2 * PAGE_SIZE, 0, FOUR_GIB - 1, 0, MmCached)!;
    const physical = MmGetPhysicalAddress(k, va);
    expect(nic32.dmaView.write(physical, new Uint8Array(2 * PAGE_SIZE).fill(7))).toBe(0);
    expect(k.verifier!.findings()).toEqual([]);
    expect(k.verifier!.dmaBytes.get(nic32.dmaView.name)!.write).toBe(2 * PAGE_SIZE);
  });
});

describe('Verifier: memory hygiene', () => {
  function mapToUser(k: Kernel, zero: boolean) {
    const p = k.ps.createProcess('app');
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, FOUR_GIB - 1, 0, MmCached)!;
    if (zero) k.mm.system.fill(va, PAGE_SIZE, 0);
    const mdl = IoAllocateMdl(k, va, PAGE_SIZE, false, false, null)!;
    MmBuildMdlForNonPagedPool(k, mdl);
    const user = k.ps.runInProcess(p, () => MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmCached, null, false, 16))!;
    return { p, va, mdl, user };
  }

  it('kernel memory mapped to user mode without being written since allocation is a finding', () => {
    const { k } = bootHost({ verifier: true });
    const { mdl, user } = mapToUser(k, false);
    const f = k.verifier!.byRule('uninitialized-kernel-memory-mapped-to-user');
    expect(f).toHaveLength(1);
    expect(f[0]!.code).toBe(FINDING_ONLY);
    expect(f[0]!.parameters).toEqual([mdl.pfnArray[0], expect.any(Number), user, 0]);
  });

  it('zeroed memory mapped to user mode is not a finding, and the flag is reset by a new allocation', () => {
    const { k } = bootHost({ verifier: true });
    const { p, va, mdl, user } = mapToUser(k, true);
    expect(k.verifier!.findings()).toEqual([]);
    k.ps.runInProcess(p, () => MmUnmapLockedPages(k, user, mdl));
    IoFreeMdl(k, mdl);
    MmFreeContiguousMemory(k, va);
    mapToUser(k, false); // same page again, never written since this allocation
    expect(k.verifier!.byRule('uninitialized-kernel-memory-mapped-to-user')).toHaveLength(1);
  });

  it('a second cache attribute for one physical page is a finding', () => {
    const { k } = bootHost({ verifier: true });
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, FOUR_GIB - 1, 0, MmCached)!;
    k.mm.system.fill(va, PAGE_SIZE, 0);
    const mdl = IoAllocateMdl(k, va, PAGE_SIZE, false, false, null)!;
    MmBuildMdlForNonPagedPool(k, mdl);
    const p = k.ps.createProcess('app');
    k.ps.runInProcess(p, () => MmMapLockedPagesSpecifyCache(k, mdl, UserMode, MmNonCached, null, false, 16));
    const f = k.verifier!.byRule('cache-attribute-conflict');
    expect(f).toHaveLength(1);
    expect(f[0]!.parameters).toEqual([mdl.pfnArray[0], MmCached, MmNonCached, 0]);
  });

  it('!chklowmem on a NOLOWMEM host reports each low page written while free, once', () => {
    const { k } = bootHost({ verifier: true, nolowmem: true });
    const lowFree = 0x20_0000; // a free page below 4 GiB (NOLOWMEM keeps them unused)
    k.memory.write(lowFree, new Uint8Array([0xde, 0xad]));
    const found = k.verifier!.chklowmem();
    expect(found.map((f) => f.parameters[0])).toEqual([lowFree / PAGE_SIZE]);
    expect(k.verifier!.chklowmem()).toEqual([]);
  });

  it('a correct driver writing only its own memory leaves !chklowmem clean', () => {
    const { k } = bootHost({ verifier: true, nolowmem: true });
    const va = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, FOUR_GIB - 1, 0, MmCached)!;
    k.mm.system.fill(va, PAGE_SIZE, 0x5a);
    expect(k.verifier!.chklowmem()).toEqual([]);
  });
});

describe('Verifier: every bug check is a finding', () => {
  it('a routine\'s own stop (double free of pool, 0xC2/0x07) is recorded with its parameters and our call sites', () => {
    const { k } = bootHost({ verifier: true });
    const va = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG)!;
    ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG); // keeps the slab page alive
    ExFreePoolWithTag(k, va, TAG);
    const stop = stopOf(() => ExFreePoolWithTag(k, va, TAG));
    const f = k.verifier!.findings();
    expect(f).toHaveLength(1);
    expect(f[0]!.code).toBe(stop.code);
    expect(f[0]!.parameters).toEqual(stop.parameters);
    expect(f[0]!.stack[0]).toMatch(/src\/kernel\/mm\/pool\.ts/);
  });

  it('a host without the verifier has no verifier object', () => {
    const { k } = bootHost({ verifier: false });
    expect(k.verifier).toBeNull();
  });
});
