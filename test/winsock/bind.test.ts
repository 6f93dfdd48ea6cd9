/**
 * bind (the switch's socket call).
 * Sources: Winsock "bind function" (WSAEADDRINUSE: "a process on the computer is already bound to the
 * same fully qualified address and the socket has not been marked to allow address reuse with
 * SO_REUSEADDR"; WSAEADDRNOTAVAIL: not an address of this computer; WSAEFAULT: name not a valid
 * sockaddr; WSAEINVAL: "The socket is already bound to an address"; WSAENOBUFS: not enough buffers,
 * too many connections; port 0: the provider assigns a unique port); "Creating and Binding SAN
 * Sockets" (the switch binds the application's socket through the TCP/IP provider at bind time);
 * WSPListen page of the Windows Sockets Direct reference ("the Windows Sockets switch, in conjunction
 * with the TCP/IP provider, handles address reuse"); Wine dlls/ws2_32/tests/sock.c test_bind (NULL →
 * WSAEFAULT, 192.0.2.0 → WSAEADDRNOTAVAIL, a second bind of one socket → WSAEINVAL, another socket on
 * the address getsockname reports for a port-0 bind → WSAEADDRINUSE), test_listen (a socket bound to a
 * listening socket's address → WSAEADDRINUSE at bind; a socket whose bind failed cannot listen:
 * WSAEINVAL), test_reuseaddr (INADDR_ANY twice on one port → WSAEADDRINUSE; INADDR_ANY and a specific
 * address on one port both bind, in either order).
 */
import { describe, expect, it } from 'vitest';
import {
  EPHEMERAL_FIRST, EPHEMERAL_LAST, HostPortTable, SocketError, WSAEADDRINUSE, WSAEADDRNOTAVAIL, WSAEFAULT, WSAEINVAL, WSAENOBUFS,
} from '../../src/switch/index.ts';
import { boundOn, connect, IP_A, IP_B, secondApp, switchPair, teardownWithoutLeaks, wsaOf } from './fixture.ts';

