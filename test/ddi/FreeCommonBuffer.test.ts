import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import { BAD_POOL_CALLER, DRIVER_VERIFIER_DMA_VIOLATION } from '../../src/kernel/bugcheck.ts';
import { DMA_VIOLATION_COMMON_BUFFER_DOUBLE_FREE, DMA_VIOLATION_INVALID_BUFFER } from '../../src/kernel/hal/index.ts';
import { bootHost, getAdapter, memorySnapshot, v3Description } from '../../src/kernel/hal/test-fixtures.ts';
import { ref } from '../../src/kernel/ref.ts';
import { bugCheckOf as stopOf } from '../bug-check.ts';


function setup(o: { verifier?: boolean; iommu?: boolean } = {}) {
  const host = bootHost(o);
  const before = memorySnapshot(host.k);
  const { adapter } = getAdapter(host.k, host.pdo32, v3Description(32));
  const logical = ref(0);
  const va = adapter.DmaOperations.AllocateCommonBuffer(adapter, 3 * PAGE_SIZE, logical, true)!;
  return { ...host, before, adapter, logical: logical.value, va };
}

describe('FreeCommonBuffer', () => {
  for (const iommu of [false, true]) {
    it(`an exact match frees pages, VA and logical range (IOMMU ${iommu ? 'on' : 'off'})`, () => {
      const { k, adapter, logical, va, before } = setup({ iommu });
      expect(k.hal.counters().commonBufferBytes).toBe(3 * PAGE_SIZE);
      adapter.DmaOperations.FreeCommonBuffer(adapter, 3 * PAGE_SIZE, logical, va, true);
      expect(k.hal.counters().commonBuffers).toBe(0);
      expect(k.mm.system.lookup(va)).toBeNull();
      adapter.DmaOperations.PutDmaAdapter(adapter);
      expect(memorySnapshot(k)).toEqual(before);
    });
  }

  it('a double free is 0xE6/0x03 with the verifier on', () => {
    const { k, adapter, logical, va } = setup({ verifier: true });
    adapter.DmaOperations.FreeCommonBuffer(adapter, 3 * PAGE_SIZE, logical, va, true);
    const stop = stopOf(() => adapter.DmaOperations.FreeCommonBuffer(adapter, 3 * PAGE_SIZE, logical, va, true));
    expect(stop.code).toBe(DRIVER_VERIFIER_DMA_VIOLATION);
    expect(stop.parameters[0]).toBe(DMA_VIOLATION_COMMON_BUFFER_DOUBLE_FREE);
    expect(k.bugcheck.crashed).toBe(stop);
  });

  it('a double free without the verifier stops in MmFreeContiguousMemory: 0xC2/0x60 with the VA', () => {
    const { adapter, logical, va } = setup();
    adapter.DmaOperations.FreeCommonBuffer(adapter, 3 * PAGE_SIZE, logical, va, true);
    const stop = stopOf(() => adapter.DmaOperations.FreeCommonBuffer(adapter, 3 * PAGE_SIZE, logical, va, true));
    expect(stop.code).toBe(BAD_POOL_CALLER);
    expect(stop.parameters.slice(0, 2)).toEqual([0x60, va]);
  });

  it('a free with the wrong Length, LogicalAddress or adapter is 0xE6/0x1F with the verifier on', () => {
    for (const variant of ['length', 'logical', 'adapter'] as const) {
      const { k, pdo32, adapter, logical, va } = setup({ verifier: true });
      const other = getAdapter(k, pdo32, v3Description(32)).adapter;
      const stop = stopOf(() => {
        if (variant === 'length') adapter.DmaOperations.FreeCommonBuffer(adapter, PAGE_SIZE, logical, va, true);
        else if (variant === 'logical') adapter.DmaOperations.FreeCommonBuffer(adapter, 3 * PAGE_SIZE, logical + PAGE_SIZE, va, true);
        else other.DmaOperations.FreeCommonBuffer(other, 3 * PAGE_SIZE, logical, va, true);
      });
      expect(stop.code).toBe(DRIVER_VERIFIER_DMA_VIOLATION);
      expect(stop.parameters[0]).toBe(DMA_VIOLATION_INVALID_BUFFER);
    }
  });

  it('a free with the wrong Length without the verifier is refused: the buffer stays, a finding says why', () => {
    const { k, adapter, logical, va, before } = setup();
    adapter.DmaOperations.FreeCommonBuffer(adapter, 2 * PAGE_SIZE, logical, va, true);
    expect(k.hal.counters().commonBuffers).toBe(1);
    expect(k.mm.system.lookup(va)).not.toBeNull();
    expect(k.hal.findings.at(-1)!.kind).toBe('free-mismatch');
    adapter.DmaOperations.FreeCommonBuffer(adapter, 3 * PAGE_SIZE, logical, va, true);
    adapter.DmaOperations.PutDmaAdapter(adapter);
    expect(memorySnapshot(k)).toEqual(before);
  });

  it('a partial free (VA inside the buffer) is not a common buffer: 0xE6/0x1F, or 0xC2/0x60 without the verifier', () => {
    const on = setup({ verifier: true });
    expect(stopOf(() => on.adapter.DmaOperations.FreeCommonBuffer(on.adapter, PAGE_SIZE, on.logical + PAGE_SIZE, on.va + PAGE_SIZE, true)).parameters[0])
      .toBe(DMA_VIOLATION_INVALID_BUFFER);
    const off = setup();
    expect(stopOf(() => off.adapter.DmaOperations.FreeCommonBuffer(off.adapter, PAGE_SIZE, off.logical + PAGE_SIZE, off.va + PAGE_SIZE, true)).code)
      .toBe(BAD_POOL_CALLER);
  });
});
