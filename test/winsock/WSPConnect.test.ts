/**
 * WSPConnect (the SAN provider's).
 * Sources: Windows Sockets Direct reference "WSPConnect function" (ff566275: "s: Descriptor that
 * identifies an unconnected socket"); Winsock SPI "LPWSPCONNECT" (WSAEALREADY: a connect is in progress
 * on the socket; WSAEISCONN: already connected; WSAEINVAL: s is a listening socket; WSAEADDRNOTAVAIL:
 * "The remote address is not a valid address (for example, ADDR_ANY)"; WSAEFAULT: the name is not a
 * valid sockaddr; WSAECONNREFUSED, WSAENETUNREACH, WSAETIMEDOUT — after which "the Winsock SPI client
 * can call WSPConnect again for the same socket"); Wine dlls/ws2_32/tests/sock.c
 * test_connecting_socket (a second connect while the first is in progress → WSAEALREADY) and
 * test_errors (a connect to a port nobody listens on → WSAECONNREFUSED).
 */
import { describe, expect, it } from 'vitest';
import { ref } from '../../src/kernel/ref.ts';
import {
  NO_ERROR, SOCKET_ERROR, WSAEADDRNOTAVAIL, WSAEALREADY, WSAECONNREFUSED, WSAEFAULT, WSAEINVAL, WSAEISCONN, WSAENOTSOCK,
} from '../../src/provider/index.ts';
import { IP_B, PORT } from '../provider/harness.ts';
import { connectedPair, ip, socket } from './fixture.ts';

describe('WSPConnect', () => {
  it('WSAEALREADY while the socket is connecting; the first connect completes all the same (Wine test_connecting_socket)', async () => {
    const { a, b, listener } = await connectedPair();
    const s = socket(a.provider);
    const e1 = ref(0);
    const first = a.provider.WSPConnect(s, { ip: ip(IP_B), port: PORT }, e1);
    const e2 = ref(0);
    expect(await a.provider.WSPConnect(s, { ip: ip(IP_B), port: PORT }, e2)).toBe(SOCKET_ERROR);
    expect(e2.value).toBe(WSAEALREADY);
    const eb = ref(0);
    const accepted = b.provider.WSPAccept(listener, null, eb);
    expect(await first).toBe(NO_ERROR);
    expect(await accepted).toBeGreaterThan(0);
    // Connected now: WSAEISCONN.
    expect(await a.provider.WSPConnect(s, { ip: ip(IP_B), port: PORT }, e2)).toBe(SOCKET_ERROR);
    expect(e2.value).toBe(WSAEISCONN);
  });

  it('WSAEINVAL on a listening socket; WSAEADDRNOTAVAIL for INADDR_ANY or port 0; WSAEFAULT for a name that is no sockaddr_in', async () => {
    const { a, b, listener } = await connectedPair();
    const e = ref(0);
    expect(await b.provider.WSPConnect(listener, { ip: ip('10.0.0.1'), port: PORT }, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    const s = socket(a.provider);
    for (const to of [{ ip: 0, port: PORT }, { ip: ip(IP_B), port: 0 }]) {
      expect(await a.provider.WSPConnect(s, to, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEADDRNOTAVAIL);
    }
    for (const bad of [null, 'x', { ip: ip(IP_B) }, { ip: 2 ** 32, port: PORT }]) {
      expect(await a.provider.WSPConnect(s, bad as never, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEFAULT);
    }
    // None of these made an endpoint.
    expect(a.provider.socketInfo(s)).toMatchObject({ state: 'created', endpoint: 0 });
    expect(await a.provider.WSPConnect(0xdeadbeef, { ip: ip(IP_B), port: PORT }, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAENOTSOCK);
  });

  it('WSAECONNREFUSED when nobody listens on the port (Wine test_errors); the socket may connect again', async () => {
    const { a, b, listener } = await connectedPair();
    const s = socket(a.provider);
    const e = ref(0);
    expect(await a.provider.WSPConnect(s, { ip: ip(IP_B), port: PORT + 1 }, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAECONNREFUSED);
    expect(a.provider.socketInfo(s)).toMatchObject({ state: 'created', endpoint: 0 });
    const eb = ref(0);
    const connecting = a.provider.WSPConnect(s, { ip: ip(IP_B), port: PORT }, e);
    expect(await b.provider.WSPAccept(listener, null, eb)).toBeGreaterThan(0);
    expect(await connecting).toBe(NO_ERROR);
  });
});
