/**
 * WSPCleanup.
 * Sources: Windows Sockets Direct reference "WSPCleanup function" (ff566270: WSANOTINITIALISED when no
 * successful WSPStartupEx preceded it; only the final call cleans up); "Cleaning Up a Process for a SAN"
 * (the provider releases every resource of the process, the memory of outstanding transfers included);
 * Winsock SPI "LPWSPCLEANUP" (at the final call pending overlapped operations fail with
 * WSA_OPERATION_ABORTED "without setting the event object or invoking the completion routine"; open
 * sockets are reset and deallocated as if WSPCloseSocket were called); Wine dlls/ws2_32/tests/sock.c
 * test_WithWSAStartup (a clean-up too many is SOCKET_ERROR with WSANOTINITIALISED).
 */
import { describe, expect, it } from 'vitest';
import { leakedCounters, snapshot } from '../../src/host/index.ts';
import { ref } from '../../src/kernel/ref.ts';
import {
  MEM_READ, MEM_WRITE, NO_ERROR, SOCKET_ERROR, WSA_IO_PENDING, WSA_OPERATION_ABORTED, WSANOTINITIALISED, newWsaOverlapped, type WSAOVERLAPPED,
} from '../../src/provider/index.ts';
import { connectedPair, userBuffer } from '../provider/harness.ts';

describe('WSPCleanup', () => {
  it('one more WSPCleanup than WSPStartup is SOCKET_ERROR with WSANOTINITIALISED, and so is every call after the last one', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    expect(a.provider.WSPCleanup(e)).toBe(NO_ERROR);
    expect(a.provider.WSPCleanup(e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSANOTINITIALISED);
    expect(a.provider.WSPCloseSocket(a.s, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSANOTINITIALISED);
    expect(a.provider.WSPRegisterMemory(a.s, userBuffer(a.process, 4096), 4096, MEM_WRITE, e)).toBe(null);
    expect(e.value).toBe(WSANOTINITIALISED);
  });

  it('a WSPCleanup that is not the last one changes nothing: the connection still carries data', async () => {
    const { a, b, cluster } = await connectedPair();
    expect(a.provider.WSPStartup()).toBe(NO_ERROR);
    expect(a.provider.WSPCleanup(ref(0))).toBe(NO_ERROR);
    expect(a.provider.socketInfo(a.s)?.state).toBe('connected');
    const e = ref(0);
    const dst = userBuffer(b.process, 4096);
    const hd = b.provider.WSPRegisterMemory(b.s, dst, 4096, MEM_WRITE, e)!;
    const ov = newWsaOverlapped();
    expect(b.provider.WSPRecv(b.s, [{ len: 4096, buf: dst, handle: hd }], 1, null, ref(0), ov, null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSA_IO_PENDING);
    const src = userBuffer(a.process, 4096);
    a.process.writeMemory(src, new Uint8Array([7, 8, 9]));
    const hs = a.provider.WSPRegisterMemory(a.s, src, 4096, MEM_READ, e)!;
    expect(a.provider.WSPSend(a.s, [{ len: 3, buf: src, handle: hs }], 1, null, 0, newWsaOverlapped(), null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSA_IO_PENDING);
    cluster.fabric.runUntilIdle();
    const n = ref(0);
    expect(b.provider.WSPGetOverlappedResult(b.s, ov, n, false, ref(0), e)).toBe(true);
    expect(n.value).toBe(3);
  });

  it('the last WSPCleanup closes every socket: pending transfers fail with WSA_OPERATION_ABORTED without an upcall; nothing is left', async () => {
    const upcalls: number[] = [];
    const { a, baseline } = await connectedPair({ provider: { completeOverlapped: (_s, _ov, error) => upcalls.push(error) } });
    const e = ref(0);
    const buf = userBuffer(a.process, 4096);
    const h = a.provider.WSPRegisterMemory(a.s, buf, 4096, MEM_WRITE, e)!;
    // hEvent low bit 0: a completion would be reported through WPUCompleteOverlappedRequest.
    const ov: WSAOVERLAPPED = newWsaOverlapped(0);
    expect(a.provider.WSPRecv(a.s, [{ len: 4096, buf, handle: h }], 1, null, ref(0), ov, null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSA_IO_PENDING);
    expect(a.provider.WSPCleanup(e)).toBe(NO_ERROR);
    expect(ov.OffsetHigh).toBe(WSA_OPERATION_ABORTED);
    expect(ov.InternalHigh).toBe(0);
    expect(upcalls).toEqual([]);
    expect(a.provider.counters).toMatchObject({ sockets: 0, registrations: 0, pendingTransfers: 0, cached: 0 });
    expect(a.process.lockedPages).toBe(0);
    expect(a.host.kernel.ps.terminateProcess(a.process, 0)).toBe(0);
    expect(leakedCounters(baseline[0]!, snapshot(a.host))).toEqual([]);
  });

  it('WSPCloseSocket, by contrast, completes the aborted transfer through the upcall (WSA_OPERATION_ABORTED, "Closing a SAN Socket")', async () => {
    const upcalls: number[] = [];
    const { a } = await connectedPair({ provider: { completeOverlapped: (_s, _ov, error) => upcalls.push(error) } });
    const e = ref(0);
    const buf = userBuffer(a.process, 4096);
    const h = a.provider.WSPRegisterMemory(a.s, buf, 4096, MEM_WRITE, e)!;
    expect(a.provider.WSPRecv(a.s, [{ len: 4096, buf, handle: h }], 1, null, ref(0), newWsaOverlapped(0), null, 0, e)).toBe(SOCKET_ERROR);
    expect(a.provider.WSPCloseSocket(a.s, e)).toBe(NO_ERROR);
    expect(upcalls).toEqual([WSA_OPERATION_ABORTED]);
  });
});
