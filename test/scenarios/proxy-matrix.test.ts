/**
 * The proxy's scenario matrix, driven through the proxy's IOCTL interface and the NIC's user-mode
 * queues: NIC width {32, 64} × NOLOWMEM {on, off} × strategy {contiguous, common-buffer}.
 * Each run allocates low memory on one host and registers a user buffer on the other, moves
 * data both ways by RDMA, checks every byte, releases everything and requires every counter
 * back where it was.
 */
import { describe, expect, it } from 'vitest';
import { FOUR_GIB, GIB, PAGE_SIZE } from '../../src/bus/index.ts';
import { createCluster, leakedCounters, snapshot, type Host } from '../../src/host/index.ts';
import { testPattern } from '../../src/bus/test-pattern.ts';
import { ERROR_NOT_SUPPORTED } from '../../src/kernel/io/index.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/index.ts';
import { parseIpv4 } from '../../src/kernel/net/ip-addresses.ts';
import { NicStatus, WcStatus, type SanNic } from '../../src/nic/index.ts';
import {
  SANPROXY_LOCAL_READ,
  SANPROXY_LOCAL_WRITE,
  SANPROXY_REMOTE_READ,
  SANPROXY_REMOTE_WRITE,
  TRANSLATE_IP_TO_SAN,
  sanProxyState,
} from '../../src/proxy/index.ts';
import { RawProxyClient as ProxyClient } from '../../src/host/reliability/index.ts';

const BYTES = 64 * 1024 + 123;
const ALL = SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE | SANPROXY_REMOTE_READ | SANPROXY_REMOTE_WRITE;


function completions(nic: SanNic, owner: number, cq: number) {
  const r = nic.pollCompletionQueue(owner, cq, 16);
  expect(r.status).toBe(NicStatus.SUCCESS);
  return r.completions;
}

interface Side {
  host: Host;
  client: ProxyClient;
  owner: number;
  nic: SanNic;
  endpoint: number;
  cq: number;
}

function side(host: Host, name: string): Side {
  const p = host.createProcess(name);
  const client = new ProxyClient(host, p);
  const ep = client.createEndpoint(0);
  expect(ep.ok).toBe(true);
  return { host, client, owner: p.ProcessId, nic: host.nics[0]!.nic, endpoint: ep.endpoint, cq: ep.completionQueue };
}

