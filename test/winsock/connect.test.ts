/**
 * connect (the switch's socket call).
 * Sources: Winsock "connect function" (WSAEALREADY: a connect is in progress on the socket; WSAEISCONN;
 * WSAEINVAL: "The parameter s is a listening socket"; WSAEADDRNOTAVAIL: "The remote address is not a
 * valid address (such as INADDR_ANY)"; WSAEFAULT; WSAECONNREFUSED; an unbound socket is bound
 * implicitly: "the system assigns unique values to the local association, and the socket is marked as
 * bound"); Wine dlls/ws2_32/tests/sock.c test_connecting_socket (a second connect while one is in
 * progress → WSAEALREADY), test_shutdown (connect on a connected socket, even shut down → WSAEISCONN),
 * test_errors (a port nobody listens on → WSAECONNREFUSED).
 */
import { describe, expect, it } from 'vitest';
import {
  WSAEADDRNOTAVAIL, WSAEALREADY, WSAECONNREFUSED, WSAEFAULT, WSAEINVAL, WSAEISCONN, WSAENOTSOCK,
} from '../../src/switch/index.ts';
import { boundOn, connect, IP_B, switchPair, teardownWithoutLeaks, wsaOf } from './fixture.ts';

describe('connect', () => {
  it('WSAEALREADY while connecting, WSAEISCONN once connected and after shutdown (Wine test_connecting_socket, test_shutdown)', async () => {
    const p = switchPair();
    const l = p.b.sw.socket();
    p.b.sw.bind(l, { ip: IP_B, port: 7700 });
    p.b.sw.listen(l);
    const c = p.a.sw.socket();
    const first = p.a.sw.connect(c, { ip: IP_B, port: 7700 });
    expect(await wsaOf(() => p.a.sw.connect(c, { ip: IP_B, port: 7700 }))).toBe(WSAEALREADY);
    await first;
    const s = await p.b.sw.accept(l);
    expect(await wsaOf(() => p.a.sw.connect(c, { ip: IP_B, port: 7700 }))).toBe(WSAEISCONN);
    await p.a.sw.shutdown(c, 2);
    expect(await wsaOf(() => p.a.sw.connect(c, { ip: IP_B, port: 7700 }))).toBe(WSAEISCONN);
    expect(await wsaOf(() => p.b.sw.connect(s, { ip: '10.0.0.1', port: 1 }))).toBe(WSAEISCONN);
    await teardownWithoutLeaks(p);
  });

  it('WSAEINVAL on a listening socket; WSAEADDRNOTAVAIL for INADDR_ANY or port 0; WSAEFAULT for no IPv4 address; WSAENOTSOCK', async () => {
    const p = switchPair();
    const { listener } = await connect(p);
    expect(await wsaOf(() => p.b.sw.connect(listener, { ip: '10.0.0.1', port: 5000 }))).toBe(WSAEINVAL);
    const c = p.a.sw.socket();
    expect(await wsaOf(() => p.a.sw.connect(c, { ip: '0.0.0.0', port: 5000 }))).toBe(WSAEADDRNOTAVAIL);
    expect(await wsaOf(() => p.a.sw.connect(c, { ip: IP_B, port: 0 }))).toBe(WSAEADDRNOTAVAIL);
    for (const bad of [null, 'x', { ip: 'nope', port: 1 }, { ip: IP_B, port: 70000 }]) {
      expect(await wsaOf(() => p.a.sw.connect(c, bad as never))).toBe(WSAEFAULT);
    }
    expect(await wsaOf(() => p.a.sw.connect(0xdeadbeef, { ip: IP_B, port: 5000 }))).toBe(WSAENOTSOCK);
    // None of the refusals bound the socket.
    expect(await wsaOf(() => p.a.sw.getsockname(c))).toBe(WSAEINVAL);
    await teardownWithoutLeaks(p);
  });

  it('WSAECONNREFUSED when nobody listens (Wine test_errors); the implicit bind stays, and the socket connects on the next try', async () => {
    const p = switchPair();
    const c = p.a.sw.socket();
    expect(await wsaOf(() => p.a.sw.connect(c, { ip: IP_B, port: 7701 }))).toBe(WSAECONNREFUSED);
    // Bound by the attempt: an ephemeral port of host A; bind is WSAEINVAL now.
    expect(p.a.sw.getsockname(c).port).toBeGreaterThanOrEqual(49152);
    expect(boundOn(p.a.host)).toBe(1);
    expect(await wsaOf(() => p.a.sw.bind(c, { ip: 0, port: 0 }))).toBe(WSAEINVAL);
    const l = p.b.sw.socket();
    p.b.sw.bind(l, { ip: IP_B, port: 7701 });
    p.b.sw.listen(l);
    const accepted = p.b.sw.accept(l);
    await p.a.sw.connect(c, { ip: IP_B, port: 7701 });
    await accepted;
    // Connected, getsockname names the interface the connection took.
    expect(p.a.sw.getsockname(c).ip).toBe('10.0.0.1');
    await p.a.sw.closesocket(c);
    expect(boundOn(p.a.host)).toBe(0);
    await teardownWithoutLeaks(p);
  });
});
