import { describe, expect, it } from 'vitest';
import { DMA_IOMMU_FAULT, DMA_OK, FOUR_GIB, PAGE_SIZE, testPattern } from '../../src/bus/index.ts';
import { BugCheck, DRIVER_VERIFIER_DMA_VIOLATION } from '../../src/kernel/bugcheck.ts';
import {
  createDeviceDescription,
  DMA_VIOLATION_ZERO_LENGTH,
  DOMAIN_COMMON_BUFFER_LARGE_PAGE,
  PCIBus,
} from '../../src/kernel/hal/index.ts';
import { bootHost, getAdapter, memorySnapshot, v3Description } from '../../src/kernel/hal/test-fixtures.ts';
import { MmCached, MmGetPhysicalAddress, MmNonCached } from '../../src/kernel/mm/contiguous.ts';
import { ref } from '../../src/kernel/ref.ts';


describe('AllocateCommonBuffer', () => {
  for (const nolowmem of [false, true]) {
    it(`a 32-bit adapter gets device-contiguous memory below 4 GiB (NOLOWMEM ${nolowmem ? 'on' : 'off'})`, () => {
      const { k, pdo32 } = bootHost({ nolowmem });
      expect(k.mm.nolowmemActive).toBe(nolowmem);
      const { adapter } = getAdapter(k, pdo32, createDeviceDescription({ Version: 0, Master: true, ScatterGather: true, InterfaceType: PCIBus, MaximumLength: 1 << 16 }));
      const logical = ref(0);
      const va = adapter.DmaOperations.AllocateCommonBuffer(adapter, 5 * PAGE_SIZE + 1, logical, false)!;
      expect(va).not.toBeNull();
      expect(logical.value % PAGE_SIZE).toBe(0);
      expect(logical.value + 6 * PAGE_SIZE).toBeLessThanOrEqual(FOUR_GIB);
      // No IOMMU: the logical address is the physical one and the 6 pages are one physical run.
      const m = k.mm.system.lookup(va)!;
      expect(m.pages).toBe(6);
      for (let i = 0; i < 6; i++) expect(m.pfns[i]).toBe(logical.value / PAGE_SIZE + i);
      expect(MmGetPhysicalAddress(k, va)).toBe(logical.value);
    });
  }

  it('a 64-bit adapter on a NOLOWMEM host gets memory above 4 GiB (the low pages stay free)', () => {
    const { k, pdo64 } = bootHost({ nolowmem: true });
    const { adapter } = getAdapter(k, pdo64, v3Description(64));
    const logical = ref(0);
    expect(adapter.DmaOperations.AllocateCommonBuffer(adapter, PAGE_SIZE, logical, true)).not.toBeNull();
    expect(logical.value).toBeGreaterThanOrEqual(FOUR_GIB);
  });

  it('the device sees at LogicalAddress what the CPU wrote at the VA, and the reverse', () => {
    const { k, nic32, pdo32 } = bootHost({ nolowmem: true });
    const { adapter } = getAdapter(k, pdo32, v3Description(32));
    const logical = ref(0);
    const va = adapter.DmaOperations.AllocateCommonBuffer(adapter, 3 * PAGE_SIZE, logical, true)!;
    const cpu = testPattern(3 * PAGE_SIZE, 7);
    k.mm.system.write(va, cpu);
    const seen = new Uint8Array(cpu.length);
    expect(nic32.dmaView.read(logical.value, seen)).toBe(DMA_OK);
    expect(seen).toEqual(cpu);
    const dev = testPattern(100, 99);
    expect(nic32.dmaView.write(logical.value + 4000, dev)).toBe(DMA_OK);
    const back = new Uint8Array(100);
    k.mm.system.read(va + 4000, back);
    expect(back).toEqual(dev);
  });

  it('with the IOMMU on, LogicalAddress is an IOVA of the device, not a physical address', () => {
    const { k, nic32, pdo32 } = bootHost({ nolowmem: true, iommu: true });
    const { adapter } = getAdapter(k, pdo32, v3Description(32));
    const logical = ref(0);
    const va = adapter.DmaOperations.AllocateCommonBuffer(adapter, 4 * PAGE_SIZE, logical, true)!;
    const physical = MmGetPhysicalAddress(k, va);
    expect(logical.value).not.toBe(physical);
    expect(logical.value + 4 * PAGE_SIZE).toBeLessThanOrEqual(FOUR_GIB);
    // NOLOWMEM + IOMMU: the pages are general allocations above 4 GiB, yet a 32-bit device reaches them.
    expect(physical).toBeGreaterThanOrEqual(FOUR_GIB);
    const data = testPattern(4 * PAGE_SIZE, 3);
    expect(nic32.dmaView.write(logical.value, data)).toBe(DMA_OK);
    const back = new Uint8Array(data.length);
    k.mm.system.read(va, back);
    expect(back).toEqual(data);
  });

  it('a driver that programs MmGetPhysicalAddress instead of LogicalAddress breaks under the IOMMU', () => {
    const { k, nic64, pdo64 } = bootHost({ iommu: true });
    const { adapter } = getAdapter(k, pdo64, v3Description(64));
    const logical = ref(0);
    const va = adapter.DmaOperations.AllocateCommonBuffer(adapter, PAGE_SIZE, logical, true)!;
    k.mm.system.write(va, new Uint8Array(PAGE_SIZE));
    const wrongAddress = MmGetPhysicalAddress(k, va); // what the WDK says never to give a device
    const faultsBefore = nic64.iommuDomain!.faults;
    const status = nic64.dmaView.write(wrongAddress, testPattern(64, 1));
    expect(status).toBe(DMA_IOMMU_FAULT);
    expect(nic64.iommuDomain!.faults).toBe(faultsBefore + 1);
    const back = new Uint8Array(64);
    k.mm.system.read(va, back);
    expect(back).toEqual(new Uint8Array(64)); // nothing reached the buffer
  });

  it('without an IOMMU a 32-bit device handed an address above 4 GiB truncates it (why the HAL bounds the buffer)', () => {
    const { k, nic32, pdo64 } = bootHost({ nolowmem: true });
    // The driver wrongly uses its 64-bit-capable description for a 32-bit engine: the HAL still
    // caps the adapter at the PCI function's 32 bits, so the buffer stays reachable.
    const { adapter } = getAdapter(k, { pciDevice: nic32 }, v3Description(64));
    const logical = ref(0);
    adapter.DmaOperations.AllocateCommonBuffer(adapter, PAGE_SIZE, logical, true);
    expect(logical.value).toBeLessThan(FOUR_GIB);
    void pdo64;
  });

  it('Length 0 returns NULL (verifier off) and is 0xE6/0x21 with the verifier on', () => {
    const off = bootHost();
    const a = getAdapter(off.k, off.pdo64, v3Description(64)).adapter;
    expect(a.DmaOperations.AllocateCommonBuffer(a, 0, ref(0), true)).toBeNull();
    const on = bootHost({ verifier: true });
    const b = getAdapter(on.k, on.pdo64, v3Description(64)).adapter;
    try {
      b.DmaOperations.AllocateCommonBuffer(b, 0, ref(0), true);
      expect.unreachable();
    } catch (e) {
      expect((e as BugCheck).code).toBe(DRIVER_VERIFIER_DMA_VIOLATION);
      expect((e as BugCheck).parameters[0]).toBe(DMA_VIOLATION_ZERO_LENGTH);
    }
  });

  it('malformed arguments return NULL, never a JS TypeError, and allocate nothing', () => {
    const { k, pdo64 } = bootHost();
    const a = getAdapter(k, pdo64, v3Description(64)).adapter;
    const before = memorySnapshot(k);
    const ops = a.DmaOperations;
    expect(ops.AllocateCommonBuffer(a, -1, ref(0), true)).toBeNull();
    expect(ops.AllocateCommonBuffer(a, 1.5, ref(0), true)).toBeNull();
    expect(ops.AllocateCommonBuffer(a, 2 ** 32, ref(0), true)).toBeNull();
    expect(ops.AllocateCommonBuffer(a, 4096, null as never, true)).toBeNull();
    expect(ops.AllocateCommonBuffer(a, 4096, ref(0), 'yes' as never)).toBeNull();
    expect(memorySnapshot(k)).toEqual(before);
  });

  it('an injected failure returns NULL and changes nothing', () => {
    const { k, pdo32 } = bootHost({ iommu: true });
    const a = getAdapter(k, pdo32, v3Description(32)).adapter;
    const before = memorySnapshot(k);
    k.faults.setPolicy({ kind: 'always' }, { sites: ['AllocateCommonBuffer'] });
    const logical = ref(-1);
    expect(a.DmaOperations.AllocateCommonBuffer(a, 8 * PAGE_SIZE, logical, true)).toBeNull();
    expect(logical.value).toBe(-1);
    expect(memorySnapshot(k)).toEqual(before);
    // A failure in the middle of the page allocations rolls the earlier pages back.
    k.faults.setPolicy({ kind: 'nth', n: 5 }, { sites: ['AllocateCommonBuffer:pages'] });
    expect(a.DmaOperations.AllocateCommonBuffer(a, 8 * PAGE_SIZE, logical, true)).toBeNull();
    expect(memorySnapshot(k)).toEqual(before);
  });

  it('a request larger than the memory the adapter reaches returns NULL and changes nothing', () => {
    const { k, pdo32 } = bootHost();
    const a = getAdapter(k, pdo32, v3Description(32)).adapter;
    const before = memorySnapshot(k);
    expect(a.DmaOperations.AllocateCommonBuffer(a, 0xffff_f000, ref(0), true)).toBeNull();
    expect(memorySnapshot(k)).toEqual(before);
  });
});