function runScenario(bits: 32 | 64, nolowmem: boolean, strategy: 'contiguous' | 'common-buffer', iommu = false) {
  const cluster = createCluster({
    hosts: [
      { name: 'a', ramBytes: 6 * GIB, nolowmem, iommu, strategy, nics: [{ addressBits: bits, ip: '10.0.0.1' }] },
      { name: 'b', ramBytes: 6 * GIB, nolowmem, iommu, strategy, nics: [{ addressBits: bits, ip: '10.0.0.2' }] },
    ],
  });
  const [ha, hb] = cluster.hosts as [Host, Host];
  expect(ha.loadProxy()).toBe(0);
  expect(hb.loadProxy()).toBe(0);
  const before = [snapshot(ha), snapshot(hb)];

  const a = side(ha, 'client');
  const b = side(hb, 'server');
  // Connect: translate B's IP to its SAN address through A's proxy, then the NIC connects.
  const san = a.client.translate(TRANSLATE_IP_TO_SAN, 0, parseIpv4('10.0.0.2')!);
  expect(san.ok).toBe(true);
  expect(san.value).toBe(b.nic.sanAddress);
  expect(b.nic.listen(b.owner, 5000)).toBe(NicStatus.SUCCESS);
  expect(a.nic.connect(a.owner, a.endpoint, san.value, 5000)).toBe(NicStatus.SUCCESS);
  cluster.fabric.runUntilIdle();
  expect(b.nic.accept(b.owner, 5000, b.endpoint)).toBe(NicStatus.SUCCESS);
  cluster.fabric.runUntilIdle();

  // A: low memory from the proxy (the page's subject), mapped into the process.
  const lowA = a.client.allocate(0, SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE, BYTES);
  expect(lowA.ok).toBe(true);
  const zeros = new Uint8Array(BYTES);
  a.client.process.readMemory(lowA.userAddress, zeros);
  expect(zeros.every((x) => x === 0)).toBe(true);

  // B: a user buffer registered in place; a 32-bit NIC on NOLOWMEM without an IOMMU cannot
  // reach user pages, so the proxy refuses and B uses proxy low memory instead.
  const pb = b.client.process;
  const userB = pb.VirtualAlloc(0, BYTES, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  let targetVa = userB;
  let targetId: { kind: 'reg' | 'alloc'; id: number };
  let remoteKey: number;
  const reg = b.client.register(0, ALL, userB, BYTES, b.endpoint);
  if (bits === 32 && nolowmem && !iommu) {
    expect(reg.ok).toBe(false);
    expect(reg.lastError).toBe(ERROR_NOT_SUPPORTED);
    const low = b.client.allocate(0, ALL, BYTES, b.endpoint);
    expect(low.ok).toBe(true);
    targetVa = low.userAddress;
    targetId = { kind: 'alloc', id: low.id };
    remoteKey = low.remoteKey;
  } else {
    expect(reg.ok).toBe(true);
    targetId = { kind: 'reg', id: reg.id };
    remoteKey = reg.remoteKey;
  }

  // RDMA write A → B.
  const out = testPattern(BYTES, bits * 7 + (nolowmem ? 1 : 0));
  a.client.process.writeMemory(lowA.userAddress, out);
  expect(
    a.nic.postRdmaWrite(a.owner, a.endpoint, {
      context: 1,
      elements: [{ localHandle: lowA.handle, offset: 0, length: BYTES }],
      remote: { remoteKey, address: 0, length: BYTES },
    }),
  ).toBe(NicStatus.SUCCESS);
  cluster.fabric.runUntilIdle();
  expect(completions(a.nic, a.owner, a.cq).map((c) => c.status)).toEqual([WcStatus.SUCCESS]);
  const got = new Uint8Array(BYTES);
  pb.readMemory(targetVa, got);
  expect(Buffer.compare(got, out)).toBe(0);

  // RDMA read B → A.
  const back = testPattern(BYTES, 99);
  pb.writeMemory(targetVa, back);
  expect(
    a.nic.postRdmaRead(a.owner, a.endpoint, {
      context: 2,
      elements: [{ localHandle: lowA.handle, offset: 0, length: BYTES }],
      remote: { remoteKey, address: 0, length: BYTES },
    }),
  ).toBe(NicStatus.SUCCESS);
  cluster.fabric.runUntilIdle();
  expect(completions(a.nic, a.owner, a.cq).map((c) => c.status)).toEqual([WcStatus.SUCCESS]);
  a.client.process.readMemory(lowA.userAddress, got);
  expect(Buffer.compare(got, back)).toBe(0);

  // A 32-bit NIC was only ever handed addresses below 4 GiB; nothing truncated.
  for (const h of [ha, hb]) {
    const nic = h.nics[0]!.nic;
    if (bits === 32) {
      expect(nic.handedAddresses().every((x) => x + PAGE_SIZE <= FOUR_GIB)).toBe(true);
      expect(nic.highestHanded + PAGE_SIZE).toBeLessThanOrEqual(FOUR_GIB);
    }
    expect(nic.handedAboveLimit).toBe(0);
    expect(h.kernel.mm.chklowmem().violations).toBe(0);
  }
  const lowBytes = sanProxyState(ha.kernel)!.lowMemory;
  expect(strategy === 'contiguous' ? lowBytes.contiguousBytes : lowBytes.commonBufferBytes).toBeGreaterThan(0);

  // Release explicitly on A; leave B's objects to IRP_MJ_CLEANUP at handle close.
  expect(a.client.release(lowA.id).ok).toBe(true);
  expect(a.client.destroyEndpoint(0, a.endpoint).ok).toBe(true);
  expect(a.client.close()).toBe(true);
  expect(targetId.id).toBeGreaterThan(0);
  expect(b.client.close()).toBe(true);
  expect(sanProxyState(hb.kernel)!.counters.cleanupReleases).toBeGreaterThan(0);
  b.nic.unlisten(b.owner, 5000);
  expect(ha.kernel.ps.terminateProcess(a.client.process, 0)).toBe(0);
  expect(hb.kernel.ps.terminateProcess(pb, 0)).toBe(0);
  expect(leakedCounters(before[0]!, snapshot(ha))).toEqual([]);
  expect(leakedCounters(before[1]!, snapshot(hb))).toEqual([]);
  expect(ha.unloadProxy()).toBe(0);
  expect(hb.unloadProxy()).toBe(0);
}

describe('proxy scenario matrix: allocate, register, RDMA write and read, release, nothing leaked', () => {
  for (const bits of [32, 64] as const) {
    for (const nolowmem of [true, false]) {
      for (const strategy of ['contiguous', 'common-buffer'] as const) {
        it(`${bits}-bit NIC, NOLOWMEM ${nolowmem ? 'on' : 'off'}, ${strategy}`, () => runScenario(bits, nolowmem, strategy));
      }
    }
  }
  it('32-bit NIC, NOLOWMEM on, IOMMU on: user pages registered in place through logical addresses', () =>
    runScenario(32, true, 'contiguous', true));
  it('32-bit NIC, NOLOWMEM on, IOMMU on, common-buffer', () => runScenario(32, true, 'common-buffer', true));
});
