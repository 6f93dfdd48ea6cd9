/**
 * WSPCloseSocket (the SAN provider's).
 * Sources: Windows Sockets Direct reference "WSPCloseSocket function" (ff566273: WSAENOTSOCK "Descriptor
 * is not a socket"; "After the WSPCloseSocket completes, the SAN service provider should fail further
 * references to the closed socket with the error WSAENOTSOCK"; pending operations are completed through
 * WPUCompleteOverlappedRequest); "Closing a SAN Socket" (receives fail, outstanding overlapped operations
 * are aborted with WSA_OPERATION_ABORTED after their memory is freed); Wine dlls/ws2_32/tests/sock.c
 * test_WithWSAStartup and test_select (a closed socket is WSAENOTSOCK to every later call).
 */
import { describe, expect, it } from 'vitest';
import { ref } from '../../src/kernel/ref.ts';
import { MEM_READ, NO_ERROR, SOCKET_ERROR, WSAENOTSOCK, newWsaOverlapped } from '../../src/provider/index.ts';
import { connectedPair, userBuffer } from './fixture.ts';

describe('WSPCloseSocket', () => {
  it('every call on a closed socket is WSAENOTSOCK, a second close too; the handle is never handed out again', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    const buf = userBuffer(a.process, 4096);
    const h = a.provider.WSPRegisterMemory(a.s, buf, 4096, MEM_READ, e)!;
    expect(a.provider.WSPCloseSocket(a.s, e)).toBe(NO_ERROR);
    expect(a.provider.counters).toMatchObject({ sockets: 0, registrations: 0 });
    const calls: (() => unknown)[] = [
      () => a.provider.WSPCloseSocket(a.s, e),
      () => a.provider.WSPBind(a.s, { ip: 0, port: 1 }, e),
      () => a.provider.WSPListen(a.s, 1, e),
      () => a.provider.WSPSend(a.s, [{ len: 1, buf, handle: h }], 1, null, 0, newWsaOverlapped(), null, 0, e),
      () => a.provider.WSPRecv(a.s, [{ len: 1, buf, handle: h }], 1, null, ref(0), newWsaOverlapped(), null, 0, e),
      () => a.provider.WSPDeregisterMemory(a.s, h, e),
      () => a.provider.WSPGetOverlappedResult(a.s, newWsaOverlapped(), ref(0), false, ref(0), e),
    ];
    for (const call of calls) {
      e.value = 0;
      const r = call();
      expect(r === SOCKET_ERROR || r === false).toBe(true);
      expect(e.value).toBe(WSAENOTSOCK);
    }
    expect(await a.provider.WSPConnect(a.s, { ip: 1, port: 1 }, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAENOTSOCK);
    // New sockets never reuse the closed handle.
    const fresh = a.provider.WSPSocket(2, 1, 6, null, 0, 0, e);
    expect(fresh).not.toBe(a.s);
  });
});
