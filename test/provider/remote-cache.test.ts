/**
 * The provider's cache of NIC-registered regions, with containment ("Caching Registered Memory"):
 * a cached region serves any buffer it contains; RDMA memory the switch deregisters keeps its
 * pages locked but the peer loses access at once; a hit re-exposes it under new keys and the
 * old descriptor moves nothing. Run on a 64-bit NIC (zero copy) and a 32-bit NIC on NOLOWMEM
 * (shadowed regions); either way the peer reaches the region through a memory window the
 * provider binds and invalidates from user mode, with no driver request per exposure.
 */
import { describe, expect, it } from 'vitest';
import { MEM_RELEASE } from '../../src/kernel/mm/virtual-memory.ts';
import { ref } from '../../src/kernel/ref.ts';
import {
  MEM_READ, MEM_READWRITE, MEM_WRITE, RDMA_DESCRIPTOR_BYTES, SOCKET_ERROR, WSA_IO_PENDING, WSAEFAULT, WSAEINVAL, WSAENOBUFS,
  decodeRdmaDescriptor, encodeRdmaDescriptor, newWsaOverlapped, type SanServiceProvider, type WSAOVERLAPPED,
} from '../../src/provider/index.ts';
import { NicStatus } from '../../src/nic/index.ts';
import { connectedPair, drive, type Pair, pattern, readUser, userBuffer } from './harness.ts';

const N = 64 * 1024;

function result(p: SanServiceProvider, s: number, ov: WSAOVERLAPPED): { error: number; bytes: number } {
  const e = ref(0);
  const bytes = ref(0);
  drive(p);
  return p.WSPGetOverlappedResult(s, ov, bytes, true, ref(0), e) ? { error: 0, bytes: bytes.value } : { error: e.value, bytes: 0 };
}

function exposeRdma(side: Pair['b'], va: number, length: number, flags: number): Uint8Array {
  const d = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
  const e = ref(0);
  expect(side.provider.WSPRegisterRdmaMemory(side.s, va, length, flags, d, ref(RDMA_DESCRIPTOR_BYTES), e)).toBe(0);
  return d;
}

/** A RDMA-reads `length` bytes of B's descriptor into a fresh local buffer; returns the status and what landed. */
function readFrom(pair: Pair, d: Uint8Array, length: number): { error: number; data: Uint8Array } {
  const { a } = pair;
  const va = userBuffer(a.process, length);
  const e = ref(0);
  const h = a.provider.WSPRegisterMemory(a.s, va, length, MEM_WRITE, e)!;
  expect(h).not.toBeNull();
  const ov = newWsaOverlapped();
  expect(a.provider.WSPRdmaRead(a.s, [{ len: length, buf: va, handle: h }], 1, d, RDMA_DESCRIPTOR_BYTES, 0, null, 0, ov, null, 0, e))
    .toBe(SOCKET_ERROR);
  expect(e.value).toBe(WSA_IO_PENDING);
  const r = result(a.provider, a.s, ov);
  const data = readUser(a.process, va, length);
  a.provider.WSPDeregisterMemory(a.s, h, ref(0));
  return { error: r.error, data };
}

const zeros = (b: Uint8Array) => b.every((x) => x === 0);

