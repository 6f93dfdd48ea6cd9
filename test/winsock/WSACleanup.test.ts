/**
 * WSACleanup (the switch's).
 * Sources: Winsock "WSACleanup function" (WSANOTINITIALISED without a successful WSAStartup; "There
 * must be a call to WSACleanup for each successful call to WSAStartup. Only the final WSACleanup
 * function call performs the actual cleanup"; sockets open at that moment are reset and deallocated
 * as if closesocket were called; pending blocking calls are cancelled); Wine dlls/ws2_32/tests/sock.c
 * test_WithWSAStartup (a clean-up too many: SOCKET_ERROR with WSANOTINITIALISED; sockets of before
 * are WSAENOTSOCK after the next start-up).
 */
import { describe, expect, it } from 'vitest';
import { WSANOTINITIALISED } from '../../src/switch/index.ts';
import { boundOn, connect, IP_B, providerSockets, switchPair, teardownWithoutLeaks, userBuffer, wsaOf } from './fixture.ts';

describe('WSACleanup', () => {
  it('one too many is WSANOTINITIALISED, and so is every socket call after the last one', async () => {
    const p = switchPair();
    const { c } = await connect(p);
    p.a.sw.WSAStartup();
    await p.a.sw.WSACleanup();
    await p.a.sw.WSACleanup();
    expect(await wsaOf(() => p.a.sw.WSACleanup())).toBe(WSANOTINITIALISED);
    expect(await wsaOf(() => p.a.sw.socket())).toBe(WSANOTINITIALISED);
    expect(await wsaOf(() => p.a.sw.send(c, userBuffer(p.a.process, 1), 1))).toBe(WSANOTINITIALISED);
    expect(await wsaOf(() => p.a.sw.closesocket(c))).toBe(WSANOTINITIALISED);
    expect(await wsaOf(() => p.a.sw.bind(12345, { ip: 0, port: 1 }))).toBe(WSANOTINITIALISED);
    // Balance the books for the teardown: start once more.
    p.a.sw.WSAStartup();
    await teardownWithoutLeaks(p);
  });

  it('the last one closes every socket as closesocket does: bindings go back to the host, blocked calls fail, providers hold nothing', async () => {
    const p = switchPair();
    const { s, listener } = await connect(p);
    const extra = p.b.sw.socket();
    p.b.sw.bind(extra, { ip: IP_B, port: 0 });
    expect(boundOn(p.b.host)).toBe(2);
    const blocked = p.b.sw.recv(s, userBuffer(p.b.process, 100), 100).catch((e: unknown) => e);
    const accepting = p.b.sw.accept(listener).catch((e: unknown) => e);
    await p.b.sw.WSACleanup();
    expect(await blocked).toMatchObject({ name: 'SocketError' });
    expect(await accepting).toMatchObject({ name: 'SocketError' });
    expect(boundOn(p.b.host)).toBe(0);
    expect(p.b.sw.counters.sockets).toBe(0);
    p.b.sw.WSAStartup();
    await teardownWithoutLeaks(p);
    expect(providerSockets(p)).toBe(0);
  });
});
