/**
 * A synthetic run for the report and trace tests (small and deterministic; the browser test
 * also opens a real demo run): two hosts on one fabric, a traced proxy session — low memory on
 * A, a user buffer registered in place on B (or proxy low memory where a 32-bit NIC cannot
 * reach user pages), an RDMA write and read, teardown — with snapshots at boot, peak and after
 * teardown.
 */
import { expect } from 'vitest';
import { GIB } from '../../src/bus/index.ts';
import { createCluster, type Cluster, type Host } from '../../src/host/index.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/index.ts';
import { parseIpv4 } from '../../src/kernel/net/ip-addresses.ts';
import { NicStatus, WcStatus } from '../../src/nic/index.ts';
import {
  SANPROXY_LOCAL_READ,
  SANPROXY_LOCAL_WRITE,
  SANPROXY_REMOTE_READ,
  SANPROXY_REMOTE_WRITE,
  TRANSLATE_IP_TO_SAN,
  sanProxyState,
} from '../../src/proxy/index.ts';
import { Tracer, captureSnapshot, type HostSnapshot, type ReportRun } from '../../src/report/index.ts';
import { RawProxyClient as ProxyClient } from '../../src/host/reliability/index.ts';

const ALL = SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE | SANPROXY_REMOTE_READ | SANPROXY_REMOTE_WRITE;

export interface SyntheticRun {
  cluster: Cluster;
  run: ReportRun;
  tracer: Tracer;
  /** IOCTLs the proxy dispatched per host (its own counter). */
  ioctls: Map<string, number>;
  /** RDMA operations posted per host, and NIC registrations made per host. */
  rdmaPosted: Map<string, number>;
  registrations: Map<string, number>;
  snapshots: { boot: HostSnapshot[]; peak: HostSnapshot[]; after: HostSnapshot[] };
}

export interface SyntheticOptions {
  bits?: 32 | 64;
  ramBytes?: number;
  bytes?: number;
  /** Leave B's registration in place (a leak the report must show). */
  leak?: boolean;
}

export function syntheticRun(opts: SyntheticOptions = {}): SyntheticRun {
  const bits = opts.bits ?? 32;
  const bytes = opts.bytes ?? 256 * 1024 + 100;
  const cluster = createCluster({
    hosts: [
      { name: 'a', ramBytes: opts.ramBytes ?? 6 * GIB, nolowmem: true, strategy: 'contiguous', nics: [{ addressBits: bits, ip: '10.0.0.1' }] },
      { name: 'b', ramBytes: opts.ramBytes ?? 6 * GIB, nolowmem: true, iommu: true, strategy: 'common-buffer', nics: [{ addressBits: bits, ip: '10.0.0.2' }] },
    ],
  });
  const tracer = new Tracer().attach(cluster);
  const [ha, hb] = cluster.hosts as [Host, Host];
  expect(ha.loadProxy()).toBe(0);
  expect(hb.loadProxy()).toBe(0);
  const boot = [captureSnapshot(ha, 'boot'), captureSnapshot(hb, 'boot')];

  const pa = ha.createProcess('client.exe');
  const pb = hb.createProcess('server.exe');
  const ca = new ProxyClient(ha, pa);
  const cb = new ProxyClient(hb, pb);
  const ea = ca.createEndpoint(0);
  const eb = cb.createEndpoint(0);
  expect(ea.ok && eb.ok).toBe(true);
  const na = ha.nics[0]!.nic;
  const nb = hb.nics[0]!.nic;
  const san = ca.translate(TRANSLATE_IP_TO_SAN, 0, parseIpv4('10.0.0.2')!);
  expect(san.ok).toBe(true);
  expect(nb.listen(pb.ProcessId, 5000)).toBe(NicStatus.SUCCESS);
  expect(na.connect(pa.ProcessId, ea.endpoint, san.value, 5000)).toBe(NicStatus.SUCCESS);
  cluster.fabric.runUntilIdle();
  expect(nb.accept(pb.ProcessId, 5000, eb.endpoint)).toBe(NicStatus.SUCCESS);
  cluster.fabric.runUntilIdle();

  const lowA = ca.allocate(0, SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE, bytes);
  expect(lowA.ok).toBe(true);
  const userB = pb.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  // Touch every page so it is backed before the probe.
  pb.writeMemory(userB, new Uint8Array(bytes).fill(7));
  const reg = cb.register(0, ALL, userB, bytes, eb.endpoint);
  expect(reg.ok).toBe(true);
  const lowB = cb.allocate(0, ALL, 64 * 1024, eb.endpoint);
  expect(lowB.ok).toBe(true);

  const wr = (context: number) => ({
    context,
    elements: [{ localHandle: lowA.handle, offset: 0, length: bytes }],
    remote: { remoteKey: reg.remoteKey, address: 0, length: bytes },
  });
  expect(na.postRdmaWrite(pa.ProcessId, ea.endpoint, wr(1))).toBe(NicStatus.SUCCESS);
  expect(na.postRdmaRead(pa.ProcessId, ea.endpoint, wr(2))).toBe(NicStatus.SUCCESS);
  cluster.fabric.runUntilIdle();
  const done = na.pollCompletionQueue(pa.ProcessId, ea.completionQueue, 16);
  expect(done.completions.map((c) => c.status)).toEqual([WcStatus.SUCCESS, WcStatus.SUCCESS]);

  const peak = [captureSnapshot(ha, 'peak'), captureSnapshot(hb, 'peak')];

  expect(ca.release(lowA.id).ok).toBe(true);
  expect(ca.destroyEndpoint(0, ea.endpoint).ok).toBe(true);
  expect(ca.close()).toBe(true);
  if (!opts.leak) {
    expect(cb.close()).toBe(true);
    nb.unlisten(pb.ProcessId, 5000);
    expect(hb.kernel.ps.terminateProcess(pb, 0)).toBe(0);
  }
  expect(ha.kernel.ps.terminateProcess(pa, 0)).toBe(0);
  const after = [captureSnapshot(ha, 'after teardown'), captureSnapshot(hb, 'after teardown')];

  const ioctls = new Map(cluster.hosts.map((h) => [h.kernel.name, sanProxyState(h.kernel)!.counters.ioctls]));
  return {
    cluster,
    tracer,
    run: {
      title: 'sanproxy report (synthetic run)',
      description: `Two hosts, ${bits}-bit NICs, NOLOWMEM on: A allocates low memory (contiguous), B registers a user buffer in place through the IOMMU and allocates a common buffer; RDMA write and read; teardown${opts.leak ? ' (B left open: leaks)' : ''}.`,
      snapshots: [...boot, ...peak, ...after],
      tracer,
    },
    ioctls,
    rdmaPosted: new Map([['a', 2], ['b', 0]]),
    registrations: new Map([['a', 1], ['b', 2]]),
    snapshots: { boot, peak, after },
  };
}