describe('AllocateCommonBufferEx', () => {
  it('MaximumAddress bounds the logical address and CacheEnabled is honoured', () => {
    const { k, pdo64 } = bootHost();
    const a = getAdapter(k, pdo64, v3Description(64)).adapter;
    const logical = ref(0);
    const va = a.DmaOperations.AllocateCommonBufferEx!(a, ref(0x3fff_ffff), 2 * PAGE_SIZE, logical, false, 0)!;
    expect(va).not.toBeNull();
    expect(logical.value + 2 * PAGE_SIZE - 1).toBeLessThanOrEqual(0x3fff_ffff);
    expect(k.mm.system.lookup(va)!.cacheType).toBe(MmNonCached);
    a.DmaOperations.FreeCommonBuffer(a, 2 * PAGE_SIZE, logical.value, va, false);
    expect(k.hal.counters().commonBuffers).toBe(0);
  });
});

describe('AllocateCommonBufferWithBounds', () => {
  it('the logical address lies within [MinimumAddress, MaximumAddress]', () => {
    for (const iommu of [false, true]) {
      const { k, pdo64 } = bootHost({ iommu });
      const a = getAdapter(k, pdo64, v3Description(64)).adapter;
      const logical = ref(0);
      const va = a.DmaOperations.AllocateCommonBufferWithBounds!(a, ref(0x4000_0000), ref(0x7fff_ffff), 3 * PAGE_SIZE, 0, ref(MmCached), 0, logical);
      expect(va).not.toBeNull();
      expect(logical.value).toBeGreaterThanOrEqual(0x4000_0000);
      expect(logical.value + 3 * PAGE_SIZE - 1).toBeLessThanOrEqual(0x7fff_ffff);
    }
  });

  it('rejects inverted bounds, undefined flags, large pages and cache types other than MmCached/MmNonCached', () => {
    const { k, pdo64 } = bootHost();
    const a = getAdapter(k, pdo64, v3Description(64)).adapter;
    const f = a.DmaOperations.AllocateCommonBufferWithBounds!;
    const before = memorySnapshot(k);
    expect(f(a, ref(0x8000_0000), ref(0x4000_0000), PAGE_SIZE, 0, null, 0, ref(0))).toBeNull();
    expect(f(a, null, null, PAGE_SIZE, 0x4, null, 0, ref(0))).toBeNull();
    expect(f(a, null, null, PAGE_SIZE, DOMAIN_COMMON_BUFFER_LARGE_PAGE, null, 0, ref(0))).toBeNull();
    expect(f(a, null, null, PAGE_SIZE, 0, ref(2), 0, ref(0))).toBeNull();
    expect(memorySnapshot(k)).toEqual(before);
  });
});
