import { describe, expect, it } from 'vitest';
import { DeviceDmaView, FOUR_GIB, IOMMU_READ, IOMMU_WRITE, IommuDomain, PhysicalMemory } from '../bus/index.ts';
import { PA, PB, PX, connectHosts, connectedPair, expectOk, fillPattern, makeHost, pagesOf, snapshot } from '../../test/nic/harness.ts';
import { Fabric } from './fabric.ts';
import { SanNic } from './san-nic.ts';
import { NicConfigurationError, NicStatus, Syndrome, WcStatus } from './status.ts';
import { NicAccess } from './tpt.ts';

const RW = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE;
const ALL = RW | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;

describe('SanNic construction', () => {
  it('refuses impossible configurations with a message quoting the value', () => {
    const memory = new PhysicalMemory(1 << 20);
    const dma = new DeviceDmaView(memory, [{ base: 0, length: 1 << 20 }], { name: 'd', addressBits: 32 });
    expect(() => new SanNic({ name: 'n', dma, capabilities: { addressBits: 64 } })).toThrow(NicConfigurationError);
    expect(() => new SanNic({ name: 'n', dma, capabilities: { maxRegistrations: 0 } })).toThrow(/maxRegistrations.*got 0/);
    expect(() => new SanNic(null as never)).toThrow(NicConfigurationError);
    const odd = new DeviceDmaView(memory, [{ base: 0, length: 1 << 20 }], { name: 'd', addressBits: 40 });
    expect(() => new SanNic({ name: 'n', dma: odd })).toThrow(/32 or 64/);
  });
});

describe('registerRegion capacity errors', () => {
  it('max registrations → INSUFFICIENT_RESOURCES, table unchanged; a free slot comes back', () => {
    const { nic } = makeHost('n', 1 << 20, { maxRegistrations: 2 });
    const req = { owner: PA, pages: pagesOf(0x1000, 1), firstByteOffset: 0, length: 4096, access: RW };
    const a = nic.registerRegion(req);
    expectOk(nic.registerRegion(req).status);
    expect(nic.registerRegion(req)).toEqual({ status: NicStatus.INSUFFICIENT_RESOURCES, handle: 0, remoteKey: 0 });
    expect(nic.regionCount).toBe(2);
    expectOk(nic.deregisterRegion(a.handle));
    expect(nic.deregisterRegion(a.handle)).toBe(NicStatus.INVALID_HANDLE);
    const c = nic.registerRegion(req);
    expectOk(c.status);
    expect(c.handle).not.toBe(a.handle);
  });
  it('max region size → REGION_TOO_LARGE; bad owner → INVALID_PARAMETER', () => {
    const { nic } = makeHost('n', 1 << 20, { maxRegionBytes: 8192 });
    expect(nic.registerRegion({ owner: PA, pages: pagesOf(0, 3), firstByteOffset: 0, length: 8193, access: RW }).status)
      .toBe(NicStatus.REGION_TOO_LARGE);
    expect(nic.registerRegion({ owner: -1, pages: pagesOf(0, 1), firstByteOffset: 0, length: 1, access: RW }).status)
      .toBe(NicStatus.INVALID_PARAMETER);
    expect(nic.registerRegion(undefined as never).status).toBe(NicStatus.INVALID_PARAMETER);
    expect(nic.regionCount).toBe(0);
  });
  it('the page list is copied: changing the caller\'s array later changes nothing', () => {
    const { nic } = makeHost('n', 1 << 20);
    const pages = pagesOf(0x3000, 1);
    const r = nic.registerRegion({ owner: PA, pages, firstByteOffset: 0, length: 4096, access: RW });
    pages[0] = 0x8000;
    expect(nic.queryRegion(r.handle)!.pages[0]).toBe(0x3000);
  });
  it('bindRegion: endpoint of another process → ACCESS_DENIED; bound twice → INVALID_STATE', () => {
    const p = connectedPair();
    const r = p.b.nic.registerRegion({ owner: PX, pages: pagesOf(0, 1), firstByteOffset: 0, length: 4096, access: ALL });
    expect(p.b.nic.bindRegion(r.handle, p.epB)).toBe(NicStatus.ACCESS_DENIED);
    const mine = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(0, 1), firstByteOffset: 0, length: 4096, access: ALL });
    expectOk(p.b.nic.bindRegion(mine.handle, p.epB));
    expect(p.b.nic.bindRegion(mine.handle, p.epB)).toBe(NicStatus.INVALID_STATE);
    expect(p.b.nic.bindRegion(mine.handle, 0x7777)).toBe(NicStatus.INVALID_HANDLE);
  });
});

