/**
 * Error mapping of the WSP routines, against a real host: each WSA code the issue names is
 * provoked the way an application would, and after every failure nothing changed.
 */
import { describe, expect, it } from 'vitest';
import { leakedCounters, snapshot } from '../../src/host/index.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READONLY } from '../../src/kernel/mm/virtual-memory.ts';
import { ref } from '../../src/kernel/ref.ts';
import {
  MEM_READ, MEM_READWRITE, MEM_WRITE, NO_ERROR, RDMA_DESCRIPTOR_BYTES, SIO_GET_EXTENSION_FUNCTION_POINTER, SOCKET_ERROR,
  WSAEFAULT, WSAEINVAL, WSAENOBUFS, WSAENOTCONN, WSAENOTSOCK, WSAEOPNOTSUPP, WSAID_RDMAREAD, WSAID_RDMAWRITE,
  WSAID_REGISTERMEMORY, WSA_IO_INCOMPLETE, WSA_IO_PENDING, newWsaOverlapped, type SanServiceProvider,
} from '../../src/provider/index.ts';
import { connectedPair, socket, startProvider, userBuffer } from './harness.ts';

function state(p: SanServiceProvider, nicRegions: () => number) {
  return { ...p.counters, driverRequests: 0, nicRegions: nicRegions(), shadowCopyBytes: p.shadowCopyBytes };
}

