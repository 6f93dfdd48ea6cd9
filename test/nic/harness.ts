/** Two in-process hosts with one NIC each on one fabric, for NIC tests. */
import { DeviceDmaView, PAGE_SIZE, PhysicalMemory, type RamRange } from '../../src/bus/index.ts';
import { testPattern } from '../../src/bus/test-pattern.ts';
import { Fabric, NicAccess, NicStatus, SanNic, type NicCapabilities } from '../../src/nic/index.ts';

export const PA = 100; // process on host A
export const PB = 200; // process on host B
export const PX = 300; // another process (on either host)
export const PORT = 5000;

export interface Host {
  memory: PhysicalMemory;
  dma: DeviceDmaView;
  nic: SanNic;
}

export function makeHost(
  name: string,
  ramBytes = 4 * 1024 * 1024,
  capabilities: Partial<NicCapabilities> = {},
  ram: RamRange[] = [{ base: 0, length: ramBytes }],
  addressBits = 64,
): Host {
  const top = Math.max(...ram.map((r) => r.base + r.length));
  const memory = new PhysicalMemory(top);
  const dma = new DeviceDmaView(memory, ram, { name, addressBits });
  return { memory, dma, nic: new SanNic({ name, dma, capabilities }) };
}

export const pagesOf = (base: number, count: number): Float64Array =>
  Float64Array.from({ length: count }, (_, i) => base + i * PAGE_SIZE);

export function expectOk(status: number, what = 'call'): void {
  if (status !== NicStatus.SUCCESS) throw new Error(`${what} failed with NicStatus ${status}`);
}

/** Fill [base, +length) with the test pattern of `seed` (src/bus/test-pattern.ts). */
export function fillPattern(memory: PhysicalMemory, base: number, length: number, seed: number): void {
  memory.write(base, testPattern(length, seed));
}

export function snapshot(memory: PhysicalMemory, base = 0, length = memory.limit - base): Uint8Array {
  const b = new Uint8Array(length);
  memory.read(base, b);
  return b;
}

export interface Pair {
  fabric: Fabric;
  a: Host;
  b: Host;
  cqA: number;
  cqB: number;
  epA: number;
  epB: number;
}

/** Two hosts, process PA on A connected to process PB on B. */
export function connectedPair(
  capsA: Partial<NicCapabilities> = {},
  capsB: Partial<NicCapabilities> = capsA,
  cqDepth = 256,
): Pair {
  const fabric = new Fabric();
  const a = makeHost('nicA', undefined, capsA);
  const b = makeHost('nicB', undefined, capsB);
  return { fabric, a, b, ...connectHosts(fabric, a, b, cqDepth) };
}

/** Attach both NICs to `fabric` and connect process PA on `a` to process PB on `b`. */
export function connectHosts(
  fabric: Fabric, a: { nic: SanNic }, b: { nic: SanNic }, cqDepthA = 256, cqDepthB = 256,
): { cqA: number; cqB: number; epA: number; epB: number } {
  fabric.attach(a.nic);
  fabric.attach(b.nic);
  const cqA = a.nic.createCompletionQueue(PA, cqDepthA);
  const cqB = b.nic.createCompletionQueue(PB, cqDepthB);
  expectOk(cqA.status, 'cq A');
  expectOk(cqB.status, 'cq B');
  const epA = a.nic.createEndpoint(PA, cqA.cq);
  const epB = b.nic.createEndpoint(PB, cqB.cq);
  expectOk(epA.status);
  expectOk(epB.status);
  expectOk(b.nic.listen(PB, PORT), 'listen');
  expectOk(a.nic.connect(PA, epA.endpoint, b.nic.sanAddress, PORT), 'connect');
  fabric.runUntilIdle();
  expectOk(b.nic.accept(PB, PORT, epB.endpoint), 'accept');
  fabric.runUntilIdle();
  return { cqA: cqA.cq, cqB: cqB.cq, epA: epA.endpoint, epB: epB.endpoint };
}

/**
 * The same `pages` pages at `base` on both hosts filled with two patterns (seeds `seedA`,
 * `seedB`), registered with every access right, and B's region bound to B's endpoint: the
 * target of a bulk WRITE or READ from A.
 */
export function registerBulkRegions(p: Pair, base: number, pages: number, seedA: number, seedB: number) {
  const ALL = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;
  const length = pages * 4096;
  fillPattern(p.a.memory, base, length, seedA);
  fillPattern(p.b.memory, base, length, seedB);
  const ra = p.a.nic.registerRegion({ owner: PA, pages: pagesOf(base, pages), firstByteOffset: 0, length, access: ALL });
  const rb = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(base, pages), firstByteOffset: 0, length, access: ALL });
  p.b.nic.bindRegion(rb.handle, p.epB);
  return { ra, rb };
}
