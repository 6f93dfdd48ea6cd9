/**
 * recv (the switch's socket call).
 * Sources: Winsock "recv function" ("If the connection has been gracefully closed, the return value is
 * zero"; WSAENOTCONN; WSAESHUTDOWN after shutdown with SD_RECEIVE or SD_BOTH; WSAEFAULT for a buffer
 * that is not in user space; WSAENOTSOCK); Wine dlls/ws2_32/tests/sock.c test_shutdown (0 after the
 * peer's shutdown, and 0 again; WSAESHUTDOWN after the own SD_RECEIVE), test_empty_recv (a zero-length
 * receive waits for data, completes with 0 bytes and leaves the data for the next receive).
 */
import { describe, expect, it } from 'vitest';
import { SD_RECEIVE, WSAEFAULT, WSAENOTCONN, WSAENOTSOCK, WSAESHUTDOWN } from '../../src/switch/index.ts';
import { connect, readUser, settle, switchPair, teardownWithoutLeaks, userBuffer, wsaOf } from './fixture.ts';

describe('recv', () => {
  it('returns 0 after the peer closes gracefully, on every call (Wine test_shutdown: 0 twice)', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    const from = userBuffer(p.a.process, 16);
    const into = userBuffer(p.b.process, 16);
    p.a.process.writeMemory(from, new Uint8Array([5, 6, 7]));
    expect(await p.a.sw.send(c, from, 3)).toBe(3);
    await p.a.sw.closesocket(c);
    // The bytes sent before the close come first, then 0 for ever.
    expect(await p.b.sw.recv(s, into, 16)).toBe(3);
    expect([...readUser(p.b.process, into, 3)]).toEqual([5, 6, 7]);
    for (let i = 0; i < 3; i++) expect(await p.b.sw.recv(s, into, 16)).toBe(0);
    await teardownWithoutLeaks(p);
  });

  it('WSAESHUTDOWN after the own shutdown(SD_RECEIVE), also with data waiting (was: 0)', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    const from = userBuffer(p.a.process, 16);
    const into = userBuffer(p.b.process, 16);
    expect(await p.a.sw.send(c, from, 4)).toBe(4);
    await settle(p);
    await p.b.sw.shutdown(s, SD_RECEIVE);
    expect(await wsaOf(() => p.b.sw.recv(s, into, 16))).toBe(WSAESHUTDOWN);
    expect(await wsaOf(() => p.b.sw.recv(s, into, 0))).toBe(WSAESHUTDOWN);
    await teardownWithoutLeaks(p);
  });

  it('a zero-length recv waits for data, returns 0 and leaves the bytes for the next recv (Wine test_empty_recv)', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    const from = userBuffer(p.a.process, 16);
    const into = userBuffer(p.b.process, 16);
    p.a.process.writeMemory(from, new TextEncoder().encode('data\0'));
    let done = false;
    const empty = p.b.sw.recv(s, into, 0).then((n) => {
      done = true;
      return n;
    });
    await settle(p);
    expect(done).toBe(false);
    expect(await p.a.sw.send(c, from, 5)).toBe(5);
    expect(await empty).toBe(0);
    // With data there, a zero-length recv returns 0 at once; the bytes are still all there.
    expect(await p.b.sw.recv(s, into, 0)).toBe(0);
    expect(await p.b.sw.recv(s, into, 16)).toBe(5);
    expect(new TextDecoder().decode(readUser(p.b.process, into, 4))).toBe('data');
    // After the peer's graceful close a zero-length recv returns 0 too.
    await p.a.sw.closesocket(c);
    expect(await p.b.sw.recv(s, into, 0)).toBe(0);
    await teardownWithoutLeaks(p);
  });

  it('WSAENOTCONN before connect, WSAENOTSOCK after closesocket, WSAEFAULT for a buffer that is no user buffer', async () => {
    const p = switchPair();
    const { c } = await connect(p);
    const fresh = p.a.sw.socket();
    const buf = userBuffer(p.a.process, 16);
    expect(await wsaOf(() => p.a.sw.recv(fresh, buf, 16))).toBe(WSAENOTCONN);
    for (const [va, len] of [[0, 16], [-1, 16], [buf, -1], [buf, 2 ** 32], ['x', 1]] as const) {
      expect(await wsaOf(() => p.a.sw.recv(c, va as never, len as never))).toBe(WSAEFAULT);
    }
    await p.a.sw.closesocket(c);
    expect(await wsaOf(() => p.a.sw.recv(c, buf, 16))).toBe(WSAENOTSOCK);
    await teardownWithoutLeaks(p);
  });
});
