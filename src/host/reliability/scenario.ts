/**
 * Scenarios the reliability suite runs, and how their outcome is classified.
 *
 * A scenario is `(cluster) => Promise<void>`: it plays an application on the hosts of a
 * freshly booted cluster (proxies loaded) and either finishes or throws. A refusal the
 * application saw through its API (a failed DeviceIoControl with its Win32 error, a NIC status,
 * a failed work completion, a raised NTSTATUS from a user-mode API) is a clean error: throw a
 * ScenarioError naming the step. Anything else escaping is a defect of the system under test.
 */
import { GIB, PAGE_SIZE, testPattern } from '../../bus/index.ts';
import { NtStatusError } from '../../kernel/status.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../../kernel/mm/index.ts';
import type { Process } from '../../kernel/ps/index.ts';
import { NicStatus, WcStatus, type SanNic } from '../../nic/index.ts';
import {
  SANPROXY_LOCAL_READ,
  SANPROXY_LOCAL_WRITE,
  SANPROXY_REMOTE_READ,
  SANPROXY_REMOTE_WRITE,
  TRANSLATE_IP_TO_SAN,
} from '../../proxy/interface.ts';
import type { Cluster, ClusterSpec } from '../cluster.ts';
import type { Host } from '../host.ts';
import { RawProxyClient } from './client.ts';

/** A refusal the application saw through its API: the clean way for a run to fail. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  constructor(
    readonly step: string,
    /** Win32 error, NIC status, work-completion status or NTSTATUS, as the API gave it. */
    readonly code: number,
    readonly kind: 'win32' | 'nic' | 'completion' | 'ntstatus' | 'wsa',
  ) {
    super(`${step} failed: ${kind} ${code}`);
  }
}

export type ScenarioRun = (cluster: Cluster) => Promise<void>;

export interface ReliabilityScenario {
  name: string;
  /** The hosts to boot for each run; the harness turns the verifier on for every host. */
  cluster: ClusterSpec;
  run: ScenarioRun;
}

export const ALL_ACCESS = SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE | SANPROXY_REMOTE_READ | SANPROXY_REMOTE_WRITE;

/** Two hosts: A a 32-bit NIC on NOLOWMEM with contiguous low memory, B a 64-bit NIC with common buffers. */
export const TWO_HOSTS: ClusterSpec = {
  hosts: [
    { name: 'a', ramBytes: 6 * GIB, nolowmem: true, strategy: 'contiguous', nics: [{ addressBits: 32, ip: '10.0.0.1' }] },
    { name: 'b', ramBytes: 6 * GIB, nolowmem: true, strategy: 'common-buffer', nics: [{ addressBits: 64, ip: '10.0.0.2' }] },
  ],
};

/** Run a user-mode API that raises; a raised NTSTATUS becomes a clean ScenarioError. */
export function userCall<T>(step: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof NtStatusError) throw new ScenarioError(step, e.status >>> 0, 'ntstatus');
    throw e;
  }
}

export function expectNic(step: string, status: number): void {
  if (status !== NicStatus.SUCCESS) throw new ScenarioError(step, status, 'nic');
}

export function expectIoctl(step: string, r: { ok: boolean; lastError: number }): void {
  if (!r.ok) throw new ScenarioError(step, r.lastError, 'win32');
}

export interface Peer {
  host: Host;
  process: Process;
  client: RawProxyClient;
  nic: SanNic;
  owner: number;
  endpoint: number;
  cq: number;
}

/** A process with a proxy handle and one endpoint on NIC 0. */
export function openPeer(host: Host, name: string): Peer {
  const process = userCall(`${name}: create process`, () => host.createProcess(name));
  const client = userCall(`${name}: open proxy`, () => new RawProxyClient(host, process));
  if (!client.usable) throw new ScenarioError(`${name}: open proxy`, client.openError, 'win32');
  const ep = client.createEndpoint(0);
  expectIoctl(`${name}: create endpoint`, ep);
  return { host, process, client, nic: host.nics[0]!.nic, owner: process.ProcessId, endpoint: ep.endpoint, cq: ep.completionQueue };
}

/** Connect a's endpoint to b's through the fabric (a resolves b's IP through its proxy). */
export function connectPeers(cluster: Cluster, a: Peer, b: Peer, port: number): void {
  const san = a.client.translate(TRANSLATE_IP_TO_SAN, 0, b.host.nics[0]!.ip);
  expectIoctl('translate IP to SAN address', san);
  expectNic('listen', b.nic.listen(b.owner, port));
  expectNic('connect', a.nic.connect(a.owner, a.endpoint, san.value, port));
  cluster.fabric.runUntilIdle();
  expectNic('accept', b.nic.accept(b.owner, port, b.endpoint));
  cluster.fabric.runUntilIdle();
}

