import { describe, expect, it } from 'vitest';
import { DMA_IOMMU_FAULT, DMA_OK, FOUR_GIB, PAGE_SIZE, testPattern } from '../../src/bus/index.ts';
import { BAD_POOL_CALLER, DRIVER_VERIFIER_DMA_VIOLATION } from '../../src/kernel/bugcheck.ts';
import {
  DMA_VIOLATION_BUFFER_NOT_LOCKED,
  DMA_VIOLATION_PUT_ADAPTER_WITH_SG_LISTS,
  DMA_VIOLATION_SG_LIST_DOUBLE_FREE,
  DMA_VIOLATION_VA_NOT_IN_MDL,
  DMA_VIOLATION_ZERO_LENGTH,
  type DMA_ADAPTER,
  type SCATTER_GATHER_LIST,
} from '../../src/kernel/hal/index.ts';
import { bootHost, getAdapter, memorySnapshot, v3Description, type Host } from '../../src/kernel/hal/test-fixtures.ts';
import { DISPATCH_LEVEL } from '../../src/kernel/irql.ts';
import { MmAllocateContiguousMemorySpecifyCache, MmCached, MmGetPhysicalAddress } from '../../src/kernel/mm/contiguous.ts';
import { IoAllocateMdl, IoFreeMdl, IoModifyAccess, MmBuildMdlForNonPagedPool, MmProbeAndLockPages, MmUnlockPages, UserMode, type Mdl } from '../../src/kernel/mm/mdl.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/virtual-memory.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import { ref } from '../../src/kernel/ref.ts';
import { STATUS_BUFFER_TOO_SMALL, STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_SUCCESS } from '../../src/kernel/status.ts';
import { bugCheckOf as stopOf } from '../bug-check.ts';

