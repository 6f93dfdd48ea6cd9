/**
 * Two hosts with a 64-bit NIC each on one fabric, the proxy loaded on both, and helpers to
 * connect two RawProxyClient endpoints and RDMA-read through a remote key (the proxy tests of
 * the remote registration cache and of memory windows).
 */
import { expect } from 'vitest';
import { GIB } from '../../src/bus/index.ts';
import { createCluster, type Host } from '../../src/host/index.ts';
import type { RawProxyClient } from '../../src/host/reliability/index.ts';
import { NicStatus } from '../../src/nic/index.ts';

export function twoHosts() {
  const cluster = createCluster({
    hosts: [
      { name: 'a', ramBytes: 6 * GIB, nolowmem: true, nics: [{ addressBits: 64, ip: '10.0.0.1' }] },
      { name: 'b', ramBytes: 6 * GIB, nolowmem: true, nics: [{ addressBits: 64, ip: '10.0.0.2' }] },
    ],
  });
  const [ha, hb] = cluster.hosts as [Host, Host];
  expect(ha.loadProxy()).toBe(0);
  expect(hb.loadProxy()).toBe(0);
  return { cluster, ha, hb };
}

/** New endpoints for `a` and `b` (NIC 0), `a` connected to `b` listening on `port`. */
export function connectEndpoints(cluster: ReturnType<typeof twoHosts>['cluster'], a: RawProxyClient, b: RawProxyClient, port: number) {
  const [nicA, nicB] = [a.host.nics[0]!.nic, b.host.nics[0]!.nic];
  const ea = a.createEndpoint(0);
  const eb = b.createEndpoint(0);
  nicA.connect(a.process.ProcessId, ea.endpoint, nicB.sanAddress, port);
  cluster.fabric.runUntilIdle();
  expect(nicB.accept(b.process.ProcessId, port, eb.endpoint)).toBe(NicStatus.SUCCESS);
  cluster.fabric.runUntilIdle();
  return { ea, eb };
}
