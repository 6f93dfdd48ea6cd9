/**
 * WSPRecv and WSPSend (the SAN provider's) — argument rules.
 * Sources: Windows Sockets Direct reference "WSPRecv function" (ff566309), "WSPSend function"
 * (ff566316: dwFlags "Must be zero"; the switch specifies NULL for the completion routine); "Completing
 * Data Transfer Requests" (always overlapped: SOCKET_ERROR with WSA_IO_PENDING); Winsock SPI "LPWSPRECV"
 * (WSAENOTCONN: the socket is not connected; WSAENOTSOCK); Wine dlls/ws2_32/tests/sock.c test_empty_recv
 * (a receive with no buffers — dwBufferCount 0 — is WSAEINVAL, with or without a buffer array).
 */
import { describe, expect, it } from 'vitest';
import { ref } from '../../src/kernel/ref.ts';
import {
  MEM_READ, MEM_WRITE, SOCKET_ERROR, WSA_IO_PENDING, WSAEINVAL, WSAENOTCONN, WSAEOPNOTSUPP, newWsaOverlapped,
} from '../../src/provider/index.ts';
import { connectedPair, socket, userBuffer } from './fixture.ts';

describe('WSPRecv', () => {
  it('dwBufferCount 0 is WSAEINVAL, with no array and with one (Wine test_empty_recv); nothing is posted', async () => {
    const { b } = await connectedPair();
    const e = ref(0);
    const buf = userBuffer(b.process, 4096);
    const h = b.provider.WSPRegisterMemory(b.s, buf, 4096, MEM_WRITE, e)!;
    for (const bufs of [null, [], [{ len: 0, buf, handle: h }]]) {
      expect(b.provider.WSPRecv(b.s, bufs as never, 0, null, ref(0), newWsaOverlapped(), null, 0, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEINVAL);
    }
    expect(b.provider.counters.pendingTransfers).toBe(0);
    // A zero-length buffer is a valid request: it pends.
    expect(b.provider.WSPRecv(b.s, [{ len: 0, buf, handle: h }], 1, null, ref(0), newWsaOverlapped(), null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSA_IO_PENDING);
  });

  it('WSAENOTCONN on a socket that is not connected; nonzero *lpFlags is WSAEOPNOTSUPP', async () => {
    const { b } = await connectedPair();
    const e = ref(0);
    const s = socket(b.provider);
    const buf = userBuffer(b.process, 4096);
    const h = b.provider.WSPRegisterMemory(b.s, buf, 4096, MEM_WRITE, e)!;
    expect(b.provider.WSPRecv(s, [{ len: 16, buf, handle: h }], 1, null, ref(0), newWsaOverlapped(), null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAENOTCONN);
    expect(b.provider.WSPRecv(b.s, [{ len: 16, buf, handle: h }], 1, null, ref(1), newWsaOverlapped(), null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEOPNOTSUPP);
  });
});

describe('WSPSend', () => {
  it('dwBufferCount 0 is WSAEINVAL; dwFlags must be zero (WSAEOPNOTSUPP); WSAENOTCONN on an unconnected socket', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    const buf = userBuffer(a.process, 4096);
    const h = a.provider.WSPRegisterMemory(a.s, buf, 4096, MEM_READ, e)!;
    expect(a.provider.WSPSend(a.s, [], 0, null, 0, newWsaOverlapped(), null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    expect(a.provider.WSPSend(a.s, [{ len: 1, buf, handle: h }], 1, null, 1, newWsaOverlapped(), null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEOPNOTSUPP);
    const s = socket(a.provider);
    expect(a.provider.WSPSend(s, [{ len: 1, buf, handle: h }], 1, null, 0, newWsaOverlapped(), null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAENOTCONN);
    expect(a.provider.counters.pendingTransfers).toBe(0);
  });
});