describe('bind', () => {
  it('WSAEFAULT for a name that is no IPv4 address and port; WSAEADDRNOTAVAIL for an address of no interface (Wine test_bind); nothing is taken', async () => {
    const p = switchPair();
    const sw = p.b.sw;
    const s = sw.socket();
    for (const bad of [null, undefined, 5, { ip: 'nope', port: 1 }, { ip: IP_B, port: 65536 }, { ip: IP_B, port: -1 }, { ip: IP_B }]) {
      expect(await wsaOf(() => sw.bind(s, bad as never))).toBe(WSAEFAULT);
    }
    expect(await wsaOf(() => sw.bind(s, { ip: '192.0.2.0', port: 7400 }))).toBe(WSAEADDRNOTAVAIL);
    // IP_A is the other host's address, not this one's.
    expect(await wsaOf(() => sw.bind(s, { ip: IP_A, port: 7400 }))).toBe(WSAEADDRNOTAVAIL);
    expect(boundOn(p.b.host)).toBe(0);
    sw.bind(s, { ip: IP_B, port: 7400 });
    expect(sw.getsockname(s)).toEqual({ ip: IP_B, port: 7400 });
    await teardownWithoutLeaks(p);
  });

  it('a socket binds once: WSAEINVAL the second time, also on a listening or connected socket (Wine test_bind)', async () => {
    const p = switchPair();
    const { c, s, listener } = await connect(p);
    const t = p.b.sw.socket();
    p.b.sw.bind(t, { ip: IP_B, port: 7401 });
    expect(await wsaOf(() => p.b.sw.bind(t, { ip: IP_B, port: 7401 }))).toBe(WSAEINVAL);
    expect(await wsaOf(() => p.b.sw.bind(t, { ip: IP_B, port: 7402 }))).toBe(WSAEINVAL);
    expect(p.b.sw.getsockname(t).port).toBe(7401);
    for (const [sw, sock] of [[p.b.sw, listener], [p.b.sw, s], [p.a.sw, c]] as const) {
      expect(await wsaOf(() => sw.bind(sock, { ip: 0, port: 7403 }))).toBe(WSAEINVAL);
    }
    await teardownWithoutLeaks(p);
  });

  it('WSAEADDRINUSE at bind — not later at listen — for an address another socket holds; free again after closesocket (Wine test_bind, test_listen)', async () => {
    const p = switchPair();
    const sw = p.b.sw;
    const first = sw.socket();
    sw.bind(first, { ip: IP_B, port: 0 });
    const held = sw.getsockname(first);
    expect(held.port).toBeGreaterThanOrEqual(EPHEMERAL_FIRST);
    const second = sw.socket();
    expect(await wsaOf(() => sw.bind(second, held))).toBe(WSAEADDRINUSE);
    // The failed bind took nothing and left the socket unbound: listen is WSAEINVAL (test_listen).
    expect(boundOn(p.b.host)).toBe(1);
    expect(await wsaOf(() => sw.listen(second))).toBe(WSAEINVAL);
    // Listening changes nothing: still WSAEADDRINUSE at bind.
    sw.listen(first);
    const third = sw.socket();
    expect(await wsaOf(() => sw.bind(third, held))).toBe(WSAEADDRINUSE);
    await sw.closesocket(first);
    expect(boundOn(p.b.host)).toBe(0);
    sw.bind(third, held);
    sw.listen(third);
    await teardownWithoutLeaks(p);
  });

  it('the host is one address space: another process binding the same address gets WSAEADDRINUSE; process exit gives it back', async () => {
    const p = switchPair();
    const other = secondApp(p.b.host, 'other');
    const s = p.b.sw.socket();
    p.b.sw.bind(s, { ip: IP_B, port: 7410 });
    const t = other.sw.socket();
    expect(await wsaOf(() => other.sw.bind(t, { ip: IP_B, port: 7410 }))).toBe(WSAEADDRINUSE);
    // Port 0 in two processes: two different ports, and both listen (each provider used to start at 49152).
    const u = other.sw.socket();
    other.sw.bind(u, { ip: IP_B, port: 0 });
    const v = p.b.sw.socket();
    p.b.sw.bind(v, { ip: IP_B, port: 0 });
    const uPort = other.sw.getsockname(u).port;
    expect(uPort).not.toBe(p.b.sw.getsockname(v).port);
    other.sw.listen(u);
    p.b.sw.listen(v);
    expect(boundOn(p.b.host)).toBe(3);
    // The other process exits without closing anything: its bindings go with it.
    expect(p.b.host.kernel.ps.terminateProcess(other.process, 0)).toBe(0);
    expect(boundOn(p.b.host)).toBe(2);
    p.b.sw.bind(p.b.sw.socket(), { ip: IP_B, port: uPort });
    await teardownWithoutLeaks(p);
    expect(boundOn(p.b.host)).toBe(0);
  });

  it('INADDR_ANY: twice on one port is WSAEADDRINUSE; with a specific address on the same port both bind, in either order (Wine test_reuseaddr)', async () => {
    const p = switchPair();
    const sw = p.b.sw;
    const any1 = sw.socket();
    sw.bind(any1, { ip: 0, port: 7420 });
    expect(sw.getsockname(any1)).toEqual({ ip: '0.0.0.0', port: 7420 });
    expect(await wsaOf(() => sw.bind(sw.socket(), { ip: '0.0.0.0', port: 7420 }))).toBe(WSAEADDRINUSE);
    sw.bind(sw.socket(), { ip: IP_B, port: 7420 });
    const specific = sw.socket();
    sw.bind(specific, { ip: IP_B, port: 7421 });
    sw.bind(sw.socket(), { ip: 0, port: 7421 });
    expect(await wsaOf(() => sw.bind(sw.socket(), { ip: IP_B, port: 7421 }))).toBe(WSAEADDRINUSE);
    await teardownWithoutLeaks(p);
  });

  it('the ephemeral range: port 0 takes a port no socket of the host holds; none left is WSAENOBUFS', () => {
    const t = new HostPortTable();
    const taken = new Set<number>();
    for (let i = 0; i <= EPHEMERAL_LAST - EPHEMERAL_FIRST; i++) {
      const b = t.bind(i % 2, 0);
      expect('port' in b).toBe(true);
      const port = (b as { port: number }).port;
      expect(taken.has(port)).toBe(false);
      taken.add(port);
    }
    expect(t.bind(0, 0)).toEqual({ error: WSAENOBUFS });
    expect(t.size).toBe(EPHEMERAL_LAST - EPHEMERAL_FIRST + 1);
  });

  it('never throws anything but a SocketError', async () => {
    const p = switchPair();
    for (const args of [[undefined, undefined], ['x', { ip: IP_B, port: 1 }], [Number.NaN, {}], [{}, null]]) {
      let thrown: unknown = null;
      try {
        p.b.sw.bind(args[0] as never, args[1] as never);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(SocketError);
    }
    await teardownWithoutLeaks(p);
  });
});
