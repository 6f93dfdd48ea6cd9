/**
 * WSPListen (the SAN provider's).
 * Sources: Windows Sockets Direct reference "WSPListen function" (ff566297: "s: a bound, unconnected
 * socket"; WSAEINVAL "The switch did not previously call the SAN service provider's WSPBind function",
 * WSAEISCONN, WSAENOTSOCK; backlog SOMAXCONN lets the provider pick; WSAEADDRINUSE is not the
 * provider's — "the Windows Sockets switch, in conjunction with the TCP/IP provider, handles address
 * reuse"); Winsock "listen function" (backlog SOMAXCONN and SOMAXCONN_HINT(N) = -N);
 * Wine dlls/ws2_32/tests/sock.c test_listen (invalid handles 0 and 0xdeadbeef → WSAENOTSOCK; an unbound
 * socket → WSAEINVAL for backlog -2, 1 and SOMAXCONN; listening twice succeeds).
 */
import { describe, expect, it } from 'vitest';
import { ref } from '../../src/kernel/ref.ts';
import { NO_ERROR, SOCKET_ERROR, WSAEINVAL, WSAEISCONN, WSAENOTSOCK } from '../../src/provider/index.ts';
import { connectedPair, ip, oneHost, socket, SOMAXCONN, SOMAXCONN_HINT, startProvider } from './fixture.ts';

describe('WSPListen', () => {
  it('WSAENOTSOCK for handles that are no socket (0, 0xdeadbeef)', () => {
    const { host } = oneHost();
    const { provider } = startProvider(host, 'app');
    const e = ref(0);
    for (const s of [0, 0xdeadbeef]) {
      expect(provider.WSPListen(s, 1, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAENOTSOCK);
    }
  });

  it('WSAEINVAL on a socket WSPBind did not bind, whatever the backlog (-2, 1, SOMAXCONN); the socket stays unbound', () => {
    const { host } = oneHost();
    const { provider } = startProvider(host, 'app');
    const s = socket(provider);
    const e = ref(0);
    for (const backlog of [-2, 1, SOMAXCONN]) {
      expect(provider.WSPListen(s, backlog, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEINVAL);
    }
    expect(provider.socketInfo(s)).toMatchObject({ state: 'created', endpoint: 0 });
  });

  it('a bound socket listens with any C int backlog (SOMAXCONN, SOMAXCONN_HINT(N) < 0, 0); listening again succeeds', () => {
    const { host } = oneHost();
    const { provider } = startProvider(host, 'app');
    const e = ref(0);
    for (const [i, backlog] of [SOMAXCONN, SOMAXCONN_HINT(200), 0].entries()) {
      const s = socket(provider);
      expect(provider.WSPBind(s, { ip: ip('10.0.0.1'), port: 7300 + i }, e)).toBe(NO_ERROR);
      expect(provider.WSPListen(s, backlog, e)).toBe(NO_ERROR);
      expect(provider.WSPListen(s, SOMAXCONN, e)).toBe(NO_ERROR);
      expect(provider.socketInfo(s)?.state).toBe('listening');
    }
    const s = socket(provider);
    expect(provider.WSPBind(s, { ip: ip('10.0.0.1'), port: 7310 }, e)).toBe(NO_ERROR);
    for (const junk of [1.5, Number.NaN, '5', null, 2 ** 32]) {
      expect(provider.WSPListen(s, junk as never, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEINVAL);
    }
  });

  it('WSAEISCONN on a connected socket', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    expect(a.provider.WSPListen(a.s, 5, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEISCONN);
  });
});