/** Poll one completion; a failed completion is a clean error. */
export function expectCompletion(step: string, peer: Peer): void {
  const r = peer.nic.pollCompletionQueue(peer.owner, peer.cq, 16);
  expectNic(`${step}: poll`, r.status);
  if (r.completions.length !== 1) throw new Error(`${step}: expected one completion, got ${r.completions.length}`);
  const c = r.completions[0]!;
  if (c.status !== WcStatus.SUCCESS) throw new ScenarioError(step, c.status, 'completion');
}

const BYTES = 3 * PAGE_SIZE + 321;

/**
 * The proxy scenario (like test/scenarios/proxy-matrix): A allocates low memory from its
 * proxy, B registers a user buffer and secures it, A writes it by RDMA and reads it back,
 * then everything is released explicitly, the handles close and the processes exit.
 */
export const proxyScenario: ReliabilityScenario = {
  name: 'proxy: allocate, register, RDMA write/read, release, close',
  cluster: TWO_HOSTS,
  async run(cluster) {
    const [ha, hb] = cluster.hosts as [Host, Host];
    const a = openPeer(ha, 'client');
    const b = openPeer(hb, 'server');
    expectIoctl('query addresses', a.client.queryAddresses());
    connectPeers(cluster, a, b, 5000);

    const low = a.client.allocate(0, SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE, BYTES);
    expectIoctl('allocate low memory', low);
    const userB = b.process.VirtualAlloc(0, BYTES, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (userB === 0) throw new ScenarioError('VirtualAlloc', b.process.lastError, 'win32');
    const secured = b.client.secure(userB, BYTES, PAGE_READWRITE);
    expectIoctl('secure user buffer', secured);
    const reg = b.client.register(0, ALL_ACCESS, userB, BYTES, b.endpoint);
    expectIoctl('register user buffer', reg);
    // B's own low memory (a common buffer on B), a second RDMA target.
    const lowB = b.client.allocate(0, ALL_ACCESS, PAGE_SIZE, b.endpoint);
    expectIoctl('allocate low memory on b', lowB);

    const out = testPattern(BYTES, 7);
    userCall('write source', () => a.process.writeMemory(low.userAddress, out));
    expectNic('post RDMA write', a.nic.postRdmaWrite(a.owner, a.endpoint, {
      context: 1, elements: [{ localHandle: low.handle, offset: 0, length: BYTES }], remote: { remoteKey: reg.remoteKey, address: 0, length: BYTES },
    }));
    cluster.fabric.runUntilIdle();
    expectCompletion('RDMA write', a);
    const got = new Uint8Array(BYTES);
    userCall('read target', () => b.process.readMemory(userB, got));
    if (Buffer.compare(got, out) !== 0) throw new Error('RDMA write: data differs');

    expectNic('post RDMA write to low memory', a.nic.postRdmaWrite(a.owner, a.endpoint, {
      context: 3, elements: [{ localHandle: low.handle, offset: 0, length: PAGE_SIZE }], remote: { remoteKey: lowB.remoteKey, address: 0, length: PAGE_SIZE },
    }));
    cluster.fabric.runUntilIdle();
    expectCompletion('RDMA write to low memory', a);
    const gotLow = new Uint8Array(PAGE_SIZE);
    userCall('read low memory', () => b.process.readMemory(lowB.userAddress, gotLow));
    if (Buffer.compare(gotLow, out.subarray(0, PAGE_SIZE)) !== 0) throw new Error('RDMA write to low memory: data differs');

    const back = testPattern(BYTES, 99);
    userCall('write target', () => b.process.writeMemory(userB, back));
    expectNic('post RDMA read', a.nic.postRdmaRead(a.owner, a.endpoint, {
      context: 2, elements: [{ localHandle: low.handle, offset: 0, length: BYTES }], remote: { remoteKey: reg.remoteKey, address: 0, length: BYTES },
    }));
    cluster.fabric.runUntilIdle();
    expectCompletion('RDMA read', a);
    userCall('read back', () => a.process.readMemory(low.userAddress, got));
    if (Buffer.compare(got, back) !== 0) throw new Error('RDMA read: data differs');

    expectIoctl('deregister', b.client.deregister(reg.id));
    expectIoctl('unsecure', b.client.unsecure(secured.secureHandle));
    expectIoctl('release low memory', a.client.release(low.id));
    expectIoctl('release low memory on b', b.client.release(lowB.id));
    expectIoctl('destroy endpoint a', a.client.destroyEndpoint(0, a.endpoint));
    expectIoctl('destroy endpoint b', b.client.destroyEndpoint(0, b.endpoint));
    b.nic.unlisten(b.owner, 5000);
    if (!b.process.VirtualFree(userB, 0, MEM_RELEASE)) throw new ScenarioError('VirtualFree', b.process.lastError, 'win32');
    if (!a.client.close()) throw new ScenarioError('close a', a.process.lastError, 'win32');
    if (!b.client.close()) throw new ScenarioError('close b', b.process.lastError, 'win32');
  },
};
