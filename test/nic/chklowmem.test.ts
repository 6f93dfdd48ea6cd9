/**
 * The 32-bit NIC on a NOLOWMEM machine (WDK: bcdedit "nolowmem", debugger "!chklowmem"): a page
 * the kernel hands out above 4 GiB, registered with a NIC that only drives 32 address bits, is
 * written at its truncated address in low memory — the hardware does not refuse — and !chklowmem
 * reports exactly those low pages. The same transfer through a 64-bit NIC reports nothing.
 */
import { describe, expect, it } from 'vitest';
import { DeviceDmaView, FOUR_GIB, GIB, MIB, PAGE_SIZE } from '../../src/bus/index.ts';
import { Kernel } from '../../src/kernel/kernel.ts';
import { Fabric, NicAccess, NicStatus, SanNic, WcStatus } from '../../src/nic/index.ts';
import { PA, PB, expectOk, fillPattern, makeHost, pagesOf, snapshot } from './harness.ts';

const ALL = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;

function writeIntoKernelPages(addressBits: 32 | 64) {
  const k = Kernel.boot({ ramBytes: 8 * GIB, nolowmem: true, name: 'target' });
  const dma = new DeviceDmaView(k.memory, k.mm.layout.installed, { name: `san${addressBits}`, addressBits });
  const nicB = new SanNic({ name: `san${addressBits}`, dma });
  const a = makeHost('source');
  const fabric = new Fabric();
  fabric.attach(a.nic);
  fabric.attach(nicB);
  const owner = k.mm.owners.register('process', 'rdma-target');
  // Three pages the kernel hands out; NOLOWMEM keeps them above 4 GiB. Start 16 MiB above 4 GiB
  // so the truncated addresses fall in ordinary free low RAM (not the reserved first MiB).
  const pfns = [0, 1, 2].map(() => k.mm.allocatePage(owner, 'test', { lowestPfn: (FOUR_GIB + 16 * MIB) / PAGE_SIZE }));
  for (const p of pfns) expect(p * PAGE_SIZE).toBeGreaterThanOrEqual(FOUR_GIB);
  const pages = Float64Array.from(pfns, (p) => p * PAGE_SIZE);

  const cqA = a.nic.createCompletionQueue(PA, 8).cq;
  const epA = a.nic.createEndpoint(PA, cqA).endpoint;
  const epB = nicB.createEndpoint(PB, nicB.createCompletionQueue(PB, 8).cq).endpoint;
  expectOk(nicB.listen(PB, 1));
  expectOk(a.nic.connect(PA, epA, nicB.sanAddress, 1));
  fabric.runUntilIdle();
  expectOk(nicB.accept(PB, 1, epB));
  fabric.runUntilIdle();

  const dst = nicB.registerRegion({ owner: PB, pages, firstByteOffset: 0, length: 3 * PAGE_SIZE, access: ALL });
  expect(dst.status).toBe(NicStatus.SUCCESS);
  expectOk(nicB.bindRegion(dst.handle, epB));
  fillPattern(a.memory, 0x4000, 3 * PAGE_SIZE, 9);
  const src = a.nic.registerRegion({ owner: PA, pages: pagesOf(0x4000, 3), firstByteOffset: 0, length: 3 * PAGE_SIZE, access: ALL });
  const highBefore = pfns.map((p) => snapshot(k.memory, p * PAGE_SIZE, PAGE_SIZE));
  expect(k.mm.chklowmem().violations).toBe(0);

  expectOk(a.nic.postRdmaWrite(PA, epA, {
    context: 1,
    elements: [{ localHandle: src.handle, offset: 0, length: 3 * PAGE_SIZE }],
    remote: { remoteKey: dst.remoteKey, address: 0, length: 3 * PAGE_SIZE },
  }));
  fabric.runUntilIdle();
  expect(a.nic.pollCompletionQueue(PA, cqA).completions[0]!.status).toBe(WcStatus.SUCCESS);
  return { k, nicB, a, pfns, highBefore };
}

describe('chklowmem catches a 32-bit NIC given pages above 4 GiB', () => {
  it('the truncated write lands in low memory and chklowmem reports exactly those pages', () => {
    const { k, nicB, a, pfns, highBefore } = writeIntoKernelPages(32);
    const lowPfns = pfns.map((p) => p - FOUR_GIB / PAGE_SIZE);
    expect(k.mm.chklowmem().pfns).toEqual([...lowPfns].sort((x, y) => x - y));
    expect(k.mm.chklowmem().violations).toBe(3);
    // The bytes are in low memory, and the pages the driver meant were never written.
    pfns.forEach((p, i) => {
      expect(Buffer.compare(snapshot(k.memory, lowPfns[i]! * PAGE_SIZE, PAGE_SIZE), snapshot(a.memory, 0x4000 + i * PAGE_SIZE, PAGE_SIZE))).toBe(0);
      expect(Buffer.compare(snapshot(k.memory, p * PAGE_SIZE, PAGE_SIZE), highBefore[i]!)).toBe(0);
    });
    // The NIC's own log proves what it was handed.
    expect(nicB.handedAboveLimit).toBe(3);
    expect([...nicB.handedAddresses()]).toEqual(pfns.map((p) => p * PAGE_SIZE));
  });

  it('control: the same write through a 64-bit NIC lands where meant and chklowmem stays clean', () => {
    const { k, nicB, a, pfns } = writeIntoKernelPages(64);
    expect(k.mm.chklowmem()).toEqual({ violations: 0, pfns: [] });
    pfns.forEach((p, i) => {
      expect(Buffer.compare(snapshot(k.memory, p * PAGE_SIZE, PAGE_SIZE), snapshot(a.memory, 0x4000 + i * PAGE_SIZE, PAGE_SIZE))).toBe(0);
    });
    expect(nicB.handedAboveLimit).toBe(0);
  });
});