describe('32-bit NIC: addresses at or above 4 GiB truncate on the bus, never refused', () => {
  it('an RDMA write into a page at 4 GiB + X lands at X, and the NIC logs what it was handed', () => {
    const fabric = new Fabric();
    const a = makeHost('a');
    const ramB = [{ base: 0, length: 1 << 20 }, { base: FOUR_GIB, length: 1 << 20 }];
    const b = makeHost('b', undefined, { addressBits: 32 }, ramB, 32);
    const { cqA, epA, epB } = connectHosts(fabric, a, b, 16, 16);
    fillPattern(a.memory, 0x1000, 4096, 5);
    const src = a.nic.registerRegion({ owner: PA, pages: pagesOf(0x1000, 1), firstByteOffset: 0, length: 4096, access: RW });
    const high = FOUR_GIB + 0x5000;
    const dst = b.nic.registerRegion({ owner: PB, pages: pagesOf(high, 1), firstByteOffset: 0, length: 4096, access: ALL });
    expectOk(dst.status); // truncation is the bus's business: the NIC does not refuse
    expect(b.nic.handedAddresses()).toEqual(Float64Array.of(high));
    expect(b.nic.handedAboveLimit).toBe(1);
    expectOk(b.nic.bindRegion(dst.handle, epB));
    const highBefore = snapshot(b.memory, high, 4096);
    expectOk(a.nic.postRdmaWrite(PA, epA, {
      context: 1, elements: [{ localHandle: src.handle, offset: 0, length: 4096 }], remote: { remoteKey: dst.remoteKey, address: 0, length: 4096 },
    }));
    fabric.runUntilIdle();
    expect(a.nic.pollCompletionQueue(PA, cqA).completions[0]!.status).toBe(WcStatus.SUCCESS);
    expect(Buffer.compare(snapshot(b.memory, 0x5000, 4096), snapshot(a.memory, 0x1000, 4096))).toBe(0);
    expect(Buffer.compare(snapshot(b.memory, high, 4096), highBefore)).toBe(0);
  });
});

describe('bus faults are found before any byte moves', () => {
  /** An 8 KiB RDMA write from A's `srcPages` to B's `dstPages` that must fail with `expected` and change nothing on B. */
  function expectFaultedWrite(
    fabric: Fabric, a: { nic: SanNic }, b: { memory: PhysicalMemory; nic: SanNic }, srcPages: Float64Array, dstPages: Float64Array,
    expected: { status: number; syndrome: number },
  ) {
    const { cqA, epA, epB } = connectHosts(fabric, a, b, 16, 16);
    const src = a.nic.registerRegion({ owner: PA, pages: srcPages, firstByteOffset: 0, length: 8192, access: RW });
    const dst = b.nic.registerRegion({ owner: PB, pages: dstPages, firstByteOffset: 0, length: 8192, access: ALL });
    b.nic.bindRegion(dst.handle, epB);
    const before = snapshot(b.memory);
    a.nic.postRdmaWrite(PA, epA, {
      context: 1, elements: [{ localHandle: src.handle, offset: 0, length: 8192 }], remote: { remoteKey: dst.remoteKey, address: 0, length: 8192 },
    });
    fabric.runUntilIdle();
    expect(a.nic.pollCompletionQueue(PA, cqA).completions[0]).toMatchObject(expected);
    expect(Buffer.compare(snapshot(b.memory), before)).toBe(0);
    return epB;
  }

  it('a page in the MMIO hole: master abort, REM_OP_ERR, nothing written anywhere', () => {
    const fabric = new Fabric();
    const a = makeHost('a');
    const b = makeHost('b', undefined, {}, [{ base: 0, length: 0x10000 }, { base: 0x20000, length: 0x10000 }]);
    fillPattern(a.memory, 0, 0x4000, 1);
    // First page of the destination is RAM, second is in the hole.
    // A learns only the NAK code (Remote Operational Error); B's responder records why.
    const epB = expectFaultedWrite(fabric, a, b, pagesOf(0, 2), Float64Array.of(0xf000, 0x10000),
      { status: WcStatus.REM_OP_ERR, syndrome: Syndrome.NONE });
    expect(b.nic.endpointInfo(PB, epB)).toMatchObject({ responderSyndrome: Syndrome.DMA_MASTER_ABORT });
  });
  it('with an IOMMU, an unmapped logical page faults on the requester side: GENERAL_ERR, nothing moves', () => {
    const fabric = new Fabric();
    const memory = new PhysicalMemory(1 << 20);
    const iommu = new IommuDomain('a');
    const dma = new DeviceDmaView(memory, [{ base: 0, length: 1 << 20 }], { name: 'a', addressBits: 64, iommu });
    const a = { memory, nic: new SanNic({ name: 'a', dma }) };
    const b = makeHost('b');
    const logical = iommu.map([3], IOMMU_READ | IOMMU_WRITE, FOUR_GIB)!;
    const epB = expectFaultedWrite(fabric, a, b, Float64Array.of(logical, logical + 4096), pagesOf(0, 2),
      { status: WcStatus.GENERAL_ERR, syndrome: Syndrome.DMA_IOMMU_FAULT });
    expect(b.nic.endpointInfo(PB, epB)).toMatchObject({ state: 'connected' });
  });
});
