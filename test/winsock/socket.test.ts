/**
 * socket and every other call of the switch's socket API — what comes back for garbage.
 * Sources: Winsock "Windows Sockets Error Codes" (each call fails with SOCKET_ERROR / INVALID_SOCKET and
 * a WSA code — the model's SocketError); Wine dlls/ws2_32/tests/sock.c test_listen, test_getpeername
 * (invalid handles such as 0, INVALID_SOCKET and 0xdeadbeef are WSAENOTSOCK, checked before the other
 * arguments).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SocketError, WSAENOTSOCK } from '../../src/switch/index.ts';
import { boundOn, connect, switchPair, teardownWithoutLeaks, wsaOf } from './fixture.ts';

describe('socket', () => {
  it('handles never repeat; invalid handles (0, -1, 0xdeadbeef, junk) are WSAENOTSOCK to every call', async () => {
    const p = switchPair();
    const sw = p.a.sw;
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) {
      const s = sw.socket();
      expect(seen.has(s)).toBe(false);
      seen.add(s);
      await sw.closesocket(s);
    }
    for (const bad of [0, -1, 0xdeadbeef, 'x', null, undefined, {}, Number.NaN]) {
      for (const call of [
        () => sw.bind(bad as never, { ip: 0, port: 1 }), () => sw.listen(bad as never), () => sw.accept(bad as never),
        () => sw.connect(bad as never, { ip: '10.0.0.2', port: 1 }), () => sw.send(bad as never, 0x10000, 1),
        () => sw.recv(bad as never, 0x10000, 1), () => sw.shutdown(bad as never, 1), () => sw.closesocket(bad as never),
        () => sw.getsockname(bad as never),
      ]) {
        expect(await wsaOf(call)).toBe(WSAENOTSOCK);
      }
    }
    await teardownWithoutLeaks(p);
  });

  it('property: any arguments to any call give a result or a SocketError, never a TypeError, and leave no binding behind', async () => {
    const p = switchPair();
    const { c } = await connect(p);
    const sw = p.a.sw;
    const fresh = [sw.socket(), sw.socket()];
    const handles = fc.constantFrom(...fresh, c, 0, -1, 0xdeadbeef);
    const junk = fc.oneof(fc.anything(), fc.integer(), handles, fc.constantFrom(null, undefined, Number.NaN, '10.0.0.2', { ip: 5, port: 7 }));
    const calls: ((s: unknown, x: unknown, y: unknown) => unknown)[] = [
      (s, x) => sw.listen(s as never, x as never),
      (s, x) => sw.connect(s as never, x as never),
      (s, x, y) => sw.send(s as never, x as never, y as never),
      (s, x) => sw.shutdown(s as never, x as never),
      (s) => sw.getsockname(s as never),
      (_s, x) => sw.getsockname(x as never),
      (s, x, y) => sw.bind(s as never, { ip: x, port: y } as never),
    ];
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: calls.length - 1 }), handles, junk, junk, async (which, s, x, y) => {
      try {
        await calls[which]!(s, x, y);
      } catch (e) {
        expect(e).toBeInstanceOf(SocketError);
      }
    }), { numRuns: 400 });
    for (const s of fresh) await sw.closesocket(s).catch(() => undefined);
    await teardownWithoutLeaks(p);
    expect(boundOn(p.a.host)).toBe(0);
  });
});
