/**
 * WSPConnect blocks until the listener accepts ("Initiating a Connection", "Accepting
 * Connection Requests"): a request waiting in the listener's backlog is not a failure; only a
 * refusal, an unreachable peer or the connect timeout ends the wait. The wait is event-driven
 * (the NIC's connection manager answers) and the timeout is virtual time on the cluster's
 * scheduler, so these tests move the clock by hand and never depend on how long anything takes.
 */
import { describe, expect, it } from 'vitest';
import { createCluster, leakedCounters, snapshot, type Host } from '../../src/host/index.ts';
import { parseIpv4 } from '../../src/kernel/net/ip-addresses.ts';
import { ref } from '../../src/kernel/ref.ts';
import { NS_PER_MS } from '../../src/nic/index.ts';
import { FD_ACCEPT, INVALID_SOCKET, SanServiceProvider, WSAECONNREFUSED, WSAETIMEDOUT, WSAEWOULDBLOCK, WsaEvent } from '../../src/provider/index.ts';
import { IP_A, IP_B, MIB, PORT, socket, startProvider } from './harness.ts';

function hosts(autoDrive: boolean) {
  const cluster = createCluster({
    autoDrive,
    hosts: [
      { name: 'a', ramBytes: 2 * 1024 * MIB, nics: [{ addressBits: 64, ip: IP_A }] },
      { name: 'b', ramBytes: 2 * 1024 * MIB, nics: [{ addressBits: 64, ip: IP_B }] },
    ],
  });
  const [ha, hb] = cluster.hosts as [Host, Host];
  expect(ha.loadProxy()).toBe(0);
  expect(hb.loadProxy()).toBe(0);
  return { cluster, ha, hb };
}

