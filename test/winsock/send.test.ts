/**
 * send (the switch's socket call).
 * Sources: Winsock "send function" (WSAESHUTDOWN: "It is not possible to send on a socket after
 * shutdown has been invoked with how set to SD_SEND or SD_BOTH"; WSAENOTCONN; WSAEFAULT; WSAENOTSOCK;
 * a zero-length send returns 0); Wine dlls/ws2_32/tests/sock.c test_shutdown (send after SD_SEND →
 * WSAESHUTDOWN), test_DisconnectEx (also after the connection was disconnected).
 */
import { describe, expect, it } from 'vitest';
import { SD_BOTH, SD_SEND, WSAEFAULT, WSAENOTCONN, WSAENOTSOCK, WSAESHUTDOWN } from '../../src/switch/index.ts';
import { connect, switchPair, teardownWithoutLeaks, userBuffer, wsaOf } from './fixture.ts';

describe('send', () => {
  it('a zero-length send returns 0 and moves nothing; the peer still waits for real bytes', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    const buf = userBuffer(p.a.process, 16);
    const messages = p.a.sw.counters.controlMessages;
    expect(await p.a.sw.send(c, buf, 0)).toBe(0);
    expect(p.a.sw.counters.controlMessages).toBe(messages);
    expect(await p.a.sw.send(c, buf, 2)).toBe(2);
    expect(await p.b.sw.recv(s, userBuffer(p.b.process, 16), 16)).toBe(2);
    await teardownWithoutLeaks(p);
  });

  it('WSAESHUTDOWN after shutdown(SD_SEND) and after SD_BOTH, for zero-length sends too', async () => {
    for (const how of [SD_SEND, SD_BOTH]) {
      const p = switchPair();
      const { c } = await connect(p);
      const buf = userBuffer(p.a.process, 16);
      await p.a.sw.shutdown(c, how);
      expect(await wsaOf(() => p.a.sw.send(c, buf, 5))).toBe(WSAESHUTDOWN);
      expect(await wsaOf(() => p.a.sw.send(c, buf, 0))).toBe(WSAESHUTDOWN);
      await teardownWithoutLeaks(p);
    }
  });

  it('WSAENOTCONN before connect, WSAENOTSOCK after closesocket, WSAEFAULT for no user buffer', async () => {
    const p = switchPair();
    const { c } = await connect(p);
    const buf = userBuffer(p.a.process, 16);
    expect(await wsaOf(() => p.a.sw.send(p.a.sw.socket(), buf, 1))).toBe(WSAENOTCONN);
    expect(await wsaOf(() => p.a.sw.send(c, 0, 1))).toBe(WSAEFAULT);
    expect(await wsaOf(() => p.a.sw.send(c, buf, 1.5))).toBe(WSAEFAULT);
    await p.a.sw.closesocket(c);
    expect(await wsaOf(() => p.a.sw.send(c, buf, 1))).toBe(WSAENOTSOCK);
    await teardownWithoutLeaks(p);
  });
});