for (const bits of [64, 32] as const) {
  const make = () => connectedPair({ nicA: { addressBits: bits }, nicB: { addressBits: bits }, provider: { cacheRegistrations: true } });

  describe(`remote registration cache, ${bits}-bit NIC`, () => {
    it('deregistering cached RDMA memory: the peer loses access at once, the pages stay locked', async () => {
      const pair = await make();
      const { b } = pair;
      const va = userBuffer(b.process, N);
      b.process.writeMemory(va, pattern(N, 1));
      const d1 = exposeRdma(b, va, N, MEM_READ);
      expect(readFrom(pair, d1, N).data).toEqual(pattern(N, 1));
      const locked = b.process.lockedPages;
      // Deregister: cached (still locked, secured), and the peer lost access at once.
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, d1, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      expect(b.provider.counters.cached).toBe(1);
      expect(b.process.lockedPages).toBe(locked);
      const denied = readFrom(pair, d1, N);
      expect(denied.error).not.toBe(0);
      expect(zeros(denied.data)).toBe(true);
    });

    it('stale key after cache re-expose: a hit costs no driver request (a window bind) and no locking, the new key reads the current bytes, the old one moves zero bytes', async () => {
      const pair = await make();
      const { b } = pair;
      const va = userBuffer(b.process, N);
      b.process.writeMemory(va, pattern(N, 1));
      const d1 = exposeRdma(b, va, N, MEM_READ);
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, d1, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      // New bytes in the buffer, then a hit.
      b.process.writeMemory(va, pattern(N, 2));
      const locked = b.process.lockedPages;
      const requests = b.provider.counters.driverRequests;
      const d2 = exposeRdma(b, va, N, MEM_READ);
      expect(b.provider.counters.driverRequests).toBe(requests);
      expect(b.provider.counters.rdmaReexposures).toBe(1);
      expect(b.process.lockedPages).toBe(locked);
      expect(decodeRdmaDescriptor(d2, RDMA_DESCRIPTOR_BYTES)!.remoteKey).not.toBe(decodeRdmaDescriptor(d1, RDMA_DESCRIPTOR_BYTES)!.remoteKey);
      expect(readFrom(pair, d2, N)).toEqual({ error: 0, data: pattern(N, 2) });
      // The stale descriptor moves nothing even while the region is exposed again.
      const stale = readFrom(pair, d1, N);
      expect(stale.error).not.toBe(0);
      expect(zeros(stale.data)).toBe(true);
    });

    it('containment: a cached RDMA region serves a buffer inside it, exposing exactly that buffer with only the rights asked for; a small share registers on its own', async () => {
      const pair = await make();
      const { b } = pair;
      const va = userBuffer(b.process, N);
      b.process.writeMemory(va, pattern(N, 4));
      const whole = exposeRdma(b, va, N, MEM_READWRITE);
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, whole, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      const requests = b.provider.counters.driverRequests;
      const part = exposeRdma(b, va + 1000, 20_000, MEM_READ);
      expect(b.provider.counters.driverRequests).toBe(requests);
      expect(b.provider.counters.rdmaReexposures).toBe(1);
      // Re-exposed as exactly the buffer: the NIC region starts at its first byte.
      expect(decodeRdmaDescriptor(part, RDMA_DESCRIPTOR_BYTES)).toMatchObject({ offset: 0, length: 20_000 });
      const got = readFrom(pair, part, 20_000);
      expect(got.error).toBe(0);
      expect(got.data).toEqual(pattern(N, 4).subarray(1000, 21_000));
      // Exclusive while exposed: a second buffer in the same range needs its own region.
      const other = exposeRdma(b, va + 2000, 30_000, MEM_READ);
      expect(b.provider.counters.rdmaReexposures).toBe(1);
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, other, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      // The descriptor of a contained buffer must come back as it was given: another offset is refused.
      const forged = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
      encodeRdmaDescriptor({ ...decodeRdmaDescriptor(part, RDMA_DESCRIPTOR_BYTES)!, offset: 1000 }, forged);
      const e = ref(0);
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, forged, RDMA_DESCRIPTOR_BYTES, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEINVAL);
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, part, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      expect(b.provider.counters.cached).toBe(2);
      // A buffer under a quarter of every cached region would open far more than it asks: its own registration.
      const small = exposeRdma(b, va + 100, 5000, MEM_READ);
      expect(b.provider.counters.rdmaReexposures).toBe(1);
      expect(decodeRdmaDescriptor(small, RDMA_DESCRIPTOR_BYTES)).toMatchObject({ offset: 0, length: 5000 });
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, small, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
    });

    it('a re-exposed region reads the application\'s current bytes (shadow refreshed) and writes land in the buffer', async () => {
      const pair = await make();
      const { a, b } = pair;
      const va = userBuffer(b.process, N);
      b.process.writeMemory(va, pattern(N, 5));
      const d1 = exposeRdma(b, va, N, MEM_READWRITE);
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, d1, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      b.process.writeMemory(va, pattern(N, 6));
      const d2 = exposeRdma(b, va, N, MEM_READ);
      expect(readFrom(pair, d2, N).data).toEqual(pattern(N, 6));
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, d2, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      // Write path into a contained piece.
      const d3 = exposeRdma(b, va + 4096, 4096, MEM_WRITE);
      const src = userBuffer(a.process, 4096);
      a.process.writeMemory(src, pattern(4096, 7));
      const e = ref(0);
      const h = a.provider.WSPRegisterMemory(a.s, src, 4096, MEM_READ, e)!;
      const ov = newWsaOverlapped();
      expect(a.provider.WSPRdmaWrite(a.s, [{ len: 4096, buf: src, handle: h }], 1, d3, RDMA_DESCRIPTOR_BYTES, 0, null, 0, ov, null, 0, e))
        .toBe(SOCKET_ERROR);
      expect(result(a.provider, a.s, ov).error).toBe(0);
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, d3, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      const after = readUser(b.process, va, N);
      expect(after.subarray(4096, 8192)).toEqual(pattern(4096, 7));
      expect(after.subarray(0, 4096)).toEqual(pattern(N, 6).subarray(0, 4096));
    });

    it('a re-exposure and a park need no kernel: with every kernel allocation failing, the hit works and the peer still loses access at deregistration', async () => {
      const pair = await make();
      const { b } = pair;
      const va = userBuffer(b.process, N);
      b.process.writeMemory(va, pattern(N, 9));
      const d1 = exposeRdma(b, va, N, MEM_READ);
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, d1, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      const locked = b.process.lockedPages;
      const e = ref(0);
      b.host.kernel.faults.setPolicy({ kind: 'always' });
      // A window is bound from user mode: the kernel failing every allocation does not matter.
      const d2 = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
      const hit = b.provider.WSPRegisterRdmaMemory(b.s, va, N, MEM_READ, d2, ref(RDMA_DESCRIPTOR_BYTES), e);
      b.host.kernel.faults.setPolicy({ kind: 'none' });
      expect(hit).toBe(0);
      expect(b.provider.counters.rdmaReexposures).toBe(1);
      expect(readFrom(pair, d2, N)).toEqual({ error: 0, data: pattern(N, 9) });
      // Parking with the kernel refusing: the window is invalidated from user mode and the
      // region stays cached (it was secured at its first park).
      b.host.kernel.faults.setPolicy({ kind: 'always' });
      const r = b.provider.WSPDeregisterRdmaMemory(b.s, d2, RDMA_DESCRIPTOR_BYTES, e);
      b.host.kernel.faults.setPolicy({ kind: 'none' });
      expect(r).toBe(0);
      expect(b.provider.counters.cached).toBe(1);
      expect(b.process.lockedPages).toBe(locked);
      const denied = readFrom(pair, d2, N);
      expect(denied.error).not.toBe(0);
      expect(zeros(denied.data)).toBe(true);
    });

    it('a window the NIC will not bind fails the registration with its WSA error and leaves nothing behind (no driver registration, shadow or lock)', async () => {
      const pair = await make();
      const { b } = pair;
      const va = userBuffer(b.process, N);
      b.process.writeMemory(va, pattern(N, 3));
      const nic = b.host.nics[0]!.nic;
      const before = { locked: b.process.lockedPages, regions: nic.regionCount, windows: nic.windowCount, counters: b.provider.counters };
      // The NIC refuses the next bind (its table full, say), after the driver registered the buffer.
      const port = b.provider.ports[0]!;
      const bind = port.bindWindow.bind(port);
      port.bindWindow = () => ({ status: NicStatus.INSUFFICIENT_RESOURCES, remoteKey: 0 });
      const e = ref(0);
      const d = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
      const r = b.provider.WSPRegisterRdmaMemory(b.s, va, N, MEM_READ, d, ref(RDMA_DESCRIPTOR_BYTES), e);
      port.bindWindow = bind;
      expect(r).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAENOBUFS);
      expect({ locked: b.process.lockedPages, regions: nic.regionCount, windows: nic.windowCount }).toEqual(
        { locked: before.locked, regions: before.regions, windows: before.windows });
      expect(b.provider.counters).toMatchObject({ registrations: before.counters.registrations, cached: before.counters.cached });
      // And the next try works.
      const d2 = exposeRdma(b, va, N, MEM_READ);
      expect(readFrom(pair, d2, N)).toEqual({ error: 0, data: pattern(N, 3) });
    });

    it('closing the socket releases the RDMA regions cached on it; the callback releases the rest; nothing stays locked', async () => {
      const pair = await make();
      const { b } = pair;
      const va = userBuffer(b.process, N);
      const d = exposeRdma(b, va, N, MEM_READ);
      expect(b.provider.WSPDeregisterRdmaMemory(b.s, d, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      const h = b.provider.WSPRegisterMemory(b.s, va, N, MEM_READ, ref(0))!;
      expect(b.provider.WSPDeregisterMemory(b.s, h, ref(0))).toBe(0);
      expect(b.provider.counters.cached).toBe(2);
      const nic = b.host.nics[0]!.nic;
      const regions = nic.regionCount;
      expect(b.provider.WSPCloseSocket(b.s, ref(0))).toBe(0);
      // The local region is not tied to a connection and stays; the RDMA one went with the socket.
      expect(b.provider.counters.cached).toBe(1);
      expect(nic.regionCount).toBeLessThan(regions);
      expect(b.process.VirtualFree(va, 0, MEM_RELEASE)).toBe(false);
      b.process.AddSecureMemoryCacheCallback((x, n) => b.provider.WSPMemoryRegistrationCacheCallback(x, n, ref(0)) === 0);
      expect(b.process.VirtualFree(va, 0, MEM_RELEASE)).toBe(true);
      expect(b.provider.counters.cached).toBe(0);
      expect(b.process.lockedPages).toBe(0);
      expect(b.process.secureEntries.size).toBe(0);
    });
  });

  describe(`local registration cache with containment, ${bits}-bit NIC`, () => {
    it('a buffer inside a cached region is a hit with no driver request, at its offset; the callback cannot release a region in use', async () => {
      const pair = await make();
      const { a, b } = pair;
      const va = userBuffer(a.process, 2 * N);
      a.process.writeMemory(va, pattern(N, 8));
      const e = ref(0);
      const h1 = a.provider.WSPRegisterMemory(a.s, va, N, MEM_READWRITE, e)!;
      expect(a.provider.WSPDeregisterMemory(a.s, h1, e)).toBe(0);
      const requests = a.provider.counters.driverRequests;
      // Read-only use of a read-write region, at an offset: a hit.
      const h2 = a.provider.WSPRegisterMemory(a.s, va + 100, 3000, MEM_READ, e)!;
      const h3 = a.provider.WSPRegisterMemory(a.s, va + 8192, 4096, MEM_WRITE, e)!;
      expect(a.provider.counters.driverRequests).toBe(requests);
      expect(a.provider.counters.cacheHits).toBe(2);
      // A buffer reaching past the region is a miss.
      const h4 = a.provider.WSPRegisterMemory(a.s, va + N - 10, 20, MEM_READ, e)!;
      expect(a.provider.WSPDeregisterMemory(a.s, h4, e)).toBe(0);
      expect(a.provider.counters.driverRequests).toBeGreaterThan(requests);
      expect(a.provider.WSPMemoryRegistrationCacheCallback(va, 16, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEFAULT);
      // The offset reaches the NIC: B receives exactly bytes 100..3100 through a send from h2.
      const dst = userBuffer(b.process, 4096);
      const hb = b.provider.WSPRegisterMemory(b.s, dst, 4096, MEM_WRITE, e)!;
      const ovr = newWsaOverlapped();
      b.provider.WSPRecv(b.s, [{ len: 4096, buf: dst, handle: hb }], 1, null, ref(0), ovr, null, 0, e);
      const ovs = newWsaOverlapped();
      a.provider.WSPSend(a.s, [{ len: 3000, buf: va + 100, handle: h2 }], 1, null, 0, ovs, null, 0, e);
      expect(result(a.provider, a.s, ovs).error).toBe(0);
      expect(result(b.provider, b.s, ovr)).toEqual({ error: 0, bytes: 3000 });
      expect(readUser(b.process, dst, 3000)).toEqual(pattern(N, 8).subarray(100, 3100));
      // Writing through a read-only piece is refused.
      const ovw = newWsaOverlapped();
      expect(a.provider.WSPRecv(a.s, [{ len: 16, buf: va + 100, handle: h2 }], 1, null, ref(0), ovw, null, 0, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEFAULT);
      expect(a.provider.WSPDeregisterMemory(a.s, h2, e)).toBe(0);
      expect(a.provider.WSPDeregisterMemory(a.s, h3, e)).toBe(0);
      expect(a.provider.WSPMemoryRegistrationCacheCallback(va, 2 * N, e)).toBe(0);
      expect(a.provider.WSPMemoryRegistrationCacheCallback(va, 2 * N, e)).toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEINVAL);
      // Every region overlapped the range (h4's too): nothing stays locked or secured.
      expect(a.process.lockedPages).toBe(0);
      expect(a.process.secureEntries.size).toBe(0);
    });
  });
}
