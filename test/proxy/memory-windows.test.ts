/**
 * REGISTER_BUFFER with SANPROXY_WINDOW_BIND: the proxy side of user-mode exposure for the
 * remote registration cache (WDK "Registering and Caching Memory": the peer must lose access to
 * a cached buffer the switch deregistered). The driver registers the
 * pages with local rights and MW_BIND and gives the process one memory window with them; the
 * process binds it to its connection and invalidates it on the NIC from user mode, and the
 * window dies with the registration and with the handle.
 */
import { describe, expect, it } from 'vitest';
import { leakedCounters, snapshot } from '../../src/host/index.ts';
import { RawProxyClient as ProxyClient } from '../../src/host/reliability/index.ts';
import { ERROR_INSUFFICIENT_BUFFER, ERROR_INVALID_PARAMETER } from '../../src/kernel/io/index.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/index.ts';
import { NicAccess, NicStatus, WcStatus } from '../../src/nic/index.ts';
import {
  SANPROXY_LOCAL_READ, SANPROXY_LOCAL_WRITE, SANPROXY_REMOTE_READ, SANPROXY_WINDOW_BIND,
} from '../../src/proxy/index.ts';
import { connectEndpoints, twoHosts } from './two-hosts.ts';

const N = 16384;

function connectedClients() {
  const { cluster, ha, hb } = twoHosts();
  const before = snapshot(hb);
  const a = new ProxyClient(ha, ha.createProcess('reader'));
  const b = new ProxyClient(hb, hb.createProcess('owner'));
  const [nicA, nicB] = [ha.nics[0]!.nic, hb.nics[0]!.nic];
  nicB.listen(b.process.ProcessId, 7100);
  const { ea: epA, eb: epB } = connectEndpoints(cluster, a, b, 7100);
  const low = a.allocate(0, SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE, N);
  /** A RDMA-reads [address, +length) through `remoteKey`: the completion status and the bytes that landed. */
  const read = (remoteKey: number, address = 0, length = N) => {
    a.process.writeMemory(low.userAddress, new Uint8Array(N));
    expect(nicA.postRdmaRead(a.process.ProcessId, epA.endpoint, {
      context: 1, elements: [{ localHandle: low.handle, offset: 0, length }], remote: { remoteKey, address, length },
    })).toBe(NicStatus.SUCCESS);
    cluster.fabric.runUntilIdle();
    const c = nicA.pollCompletionQueue(a.process.ProcessId, epA.completionQueue, 4).completions;
    const got = new Uint8Array(length);
    a.process.readMemory(low.userAddress, got);
    return { status: c[0]!.status, got };
  };
  return { cluster, ha, hb, a, b, nicA, nicB, epA, epB, read, before };
}