describe('WSPRegisterMemory error mapping', () => {
  it('WSAEFAULT: a range that is not wholly valid user memory, checked before the driver is asked', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    const va = userBuffer(a.process, 8192);
    const before = a.provider.counters.driverRequests;
    for (const [addr, len] of [[va + 4096, 8192], [0, 16], [0x8000_0000_0000, 4096], [va - 65536 * 4, 4096]] as const) {
      expect(a.provider.WSPRegisterMemory(a.s, addr, len, MEM_READ, e)).toBeNull();
      expect(e.value).toBe(WSAEFAULT);
    }
    // A writable registration of read-only pages is not valid either.
    const ro = a.process.VirtualAlloc(0, 4096, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY);
    expect(a.provider.WSPRegisterMemory(a.s, ro, 4096, MEM_WRITE, e)).toBeNull();
    expect(e.value).toBe(WSAEFAULT);
    expect(a.provider.WSPRegisterMemory(a.s, ro, 4096, MEM_READ, e)).not.toBeNull();
    expect(a.provider.counters.driverRequests).toBe(before + 1);
  });

  it('WSAEINVAL: flags other than MEM_READ / MEM_WRITE / MEM_READWRITE, zero length', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    const va = userBuffer(a.process, 4096);
    for (const flags of [0, 4, 7, -1, 1.5, Number.NaN]) {
      expect(a.provider.WSPRegisterMemory(a.s, va, 4096, flags, e)).toBeNull();
      expect(e.value).toBe(WSAEINVAL);
    }
    expect(a.provider.WSPRegisterMemory(a.s, va, 0, MEM_READ, e)).toBeNull();
    expect(e.value).toBe(WSAEINVAL);
    expect(a.provider.registrations.size).toBe(0);
  });

  it('WSAENOTSOCK: unknown, closed or foreign socket', async () => {
    const { a, b } = await connectedPair();
    const e = ref(0);
    const va = userBuffer(a.process, 4096);
    expect(a.provider.WSPRegisterMemory(12345, va, 4096, MEM_READ, e)).toBeNull();
    expect(e.value).toBe(WSAENOTSOCK);
    const s = socket(a.provider);
    expect(a.provider.WSPCloseSocket(s, e)).toBe(0);
    expect(a.provider.WSPRegisterMemory(s, va, 4096, MEM_READ, e)).toBeNull();
    expect(e.value).toBe(WSAENOTSOCK);
    // B's socket number means nothing to A's provider (unless A happens to have the same number; it does not here).
    expect(a.provider.WSPDeregisterMemory(b.s + 1000, 1, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAENOTSOCK);
  });

  it('WSAENOTCONN: a socket that is on no NIC yet; RDMA memory on a socket that is not connected', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    const va = userBuffer(a.process, 4096);
    const s = socket(a.provider);
    expect(a.provider.WSPRegisterMemory(s, va, 4096, MEM_READ, e)).toBeNull();
    expect(e.value).toBe(WSAENOTCONN);
    expect(a.provider.WSPBind(s, { ip: 0, port: 0 }, e)).toBe(0);
    expect(a.provider.WSPRegisterMemory(s, va, 4096, MEM_READ, e)).not.toBeNull();
    const d = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
    expect(a.provider.WSPRegisterRdmaMemory(s, va, 4096, MEM_READ, d, ref(RDMA_DESCRIPTOR_BYTES), e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAENOTCONN);
    const ov = newWsaOverlapped();
    expect(a.provider.WSPSend(s, [{ len: 1, buf: va, handle: 1 }], 1, null, 0, ov, null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAENOTCONN);
  });

  it('WSAENOTCONN after the peer closed: RDMA memory is only for a live connection', async () => {
    const { cluster, a, b } = await connectedPair();
    const e = ref(0);
    expect(b.provider.WSPCloseSocket(b.s, e)).toBe(0);
    cluster.fabric.runUntilIdle();
    const va = userBuffer(a.process, 4096);
    const d = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
    expect(a.provider.WSPRegisterRdmaMemory(a.s, va, 4096, MEM_READ, d, ref(RDMA_DESCRIPTOR_BYTES), e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAENOTCONN);
  });

  it('WSAENOBUFS: every injected allocation failure answers cleanly and leaves nothing behind', async () => {
    for (const bits of [64, 32] as const) {
      const { a } = await connectedPair({ nicA: { addressBits: bits } });
      const k = a.host.kernel;
      const e = ref(0);
      const va = userBuffer(a.process, 3 * 4096);
      // Make the pages resident first: demand-zero faults are the process's, not a leak.
      a.process.writeMemory(va, new Uint8Array(3 * 4096).fill(1));
      let failures = 0;
      for (let n = 1; ; n++) {
        const before = snapshot(a.host);
        const mine = state(a.provider, () => a.host.nics[0]!.nic.regionCount);
        k.faults.setPolicy({ kind: 'nth', n });
        const h = a.provider.WSPRegisterMemory(a.s, va, 3 * 4096, MEM_READWRITE, e);
        const fired = k.faults.injected.length > 0;
        k.faults.setPolicy({ kind: 'none' });
        k.faults.injected.length = 0;
        if (h !== null) {
          expect(fired).toBe(false);
          expect(a.provider.WSPDeregisterMemory(a.s, h, e)).toBe(0);
          break;
        }
        failures++;
        expect(fired).toBe(true);
        expect(e.value).toBe(WSAENOBUFS);
        expect(state(a.provider, () => a.host.nics[0]!.nic.regionCount)).toEqual(mine);
        expect(leakedCounters(before, snapshot(a.host))).toEqual([]);
        expect(n).toBeLessThan(50);
      }
      expect(failures).toBeGreaterThan(0);
    }
  });
});

describe('WSPRegisterRdmaMemory descriptor size', () => {
  it('WSAEFAULT with the required size when the descriptor block is too small; success stores the size', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    const va = userBuffer(a.process, 4096);
    const len = ref(8);
    expect(a.provider.WSPRegisterRdmaMemory(a.s, va, 4096, MEM_READ, new Uint8Array(8), len, e)).toBe(SOCKET_ERROR);
    expect([e.value, len.value]).toEqual([WSAEFAULT, RDMA_DESCRIPTOR_BYTES]);
    expect(a.provider.registrations.size).toBe(0);
    const big = ref(100);
    expect(a.provider.WSPRegisterRdmaMemory(a.s, va, 4096, MEM_READ, new Uint8Array(100), big, e)).toBe(0);
    expect(big.value).toBe(RDMA_DESCRIPTOR_BYTES);
  });
});

