/**
 * WSPConnect blocks until the listener accepts [initiating-a-connection,
 * accepting-connection-requests]: a request waiting in the listener's backlog is not a failure;
 * only a refusal, an unreachable peer or the connect timeout ends the wait.
 */
import { describe, expect, it } from 'vitest';
import { createCluster, leakedCounters, snapshot, type Host } from '../../src/host/index.ts';
import { ref } from '../../src/kernel/ref.ts';
import { WSAECONNREFUSED, WSAETIMEDOUT, parseIpv4 } from '../../src/provider/index.ts';
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

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('WSPConnect', () => {
  for (const autoDrive of [false, true]) {
    it(`keeps waiting while the request sits at a listener that accepts later (autoDrive ${autoDrive})`, async () => {
      const { ha, hb } = hosts(autoDrive);
      const A = startProvider(ha, 'client');
      const B = startProvider(hb, 'server');
      const e = ref(0);
      const listener = socket(B.provider);
      expect(B.provider.WSPBind(listener, { ip: parseIpv4(IP_B)!, port: PORT }, e)).toBe(0);
      expect(B.provider.WSPListen(listener, 8, e)).toBe(0);
      const sa = socket(A.provider);
      let settled = false;
      const connecting = A.provider.WSPConnect(sa, { ip: parseIpv4(IP_B)!, port: PORT }, e).finally(() => (settled = true));
      // The fabric goes idle with the request pending; the server accepts only after a while.
      await later(30);
      expect(settled).toBe(false);
      const eb = ref(0);
      const sb = await B.provider.WSPAccept(listener, null, eb);
      expect(eb.value).toBe(0);
      expect(await connecting).toBe(0);
      expect(A.provider.socketInfo(sa)!.state).toBe('connected');
      expect(B.provider.socketInfo(sb)!.state).toBe('connected');
    });
  }

  it('times out with WSAETIMEDOUT when nobody accepts, leaving nothing behind; a refusal fails at once', async () => {
    const { ha, hb } = hosts(false);
    const before = snapshot(ha);
    const A = startProvider(ha, 'client', { connectTimeoutMs: 40 });
    const B = startProvider(hb, 'server');
    const e = ref(0);
    const listener = socket(B.provider);
    expect(B.provider.WSPBind(listener, { ip: parseIpv4(IP_B)!, port: PORT }, e)).toBe(0);
    expect(B.provider.WSPListen(listener, 8, e)).toBe(0);
    const sa = socket(A.provider);
    expect(await A.provider.WSPConnect(sa, { ip: parseIpv4(IP_B)!, port: PORT }, e)).toBe(-1);
    expect(e.value).toBe(WSAETIMEDOUT);
    expect(A.provider.socketInfo(sa)!.state).toBe('created');
    expect(A.provider.WSPCleanup(ref(0))).toBe(0);
    ha.kernel.ps.terminateProcess(A.process, 0);
    // No listener on the port: refused without waiting for the timeout. The timeout here is an
    // hour, so a connect that waited for it would never finish inside the test's own limit.
    const C = startProvider(ha, 'client2', { connectTimeoutMs: 3_600_000 });
    const sc = socket(C.provider);
    expect(await C.provider.WSPConnect(sc, { ip: parseIpv4(IP_B)!, port: PORT + 1 }, e)).toBe(-1);
    expect(e.value).toBe(WSAECONNREFUSED);
    expect(C.provider.WSPCleanup(ref(0))).toBe(0);
    ha.kernel.ps.terminateProcess(C.process, 0);
    expect(leakedCounters(before, snapshot(ha))).toEqual([]);
  });
});
