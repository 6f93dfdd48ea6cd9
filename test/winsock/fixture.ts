/**
 * Helpers of the socket-API fidelity tests (test/winsock/<call>.test.ts): each file is named
 * after the call whose rules it states, and cites the page (Winsock / Windows Sockets Direct
 * reference) and the Wine test (dlls/ws2_32/tests/sock.c) that records Windows' behaviour.
 * The facts of the Wine tests are carried over in our own code and words.
 */
import { expect } from 'vitest';
import { createCluster, leakedCounters, snapshot, type Host } from '../../src/host/index.ts';
import { parseIpv4 } from '../../src/kernel/net/ip-addresses.ts';
import { ref } from '../../src/kernel/ref.ts';
import type { SanServiceProvider } from '../../src/provider/index.ts';
import { HostPortTable, SocketError, WindowsSocketsSwitch } from '../../src/switch/index.ts';
import type { SwitchPair } from '../switch/harness.ts';

export { connect, readUser, recvAll, switchPair, teardownWithoutLeaks, userBuffer, IP_A, IP_B } from '../switch/harness.ts';
export { connectedPair, drive, socket, startProvider } from '../provider/harness.ts';

export const MIB = 1024 * 1024;
/** SOMAXCONN (winsock2.h) and SOMAXCONN_HINT(N) = -N. */
export const SOMAXCONN = 0x7fff_ffff;
export const SOMAXCONN_HINT = (n: number): number => -n;

export const ip = (dotted: string): number => parseIpv4(dotted)!;

/** The WSA code a switch call failed with (it must fail with a SocketError, never anything else). */
export async function wsaOf(call: () => unknown): Promise<number> {
  try {
    await call();
  } catch (e) {
    expect(e).toBeInstanceOf(SocketError);
    return (e as SocketError).code;
  }
  throw new Error('the call succeeded; a SocketError was expected');
}

/** A provider call's result and *lpErrno. */
export function withErrno<T>(call: (e: { value: number }) => T): { result: T; errno: number } {
  const e = ref(0xdead);
  const result = call(e);
  return { result, errno: e.value };
}

export async function withErrnoAsync<T>(call: (e: { value: number }) => Promise<T>): Promise<{ result: T; errno: number }> {
  const e = ref(0xdead);
  const result = await call(e);
  return { result, errno: e.value };
}

/** Sockets bound on `host` (the host's port table). */
export const boundOn = (host: Host): number => HostPortTable.of(host.kernel).size;

/** A second application process with its own switch on `host`. */
export function secondApp(host: Host, name: string): { process: ReturnType<Host['createProcess']>; sw: WindowsSocketsSwitch } {
  const process = host.createProcess(name);
  return { process, sw: new WindowsSocketsSwitch({ host, process }) };
}

/** One host with the proxy loaded (for provider tests that need no peer). */
export function oneHost(ipAddress = '10.0.0.1'): { host: Host; baseline: ReturnType<typeof snapshot> } {
  const cluster = createCluster({
    hosts: [{ name: 'h', ramBytes: 2 * 1024 * MIB, nolowmem: false, nics: [{ addressBits: 64, ip: ipAddress }] }],
  });
  const host = cluster.hosts[0]!;
  expect(host.loadProxy()).toBe(0);
  return { host, baseline: snapshot(host) };
}

/** The process ends and the host is back at `baseline`. */
export function expectNoLeaks(host: Host, process: ReturnType<Host['createProcess']>, baseline: ReturnType<typeof snapshot>): void {
  expect(process.lockedPages).toBe(0);
  expect(host.kernel.ps.terminateProcess(process, 0)).toBe(0);
  expect(leakedCounters(baseline, snapshot(host))).toEqual([]);
}

/** Every provider socket of a switch pair closed (what WSACleanup leaves). */
export function providerSockets(p: SwitchPair): number {
  const count = (pr: SanServiceProvider | null | undefined) => pr?.counters.sockets ?? 0;
  return count(p.a.sw.san) + count(p.a.sw.tcp?.provider) + count(p.b.sw.san) + count(p.b.sw.tcp?.provider);
}

/** Let the machine run what is queued and the event loop turn (a blocked call that can complete, does). */
export async function settle(p: SwitchPair): Promise<void> {
  for (let i = 0; i < 3; i++) {
    p.cluster.scheduler.runUntilIdle();
    await new Promise((r) => setImmediate(r));
  }
}
