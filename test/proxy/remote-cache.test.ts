/**
 * INVALIDATE / REVALIDATE: the proxy side of the remote registration cache (WSD "Caching
 * Registered Memory": when RDMA memory is deregistered but kept cached, the peer must lose
 * access; a later hit re-exposes it).
 */
import { describe, expect, it } from 'vitest';
import { leakedCounters, snapshot } from '../../src/host/index.ts';
import { ERROR_INVALID_HANDLE, ERROR_NOACCESS } from '../../src/kernel/io/index.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/index.ts';
import { NicStatus, WcStatus } from '../../src/nic/index.ts';
import { SANPROXY_LOCAL_READ, SANPROXY_LOCAL_WRITE, SANPROXY_REMOTE_READ } from '../../src/proxy/index.ts';
import { RawProxyClient as ProxyClient } from '../../src/host/reliability/index.ts';
import { connectEndpoints, twoHosts } from './two-hosts.ts';

const N = 16384;

describe('remote registration cache support (INVALIDATE / REVALIDATE)', () => {
  it('after INVALIDATE the peer reads nothing and the pages stay locked; REVALIDATE gives new keys and the old key stays dead', () => {
    const { cluster, ha, hb } = twoHosts();
    const before = snapshot(hb);
    const a = new ProxyClient(ha, ha.createProcess('reader'));
    const b = new ProxyClient(hb, hb.createProcess('owner'));
    const [nicA, nicB] = [ha.nics[0]!.nic, hb.nics[0]!.nic];
    const epA = a.createEndpoint(0);
    const epB = b.createEndpoint(0);
    nicB.listen(b.process.ProcessId, 7000);
    nicA.connect(a.process.ProcessId, epA.endpoint, nicB.sanAddress, 7000);
    cluster.fabric.runUntilIdle();
    expect(nicB.accept(b.process.ProcessId, 7000, epB.endpoint)).toBe(NicStatus.SUCCESS);
    cluster.fabric.runUntilIdle();

    const bufB = b.process.VirtualAlloc(0, N, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    b.process.writeMemory(bufB, new Uint8Array(N).fill(0x5c));
    const reg = b.register(0, SANPROXY_LOCAL_READ | SANPROXY_REMOTE_READ, bufB, N, epB.endpoint);
    expect(reg.ok).toBe(true);
    const low = a.allocate(0, SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE, N);
    const read = (remoteKey: number) => {
      a.process.writeMemory(low.userAddress, new Uint8Array(N));
      expect(nicA.postRdmaRead(a.process.ProcessId, epA.endpoint, {
        context: 1, elements: [{ localHandle: low.handle, offset: 0, length: N }], remote: { remoteKey, address: 0, length: N },
      })).toBe(NicStatus.SUCCESS);
      cluster.fabric.runUntilIdle();
      const c = nicA.pollCompletionQueue(a.process.ProcessId, epA.completionQueue, 4).completions;
      const got = new Uint8Array(N);
      a.process.readMemory(low.userAddress, got);
      return { status: c[0]!.status, bytes: got.filter((x) => x === 0x5c).length };
    };
    expect(read(reg.remoteKey)).toEqual({ status: WcStatus.SUCCESS, bytes: N });

    const lockedBefore = hb.kernel.mm.counters().lockedPages;
    expect(b.invalidate(reg.id).ok).toBe(true);
    expect(hb.kernel.mm.counters().lockedPages).toBe(lockedBefore);
    const denied = read(reg.remoteKey);
    expect(denied.status).toBe(WcStatus.REM_ACCESS_ERR);
    expect(denied.bytes).toBe(0);

    // The reader's endpoint went to error with the failed read: reconnect on fresh endpoints.
    const epA2 = a.createEndpoint(0);
    const epB2 = b.createEndpoint(0);
    nicA.connect(a.process.ProcessId, epA2.endpoint, nicB.sanAddress, 7000);
    cluster.fabric.runUntilIdle();
    expect(nicB.accept(b.process.ProcessId, 7000, epB2.endpoint)).toBe(NicStatus.SUCCESS);
    cluster.fabric.runUntilIdle();
    Object.assign(epA, epA2);

    // Rights beyond what the pages were locked for are refused; a foreign id is unknown.
    expect(b.revalidate(reg.id, SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE).lastError).toBe(ERROR_NOACCESS);
    const intruder = new ProxyClient(hb, hb.createProcess('intruder'));
    expect(intruder.revalidate(reg.id, SANPROXY_LOCAL_READ).lastError).toBe(ERROR_INVALID_HANDLE);
    expect(intruder.invalidate(reg.id).lastError).toBe(ERROR_INVALID_HANDLE);
    expect(intruder.close()).toBe(true);
    hb.kernel.ps.terminateProcess(intruder.process, 0);
    const again = b.revalidate(reg.id, SANPROXY_LOCAL_READ | SANPROXY_REMOTE_READ, epB2.endpoint);
    expect(again.ok).toBe(true);
    expect(again.remoteKey).not.toBe(reg.remoteKey);
    expect(read(again.remoteKey)).toEqual({ status: WcStatus.SUCCESS, bytes: N });
    expect(read(reg.remoteKey).bytes).toBe(0);

    expect(b.close()).toBe(true);
    expect(a.close()).toBe(true);
    hb.kernel.ps.terminateProcess(b.process, 0);
    expect(leakedCounters(before, snapshot(hb))).toEqual([]);
  });
});

describe('REVALIDATE of a sub-range', () => {
  it('exposes exactly [offset, offset + length): the peer reads inside and is refused one byte outside', () => {
    const { cluster, ha, hb } = twoHosts();
    const a = new ProxyClient(ha, ha.createProcess('reader'));
    const b = new ProxyClient(hb, hb.createProcess('owner'));
    const [nicA, nicB] = [ha.nics[0]!.nic, hb.nics[0]!.nic];
    const epA = a.createEndpoint(0);
    const epB = b.createEndpoint(0);
    nicB.listen(b.process.ProcessId, 7001);
    const connect = () => connectEndpoints(cluster, a, b, 7001);
    expect(epA.ok && epB.ok).toBe(true);
    const buf = b.process.VirtualAlloc(0, 3 * N, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const bytes = new Uint8Array(3 * N).map((_, i) => (i * 13) & 0xff);
    b.process.writeMemory(buf, bytes);
    const reg = b.register(0, SANPROXY_LOCAL_READ | SANPROXY_REMOTE_READ, buf, 3 * N);
    expect(b.invalidate(reg.id).ok).toBe(true);
    const low = a.allocate(0, SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE, 3 * N);
    const read = (ea: { endpoint: number; completionQueue: number }, remoteKey: number, address: number, length: number) => {
      expect(nicA.postRdmaRead(a.process.ProcessId, ea.endpoint, {
        context: 1, elements: [{ localHandle: low.handle, offset: 0, length }], remote: { remoteKey, address, length },
      })).toBe(NicStatus.SUCCESS);
      cluster.fabric.runUntilIdle();
      return nicA.pollCompletionQueue(a.process.ProcessId, ea.completionQueue, 4).completions[0]!.status;
    };
    // Re-expose only the middle third, at an unaligned offset.
    const offset = N + 100;
    const { ea, eb } = connect();
    const sub = b.revalidate(reg.id, SANPROXY_LOCAL_READ | SANPROXY_REMOTE_READ, eb.endpoint, offset, N);
    expect(sub.ok).toBe(true);
    expect(read(ea, sub.remoteKey, 0, N)).toBe(WcStatus.SUCCESS);
    const got = new Uint8Array(N);
    a.process.readMemory(low.userAddress, got);
    expect(Buffer.compare(got, bytes.subarray(offset, offset + N))).toBe(0);
    const second = connect();
    expect(read(second.ea, sub.remoteKey, 0, N + 1)).toBe(WcStatus.REM_ACCESS_ERR);
    // Ranges that do not fit the registration are refused by the driver.
    expect(b.revalidate(reg.id, SANPROXY_LOCAL_READ, 0, 2 * N, N + 1).lastError).toBe(87);
    expect(a.close() && b.close()).toBe(true);
  });
});