/** A user buffer of `bytes` at `offset` into its first page, filled, probed and locked. */
function lockedUserBuffer(k: Kernel, bytes: number, offset: number, seed = 1) {
  const p = k.ps.createProcess(`app${seed}`);
  const base = p.VirtualAlloc(0, bytes + offset + PAGE_SIZE, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
  expect(base).not.toBe(0);
  const va = base + offset;
  const data = testPattern(bytes, seed);
  p.writeMemory(va, data);
  const mdl = IoAllocateMdl(k, va, bytes, false, false, null)!;
  k.ps.runInProcess(p, () => MmProbeAndLockPages(k, mdl, UserMode, IoModifyAccess));
  const read = () => {
    const out = new Uint8Array(bytes);
    p.readMemory(va, out);
    return out;
  };
  const release = () => {
    k.ps.runInProcess(p, () => MmUnlockPages(k, mdl));
    IoFreeMdl(k, mdl);
    k.ps.terminateProcess(p, 0);
  };
  return { p, va, mdl, data, read, release };
}

interface Captured {
  list: SCATTER_GATHER_LIST | null;
  irql: number;
  calls: number;
  context: unknown;
  device: unknown;
}

function capture(k: Kernel): { c: Captured; routine: (d: unknown, irp: unknown, l: SCATTER_GATHER_LIST, ctx: unknown) => void } {
  const c: Captured = { list: null, irql: -1, calls: 0, context: null, device: null };
  return {
    c,
    routine: (d, _irp, l, ctx) => {
      c.list = l;
      c.irql = k.irql;
      c.calls++;
      c.context = ctx;
      c.device = d;
    },
  };
}


const deviceObject = { name: 'fdo' };

function deviceRead(host: Host, nic: 'nic32' | 'nic64', list: SCATTER_GATHER_LIST): Uint8Array {
  const total = list.Elements.reduce((n, e) => n + e.Length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const e of list.Elements) {
    expect(host[nic].dmaView.read(e.Address, out, at, e.Length)).toBe(DMA_OK);
    at += e.Length;
  }
  return out;
}

function deviceWrite(host: Host, nic: 'nic32' | 'nic64', list: SCATTER_GATHER_LIST, data: Uint8Array): number[] {
  let at = 0;
  const statuses: number[] = [];
  for (const e of list.Elements) {
    statuses.push(host[nic].dmaView.write(e.Address, data, at, e.Length));
    at += e.Length;
  }
  return statuses;
}

describe('GetScatterGatherList', () => {
  it('calls the ExecutionRoutine once, at DISPATCH_LEVEL, with the list, DeviceObject and Context, before returning', () => {
    const host = bootHost({ nolowmem: true });
    const { k } = host;
    const { adapter } = getAdapter(k, host.pdo64, v3Description(64));
    const buf = lockedUserBuffer(k, 3 * PAGE_SIZE, 100);
    const { c, routine } = capture(k);
    const ctx = { tag: 'ctx' };
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va, 3 * PAGE_SIZE, routine, ctx, true)).toBe(STATUS_SUCCESS);
    expect(c.calls).toBe(1);
    expect(c.irql).toBe(DISPATCH_LEVEL);
    expect(k.irql).toBe(0);
    expect(c.context).toBe(ctx);
    expect(c.device).toBe(deviceObject);
    expect(c.list!.NumberOfElements).toBe(c.list!.Elements.length);
    expect(c.list!.Elements.reduce((n, e) => n + e.Length, 0)).toBe(3 * PAGE_SIZE);
    expect(c.list!.Elements[0]!.Address % PAGE_SIZE).toBe(100);
  });

  it('a physically contiguous buffer is one element: contiguous elements are merged', () => {
    const host = bootHost();
    const { k } = host;
    const { adapter } = getAdapter(k, host.pdo64, v3Description(64));
    const va = MmAllocateContiguousMemorySpecifyCache(k, 8 * PAGE_SIZE, FOUR_GIB, 2 * FOUR_GIB, 0, MmCached)!;
    const mdl = IoAllocateMdl(k, va + 10, 8 * PAGE_SIZE - 20, false, false, null)!;
    MmBuildMdlForNonPagedPool(k, mdl);
    const { c, routine } = capture(k);
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, mdl, va + 10, 8 * PAGE_SIZE - 20, routine, null, true)).toBe(STATUS_SUCCESS);
    expect(c.list!.Elements).toEqual([{ Address: MmGetPhysicalAddress(k, va) + 10, Length: 8 * PAGE_SIZE - 20, Reserved: 0 }]);
    expect(k.hal.counters().mapRegistersInUse).toBe(0);
  });

  it('a 32-bit adapter and pages above 4 GiB: bounce pages below 4 GiB hold the bytes before the device reads (WriteToDevice)', () => {
    const host = bootHost({ nolowmem: true });
    const { k } = host;
    const { adapter } = getAdapter(k, host.pdo32, v3Description(32));
    const buf = lockedUserBuffer(k, 5 * PAGE_SIZE - 300, 1000);
    const before = memorySnapshot(k);
    const { c, routine } = capture(k);
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va, buf.data.length, routine, null, true)).toBe(STATUS_SUCCESS);
    const list = c.list!;
    for (const e of list.Elements) expect(e.Address + e.Length).toBeLessThanOrEqual(FOUR_GIB);
    expect(k.hal.counters().mapRegistersInUse).toBe(6);
    expect(k.hal.counters().bouncePages).toBe(6);
    expect(deviceRead(host, 'nic32', list)).toEqual(buf.data);
    adapter.DmaOperations.PutScatterGatherList(adapter, list, true);
    expect(memorySnapshot(k)).toEqual(before);
    expect(buf.read()).toEqual(buf.data);
  });

  it('a 32-bit adapter and pages above 4 GiB: what the device writes reaches the buffer at PutScatterGatherList, byte for byte', () => {
    const host = bootHost({ nolowmem: true });
    const { k } = host;
    const { adapter } = getAdapter(k, host.pdo32, v3Description(32));
    const buf = lockedUserBuffer(k, 3 * PAGE_SIZE, 4000);
    // The transfer covers only the middle of the buffer: bytes around it must not change.
    const start = buf.va + 123;
    const length = 2 * PAGE_SIZE + 50;
    const { c, routine } = capture(k);
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, start, length, routine, null, false)).toBe(STATUS_SUCCESS);
    const incoming = testPattern(length, 9);
    expect(deviceWrite(host, 'nic32', c.list!, incoming).every((s) => s === DMA_OK)).toBe(true);
    expect(buf.read()).toEqual(buf.data); // not yet: the device wrote bounce pages
    adapter.DmaOperations.PutScatterGatherList(adapter, c.list!, false);
    const expected = buf.data.slice();
    expected.set(incoming, 123);
    expect(buf.read()).toEqual(expected);
  });

  it('with the IOMMU on there is no bouncing: elements are IOVAs below 4 GiB for pages above it', () => {
    const host = bootHost({ nolowmem: true, iommu: true });
    const { k } = host;
    const { adapter } = getAdapter(k, host.pdo32, v3Description(32));
    const buf = lockedUserBuffer(k, 4 * PAGE_SIZE, 8);
    const before = memorySnapshot(k);
    const { c, routine } = capture(k);
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va, 4 * PAGE_SIZE, routine, null, false)).toBe(STATUS_SUCCESS);
    const list = c.list!;
    expect(list.NumberOfElements).toBe(1); // contiguous in the device's logical space
    expect(list.Elements[0]!.Address + 4 * PAGE_SIZE).toBeLessThanOrEqual(FOUR_GIB);
    expect(k.hal.counters().mapRegistersInUse).toBe(0);
    const incoming = testPattern(4 * PAGE_SIZE, 4);
    expect(deviceWrite(host, 'nic32', list, incoming)).toEqual([DMA_OK]);
    expect(buf.read()).toEqual(incoming); // straight into the pages, no copy-back needed
    // The mapping is write-only for a transfer from the device: reading it faults.
    expect(host.nic32.dmaView.read(list.Elements[0]!.Address, new Uint8Array(4))).toBe(DMA_IOMMU_FAULT);
    adapter.DmaOperations.PutScatterGatherList(adapter, list, false);
    expect(memorySnapshot(k)).toEqual(before);
    // After the put the device can no longer reach the buffer.
    expect(host.nic32.dmaView.write(list.Elements[0]!.Address, incoming, 0, 4)).toBe(DMA_IOMMU_FAULT);
  });

  it('a transfer needing more map registers than IoGetDmaAdapter returned is STATUS_INSUFFICIENT_RESOURCES', () => {
    const host = bootHost({ nolowmem: true });
    const { k } = host;
    const { adapter, mapRegisters } = getAdapter(k, host.pdo32, v3Description(32, 2 * PAGE_SIZE));
    expect(mapRegisters).toBe(3);
    const buf = lockedUserBuffer(k, 4 * PAGE_SIZE, 0);
    const before = memorySnapshot(k);
    const { c, routine } = capture(k);
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va, 4 * PAGE_SIZE, routine, null, true)).toBe(STATUS_INSUFFICIENT_RESOURCES);
    expect(c.calls).toBe(0);
    expect(memorySnapshot(k)).toEqual(before);
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va, 3 * PAGE_SIZE, routine, null, true)).toBe(STATUS_SUCCESS);
  });

  it('out of host map registers the request waits (as Windows queues it): STATUS_SUCCESS, no call and no register taken until a Put frees them', () => {
    const host = bootHost({ nolowmem: true });
    const { k } = host;
    k.hal.configure({ mapRegisterCount: 8 });
    const { adapter } = getAdapter(k, host.pdo32, v3Description(32, 16 * PAGE_SIZE));
    const buf = lockedUserBuffer(k, 6 * PAGE_SIZE, 0);
    const { c, routine } = capture(k);
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va, 6 * PAGE_SIZE, routine, null, true)).toBe(STATUS_SUCCESS);
    const first = c.list!;
    const registers = k.hal.counters().mapRegistersInUse;
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va, 6 * PAGE_SIZE, routine, 'second', true)).toBe(STATUS_SUCCESS);
    expect(c.calls).toBe(1);
    expect(k.hal.counters()).toMatchObject({ mapRegistersInUse: registers, sgRequestsQueued: 1 });
    adapter.DmaOperations.PutScatterGatherList(adapter, first, true);
    expect(c.calls).toBe(2);
    expect(c.context).toBe('second');
    expect(k.hal.counters()).toMatchObject({ mapRegistersInUse: registers, sgRequestsQueued: 0 });
    adapter.DmaOperations.PutScatterGatherList(adapter, c.list!, true);
    expect(k.hal.counters().mapRegistersInUse).toBe(0);
  });

  it('an injected failure (the list, or its bounce pages) is STATUS_INSUFFICIENT_RESOURCES with nothing held', () => {
    const host = bootHost({ nolowmem: true });
    const { k } = host;
    const { adapter } = getAdapter(k, host.pdo32, v3Description(32));
    const buf = lockedUserBuffer(k, 6 * PAGE_SIZE, 0);
    const before = memorySnapshot(k);
    const { c, routine } = capture(k);
    k.faults.setPolicy({ kind: 'always' }, { sites: ['GetScatterGatherList'] });
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va, 6 * PAGE_SIZE, routine, null, true)).toBe(STATUS_INSUFFICIENT_RESOURCES);
    // The bounce pages' run request fails: the whole request fails (no silent per-page fallback).
    k.faults.setPolicy({ kind: 'always' }, { sites: ['GetScatterGatherList:bounce-run'] });
    expect(adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va, 6 * PAGE_SIZE, routine, null, true)).toBe(STATUS_INSUFFICIENT_RESOURCES);
    expect(c.calls).toBe(0);
    expect(memorySnapshot(k)).toEqual(before);
  });

  it('a transfer that runs past the MDL chain is STATUS_BUFFER_TOO_SMALL; chained MDLs are followed', () => {
    const host = bootHost({ nolowmem: true });
    const { k } = host;
    const { adapter } = getAdapter(k, host.pdo32, v3Description(32));
    const a = lockedUserBuffer(k, 2 * PAGE_SIZE, 500, 1);
    const b = lockedUserBuffer(k, PAGE_SIZE + 7, 9, 2);
    const { c, routine } = capture(k);
    const ops = adapter.DmaOperations;
    expect(ops.GetScatterGatherList(adapter, deviceObject, a.mdl, a.va, 2 * PAGE_SIZE + 1, routine, null, true)).toBe(STATUS_BUFFER_TOO_SMALL);
    (a.mdl as Mdl).Next = b.mdl;
    const total = 2 * PAGE_SIZE + PAGE_SIZE + 7;
    expect(ops.GetScatterGatherList(adapter, deviceObject, a.mdl, a.va, total, routine, null, true)).toBe(STATUS_SUCCESS);
    const expected = new Uint8Array(total);
    expected.set(a.data, 0);
    expected.set(b.data, a.data.length);
    expect(deviceRead(host, 'nic32', c.list!)).toEqual(expected);
    ops.PutScatterGatherList(adapter, c.list!, true);
    (a.mdl as Mdl).Next = null;
  });

  it('an MDL that is not locked is STATUS_INVALID_PARAMETER, and 0xE6/0x0E with the verifier on', () => {
    for (const verifier of [false, true]) {
      const host = bootHost({ verifier });
      const { k } = host;
      const { adapter } = getAdapter(k, host.pdo64, v3Description(64));
      const mdl = IoAllocateMdl(k, 0x10000, PAGE_SIZE, false, false, null)!;
      const { routine } = capture(k);
      const call = () => adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, mdl, 0x10000, PAGE_SIZE, routine, null, true);
      if (verifier) expect(stopOf(call).parameters[0]).toBe(DMA_VIOLATION_BUFFER_NOT_LOCKED);
      else expect(call()).toBe(STATUS_INVALID_PARAMETER);
    }
  });

  it('CurrentVa outside the MDL is 0xE6/0x1B with the verifier on; a zero Length is 0xE6/0x21', () => {
    const host = bootHost({ verifier: true, nolowmem: true });
    const { k } = host;
    const { adapter } = getAdapter(k, host.pdo64, v3Description(64));
    const buf = lockedUserBuffer(k, PAGE_SIZE, 0);
    const { routine } = capture(k);
    expect(stopOf(() => adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va + PAGE_SIZE, 1, routine, null, true)).parameters[0])
      .toBe(DMA_VIOLATION_VA_NOT_IN_MDL);
    const h2 = bootHost({ verifier: true, nolowmem: true });
    const a2 = getAdapter(h2.k, h2.pdo64, v3Description(64)).adapter;
    const b2 = lockedUserBuffer(h2.k, PAGE_SIZE, 0);
    expect(stopOf(() => a2.DmaOperations.GetScatterGatherList(a2, deviceObject, b2.mdl, b2.va, 0, routine, null, true)).parameters[0])
      .toBe(DMA_VIOLATION_ZERO_LENGTH);
  });
});

