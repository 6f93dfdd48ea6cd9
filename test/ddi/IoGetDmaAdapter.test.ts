import { describe, expect, it } from 'vitest';
import { BugCheck, DRIVER_VERIFIER_DMA_VIOLATION } from '../../src/kernel/bugcheck.ts';
import {
  createDeviceDescription,
  DEVICE_DESCRIPTION_VERSION,
  DEVICE_DESCRIPTION_VERSION1,
  DEVICE_DESCRIPTION_VERSION2,
  DEVICE_DESCRIPTION_VERSION3,
  DMA_VIOLATION_BAD_DESCRIPTION_VERSION,
  InterfaceTypeUndefined,
  IoGetDmaAdapter,
  Isa,
  PCIBus,
  Width32Bits,
} from '../../src/kernel/hal/index.ts';
import { bootHost, getAdapter, memorySnapshot, v3Description } from '../../src/kernel/hal/test-fixtures.ts';
import { ref } from '../../src/kernel/ref.ts';

const adapterBits = (k: ReturnType<typeof bootHost>['k'], adapter: object) => k.hal.byObject.get(adapter)!.addressBits;

describe('IoGetDmaAdapter', () => {
  it('DMA_ADAPTER.Version is always 1 and DmaOperations carries exactly the members of its version', () => {
    const { k, pdo64 } = bootHost();
    const v2Members = ['CalculateScatterGatherList', 'BuildScatterGatherList'];
    const v3Members = ['GetDmaAdapterInfo', 'AllocateCommonBufferEx', 'AllocateCommonBufferWithBounds'];
    for (const Version of [DEVICE_DESCRIPTION_VERSION, DEVICE_DESCRIPTION_VERSION1, DEVICE_DESCRIPTION_VERSION2, DEVICE_DESCRIPTION_VERSION3]) {
      const dd = createDeviceDescription({ Version, Master: true, ScatterGather: true, InterfaceType: PCIBus,
        Dma64BitAddresses: Version < 3, DmaAddressWidth: Version === 3 ? 64 : 0, MaximumLength: 65536 });
      const { adapter } = getAdapter(k, pdo64, dd);
      expect(adapter.Version).toBe(1);
      const ops = adapter.DmaOperations as unknown as Record<string, unknown>;
      for (const m of ['PutDmaAdapter', 'AllocateCommonBuffer', 'FreeCommonBuffer', 'GetDmaAlignment', 'GetScatterGatherList', 'PutScatterGatherList']) {
        expect(typeof ops[m]).toBe('function');
      }
      for (const m of v2Members) expect(typeof ops[m]).toBe(Version >= 2 ? 'function' : 'undefined');
      for (const m of v3Members) expect(typeof ops[m]).toBe(Version >= 3 ? 'function' : 'undefined');
      expect(Object.isFrozen(adapter.DmaOperations)).toBe(true);
      adapter.DmaOperations.PutDmaAdapter(adapter);
    }
  });

  it('an unsupported Version returns NULL and leaves nothing behind', () => {
    const { k, pdo64 } = bootHost();
    const before = memorySnapshot(k);
    const n = ref(77);
    expect(IoGetDmaAdapter(k, pdo64, createDeviceDescription({ Version: 4, Master: true }), n)).toBeNull();
    expect(n.value).toBe(77);
    expect(memorySnapshot(k)).toEqual(before);
    expect(k.hal.counters().adapters).toBe(0);
  });

  it('an unsupported Version with the verifier on is DRIVER_VERIFIER_DMA_VIOLATION 0x25', () => {
    const { k, pdo64 } = bootHost({ verifier: true });
    let stop: unknown;
    try {
      IoGetDmaAdapter(k, pdo64, createDeviceDescription({ Version: 9, Master: true }), ref(0));
    } catch (e) {
      stop = e;
    }
    expect(stop).toBeInstanceOf(BugCheck);
    expect((stop as BugCheck).code).toBe(DRIVER_VERIFIER_DMA_VIOLATION);
    expect((stop as BugCheck).parameters).toEqual([DMA_VIOLATION_BAD_DESCRIPTION_VERSION, 9, 0, 0]);
  });

  it('ScatterGather with PCIBus implies 32-bit addressing', () => {
    const { k, pdo64 } = bootHost();
    const { adapter } = getAdapter(k, pdo64, createDeviceDescription({ Version: 2, Master: true, ScatterGather: true, InterfaceType: PCIBus }));
    expect(adapterBits(k, adapter)).toBe(32);
    // Without scatter/gather on ISA and no 32-bit flag: a 24-bit master.
    const isa = getAdapter(k, pdo64, createDeviceDescription({ Version: 2, Master: true, InterfaceType: Isa })).adapter;
    expect(adapterBits(k, isa)).toBe(24);
  });

  it('InterfaceTypeUndefined takes the bus from the PDO (PCI)', () => {
    const { k, pdo64 } = bootHost();
    const { adapter } = getAdapter(k, pdo64, createDeviceDescription({ Version: 2, Master: true, ScatterGather: true, InterfaceType: InterfaceTypeUndefined }));
    expect(adapterBits(k, adapter)).toBe(32);
  });

  it('Dma64BitAddresses overrides Dma32BitAddresses (versions 0-2)', () => {
    const { k, pdo64 } = bootHost();
    const { adapter } = getAdapter(k, pdo64, createDeviceDescription({ Version: 1, Master: true, Dma32BitAddresses: true, Dma64BitAddresses: true, InterfaceType: PCIBus }));
    expect(adapterBits(k, adapter)).toBe(64);
  });

  it('version 3 uses DmaAddressWidth and ignores Dma32/Dma64BitAddresses (reported as not zeroed)', () => {
    const { k, pdo64 } = bootHost();
    const { adapter } = getAdapter(k, pdo64, v3Description(40, 4096, { Dma64BitAddresses: true }));
    expect(adapterBits(k, adapter)).toBe(40);
    const f = k.hal.findings.at(-1)!;
    expect(f.kind).toBe('description-not-zeroed');
    expect(f.detail).toContain('Dma64BitAddresses');
  });

  it('version 3 DmaAddressWidth outside 1..64 returns NULL', () => {
    const { k, pdo64 } = bootHost();
    for (const w of [0, 65, 128]) expect(IoGetDmaAdapter(k, pdo64, v3Description(w), ref(0))).toBeNull();
    expect(IoGetDmaAdapter(k, pdo64, v3Description(1), ref(0))).not.toBeNull();
    expect(IoGetDmaAdapter(k, pdo64, v3Description(64), ref(0))).not.toBeNull();
  });

  it('Reserved1 must be FALSE', () => {
    const { k, pdo64 } = bootHost();
    expect(IoGetDmaAdapter(k, pdo64, v3Description(64, 4096, { Reserved1: true }), ref(0))).toBeNull();
    expect(k.hal.findings.at(-1)!.kind).toBe('reserved1-set');
  });

  it('the adapter address width is min(description, PCI function)', () => {
    const { k, pdo32 } = bootHost();
    const { adapter } = getAdapter(k, pdo32, v3Description(64));
    expect(adapterBits(k, adapter)).toBe(32);
  });

  it('MaximumLength drives NumberOfMapRegisters: pages + 1, capped for an adapter that may bounce', () => {
    const { k, pdo32, pdo64 } = bootHost();
    expect(getAdapter(k, pdo64, v3Description(64, 0x10000)).mapRegisters).toBe(17);
    expect(getAdapter(k, pdo64, v3Description(64, 0x10001)).mapRegisters).toBe(18);
    expect(getAdapter(k, pdo64, v3Description(64, 0)).mapRegisters).toBe(1);
    // A 32-bit adapter on a host with RAM above 4 GiB may need bounce buffers: capped.
    expect(getAdapter(k, pdo32, v3Description(32, 64 << 20)).mapRegisters).toBe(k.hal.maxMapRegistersPerAdapter);
    expect(getAdapter(k, pdo64, v3Description(64, 64 << 20)).mapRegisters).toBe((64 << 20) / 4096 + 1);
  });

  it('a description that was not zeroed is detected: ignored members with values are reported', () => {
    const { k, pdo64 } = bootHost();
    const dd = v3Description(64, 4096, { DmaWidth: Width32Bits, DmaChannel: 0xcccc, DmaPort: 3, AutoInitialize: true });
    expect(IoGetDmaAdapter(k, pdo64, dd, ref(0))).not.toBeNull();
    const f = k.hal.findings.at(-1)!;
    expect(f.kind).toBe('description-not-zeroed');
    for (const m of ['DmaWidth', 'DmaChannel', 'DmaPort', 'AutoInitialize']) expect(f.detail).toContain(m);
    // BusNumber is legitimately filled from IoGetDeviceProperty: never flagged.
    const before = k.hal.findings.length;
    expect(IoGetDmaAdapter(k, pdo64, v3Description(64, 4096, { BusNumber: 3 }), ref(0))).not.toBeNull();
    expect(k.hal.findings.length).toBe(before);
  });

  it('members that no real structure can hold (garbage of the wrong type) return NULL', () => {
    const { k, pdo64 } = bootHost();
    const bad: Record<string, unknown>[] = [
      { Master: 1 }, { MaximumLength: -1 }, { MaximumLength: 0.5 }, { MaximumLength: 2 ** 32 }, { DmaSpeed: 99 },
      { InterfaceType: 18 }, { DeviceAddress: -4 }, { Version: NaN },
    ];
    for (const b of bad) {
      expect(IoGetDmaAdapter(k, pdo64, { ...v3Description(64), ...b } as never, ref(0))).toBeNull();
    }
    expect(IoGetDmaAdapter(k, pdo64, null as never, ref(0))).toBeNull();
    expect(k.hal.counters().adapters).toBe(0);
  });

  it('a subordinate (non-bus-master) device gets NULL: there is no system DMA controller', () => {
    const { k, pdo64 } = bootHost();
    expect(IoGetDmaAdapter(k, pdo64, v3Description(64, 4096, { Master: false }), ref(0))).toBeNull();
  });

  it('a PDO without a PCI function of this host, or a NULL PDO, gets NULL', () => {
    const { k, pdo64 } = bootHost();
    const other = bootHost({ name: 'other' });
    expect(IoGetDmaAdapter(k, null, v3Description(64), ref(0))).toBeNull();
    expect(IoGetDmaAdapter(k, {}, v3Description(64), ref(0))).toBeNull();
    expect(IoGetDmaAdapter(k, other.pdo64, v3Description(64), ref(0))).toBeNull();
    expect(IoGetDmaAdapter(k, pdo64, v3Description(64), null as never)).toBeNull();
  });

  it('an injected allocation failure returns NULL and leaves nothing behind', () => {
    const { k, pdo64 } = bootHost();
    const before = memorySnapshot(k);
    k.faults.setPolicy({ kind: 'always' }, { sites: ['IoGetDmaAdapter'] });
    expect(IoGetDmaAdapter(k, pdo64, v3Description(64), ref(0))).toBeNull();
    expect(memorySnapshot(k)).toEqual(before);
    expect(k.hal.counters().adapters).toBe(0);
    k.faults.setPolicy({ kind: 'none' });
    expect(IoGetDmaAdapter(k, pdo64, v3Description(64), ref(0))).not.toBeNull();
  });

  it('adapters have small ids and PutDmaAdapter releases their owners', () => {
    const { k, pdo64 } = bootHost();
    const before = memorySnapshot(k);
    const a = getAdapter(k, pdo64, v3Description(64)).adapter;
    const b = getAdapter(k, pdo64, v3Description(64)).adapter;
    expect([k.hal.byObject.get(a)!.id, k.hal.byObject.get(b)!.id]).toEqual([1, 2]);
    a.DmaOperations.PutDmaAdapter(a);
    b.DmaOperations.PutDmaAdapter(b);
    expect(memorySnapshot(k)).toEqual(before);
  });
});
