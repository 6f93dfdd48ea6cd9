/**
 * WSPAccept (the SAN provider's).
 * Sources: Windows Sockets Direct reference "WSPAccept function"; Winsock SPI "LPWSPACCEPT" (WSAEINVAL:
 * "WSPListen was not invoked prior to WSPAccept"; WSAEWOULDBLOCK: no connection to accept;
 * WSAENOTSOCK; WSAEFAULT for a bad addr / addrlen); "Accepting Connection Requests"; Wine
 * dlls/ws2_32/tests/sock.c test_accept (accept takes a pending connection; the peer's address is
 * returned when asked for).
 */
import { describe, expect, it } from 'vitest';
import { ref } from '../../src/kernel/ref.ts';
import {
  INVALID_SOCKET, NO_ERROR, WSAEFAULT, WSAEINVAL, WSAENOTSOCK, WSAEWOULDBLOCK, type SockAddr,
} from '../../src/provider/index.ts';
import { IP_A, IP_B, PORT } from '../provider/harness.ts';
import { connectedPair, ip, socket } from './fixture.ts';

describe('WSPAccept', () => {
  it('WSAEINVAL on a socket that is not listening (unbound, bound, connected); WSAENOTSOCK on no socket', async () => {
    const { a, b } = await connectedPair();
    const e = ref(0);
    const unbound = socket(b.provider);
    const bound = socket(b.provider);
    expect(b.provider.WSPBind(bound, { ip: ip(IP_B), port: PORT + 5 }, e)).toBe(NO_ERROR);
    for (const s of [unbound, bound, b.s]) {
      expect(await b.provider.WSPAccept(s, null, e)).toBe(INVALID_SOCKET);
      expect(e.value).toBe(WSAEINVAL);
    }
    expect(await a.provider.WSPAccept(0xdeadbeef, null, e)).toBe(INVALID_SOCKET);
    expect(e.value).toBe(WSAENOTSOCK);
  });

  it('WSAEWOULDBLOCK with nothing pending once the machine is idle; a pending request is accepted with the peer address; addr must be an out parameter', async () => {
    const { a, b, listener } = await connectedPair();
    const e = ref(0);
    const before = b.provider.counters.sockets;
    expect(await b.provider.WSPAccept(listener, null, e)).toBe(INVALID_SOCKET);
    expect(e.value).toBe(WSAEWOULDBLOCK);
    expect(await b.provider.WSPAccept(listener, 'addr' as never, e)).toBe(INVALID_SOCKET);
    expect(e.value).toBe(WSAEFAULT);
    expect(b.provider.counters.sockets).toBe(before);
    const s = socket(a.provider);
    const connecting = a.provider.WSPConnect(s, { ip: ip(IP_B), port: PORT }, ref(0));
    const addr = ref<SockAddr | null>(null);
    const accepted = await b.provider.WSPAccept(listener, addr, e);
    expect(accepted).not.toBe(INVALID_SOCKET);
    expect(addr.value?.ip).toBe(ip(IP_A));
    expect(await connecting).toBe(NO_ERROR);
  });
});
