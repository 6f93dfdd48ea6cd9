import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import { DRIVER_VERIFIER_DMA_VIOLATION } from '../../src/kernel/bugcheck.ts';
import {
  DMA_VIOLATION_FREED_ADAPTER,
  DMA_VIOLATION_NULL_ADAPTER,
  DMA_VIOLATION_PUT_ADAPTER_WITH_COMMON_BUFFERS,
  type DMA_ADAPTER,
} from '../../src/kernel/hal/index.ts';
import { bootHost, getAdapter, memorySnapshot, v3Description } from '../../src/kernel/hal/test-fixtures.ts';
import { ref } from '../../src/kernel/ref.ts';
import { STATUS_INVALID_PARAMETER } from '../../src/kernel/status.ts';
import { bugCheckOf as stopOf } from '../bug-check.ts';


describe('PutDmaAdapter', () => {
  it('PutDmaAdapter with common buffers outstanding is 0xE6/0x07 (P2 adapter id, P3 count) with the verifier on', () => {
    const { k, pdo64 } = bootHost({ verifier: true });
    const { adapter } = getAdapter(k, pdo64, v3Description(64));
    adapter.DmaOperations.AllocateCommonBuffer(adapter, PAGE_SIZE, ref(0), true);
    adapter.DmaOperations.AllocateCommonBuffer(adapter, PAGE_SIZE, ref(0), true);
    const stop = stopOf(() => adapter.DmaOperations.PutDmaAdapter(adapter));
    expect(stop.code).toBe(DRIVER_VERIFIER_DMA_VIOLATION);
    expect(stop.parameters).toEqual([DMA_VIOLATION_PUT_ADAPTER_WITH_COMMON_BUFFERS, k.hal.byObject.get(adapter)!.id, 2, 0]);
  });

  it('without the verifier the adapter is released and its common buffers are leaked, visibly', () => {
    const { k, pdo64 } = bootHost();
    const { adapter } = getAdapter(k, pdo64, v3Description(64));
    const va = adapter.DmaOperations.AllocateCommonBuffer(adapter, 2 * PAGE_SIZE, ref(0), true)!;
    adapter.DmaOperations.PutDmaAdapter(adapter);
    const c = k.hal.counters();
    expect(c.adapters).toBe(0);
    expect(c.leakedAdapters).toBe(1);
    expect(c.commonBufferBytes).toBe(2 * PAGE_SIZE);
    expect(k.mm.system.lookup(va)).not.toBeNull(); // still allocated: leaked
    expect(k.hal.findings.at(-1)!.kind).toBe('put-with-common-buffers');
  });

  it('using an adapter after PutDmaAdapter is 0xE6/0x18 with the verifier on', () => {
    const { k, pdo64 } = bootHost({ verifier: true });
    const { adapter } = getAdapter(k, pdo64, v3Description(64));
    adapter.DmaOperations.PutDmaAdapter(adapter);
    const stop = stopOf(() => adapter.DmaOperations.AllocateCommonBuffer(adapter, PAGE_SIZE, ref(0), true));
    expect(stop.parameters[0]).toBe(DMA_VIOLATION_FREED_ADAPTER);
  });

  it('using a put adapter without the verifier fails cleanly and changes nothing', () => {
    const { k, pdo64 } = bootHost();
    const before = memorySnapshot(k);
    const { adapter } = getAdapter(k, pdo64, v3Description(64));
    adapter.DmaOperations.PutDmaAdapter(adapter);
    expect(adapter.DmaOperations.AllocateCommonBuffer(adapter, PAGE_SIZE, ref(0), true)).toBeNull();
    adapter.DmaOperations.PutDmaAdapter(adapter); // second put: a finding, nothing else
    expect(adapter.DmaOperations.GetDmaAlignment(adapter)).toBe(0);
    expect(k.hal.findings.filter((f) => f.kind === 'adapter-already-put').length).toBe(3);
    expect(memorySnapshot(k)).toEqual(before);
  });

  it('a NULL adapter is 0xE6/0x19 with the verifier on; without it every operation fails cleanly', () => {
    const on = bootHost({ verifier: true });
    const a = getAdapter(on.k, on.pdo64, v3Description(64)).adapter;
    expect(stopOf(() => a.DmaOperations.PutDmaAdapter(null)).parameters[0]).toBe(DMA_VIOLATION_NULL_ADAPTER);

    const off = bootHost();
    const b = getAdapter(off.k, off.pdo64, v3Description(64)).adapter;
    const before = memorySnapshot(off.k);
    const ops = b.DmaOperations;
    expect(ops.AllocateCommonBuffer(null, PAGE_SIZE, ref(0), true)).toBeNull();
    expect(ops.AllocateCommonBuffer({} as DMA_ADAPTER, PAGE_SIZE, ref(0), true)).toBeNull();
    expect(ops.CalculateScatterGatherList!(null, null, 0, PAGE_SIZE, ref(0), null)).toBe(STATUS_INVALID_PARAMETER);
    ops.FreeCommonBuffer(null, PAGE_SIZE, 0, 0, true);
    ops.PutDmaAdapter(null);
    expect(memorySnapshot(off.k)).toEqual(before);
    expect(off.k.hal.findings.every((f) => f.kind === 'invalid-adapter')).toBe(true);
  });

  it('GetDmaAlignment is 1 on this x64 machine; GetDmaAdapterInfo reports the address width', () => {
    const { k, pdo32 } = bootHost();
    const { adapter, mapRegisters } = getAdapter(k, pdo32, v3Description(64));
    expect(adapter.DmaOperations.GetDmaAlignment(adapter)).toBe(1);
    const info = { Version: 1, V1: { ReadDmaCounterAvailable: 9, ScatterGatherLimit: 0, DmaAddressWidth: 0, Flags: 9, MinimumTransferUnit: 0 } };
    expect(adapter.DmaOperations.GetDmaAdapterInfo!(adapter, info)).toBe(0);
    expect(info.V1.DmaAddressWidth).toBe(32);
    expect(info.V1.ScatterGatherLimit).toBe(mapRegisters);
  });
});
