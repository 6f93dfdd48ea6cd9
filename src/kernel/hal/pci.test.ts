import { describe, expect, it } from 'vitest';
import { DMA_IOMMU_FAULT, DMA_OK, FOUR_GIB, GIB, PAGE_SIZE } from '../../bus/index.ts';
import { BugCheck, DRIVER_VERIFIER_DMA_VIOLATION } from '../bugcheck.ts';
import { DISPATCH_LEVEL } from '../irql.ts';
import { Kernel } from '../kernel.ts';
import { ref } from '../ref.ts';
import { DMA_VIOLATION_IRQL } from './hal.ts';
import { createPciDevice } from './pci.ts';
import { bootHost, getAdapter, v3Description } from './test-fixtures.ts';

describe('createPciDevice', () => {
  it('gives each function its own IOMMU domain only when the host IOMMU is on', () => {
    const off = bootHost();
    expect(off.nic32.iommuDomain).toBeNull();
    expect(off.nic32.dmaView.iommu).toBeNull();
    const on = bootHost({ iommu: true });
    expect(on.nic32.iommuDomain).not.toBeNull();
    expect(on.nic32.iommuDomain).not.toBe(on.nic64.iommuDomain);
    expect(on.nic32.dmaView.iommu).toBe(on.nic32.iommuDomain);
    expect([on.nic32.id, on.nic64.id]).toEqual([1, 2]);
  });

  it('rejects bad configuration with a message that quotes the value', () => {
    const k = Kernel.boot({ ramBytes: 5 * GIB, nolowmem: false });
    expect(() => createPciDevice(k, { name: '', dmaAddressBits: 32 })).toThrow(/name/);
    expect(() => createPciDevice(k, { name: 'x', dmaAddressBits: 16 })).toThrow(/got 16/);
    expect(() => createPciDevice(k, { name: 'x', dmaAddressBits: 32.5 })).toThrow(/got 32.5/);
    createPciDevice(k, { name: 'x', dmaAddressBits: 32 });
    expect(() => createPciDevice(k, { name: 'x', dmaAddressBits: 64 })).toThrow(/already exists/);
  });

  it('a 32-bit function truncates addresses above 4 GiB, as the hardware does', () => {
    const { k, nic32 } = bootHost();
    const high = k.mm.layout.ranges.find((r) => r.base >= FOUR_GIB)!.base;
    k.memory.write(high - FOUR_GIB + 2 * GIB, new Uint8Array([1, 2, 3]));
    const seen = new Uint8Array(3);
    expect(nic32.dmaView.read(high + 2 * GIB, seen)).toBe(DMA_OK);
    expect(Array.from(seen)).toEqual([1, 2, 3]);
  });

  it('IOMMU domains isolate devices: one device cannot reach another device\'s common buffer', () => {
    const { k, nic32, pdo64 } = bootHost({ iommu: true });
    const { adapter } = getAdapter(k, pdo64, v3Description(64));
    const logical = ref(0);
    adapter.DmaOperations.AllocateCommonBuffer(adapter, PAGE_SIZE, logical, true);
    expect(nic32.dmaView.write(logical.value, new Uint8Array(8))).toBe(DMA_IOMMU_FAULT);
  });
});

describe('DMA routines and IRQL (verifier on)', () => {
  it('AllocateCommonBuffer above PASSIVE_LEVEL is 0xE6/0x13; GetScatterGatherList above DISPATCH_LEVEL too', () => {
    const { k, pdo64 } = bootHost({ verifier: true });
    const { adapter } = getAdapter(k, pdo64, v3Description(64));
    k.irql = DISPATCH_LEVEL;
    try {
      adapter.DmaOperations.AllocateCommonBuffer(adapter, PAGE_SIZE, ref(0), true);
      expect.unreachable();
    } catch (e) {
      expect((e as BugCheck).code).toBe(DRIVER_VERIFIER_DMA_VIOLATION);
      expect((e as BugCheck).parameters.slice(0, 3)).toEqual([DMA_VIOLATION_IRQL, DISPATCH_LEVEL, 0]);
    }
  });
});
