/**
 * listen (the switch's socket call).
 * Sources: Winsock "listen function" (WSAEINVAL: "The socket has not been bound with bind"; WSAEISCONN:
 * already connected; backlog SOMAXCONN, or SOMAXCONN_HINT(N) = -N; WSAENOTSOCK); Wine
 * dlls/ws2_32/tests/sock.c test_listen (handles 0 and 0xdeadbeef → WSAENOTSOCK; an unbound socket →
 * WSAEINVAL with backlog -2, 1 and SOMAXCONN; listen then listen again succeeds).
 */
import { describe, expect, it } from 'vitest';
import { WSAEINVAL, WSAEISCONN, WSAENOTSOCK } from '../../src/switch/index.ts';
import { connect, IP_B, SOMAXCONN, SOMAXCONN_HINT, switchPair, teardownWithoutLeaks, wsaOf } from './fixture.ts';

describe('listen', () => {
  it('WSAENOTSOCK for handles that are no socket; WSAEINVAL on an unbound socket for backlog -2, 1, SOMAXCONN (Wine test_listen)', async () => {
    const p = switchPair();
    const sw = p.b.sw;
    for (const s of [0, 0xdeadbeef]) expect(await wsaOf(() => sw.listen(s, 1))).toBe(WSAENOTSOCK);
    const s = sw.socket();
    for (const backlog of [-2, 1, SOMAXCONN]) expect(await wsaOf(() => sw.listen(s, backlog))).toBe(WSAEINVAL);
    expect(await wsaOf(() => sw.listen(s))).toBe(WSAEINVAL);
    await teardownWithoutLeaks(p);
  });

  it('a bound socket listens with any C int backlog — SOMAXCONN, SOMAXCONN_HINT(N), 0 — and again without error; junk backlogs are WSAEINVAL', async () => {
    const p = switchPair();
    const sw = p.b.sw;
    for (const [i, backlog] of [SOMAXCONN, SOMAXCONN_HINT(500), 0].entries()) {
      const s = sw.socket();
      sw.bind(s, { ip: IP_B, port: 7500 + i });
      sw.listen(s, backlog);
      sw.listen(s, SOMAXCONN);
    }
    const s = sw.socket();
    sw.bind(s, { ip: IP_B, port: 7510 });
    for (const junk of [1.5, Number.NaN, '5', null, 2 ** 32]) expect(await wsaOf(() => sw.listen(s, junk as never))).toBe(WSAEINVAL);
    // The junk changed nothing; a good backlog listens, and the listener takes connections.
    sw.listen(s, SOMAXCONN_HINT(1));
    const c = p.a.sw.socket();
    const accepted = sw.accept(s);
    await p.a.sw.connect(c, { ip: IP_B, port: 7510 });
    expect(await accepted).toBeGreaterThan(0);
    await teardownWithoutLeaks(p);
  });

  it('WSAEISCONN on a connected socket (client side and accepted side)', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    expect(await wsaOf(() => p.a.sw.listen(c))).toBe(WSAEISCONN);
    expect(await wsaOf(() => p.b.sw.listen(s))).toBe(WSAEISCONN);
    await teardownWithoutLeaks(p);
  });
});