describe('PutScatterGatherList', () => {
  function oneList(verifier: boolean) {
    const host = bootHost({ verifier, nolowmem: true });
    const { adapter } = getAdapter(host.k, host.pdo32, v3Description(32));
    const buf = lockedUserBuffer(host.k, 2 * PAGE_SIZE, 0);
    const { c, routine } = capture(host.k);
    adapter.DmaOperations.GetScatterGatherList(adapter, deviceObject, buf.mdl, buf.va, 2 * PAGE_SIZE, routine, null, true);
    return { ...host, adapter, list: c.list!, buf };
  }

  it('putting a list twice is 0xE6/0x06 with the verifier on', () => {
    const { adapter, list } = oneList(true);
    adapter.DmaOperations.PutScatterGatherList(adapter, list, true);
    expect(stopOf(() => adapter.DmaOperations.PutScatterGatherList(adapter, list, true)).parameters[0]).toBe(DMA_VIOLATION_SG_LIST_DOUBLE_FREE);
  });

  it('putting a list twice without the verifier frees its pool block twice: 0xC2/0x07', () => {
    const { adapter, list } = oneList(false);
    adapter.DmaOperations.PutScatterGatherList(adapter, list, true);
    const stop = stopOf(() => adapter.DmaOperations.PutScatterGatherList(adapter, list, true));
    expect([stop.code, stop.parameters[0]]).toEqual([BAD_POOL_CALLER, 0x07]);
  });

  it('PutDmaAdapter with a list outstanding is 0xE6/0x0A with the verifier on', () => {
    const { k, adapter } = oneList(true);
    const stop = stopOf(() => adapter.DmaOperations.PutDmaAdapter(adapter));
    expect(stop.code).toBe(DRIVER_VERIFIER_DMA_VIOLATION);
    expect(stop.parameters).toEqual([DMA_VIOLATION_PUT_ADAPTER_WITH_SG_LISTS, k.hal.byObject.get(adapter)!.id, 1, 0]);
  });
});

