/**
 * accept (the switch's socket call).
 * Sources: Winsock "accept function" (WSAEINVAL: "The listen function was not invoked prior to
 * accept"; WSAENOTSOCK); "closesocket function" (blocking calls pending on a socket that is closed are
 * cancelled: WSAEINTR); Wine dlls/ws2_32/tests/sock.c test_accept (closing the listener wakes a thread
 * blocked in accept, which returns INVALID_SOCKET). A connection whose connector left before the
 * handshake completed never reaches accept, as TCP drops a half-open connection that is reset
 * ("accept function": accept takes connections the handshake completed; roce-v2.md §10.7, the
 * connector that gave up answers the late REP with REJ).
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/kernel/net/ip-addresses.ts';
import { ref } from '../../src/kernel/ref.ts';
import { NS_PER_MS } from '../../src/nic/index.ts';
import { WSAEINTR, WSAEINVAL, WSAENOTSOCK, WSAETIMEDOUT } from '../../src/switch/index.ts';
import { connect, IP_B, socket, startProvider, switchPair, teardownWithoutLeaks, wsaOf } from './fixture.ts';

describe('accept', () => {
  it('WSAEINVAL on a socket that is not listening (unbound, bound, connected); WSAENOTSOCK on no socket', async () => {
    const p = switchPair();
    const { s } = await connect(p);
    const sw = p.b.sw;
    const unbound = sw.socket();
    const bound = sw.socket();
    sw.bind(bound, { ip: IP_B, port: 7600 });
    for (const x of [unbound, bound, s]) expect(await wsaOf(() => sw.accept(x))).toBe(WSAEINVAL);
    expect(await wsaOf(() => sw.accept(0xdeadbeef))).toBe(WSAENOTSOCK);
    await teardownWithoutLeaks(p);
  });

  it('closing the listener wakes an accept blocked on it with WSAEINTR (Wine test_accept)', async () => {
    const p = switchPair();
    const sw = p.b.sw;
    const l = sw.socket();
    sw.bind(l, { ip: IP_B, port: 7601 });
    sw.listen(l);
    const blocked = wsaOf(() => sw.accept(l));
    await new Promise((r) => setImmediate(r));
    await sw.closesocket(l);
    expect(await blocked).toBe(WSAEINTR);
    await teardownWithoutLeaks(p);
  });

  it('a request whose connector gave up before it was accepted never reaches accept: the next connection is accepted', async () => {
    const p = switchPair();
    const sw = p.b.sw;
    const l = sw.socket();
    sw.bind(l, { ip: IP_B, port: 7602 });
    sw.listen(l);
    // A connector that gives up after 40 ms of virtual time, moved in one step: its request
    // reaches B's listener, and the connector times out before B's acceptor thread runs.
    const quitter = startProvider(p.a.host, 'quitter', { connectTimeoutMs: 40 });
    const qs = socket(quitter.provider);
    const e = ref(0);
    const gaveUp = quitter.provider.WSPConnect(qs, { ip: parseIpv4(IP_B)!, port: 7602 }, e);
    p.cluster.scheduler.advance(40 * NS_PER_MS);
    expect(await gaveUp).toBe(-1);
    expect(e.value).toBe(WSAETIMEDOUT);
    // B's acceptor takes the abandoned request (the REP is answered with REJ), then this one.
    const accepted = sw.accept(l);
    const c = p.a.sw.socket();
    await p.a.sw.connect(c, { ip: IP_B, port: 7602 });
    const s = await accepted;
    expect(sw.pathOf(s)).toBe('san');
    expect(quitter.provider.WSPCloseSocket(qs, ref(0))).toBe(0);
    expect(quitter.provider.WSPCleanup(ref(0))).toBe(0);
    p.a.host.kernel.ps.terminateProcess(quitter.process, 0);
    await teardownWithoutLeaks(p);
  });
});
