/**
 * closesocket (the switch's socket call).
 * Sources: Winsock "closesocket function" (WSAENOTSOCK: the descriptor is not a socket; pending blocking
 * calls are cancelled; the socket's resources are released); "Closing a SAN Socket"; Wine
 * dlls/ws2_32/tests/sock.c test_WithWSAStartup and test_select (calls on a closed socket →
 * WSAENOTSOCK).
 */
import { describe, expect, it } from 'vitest';
import { WSAEINTR, WSAENOTSOCK } from '../../src/switch/index.ts';
import { boundOn, connect, IP_B, switchPair, teardownWithoutLeaks, userBuffer, wsaOf } from './fixture.ts';

describe('closesocket', () => {
  it('a closed socket is WSAENOTSOCK to every call, a second closesocket too; its binding goes back to the host', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    const t = p.b.sw.socket();
    p.b.sw.bind(t, { ip: IP_B, port: 7900 });
    const before = boundOn(p.b.host);
    await p.b.sw.closesocket(t);
    expect(boundOn(p.b.host)).toBe(before - 1);
    const buf = userBuffer(p.b.process, 16);
    const calls: (() => unknown)[] = [
      () => p.b.sw.closesocket(t), () => p.b.sw.bind(t, { ip: IP_B, port: 7901 }), () => p.b.sw.listen(t), () => p.b.sw.accept(t),
      () => p.b.sw.connect(t, { ip: '10.0.0.1', port: 1 }), () => p.b.sw.send(t, buf, 1), () => p.b.sw.recv(t, buf, 1),
      () => p.b.sw.shutdown(t, 1), () => p.b.sw.getsockname(t),
    ];
    for (const call of calls) expect(await wsaOf(call)).toBe(WSAENOTSOCK);
    // A closed connected socket: the peer reads 0 (graceful close), the calls blocked on it fail with WSAEINTR.
    const blocked = wsaOf(() => p.a.sw.recv(c, userBuffer(p.a.process, 16), 16));
    await new Promise((r) => setImmediate(r));
    await p.a.sw.closesocket(c);
    expect(await blocked).toBe(WSAEINTR);
    expect(await p.b.sw.recv(s, buf, 16)).toBe(0);
    await teardownWithoutLeaks(p);
  });
});
