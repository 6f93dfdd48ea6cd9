/**
 * WSPBind (the SAN provider's).
 * Sources: Windows Sockets Direct reference "WSPBind function" (ff566268: "s: Descriptor that
 * identifies an unbound socket"; WSAEADDRNOTAVAIL "Specified address is not a valid address for the
 * computer", WSAEFAULT for a name that is not a sockaddr_in, WSAENETDOWN); Winsock SPI "LPWSPBIND"
 * (WSAEINVAL: the socket is already bound; WSAENOTSOCK); "Creating and Binding SAN Sockets" (the switch
 * gives the companion socket a fully qualified address and a nonzero port, or the wildcard address for
 * a listener on every NIC); Wine dlls/ws2_32/tests/sock.c test_bind (NULL name → WSAEFAULT, an address
 * of no interface → WSAEADDRNOTAVAIL, a second bind of the same socket → WSAEINVAL).
 * Address reuse (WSAEADDRINUSE) is the switch's, with the TCP/IP provider (WSPListen page):
 * test/winsock/bind.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ref } from '../../src/kernel/ref.ts';
import { NO_ERROR, SOCKET_ERROR, WSAEADDRNOTAVAIL, WSAEFAULT, WSAEINVAL, WSAENOTSOCK } from '../../src/provider/index.ts';
import { connectedPair, expectNoLeaks, ip, oneHost, socket, startProvider } from './fixture.ts';

describe('WSPBind', () => {
  it('WSAEFAULT for a name that is no sockaddr_in; WSAEADDRNOTAVAIL for an address of no NIC; nothing is made on failure', () => {
    const { host, baseline } = oneHost();
    const { process, provider } = startProvider(host, 'app');
    const s = socket(provider);
    const e = ref(0);
    for (const bad of [null, undefined, 7, { ip: -1, port: 1 }, { ip: 1, port: 0x10000 }, { ip: 'x', port: 1 }]) {
      expect(provider.WSPBind(s, bad as never, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEFAULT);
    }
    // 192.0.2.0 (TEST-NET-1) is no address of this host (the address Wine test_bind uses).
    expect(provider.WSPBind(s, { ip: ip('192.0.2.0'), port: 7200 }, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEADDRNOTAVAIL);
    // The failures made no endpoint: the socket is still unbound and can be bound.
    expect(provider.socketInfo(s)).toMatchObject({ state: 'created', endpoint: 0 });
    expect(provider.WSPBind(s, { ip: ip('10.0.0.1'), port: 7200 }, e)).toBe(NO_ERROR);
    expect(provider.WSPCleanup(e)).toBe(NO_ERROR);
    expectNoLeaks(host, process, baseline);
  });

  it('a socket binds once: a second WSPBind is WSAEINVAL and keeps the first address (Wine test_bind)', () => {
    const { host } = oneHost();
    const { provider } = startProvider(host, 'app');
    const s = socket(provider);
    const e = ref(0);
    expect(provider.WSPBind(s, { ip: ip('10.0.0.1'), port: 7201 }, e)).toBe(NO_ERROR);
    expect(provider.WSPBind(s, { ip: ip('10.0.0.1'), port: 7202 }, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    expect(provider.socketInfo(s)?.local).toEqual({ ip: ip('10.0.0.1'), port: 7201 });
  });

  it('a connected socket is no unbound socket: WSAEINVAL; a closed one is WSAENOTSOCK', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    expect(a.provider.WSPBind(a.s, { ip: 0, port: 7203 }, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    expect(a.provider.WSPCloseSocket(a.s, e)).toBe(NO_ERROR);
    expect(a.provider.WSPBind(a.s, { ip: 0, port: 7203 }, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAENOTSOCK);
  });
});