describe('CalculateScatterGatherList and BuildScatterGatherList', () => {
  it('CalculateScatterGatherList gives the size and map registers; too many is STATUS_INSUFFICIENT_RESOURCES', () => {
    const host = bootHost();
    const { adapter, mapRegisters } = getAdapter(host.k, host.pdo64, v3Description(64, 4 * PAGE_SIZE));
    const size = ref(0);
    const regs = ref(0);
    expect(adapter.DmaOperations.CalculateScatterGatherList!(adapter, null, 0x1000 + 4000, 200, size, regs)).toBe(STATUS_SUCCESS);
    expect(regs.value).toBe(2);
    expect(size.value).toBe(16 + 2 * 24);
    expect(adapter.DmaOperations.CalculateScatterGatherList!(adapter, null, 0, (mapRegisters + 1) * PAGE_SIZE, size, null)).toBe(STATUS_INSUFFICIENT_RESOURCES);
  });

  it('BuildScatterGatherList writes the list into the driver buffer; a short buffer is STATUS_BUFFER_TOO_SMALL', () => {
    const host = bootHost({ nolowmem: true });
    const { k } = host;
    const { adapter } = getAdapter(k, host.pdo32, v3Description(32));
    const buf = lockedUserBuffer(k, 3 * PAGE_SIZE, 0);
    const size = ref(0);
    expect(adapter.DmaOperations.CalculateScatterGatherList!(adapter, buf.mdl, buf.va, 3 * PAGE_SIZE, size, null)).toBe(STATUS_SUCCESS);
    const sgBuffer = MmAllocateContiguousMemorySpecifyCache(k, PAGE_SIZE, 0, 2 ** 40, 0, MmCached)!;
    const { c, routine } = capture(k);
    const build = adapter.DmaOperations.BuildScatterGatherList!;
    const before = memorySnapshot(k);
    expect(build(adapter, deviceObject, buf.mdl, buf.va, 3 * PAGE_SIZE, routine, null, true, sgBuffer, size.value - 1)).toBe(STATUS_BUFFER_TOO_SMALL);
    expect(memorySnapshot(k)).toEqual(before);
    expect(build(adapter, deviceObject, buf.mdl, buf.va, 3 * PAGE_SIZE, routine, null, true, sgBuffer, size.value)).toBe(STATUS_SUCCESS);
    const image = new Uint8Array(size.value);
    k.mm.system.read(sgBuffer, image);
    const view = new DataView(image.buffer);
    const list = c.list!;
    expect(view.getUint32(0, true)).toBe(list.NumberOfElements);
    list.Elements.forEach((e, i) => {
      expect(Number(view.getBigUint64(16 + i * 24, true))).toBe(e.Address);
      expect(view.getUint32(16 + i * 24 + 8, true)).toBe(e.Length);
    });
    expect(deviceRead(host, 'nic32', list)).toEqual(buf.data);
    adapter.DmaOperations.PutScatterGatherList(adapter, list, true);
    expect(memorySnapshot(k)).toEqual(before);
  });

  it('a version-1 adapter has neither routine', () => {
    const host = bootHost();
    const { adapter } = getAdapter(host.k, host.pdo64, { ...v3Description(64), Version: 1, Dma64BitAddresses: true, DmaAddressWidth: 0 });
    const ops: DMA_ADAPTER['DmaOperations'] = adapter.DmaOperations;
    expect(ops.CalculateScatterGatherList).toBeUndefined();
    expect(ops.BuildScatterGatherList).toBeUndefined();
  });
});
