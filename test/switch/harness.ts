/** Two hosts with the proxy loaded and one switch (application process) on each. */
import { expect } from 'vitest';
import { testPattern } from '../../src/bus/test-pattern.ts';
import { createCluster, leakedCounters, snapshot, type Cluster, type Host, type NicSpec, type ResourceSnapshot } from '../../src/host/index.ts';
import type { Process } from '../../src/kernel/ps/process.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/virtual-memory.ts';
import { WindowsSocketsSwitch, type WindowsSocketsSwitchOptions } from '../../src/switch/index.ts';

export const IP_A = '10.0.0.1';
export const IP_B = '10.0.0.2';
export const MIB = 1024 * 1024;

export interface App {
  host: Host;
  process: Process;
  sw: WindowsSocketsSwitch;
}

export interface SwitchPair {
  cluster: Cluster;
  a: App;
  b: App;
  baseline: ResourceSnapshot[];
}

export interface SwitchPairOptions {
  bits?: 32 | 64;
  nolowmem?: boolean;
  rdmaRead?: boolean;
  nicB?: Partial<NicSpec>;
  switch?: Partial<WindowsSocketsSwitchOptions>;
  autoDrive?: boolean;
}

export function switchPair(o: SwitchPairOptions = {}): SwitchPair {
  const nic = (ip: string): NicSpec => ({ addressBits: o.bits ?? 64, ip, rdmaRead: o.rdmaRead ?? true });
  const cluster = createCluster({
    autoDrive: o.autoDrive ?? false,
    hosts: [
      { name: 'a', ramBytes: 6 * 1024 * MIB, nolowmem: o.nolowmem ?? true, nics: [nic(IP_A)] },
      { name: 'b', ramBytes: 6 * 1024 * MIB, nolowmem: o.nolowmem ?? true, nics: [{ ...nic(IP_B), ...o.nicB }] },
    ],
  });
  const [ha, hb] = cluster.hosts as [Host, Host];
  expect(ha.loadProxy()).toBe(0);
  expect(hb.loadProxy()).toBe(0);
  const baseline = [snapshot(ha), snapshot(hb)];
  const app = (host: Host, name: string): App => {
    const process = host.createProcess(name);
    return { host, process, sw: new WindowsSocketsSwitch({ host, process, ...o.switch }) };
  };
  return { cluster, a: app(ha, 'client'), b: app(hb, 'server'), baseline };
}

/** Server listens on B:port, client connects; returns [client socket, server socket]. */
export async function connect(p: SwitchPair, port = 5000): Promise<{ c: number; s: number; listener: number }> {
  const listener = p.b.sw.socket();
  p.b.sw.bind(listener, { ip: IP_B, port });
  p.b.sw.listen(listener);
  const c = p.a.sw.socket();
  const accepted = p.b.sw.accept(listener);
  await p.a.sw.connect(c, { ip: IP_B, port });
  const s = await accepted;
  return { c, s, listener };
}

export function userBuffer(p: Process, bytes: number): number {
  const va = p.VirtualAlloc(0, Math.max(bytes, 1), MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (va === 0) throw new Error(`VirtualAlloc(${bytes}) failed: ${p.lastError}`);
  return va;
}

/** The one test pattern generator (src/bus/test-pattern.ts). */
export const pattern = testPattern;

export function readUser(p: Process, va: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  if (length > 0) p.readMemory(va, b);
  return b;
}

/** Receive exactly `length` bytes into `va` with recv calls of at most `chunk` bytes. */
export async function recvAll(sw: WindowsSocketsSwitch, s: number, va: number, length: number, chunk = length): Promise<number> {
  let got = 0;
  while (got < length) {
    const n = await sw.recv(s, va + got, Math.min(chunk, length - got));
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** Index of the first differing byte, or -1 when equal (toEqual on MiB arrays is slow). */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  if (Buffer.compare(a, b) === 0) return -1;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** WSACleanup on both sides, both processes exit, and every host counter is back at its baseline. */
export async function teardownWithoutLeaks(p: SwitchPair): Promise<void> {
  await p.a.sw.WSACleanup();
  await p.b.sw.WSACleanup();
  for (const [i, app] of [p.a, p.b].entries()) {
    expect(app.process.lockedPages).toBe(0);
    expect(app.process.secureEntries.size).toBe(0);
    expect(app.sw.san!.counters).toMatchObject({ sockets: 0, registrations: 0, cached: 0, pendingTransfers: 0 });
    expect(app.host.kernel.ps.terminateProcess(app.process, 0)).toBe(0);
    expect(leakedCounters(p.baseline[i]!, snapshot(app.host))).toEqual([]);
  }
}
