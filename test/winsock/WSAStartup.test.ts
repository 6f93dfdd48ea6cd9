/**
 * WSAStartup (the switch's; its constructor is the process's first WSAStartup).
 * Sources: Winsock "WSAStartup function" (an application may call it more than once; each call needs
 * a WSACleanup; WSASYSNOTREADY when the network subsystem is not ready); "WSACleanup function" (only
 * the final WSACleanup cleans up; the preceding ones decrement a reference count); Wine
 * dlls/ws2_32/tests/sock.c test_WithWSAStartup (start-up, sockets, clean-up, start-up again: the old
 * sockets are WSAENOTSOCK; then one clean-up succeeds and the next is WSANOTINITIALISED).
 */
import { describe, expect, it } from 'vitest';
import { createCluster } from '../../src/host/index.ts';
import { SocketError, WindowsSocketsSwitch, WSAENOTSOCK, WSANOTINITIALISED, WSASYSNOTREADY } from '../../src/switch/index.ts';
import { boundOn, connect, IP_B, MIB, providerSockets, readUser, recvAll, switchPair, teardownWithoutLeaks, userBuffer, wsaOf } from './fixture.ts';

describe('WSAStartup', () => {
  it('counts: after two WSAStartup, one WSACleanup leaves every socket and connection working', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    p.a.sw.WSAStartup();
    await p.a.sw.WSACleanup();
    const src = userBuffer(p.a.process, 4096);
    const dst = userBuffer(p.b.process, 4096);
    p.a.process.writeMemory(src, new Uint8Array([1, 2, 3, 4]));
    expect(await p.a.sw.send(c, src, 4)).toBe(4);
    expect(await recvAll(p.b.sw, s, dst, 4)).toBe(4);
    expect([...readUser(p.b.process, dst, 4)]).toEqual([1, 2, 3, 4]);
    await teardownWithoutLeaks(p);
  });

  it('after the last WSACleanup a WSAStartup starts the switch again: old sockets are WSAENOTSOCK, new ones connect (Wine test_WithWSAStartup)', async () => {
    const p = switchPair();
    const { c, listener } = await connect(p);
    await p.a.sw.WSACleanup();
    await p.b.sw.WSACleanup();
    expect(providerSockets(p)).toBe(0);
    expect(boundOn(p.b.host)).toBe(0);
    p.a.sw.WSAStartup();
    p.b.sw.WSAStartup();
    expect(await wsaOf(() => p.a.sw.send(c, userBuffer(p.a.process, 1), 1))).toBe(WSAENOTSOCK);
    expect(await wsaOf(() => p.b.sw.getsockname(listener))).toBe(WSAENOTSOCK);
    const again = await connect(p, 5001);
    const src = userBuffer(p.a.process, MIB);
    const dst = userBuffer(p.b.process, MIB);
    p.a.process.writeMemory(src, new Uint8Array(MIB).fill(0x3c));
    const [sent, got] = await Promise.all([p.a.sw.send(again.c, src, MIB), recvAll(p.b.sw, again.s, dst, MIB)]);
    expect([sent, got]).toEqual([MIB, MIB]);
    expect(readUser(p.b.process, dst, MIB).every((x) => x === 0x3c)).toBe(true);
    expect(p.a.sw.pathOf(again.c)).toBe('san');
    await teardownWithoutLeaks(p);
  });

  it('WSASYSNOTREADY when no provider can start (no proxy driver, no TCP stand-in); WSANOTINITIALISED once the process exited', async () => {
    const cluster = createCluster({ hosts: [{ name: 'h', ramBytes: 1024 * MIB, nics: [{ addressBits: 64, ip: IP_B }] }] });
    const host = cluster.hosts[0]!;
    const process = host.createProcess('app');
    let error: unknown = null;
    try {
      new WindowsSocketsSwitch({ host, process });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SocketError);
    expect((error as SocketError).code).toBe(WSASYSNOTREADY);
    const p = switchPair();
    expect(p.a.host.kernel.ps.terminateProcess(p.a.process, 0)).toBe(0);
    expect(await wsaOf(() => p.a.sw.WSAStartup())).toBe(WSANOTINITIALISED);
    expect(await wsaOf(() => p.a.sw.socket())).toBe(WSANOTINITIALISED);
  });
});
