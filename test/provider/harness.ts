/** Two hosts with the proxy loaded, one application process and provider on each, connected. */
import { expect } from 'vitest';
import { parseIpv4 } from '../../src/kernel/net/ip-addresses.ts';
import { testPattern } from '../../src/bus/test-pattern.ts';
import { createCluster, snapshot, type Cluster, type Host, type HostSpec, type NicSpec, type ResourceSnapshot } from '../../src/host/index.ts';
import type { Process } from '../../src/kernel/ps/process.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/virtual-memory.ts';
import type { Scheduler } from '../../src/nic/index.ts';
import { ref } from '../../src/kernel/ref.ts';
import {
  AF_INET, IPPROTO_TCP, NO_ERROR, SOCK_STREAM, SanServiceProvider, type SanServiceProviderOptions,
} from '../../src/provider/index.ts';

export const IP_A = '10.0.0.1';
export const IP_B = '10.0.0.2';
export const PORT = 7000;
export const MIB = 1024 * 1024;

export interface Side {
  host: Host;
  process: Process;
  provider: SanServiceProvider;
  /** Connected socket. */
  s: number;
}

export interface Pair {
  cluster: Cluster;
  a: Side;
  b: Side;
  listener: number;
  /** Each host's resources right after the proxy loaded, before any process existed. */
  baseline: ResourceSnapshot[];
}

export interface PairOptions {
  nicA?: Partial<NicSpec>;
  nicB?: Partial<NicSpec>;
  hostA?: Partial<HostSpec>;
  hostB?: Partial<HostSpec>;
  provider?: Partial<SanServiceProviderOptions>;
}

/** The scheduler of each provider's cluster: the test owns the machine and drives it by hand. */
const machines = new WeakMap<SanServiceProvider, Scheduler>();

/**
 * Run `p`'s machine until nothing is left to do: what a thread waiting in
 * WSPGetOverlappedResult(fWait TRUE) would sleep through (the provider never runs it).
 */
export function drive(p: SanServiceProvider): void {
  machines.get(p)!.runUntilIdle();
}

export function startProvider(host: Host, name: string, extra: Partial<SanServiceProviderOptions> = {}): { process: Process; provider: SanServiceProvider } {
  const process = host.createProcess(name);
  const provider = new SanServiceProvider({ kernel: host.kernel, process, ports: host.nics.map((n) => n.nic.openUserPort(process.ProcessId)), ...extra });
  expect(provider.WSPStartup()).toBe(NO_ERROR);
  machines.set(provider, host.scheduler);
  return { process, provider };
}

export function socket(p: SanServiceProvider): number {
  const e = ref(0);
  const s = p.WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, null, 0, 0, e);
  expect(e.value).toBe(0);
  return s;
}

/** Two hosts (default: NOLOWMEM, 64-bit NICs, 256 MiB... see spec) connected A → B. */
export async function connectedPair(o: PairOptions = {}): Promise<Pair> {
  const cluster = createCluster({
    hosts: [
      { name: 'a', ramBytes: 6 * 1024 * MIB, nolowmem: true, ...o.hostA, nics: [{ addressBits: 64, ip: IP_A, ...o.nicA }] },
      { name: 'b', ramBytes: 6 * 1024 * MIB, nolowmem: true, ...o.hostB, nics: [{ addressBits: 64, ip: IP_B, ...o.nicB }] },
    ],
  });
  const [ha, hb] = cluster.hosts as [Host, Host];
  expect(ha.loadProxy()).toBe(0);
  expect(hb.loadProxy()).toBe(0);
  const baseline = [snapshot(ha), snapshot(hb)];
  const A = startProvider(ha, 'appA', o.provider);
  const B = startProvider(hb, 'appB', o.provider);
  const e = ref(0);
  const listener = socket(B.provider);
  expect(B.provider.WSPBind(listener, { ip: parseIpv4(IP_B)!, port: PORT }, e)).toBe(0);
  expect(B.provider.WSPListen(listener, 8, e)).toBe(0);
  const sa = socket(A.provider);
  const connecting = A.provider.WSPConnect(sa, { ip: parseIpv4(IP_B)!, port: PORT }, e);
  const eb = ref(0);
  const sb = await B.provider.WSPAccept(listener, null, eb);
  expect(eb.value).toBe(0);
  expect(await connecting).toBe(0);
  return { cluster, listener, baseline, a: { host: ha, ...A, s: sa }, b: { host: hb, ...B, s: sb } };
}

/** A committed read-write buffer in `p`. */
export function userBuffer(p: Process, bytes: number): number {
  const va = p.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (va === 0) throw new Error(`VirtualAlloc(${bytes}) failed: ${p.lastError}`);
  return va;
}

/** The one test pattern generator (src/bus/test-pattern.ts). */
export const pattern = testPattern;

export function readUser(p: Process, va: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  p.readMemory(va, b);
  return b;
}
