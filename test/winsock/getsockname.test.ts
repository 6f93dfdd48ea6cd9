/**
 * getsockname (the switch's socket call).
 * Sources: Winsock "getsockname function" (WSAEINVAL: "The socket has not been bound to an address with
 * bind"; the address of a socket bound to INADDR_ANY is known once a connection exists); Wine
 * dlls/ws2_32/tests/sock.c test_bind (after a bind to port 0 getsockname reports the port the bind
 * took — another socket binding that address gets WSAEADDRINUSE), test_shutdown (getsockname and the
 * peer's view agree after shutdown).
 */
import { describe, expect, it } from 'vitest';
import { SD_BOTH, WSAEINVAL, WSAENOTSOCK } from '../../src/switch/index.ts';
import { connect, IP_A, IP_B, switchPair, teardownWithoutLeaks, wsaOf } from './fixture.ts';

describe('getsockname', () => {
  it('WSAEINVAL before bind; the bound address after it, port 0 replaced by the port the bind took', async () => {
    const p = switchPair();
    const sw = p.b.sw;
    const s = sw.socket();
    expect(await wsaOf(() => sw.getsockname(s))).toBe(WSAEINVAL);
    sw.bind(s, { ip: IP_B, port: 0 });
    const a = sw.getsockname(s);
    expect(a.ip).toBe(IP_B);
    expect(a.port).toBeGreaterThanOrEqual(49152);
    expect(await wsaOf(() => sw.getsockname(0xdeadbeef))).toBe(WSAENOTSOCK);
    await teardownWithoutLeaks(p);
  });

  it('connected sockets: the listener\'s address on the accepted side, the interface and an ephemeral port on the connecting side, also after shutdown', async () => {
    const p = switchPair();
    const { c, s, listener } = await connect(p);
    expect(p.b.sw.getsockname(listener)).toEqual({ ip: IP_B, port: 5000 });
    expect(p.b.sw.getsockname(s)).toEqual({ ip: IP_B, port: 5000 });
    const local = p.a.sw.getsockname(c);
    expect(local.ip).toBe(IP_A);
    expect(local.port).toBeGreaterThanOrEqual(49152);
    await p.a.sw.shutdown(c, SD_BOTH);
    expect(p.a.sw.getsockname(c)).toEqual(local);
    await teardownWithoutLeaks(p);
  });
});