describe('WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER)', () => {
  it('returns the extension functions; WSAEOPNOTSUPP for WSPRdmaRead on a NIC without RDMA read', async () => {
    const { a, b } = await connectedPair({ nicB: { rdmaRead: false } });
    const e = ref(0);
    const out = ref<unknown>(null);
    const ioctl = (p: SanServiceProvider, s: number, guid: string) =>
      p.WSPIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, guid, 16, out, 8, ref(0), null, null, 0, e);
    expect(ioctl(a.provider, a.s, WSAID_RDMAREAD)).toBe(0);
    expect(typeof out.value).toBe('function');
    out.value = null;
    expect(ioctl(b.provider, b.s, WSAID_RDMAREAD)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEOPNOTSUPP);
    expect(out.value).toBeNull();
    expect(ioctl(b.provider, b.s, WSAID_RDMAWRITE)).toBe(0);
    expect(ioctl(b.provider, b.s, '{00000000-0000-0000-0000-000000000000}')).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    expect(b.provider.WSPIoctl(b.s, 0x1234, WSAID_REGISTERMEMORY, 16, out, 8, ref(0), null, null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    // The pointer works like the method.
    const reg = (() => {
      ioctl(a.provider, a.s, WSAID_REGISTERMEMORY);
      return out.value as SanServiceProvider['WSPRegisterMemory'];
    })();
    expect(reg(a.s, userBuffer(a.process, 4096), 4096, MEM_READ, e)).not.toBeNull();
  });

  it('WSPRdmaRead posted anyway on a NIC without RDMA read fails with WSAEOPNOTSUPP', async () => {
    const { a, b } = await connectedPair({ nicA: { rdmaRead: false } });
    const e = ref(0);
    const va = userBuffer(a.process, 4096);
    const h = a.provider.WSPRegisterMemory(a.s, va, 4096, MEM_WRITE, e)!;
    const d = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
    expect(b.provider.WSPRegisterRdmaMemory(b.s, userBuffer(b.process, 4096), 4096, MEM_READ, d, ref(32), e)).toBe(0);
    const ov = newWsaOverlapped();
    expect(a.provider.WSPRdmaRead(a.s, [{ len: 4096, buf: va, handle: h }], 1, d, 32, 0, null, 0, ov, null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEOPNOTSUPP);
    expect(a.provider.counters.pendingTransfers).toBe(0);
  });
});

describe('overlapped transfers', () => {
  it('always overlapped: WSA_IO_PENDING, WSA_IO_INCOMPLETE until the fabric runs, a completion routine is refused', async () => {
    const { cluster, a, b } = await connectedPair();
    const e = ref(0);
    const va = userBuffer(b.process, 4096);
    const h = b.provider.WSPRegisterMemory(b.s, va, 4096, MEM_WRITE, e)!;
    const ov = newWsaOverlapped();
    expect(b.provider.WSPRecv(b.s, [{ len: 4096, buf: va, handle: h }], 1, null, ref(0), ov, (() => 0) as never, 0, e))
      .toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    expect(b.provider.WSPRecv(b.s, [{ len: 4096, buf: va, handle: h }], 1, null, ref(0), ov, null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSA_IO_PENDING);
    // The same overlapped cannot carry two requests at once.
    expect(b.provider.WSPRecv(b.s, [{ len: 4096, buf: va, handle: h }], 1, null, ref(0), ov, null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    expect(b.provider.WSPGetOverlappedResult(b.s, ov, ref(0), false, ref(0), e)).toBe(false);
    expect(e.value).toBe(WSA_IO_INCOMPLETE);
    // A registration in use by a pending transfer cannot be deregistered (WSPDeregisterMemory).
    expect(b.provider.WSPDeregisterMemory(b.s, h, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    const src = userBuffer(a.process, 4096);
    a.process.writeMemory(src, new Uint8Array([1, 2, 3]));
    const hs = a.provider.WSPRegisterMemory(a.s, src, 4096, MEM_READ, e)!;
    const sov = newWsaOverlapped();
    expect(a.provider.WSPSend(a.s, [{ len: 3, buf: src, handle: hs }], 1, null, 0, sov, null, 0, e)).toBe(SOCKET_ERROR);
    cluster.fabric.runUntilIdle();
    const n = ref(0);
    expect(b.provider.WSPGetOverlappedResult(b.s, ov, n, false, ref(0), e)).toBe(true);
    expect(n.value).toBe(3);
    // Completed, the overlapped is free again and still compares as the caller's plain object.
    expect(ov).toEqual({ Internal: 0, InternalHigh: 3, Offset: 0, OffsetHigh: 0, hEvent: 1 });
    expect(b.provider.WSPRecv(b.s, [{ len: 4096, buf: va, handle: h }], 1, null, ref(0), ov, null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSA_IO_PENDING);
    expect(b.provider.WSPCloseSocket(b.s, e)).toBe(0);
  });

  it('a read-only (frozen) overlapped is WSAEFAULT and posts nothing ("Completing Data Transfer Requests": the provider writes it)', async () => {
    const { b } = await connectedPair();
    const e = ref(0);
    const va = userBuffer(b.process, 4096);
    const h = b.provider.WSPRegisterMemory(b.s, va, 4096, MEM_WRITE, e)!;
    const ov = Object.freeze(newWsaOverlapped());
    expect(b.provider.WSPRecv(b.s, [{ len: 4096, buf: va, handle: h }], 1, null, ref(0), ov, null, 0, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEFAULT);
    expect(b.provider.counters.pendingTransfers).toBe(0);
    expect(b.provider.WSPDeregisterMemory(b.s, h, e)).toBe(NO_ERROR);
  });

  it('WSPCloseSocket aborts pending requests with WSA_OPERATION_ABORTED after releasing their memory', async () => {
    const { a, b } = await connectedPair();
    const e = ref(0);
    const va = userBuffer(b.process, 4096);
    const h = b.provider.WSPRegisterMemory(b.s, va, 4096, MEM_WRITE, e)!;
    const ov = newWsaOverlapped();
    b.provider.WSPRecv(b.s, [{ len: 4096, buf: va, handle: h }], 1, null, ref(0), ov, null, 0, e);
    expect(e.value).toBe(WSA_IO_PENDING);
    const regions = b.host.nics[0]!.nic.regionCount;
    expect(b.provider.WSPCloseSocket(b.s, e)).toBe(0);
    expect(b.host.nics[0]!.nic.regionCount).toBe(regions - 1);
    expect(ov.OffsetHigh).toBe(995);
    expect(ov.Internal).toBe(0);
    expect(b.provider.counters).toMatchObject({ registrations: 0, pendingTransfers: 0 });
    expect(b.provider.WSPGetOverlappedResult(b.s, ov, ref(0), false, ref(0), e)).toBe(false);
    expect(e.value).toBe(WSAENOTSOCK);
    void a;
  });
});

describe('registration reference counts (WSPRegisterMemory, WSPDeregisterMemory)', () => {
  it('the same buffer on the same socket is one handle with a count; freed only at zero', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    const va = userBuffer(a.process, 8192);
    const nic = a.host.nics[0]!.nic;
    const h1 = a.provider.WSPRegisterMemory(a.s, va, 8192, MEM_READ, e);
    const h2 = a.provider.WSPRegisterMemory(a.s, va, 8192, MEM_READ, e);
    expect(h2).toBe(h1);
    expect(nic.regionCount).toBe(1);
    // Another socket of the same process gets its own handle.
    const s2 = socket(a.provider);
    expect(a.provider.WSPBind(s2, { ip: 0, port: 0 }, e)).toBe(0);
    const h3 = a.provider.WSPRegisterMemory(s2, va, 8192, MEM_READ, e);
    expect(h3).not.toBe(h1);
    // Handles are per socket: s2 cannot release s's handle.
    expect(a.provider.WSPDeregisterMemory(s2, h1!, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    expect(a.provider.WSPDeregisterMemory(a.s, h1!, e)).toBe(0);
    expect(nic.regionCount).toBe(2);
    expect(a.provider.WSPDeregisterMemory(a.s, h1!, e)).toBe(0);
    expect(nic.regionCount).toBe(1);
    expect(a.provider.WSPDeregisterMemory(a.s, h1!, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
  });

  it('a provider started in another process does not know this one (handle valid only in its process)', async () => {
    const { a } = await connectedPair();
    const e = ref(0);
    const va = userBuffer(a.process, 4096);
    const h = a.provider.WSPRegisterMemory(a.s, va, 4096, MEM_READ, e)!;
    const x = startProvider(a.host, 'intruder');
    const sx = socket(x.provider);
    expect(x.provider.WSPBind(sx, { ip: 0, port: 0 }, e)).toBe(0);
    expect(x.provider.WSPDeregisterMemory(sx, h, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    expect(a.host.nics[0]!.nic.regionCount).toBe(1);
  });
});
