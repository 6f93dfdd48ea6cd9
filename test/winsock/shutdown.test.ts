/**
 * shutdown (the switch's socket call).
 * Sources: Winsock "shutdown function" (WSAENOTCONN: not connected; WSAEINVAL: how is not SD_RECEIVE,
 * SD_SEND or SD_BOTH; after SD_RECEIVE "subsequent calls to the recv function on the socket will be
 * disallowed", after SD_SEND subsequent sends are, and the peer reads the data sent before, then the
 * FIN); "Shutting Down a SAN Connection" (the switch handles shutdown with its session protocol and
 * does not forward it to the SAN provider); Wine dlls/ws2_32/tests/sock.c test_shutdown (unconnected
 * and listening sockets → WSAENOTCONN for SD_SEND and SD_RECEIVE; SD_SEND twice succeeds; send after
 * SD_SEND → WSAESHUTDOWN; the peer's recv returns 0, and 0 again; recv after SD_RECEIVE →
 * WSAESHUTDOWN, repeatedly, even after the peer's FIN was read; the side that shut its receiving down
 * still sends; SD_BOTH refuses both directions; how 0xdeadbeef → WSAEINVAL).
 */
import { describe, expect, it } from 'vitest';
import { SD_BOTH, SD_RECEIVE, SD_SEND, WSAEINVAL, WSAENOTCONN, WSAENOTSOCK, WSAESHUTDOWN } from '../../src/switch/index.ts';
import { connect, IP_B, readUser, recvAll, switchPair, teardownWithoutLeaks, userBuffer, wsaOf } from './fixture.ts';

describe('shutdown', () => {
  it('WSAENOTCONN on unconnected and listening sockets; WSAEINVAL for an unknown how; WSAENOTSOCK on no socket (Wine test_shutdown)', async () => {
    const p = switchPair();
    const { c, listener } = await connect(p);
    const fresh = p.a.sw.socket();
    const bound = p.b.sw.socket();
    p.b.sw.bind(bound, { ip: IP_B, port: 7800 });
    for (const how of [SD_SEND, SD_RECEIVE]) {
      expect(await wsaOf(() => p.a.sw.shutdown(fresh, how))).toBe(WSAENOTCONN);
      expect(await wsaOf(() => p.b.sw.shutdown(bound, how))).toBe(WSAENOTCONN);
      expect(await wsaOf(() => p.b.sw.shutdown(listener, how))).toBe(WSAENOTCONN);
    }
    for (const how of [0xdeadbeef, 3, -1, '1', null]) expect(await wsaOf(() => p.a.sw.shutdown(c, how as never))).toBe(WSAEINVAL);
    expect(await wsaOf(() => p.a.sw.shutdown(0xdeadbeef, SD_SEND))).toBe(WSAENOTSOCK);
    await teardownWithoutLeaks(p);
  });

  it('the sequence of Wine test_shutdown: SD_SEND twice, the peer reads 0 twice, SD_RECEIVE refuses recv, the other direction still works', async () => {
    const p = switchPair();
    const { c: client, s: server } = await connect(p);
    const cbuf = userBuffer(p.a.process, 64);
    const sbuf = userBuffer(p.b.process, 64);
    p.a.process.writeMemory(cbuf, new TextEncoder().encode('test\0'));
    p.b.process.writeMemory(sbuf, new TextEncoder().encode('test\0'));
    await p.a.sw.shutdown(client, SD_SEND);
    await p.a.sw.shutdown(client, SD_SEND);
    expect(await wsaOf(() => p.a.sw.send(client, cbuf, 5))).toBe(WSAESHUTDOWN);
    expect(await p.b.sw.recv(server, sbuf + 8, 5)).toBe(0);
    expect(await p.b.sw.recv(server, sbuf + 8, 5)).toBe(0);
    await p.b.sw.shutdown(server, SD_RECEIVE);
    expect(await wsaOf(() => p.b.sw.recv(server, sbuf + 8, 5))).toBe(WSAESHUTDOWN);
    expect(await p.b.sw.send(server, sbuf, 5)).toBe(5);
    const into = cbuf + 16;
    expect(await recvAll(p.a.sw, client, into, 5)).toBe(5);
    expect(new TextDecoder().decode(readUser(p.a.process, into, 4))).toBe('test');
    await p.a.sw.shutdown(client, SD_RECEIVE);
    expect(await wsaOf(() => p.a.sw.recv(client, into, 5))).toBe(WSAESHUTDOWN);
    expect(await wsaOf(() => p.a.sw.recv(client, into, 5))).toBe(WSAESHUTDOWN);
    await p.b.sw.shutdown(server, SD_SEND);
    expect(await wsaOf(() => p.b.sw.send(server, sbuf, 5))).toBe(WSAESHUTDOWN);
    await teardownWithoutLeaks(p);
  });

  it('SD_BOTH refuses recv and send with WSAESHUTDOWN; the peer reads 0, then can shut down both too (Wine test_shutdown)', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    const ca = userBuffer(p.a.process, 16);
    const sb = userBuffer(p.b.process, 16);
    await p.a.sw.shutdown(c, SD_BOTH);
    expect(await wsaOf(() => p.a.sw.recv(c, ca, 5))).toBe(WSAESHUTDOWN);
    expect(await wsaOf(() => p.a.sw.send(c, ca, 5))).toBe(WSAESHUTDOWN);
    expect(await p.b.sw.recv(s, sb, 5)).toBe(0);
    await p.b.sw.shutdown(s, SD_BOTH);
    expect(await wsaOf(() => p.b.sw.recv(s, sb, 5))).toBe(WSAESHUTDOWN);
    expect(await wsaOf(() => p.b.sw.send(s, sb, 5))).toBe(WSAESHUTDOWN);
    await teardownWithoutLeaks(p);
  });

  it('a recv already waiting when SD_RECEIVE comes still completes with the data (Wine test_shutdown, pending WSARecv)', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    const into = userBuffer(p.a.process, 16);
    const from = userBuffer(p.b.process, 16);
    p.b.process.writeMemory(from, new TextEncoder().encode('test\0'));
    const waiting = p.a.sw.recv(c, into, 16);
    await p.a.sw.shutdown(c, SD_RECEIVE);
    expect(await wsaOf(() => p.a.sw.recv(c, into, 16))).toBe(WSAESHUTDOWN);
    expect(await p.b.sw.send(s, from, 5)).toBe(5);
    expect(await waiting).toBe(5);
    expect(new TextDecoder().decode(readUser(p.a.process, into, 4))).toBe('test');
    await teardownWithoutLeaks(p);
  });

  it('sends queued before SD_SEND still reach the peer, then its recv returns 0', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    const n = 300_000;
    const src = userBuffer(p.a.process, n);
    const dst = userBuffer(p.b.process, n);
    p.a.process.writeMemory(src, new Uint8Array(n).fill(0x41));
    const sending = p.a.sw.send(c, src, n);
    const shutting = p.a.sw.shutdown(c, SD_SEND);
    // The shutdown is in force at once for later sends.
    expect(await wsaOf(() => p.a.sw.send(c, src, 1))).toBe(WSAESHUTDOWN);
    expect(await recvAll(p.b.sw, s, dst, n)).toBe(n);
    expect(await sending).toBe(n);
    await shutting;
    expect(await p.b.sw.recv(s, dst, 10)).toBe(0);
    expect(readUser(p.b.process, dst, n).every((x) => x === 0x41)).toBe(true);
    await teardownWithoutLeaks(p);
  });
});