/** One turn of the event loop: every promise continuation that can run has run (ordering, not time). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function listener(hb: Host, name = 'server') {
  const B = startProvider(hb, name);
  const e = ref(0);
  const l = socket(B.provider);
  expect(B.provider.WSPBind(l, { ip: parseIpv4(IP_B)!, port: PORT }, e)).toBe(0);
  expect(B.provider.WSPListen(l, 8, e)).toBe(0);
  return { ...B, listener: l };
}

describe('WSPConnect', () => {
  it('keeps waiting while the request sits at a listener that accepts later, up to the timeout on the machine clock', async () => {
    const { cluster, ha, hb } = hosts(false);
    const A = startProvider(ha, 'client', { connectTimeoutMs: 40 });
    const B = listener(hb);
    const sa = socket(A.provider);
    let settled = false;
    const e = ref(0);
    const connecting = A.provider.WSPConnect(sa, { ip: parseIpv4(IP_B)!, port: PORT }, e).finally(() => (settled = true));
    await turn();
    cluster.scheduler.advance(39 * NS_PER_MS);
    await turn();
    // The request waits in the listener's backlog: not a failure, and 1 ms of the timeout is left.
    expect(settled).toBe(false);
    expect(A.provider.socketInfo(sa)!.state).toBe('connecting');
    const eb = ref(0);
    const sb = await B.provider.WSPAccept(B.listener, null, eb);
    expect(eb.value).toBe(0);
    expect(await connecting).toBe(0);
    expect(A.provider.socketInfo(sa)!.state).toBe('connected');
    expect(B.provider.socketInfo(sb)!.state).toBe('connected');
  });

  it('times out with WSAETIMEDOUT exactly at connectTimeoutMs of virtual time, leaving nothing behind; a late accept is refused', async () => {
    const { cluster, ha, hb } = hosts(false);
    const before = snapshot(ha);
    const A = startProvider(ha, 'client', { connectTimeoutMs: 40 });
    const B = listener(hb);
    const sa = socket(A.provider);
    const e = ref(0);
    let settled = false;
    const connecting = A.provider.WSPConnect(sa, { ip: parseIpv4(IP_B)!, port: PORT }, e).finally(() => (settled = true));
    await turn();
    cluster.scheduler.advance(40 * NS_PER_MS - 1);
    await turn();
    expect(settled).toBe(false);
    cluster.scheduler.advance(1);
    expect(await connecting).toBe(-1);
    expect(e.value).toBe(WSAETIMEDOUT);
    expect(A.provider.socketInfo(sa)!.state).toBe('created');
    // The request was still in B's backlog: accepting it now finds the connector gone.
    const eb = ref(0);
    expect(await B.provider.WSPAccept(B.listener, null, eb)).toBe(INVALID_SOCKET);
    expect(eb.value).toBe(WSAECONNREFUSED);
    expect(A.provider.WSPCleanup(ref(0))).toBe(0);
    ha.kernel.ps.terminateProcess(A.process, 0);
    expect(leakedCounters(before, snapshot(ha))).toEqual([]);
  });

  it('a refusal fails at once, with no clock movement, whatever the timeout', async () => {
    const { cluster, ha, hb } = hosts(false);
    listener(hb);
    const C = startProvider(ha, 'client', { connectTimeoutMs: 3_600_000 });
    const sc = socket(C.provider);
    const e = ref(0);
    expect(await C.provider.WSPConnect(sc, { ip: parseIpv4(IP_B)!, port: PORT + 1 }, e)).toBe(-1);
    expect(e.value).toBe(WSAECONNREFUSED);
    expect(cluster.scheduler.now).toBe(0);
    expect(C.provider.WSPCleanup(ref(0))).toBe(0);
  });

  it('auto-driven, an idle machine jumps its clock to the timer: a connect nobody accepts times out, an accept in time connects', async () => {
    const { cluster, ha, hb } = hosts(true);
    const A = startProvider(ha, 'client');
    const B = listener(hb);
    const e = ref(0);
    const s1 = socket(A.provider);
    expect(await A.provider.WSPConnect(s1, { ip: parseIpv4(IP_B)!, port: PORT }, e)).toBe(-1);
    expect(e.value).toBe(WSAETIMEDOUT);
    expect(cluster.scheduler.now).toBe(A.provider.connectTimeoutMs * NS_PER_MS);
    // The timed-out request is still pending at B; take it and see it refused, then connect for real.
    expect(await B.provider.WSPAccept(B.listener, null, ref(0))).toBe(INVALID_SOCKET);
    const s2 = socket(A.provider);
    const connecting = A.provider.WSPConnect(s2, { ip: parseIpv4(IP_B)!, port: PORT }, e);
    const eb = ref(0);
    const sb = await B.provider.WSPAccept(B.listener, null, eb);
    expect(eb.value).toBe(0);
    expect(await connecting).toBe(0);
    expect(B.provider.socketInfo(sb)!.state).toBe('connected');
  });

  it("over a link that loses every packet, the CM's REQ resends run out and the connect fails with WSAETIMEDOUT, before the connect timeout", async () => {
    const { cluster, ha, hb } = hosts(true);
    const A = startProvider(ha, 'client');
    listener(hb);
    cluster.fabric.link.impair({ seed: 1, loss: 1, reorder: 0, duplicate: 0, corrupt: 0, delayNs: 0 });
    const e = ref(0);
    expect(await A.provider.WSPConnect(socket(A.provider), { ip: parseIpv4(IP_B)!, port: PORT }, e)).toBe(-1);
    expect(e.value).toBe(WSAETIMEDOUT);
    // 1 REQ + 15 resends (roce-v2.md §10.7), each lost; well inside connectTimeoutMs.
    expect(ha.nics[0]!.nic.gsi.counters.madsSent).toBe(16);
    expect(cluster.scheduler.now).toBeLessThan(A.provider.connectTimeoutMs * NS_PER_MS);
  });

  it("over a lossy link (30% loss, duplicates, reordering, corruption) the CM's resends still connect", async () => {
    const { cluster, ha, hb } = hosts(true);
    const A = startProvider(ha, 'client');
    const B = listener(hb);
    cluster.fabric.link.impair({ seed: 5, loss: 0.3, reorder: 0.1, duplicate: 0.1, corrupt: 0.05, delayNs: 1000 });
    const e = ref(0);
    const connecting = A.provider.WSPConnect(socket(A.provider), { ip: parseIpv4(IP_B)!, port: PORT }, e);
    // WSPAccept waits only for what is in flight: a lost REQ comes again on the CM's resend
    // timer, after the machine went idle, so the server may see WSAEWOULDBLOCK first.
    const eb = ref(0);
    let sb = INVALID_SOCKET;
    for (let i = 0; i < 100 && sb === INVALID_SOCKET; i++) {
      sb = await B.provider.WSPAccept(B.listener, null, eb);
      if (sb === INVALID_SOCKET) {
        expect(eb.value).toBe(WSAEWOULDBLOCK);
        await turn();
      }
    }
    expect(sb).not.toBe(INVALID_SOCKET);
    expect(await connecting).toBe(0);
    expect(B.provider.socketInfo(sb)!.state).toBe('connected');
  });

  it('WSPEventSelect(FD_ACCEPT): the event is set when a request reaches the listener, and again by WSPAccept while more wait', async () => {
    const { cluster, ha, hb } = hosts(false);
    const B = listener(hb);
    const ready = new WsaEvent();
    expect(B.provider.WSPEventSelect(B.listener, ready, FD_ACCEPT, ref(0))).toBe(0);
    expect(ready.signaled).toBe(false);
    const A = startProvider(ha, 'client');
    const e = ref(0);
    const [s1, s2] = [socket(A.provider), socket(A.provider)];
    const c1 = A.provider.WSPConnect(s1, { ip: parseIpv4(IP_B)!, port: PORT }, e);
    const c2 = A.provider.WSPConnect(s2, { ip: parseIpv4(IP_B)!, port: PORT }, ref(0));
    cluster.scheduler.runUntilIdle();
    expect(ready.signaled).toBe(true);
    ready.reset();
    expect(await B.provider.WSPAccept(B.listener, null, ref(0))).not.toBe(INVALID_SOCKET);
    expect(ready.signaled).toBe(true); // one more waits
    ready.reset();
    expect(await B.provider.WSPAccept(B.listener, null, ref(0))).not.toBe(INVALID_SOCKET);
    expect(ready.signaled).toBe(false);
    expect([await c1, await c2]).toEqual([0, 0]);
    expect(B.provider.WSPEventSelect(B.listener, ready, 0x01 /* FD_READ: not served */, ref(0))).toBe(-1);
  });

  it('a provider takes only its own process\'s user ports', () => {
    const { ha } = hosts(false);
    const p1 = ha.createProcess('one');
    const p2 = ha.createProcess('two');
    const foreign = ha.nics.map((n) => n.nic.openUserPort(p2.ProcessId));
    expect(() => new SanServiceProvider({ kernel: ha.kernel, process: p1, ports: foreign })).toThrow(/port of process/);
    expect(() => new SanServiceProvider({ kernel: ha.kernel, process: p1, ports: [ha.nics[0]!.nic as never] })).toThrow(TypeError);
  });
});