describe('REGISTER_BUFFER with SANPROXY_WINDOW_BIND', () => {
  it('comes with one unbound window of the caller\'s; bound from user mode over part of the buffer it reads those bytes; the region itself grants no remote access', () => {
    const { b, nicB, epB, read } = connectedClients();
    const buf = b.process.VirtualAlloc(0, N, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const bytes = new Uint8Array(N).map((_, i) => (i * 7) & 0xff);
    b.process.writeMemory(buf, bytes);
    const windows = nicB.windowCount;
    const reg = b.register(0, SANPROXY_LOCAL_READ | SANPROXY_WINDOW_BIND, buf, N);
    expect(reg.ok).toBe(true);
    expect(reg.window).not.toBe(0);
    expect(nicB.windowCount).toBe(windows + 1);
    expect(nicB.queryWindow(reg.window)).toMatchObject({ owner: b.process.ProcessId, state: 'unbound' });
    expect(nicB.queryRegion(reg.handle)!.access).toBe(NicAccess.LOCAL_READ | NicAccess.MW_BIND);
    const bound = nicB.bindWindow(b.process.ProcessId, epB.endpoint, reg.window, reg.handle, 4096, 4096, NicAccess.REMOTE_READ);
    expect(bound.status).toBe(NicStatus.SUCCESS);
    expect(read(bound.remoteKey, 0, 4096)).toEqual({ status: WcStatus.SUCCESS, got: bytes.subarray(4096, 8192) });
    // The region's own remote key opens nothing (it has no remote right and no binding).
    expect(read(reg.remoteKey).status).toBe(WcStatus.REM_ACCESS_ERR);
  });

  it('bind, read, invalidate, rebind over a sub-range: only the current binding works, and no driver request is made', () => {
    const ctx = connectedClients();
    const { b, nicB, epB, read, cluster, a, epA } = ctx;
    const buf = b.process.VirtualAlloc(0, N, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const bytes = new Uint8Array(N).map((_, i) => (i * 7) & 0xff);
    b.process.writeMemory(buf, bytes);
    const reg = b.register(0, SANPROXY_LOCAL_READ | SANPROXY_WINDOW_BIND, buf, N);
    const owner = b.process.ProcessId;
    const requests = b.host.kernel.io.irpsAllocated;
    const first = nicB.bindWindow(owner, epB.endpoint, reg.window, reg.handle, 0, N, NicAccess.REMOTE_READ);
    expect(first.status).toBe(NicStatus.SUCCESS);
    expect(read(first.remoteKey)).toEqual({ status: WcStatus.SUCCESS, got: bytes });
    expect(nicB.invalidateWindow(owner, reg.window)).toBe(NicStatus.SUCCESS);
    expect(read(first.remoteKey).status).toBe(WcStatus.REM_ACCESS_ERR);
    expect(b.host.kernel.io.irpsAllocated).toBe(requests);
    // The failed read put A's endpoint in error: a new connection for the rest.
    const { ea, eb } = connectEndpoints(cluster, a, b, 7100);
    Object.assign(epA, ea);
    const again = b.host.kernel.io.irpsAllocated;
    const second = nicB.bindWindow(owner, eb.endpoint, reg.window, reg.handle, 4096, 4096, NicAccess.REMOTE_READ);
    expect(second.status).toBe(NicStatus.SUCCESS);
    expect(second.remoteKey).not.toBe(first.remoteKey);
    expect(read(second.remoteKey, 0, 4096)).toEqual({ status: WcStatus.SUCCESS, got: bytes.subarray(4096, 8192) });
    expect(b.host.kernel.io.irpsAllocated).toBe(again);
  });

  it('another process cannot bind or invalidate the window; rights beyond the region\'s are refused', () => {
    const { b, hb, nicB, epB } = connectedClients();
    const buf = b.process.VirtualAlloc(0, N, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const reg = b.register(0, SANPROXY_LOCAL_READ | SANPROXY_WINDOW_BIND, buf, N);
    const intruder = hb.createProcess('intruder');
    expect(nicB.bindWindow(intruder.ProcessId, epB.endpoint, reg.window, reg.handle, 0, N, NicAccess.REMOTE_READ).status)
      .toBe(NicStatus.ACCESS_DENIED);
    // Remote write needs the region's local write, which a read-only registration lacks.
    expect(nicB.bindWindow(b.process.ProcessId, epB.endpoint, reg.window, reg.handle, 0, N, NicAccess.REMOTE_WRITE).status)
      .toBe(NicStatus.ACCESS_DENIED);
    expect(nicB.queryWindow(reg.window)!.state).toBe('unbound');
    expect(nicB.bindWindow(b.process.ProcessId, epB.endpoint, reg.window, reg.handle, 0, N, NicAccess.REMOTE_READ).status)
      .toBe(NicStatus.SUCCESS);
    expect(nicB.invalidateWindow(intruder.ProcessId, reg.window)).toBe(NicStatus.ACCESS_DENIED);
    expect(nicB.queryWindow(reg.window)!.state).toBe('bound');
  });

  it('an output too small for the window, or the bit with a bad access, registers nothing', () => {
    const { b, nicB, hb } = connectedClients();
    const buf = b.process.VirtualAlloc(0, N, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const s0 = snapshot(hb);
    const [regions, windows] = [nicB.regionCount, nicB.windowCount];
    const short = b.register(0, SANPROXY_LOCAL_READ | SANPROXY_WINDOW_BIND, buf, N, 0, 16);
    expect(short.ok).toBe(false);
    expect(short.lastError).toBe(ERROR_INSUFFICIENT_BUFFER);
    const bad = b.register(0, SANPROXY_WINDOW_BIND | 0x20, buf, N);
    expect(bad.lastError).toBe(ERROR_INVALID_PARAMETER);
    const none = b.register(0, SANPROXY_WINDOW_BIND, buf, N);
    expect(none.lastError).toBe(ERROR_INVALID_PARAMETER);
    expect([nicB.regionCount, nicB.windowCount]).toEqual([regions, windows]);
    expect(leakedCounters(s0, snapshot(hb))).toEqual([]);
  });

  it('DEREGISTER_BUFFER frees the window with the registration; closing the handle frees the rest; nothing leaks', () => {
    const { b, nicB, epB, hb, a, before } = connectedClients();
    const buf = b.process.VirtualAlloc(0, 2 * N, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const windows = nicB.windowCount;
    const r1 = b.register(0, SANPROXY_LOCAL_READ | SANPROXY_WINDOW_BIND, buf, N);
    const r2 = b.register(0, SANPROXY_LOCAL_READ | SANPROXY_REMOTE_READ | SANPROXY_WINDOW_BIND, buf + N, N, epB.endpoint);
    expect(r2.ok).toBe(true);
    expect(nicB.windowCount).toBe(windows + 2);
    const bound = nicB.bindWindow(b.process.ProcessId, epB.endpoint, r1.window, r1.handle, 0, N, NicAccess.REMOTE_READ);
    expect(bound.status).toBe(NicStatus.SUCCESS);
    expect(b.deregister(r1.id).ok).toBe(true);
    expect(nicB.windowCount).toBe(windows + 1);
    expect(nicB.queryWindow(r1.window)).toBeNull();
    expect(b.close()).toBe(true);
    expect(nicB.windowCount).toBe(windows);
    expect(a.close()).toBe(true);
    hb.kernel.ps.terminateProcess(b.process, 0);
    expect(leakedCounters(before, snapshot(hb))).toEqual([]);
  });

  it('ALLOCATE_MEMORY with SANPROXY_WINDOW_BIND: low memory with a window; bound from user mode it reaches the bytes; RELEASE_MEMORY frees it', () => {
    const { b, nicB, epB, read, hb, a, before } = connectedClients();
    const windows = nicB.windowCount;
    const low = b.allocate(0, SANPROXY_LOCAL_READ | SANPROXY_WINDOW_BIND, N);
    expect(low.ok).toBe(true);
    expect(low.window).not.toBe(0);
    expect(nicB.windowCount).toBe(windows + 1);
    const bytes = new Uint8Array(N).map((_, i) => (i * 11) & 0xff);
    b.process.writeMemory(low.userAddress, bytes);
    const bound = nicB.bindWindow(b.process.ProcessId, epB.endpoint, low.window, low.handle, 0, N, NicAccess.REMOTE_READ);
    expect(bound.status).toBe(NicStatus.SUCCESS);
    expect(read(bound.remoteKey)).toEqual({ status: WcStatus.SUCCESS, got: bytes });
    expect(b.release(low.id).ok).toBe(true);
    expect(nicB.windowCount).toBe(windows);
    expect(b.close()).toBe(true);
    expect(a.close()).toBe(true);
    hb.kernel.ps.terminateProcess(b.process, 0);
    expect(leakedCounters(before, snapshot(hb))).toEqual([]);
  });
});
