/**
 * accept (the switch's socket call).
 * Sources: Winsock "accept function" (WSAEINVAL: "The listen function was not invoked prior to
 * accept"; WSAENOTSOCK); "closesocket function" (blocking calls pending on a socket that is closed are
 * cancelled: WSAEINTR); Wine dlls/ws2_32/tests/sock.c test_accept (closing the listener wakes a thread
 * blocked in accept, which returns INVALID_SOCKET).
 */
import { describe, expect, it } from 'vitest';
import { WSAEINTR, WSAEINVAL, WSAENOTSOCK } from '../../src/switch/index.ts';
import { connect, IP_B, switchPair, teardownWithoutLeaks, wsaOf } from './fixture.ts';

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
});
