/**
 * WSPSocket (the SAN provider's) and garbage in to every WSP routine the switch calls.
 * Sources: Windows Sockets Direct reference "WSPSocket function" (ff566319); Winsock SPI "LPWSPSOCKET"
 * (WSAEAFNOSUPPORT, WSAEPROTONOSUPPORT, WSAESOCKTNOSUPPORT, WSAEINVAL); "Creating and Binding SAN
 * Sockets" (the switch asks a SAN provider for TCP stream sockets only); Wine dlls/ws2_32/tests/sock.c
 * test_WSASocket (which error Windows gives for each bad (family, type, protocol) triple — the rows for
 * IPv4 streams are carried over below; AF_UNSPEC and datagram rows are ws2_32 catalog work the switch
 * never hands a SAN provider).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ref } from '../../src/kernel/ref.ts';
import {
  AF_INET, INVALID_SOCKET, IPPROTO_TCP, SOCK_STREAM, WSAEAFNOSUPPORT, WSAEINVAL, WSAEPROTONOSUPPORT, WSAESOCKTNOSUPPORT,
} from '../../src/provider/index.ts';
import { connectedPair, oneHost, startProvider } from './fixture.ts';

const IPPROTO_UDP = 17;
const SOCK_DGRAM = 2;

describe('WSPSocket', () => {
  it('the error for each bad (family, type, protocol), as Windows orders them (Wine test_WSASocket)', () => {
    const { host } = oneHost();
    const { provider } = startProvider(host, 'app');
    const rows: [number, number, number, number][] = [
      [0xdead, SOCK_STREAM, IPPROTO_TCP, WSAEAFNOSUPPORT],
      [-1, SOCK_STREAM, IPPROTO_TCP, WSAEAFNOSUPPORT],
      [AF_INET, 0xdead, IPPROTO_TCP, WSAESOCKTNOSUPPORT],
      [AF_INET, -1, IPPROTO_TCP, WSAESOCKTNOSUPPORT],
      [AF_INET, SOCK_STREAM, 0xdead, WSAEPROTONOSUPPORT],
      [AF_INET, SOCK_STREAM, -1, WSAEPROTONOSUPPORT],
      [0xdead, 0xdead, IPPROTO_TCP, WSAESOCKTNOSUPPORT],
      [0xdead, SOCK_STREAM, 0xdead, WSAEAFNOSUPPORT],
      [AF_INET, 0xdead, 0xdead, WSAESOCKTNOSUPPORT],
      [0xdead, SOCK_STREAM, IPPROTO_UDP, WSAEAFNOSUPPORT],
      [AF_INET, 0xdead, 0, WSAESOCKTNOSUPPORT],
      [AF_INET, 0, 0xdead, WSAEPROTONOSUPPORT],
      [AF_INET, SOCK_STREAM, IPPROTO_UDP, WSAEPROTONOSUPPORT],
      [AF_INET, SOCK_DGRAM, IPPROTO_TCP, WSAEPROTONOSUPPORT],
    ];
    const e = ref(0);
    for (const [af, type, protocol, error] of rows) {
      e.value = 0;
      expect(provider.WSPSocket(af, type, protocol, null, 0, 0, e)).toBe(INVALID_SOCKET);
      expect([af, type, protocol, e.value]).toEqual([af, type, protocol, error]);
    }
    expect(provider.counters.sockets).toBe(0);
    // A TCP stream: (AF_INET, SOCK_STREAM, 0 | IPPROTO_TCP) and type 0 with TCP or protocol 0.
    for (const [type, protocol] of [[SOCK_STREAM, 0], [SOCK_STREAM, IPPROTO_TCP], [0, IPPROTO_TCP], [0, 0]] as const) {
      expect(provider.WSPSocket(AF_INET, type, protocol, null, 0, 0, e)).toBeGreaterThan(0);
    }
    // Reserved arguments: a protocol info, a group or a flags value that is no DWORD are WSAEINVAL.
    for (const [info, g, flags] of [[{}, 0, 0], [null, 1, 0], [null, 0, -1]] as const) {
      expect(provider.WSPSocket(AF_INET, SOCK_STREAM, 0, info as never, g, flags, e)).toBe(INVALID_SOCKET);
      expect(e.value).toBe(WSAEINVAL);
    }
  });

  it('property: junk to WSPSocket, WSPConnect, WSPAccept, WSPCloseSocket, WSPCleanup gives an error code, never a TypeError', async () => {
    const { a } = await connectedPair();
    const p = a.provider;
    const junk = fc.oneof(fc.anything(), fc.integer(), fc.constantFrom(0, -1, Number.NaN, null, undefined, 0xdeadbeef, { ip: 1, port: 2 }));
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 4 }), fc.array(junk, { minLength: 7, maxLength: 7 }), fc.boolean(),
      async (which, x, withErrno) => {
        const e = withErrno ? ref(0) : x[6];
        let r: unknown;
        switch (which) {
          case 0: r = p.WSPSocket(x[0] as never, x[1] as never, x[2] as never, x[3] as never, x[4] as never, x[5] as never, e as never); break;
          case 1: r = await p.WSPConnect(x[0] as never, x[1] as never, e as never); break;
          case 2: r = await p.WSPAccept(x[0] as never, x[1] as never, e as never); break;
          case 3: r = p.WSPCloseSocket(x[0] === a.s ? 0 : (x[0] as never), e as never); break;
          // (A junk object that happens to have `value` would be a real lpErrno and clean up for real.)
          default: r = withErrno || (typeof x[0] === 'object' && x[0] !== null && 'value' in x[0]) ? 0 : p.WSPCleanup(x[0] as never);
        }
        expect(typeof r).toBe('number');
      }), { numRuns: 500 });
    // The connection survived.
    expect(p.socketInfo(a.s)?.state).toBe('connected');
  });
});
