import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { leakedCounters, snapshot } from '../../src/host/index.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/virtual-memory.ts';
import { SocketError, WSAENOBUFS } from '../../src/switch/index.ts';
import { connect, firstDifference, pattern, readUser, recvAll, switchPair, userBuffer, type SwitchPair } from './harness.ts';
import { teardownWithoutLeaks } from './harness.ts';

const MIB = 1024 * 1024;

async function transfer(p: SwitchPair, c: number, s: number, n: number, seed: number, recvChunk = n): Promise<void> {
  const data = pattern(n, seed);
  const src = userBuffer(p.a.process, n);
  const dst = userBuffer(p.b.process, n);
  p.a.process.writeMemory(src, data);
  const [sent, got] = await Promise.all([p.a.sw.send(c, src, n), recvAll(p.b.sw, s, dst, n, recvChunk)]);
  expect(sent).toBe(n);
  expect(got).toBe(n);
  expect(firstDifference(readUser(p.b.process, dst, n), data)).toBe(-1);
  p.a.process.VirtualFree(src, 0, MEM_RELEASE);
  p.b.process.VirtualFree(dst, 0, MEM_RELEASE);
}


describe('session protocol over the SAN provider', () => {
  it('64-bit NICs, NOLOWMEM: small sends by control message, large by RDMA read; nothing leaks', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    expect(p.a.sw.pathOf(c)).toBe('san');
    expect(p.b.sw.pathOf(s)).toBe('san');
    expect(p.a.sw.rdmaReadOf(c)).toBe(true);
    for (const n of [1, 100, 32 * 1024, 40000, 3 * MIB]) await transfer(p, c, s, n, n);
    expect(p.a.sw.counters.controlBytes).toBe(1 + 100 + 32 * 1024);
    expect(p.b.sw.counters.rdmaReadBytes).toBe(40000 + 3 * MIB);
    expect(p.a.sw.counters.rdmaWriteBytes).toBe(0);
    await teardownWithoutLeaks(p);
  });

  it('32-bit NICs on NOLOWMEM without RDMA read: the RDMA write path through proxy low memory', async () => {
    const p = switchPair({ bits: 32, rdmaRead: false });
    const { c, s } = await connect(p);
    expect(p.a.sw.rdmaReadOf(c)).toBe(false);
    for (const n of [5000, 2 * MIB + 17]) await transfer(p, c, s, n, n, 300 * 1024);
    expect(p.a.sw.counters.rdmaWriteBytes).toBe(2 * MIB + 17);
    expect(p.b.sw.counters.rdmaReadBytes).toBe(0);
    // Every user page is above 4 GiB: the NIC only ever saw proxy low memory.
    expect(p.a.sw.san!.shadowCopyBytes).toBeGreaterThan(0);
    for (const h of [p.a.host, p.b.host]) expect(h.kernel.mm.chklowmem().violations).toBe(0);
    await teardownWithoutLeaks(p);
  });

  it('read path needs both ends: a read-capable client and a write-only server use RDMA write', async () => {
    const p = switchPair({ nicB: { rdmaRead: false } });
    const { c, s } = await connect(p);
    expect(p.a.sw.rdmaReadOf(c)).toBe(false);
    expect(p.b.sw.rdmaReadOf(s)).toBe(false);
    await transfer(p, c, s, MIB, 3);
    expect(p.a.sw.counters.rdmaWriteBytes).toBe(MIB);
    await teardownWithoutLeaks(p);
  });

  it('property: any byte pattern, any split of send and recv sizes arrives intact and in order (both RDMA paths)', async () => {
    for (const rdmaRead of [true, false]) {
      const p = switchPair({ bits: rdmaRead ? 64 : 32, rdmaRead, switch: { session: { rdmaThreshold: 4096, maxRdmaSize: 16384, recvBuffers: 8, sendBuffers: 4, bufferBytes: 1024 } } });
      const { c, s } = await connect(p);
      await fc.assert(fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 40000 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 50000 }), { minLength: 1, maxLength: 6 }),
        fc.integer(),
        async (sends, recvs, seed) => {
          const total = sends.reduce((a, b) => a + b, 0);
          const data = pattern(total, seed);
          const src = userBuffer(p.a.process, total);
          const dst = userBuffer(p.b.process, total);
          p.a.process.writeMemory(src, data);
          const sender = (async () => {
            let off = 0;
            for (const n of sends) {
              expect(await p.a.sw.send(c, src + off, n)).toBe(n);
              off += n;
            }
          })();
          let got = 0;
          for (let i = 0; got < total; i++) {
            const n = await p.b.sw.recv(s, dst + got, Math.min(recvs[i % recvs.length]!, total - got));
            expect(n).toBeGreaterThan(0);
            got += n;
          }
          await sender;
          expect(firstDifference(readUser(p.b.process, dst, total), data)).toBe(-1);
          p.a.process.VirtualFree(src, 0, MEM_RELEASE);
          p.b.process.VirtualFree(dst, 0, MEM_RELEASE);
        }), { numRuns: 25 });
      expect(p.a.sw.counters.controlBytes).toBeGreaterThan(0);
      expect(rdmaRead ? p.b.sw.counters.rdmaReadBytes : p.a.sw.counters.rdmaWriteBytes).toBeGreaterThan(0);
      await teardownWithoutLeaks(p);
    }
  });

  it('both directions at once, and orderly shutdown: recv returns 0 after the last byte', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    const n = 200_000;
    const x = pattern(n, 1), y = pattern(n, 2);
    const [ax, ay, bx, by] = [userBuffer(p.a.process, n), userBuffer(p.a.process, n), userBuffer(p.b.process, n), userBuffer(p.b.process, n)];
    p.a.process.writeMemory(ax, x);
    p.b.process.writeMemory(bx, y);
    await Promise.all([p.a.sw.send(c, ax, n), p.b.sw.send(s, bx, n), recvAll(p.a.sw, c, ay, n, 7000), recvAll(p.b.sw, s, by, n, 9000)]);
    expect(firstDifference(readUser(p.b.process, by, n), x)).toBe(-1);
    expect(firstDifference(readUser(p.a.process, ay, n), y)).toBe(-1);
    await p.a.sw.shutdown(c, 1);
    expect(await p.b.sw.recv(s, by, 100)).toBe(0);
    await expect(p.a.sw.send(c, ax, 10)).rejects.toMatchObject({ code: 10058 });
    await teardownWithoutLeaks(p);
  });
});

describe('registration cache', () => {
  it('a hit avoids re-registration; LRU with a size bound evicts the oldest idle buffer', async () => {
    const p = switchPair({ rdmaRead: false, switch: { cache: { maxEntries: 2 } } });
    const { c, s } = await connect(p);
    const n = 100_000;
    const bufs = [0, 1, 2].map(() => userBuffer(p.a.process, n));
    const dst = userBuffer(p.b.process, n);
    const send = async (va: number) => {
      await Promise.all([p.a.sw.send(c, va, n), recvAll(p.b.sw, s, dst, n)]);
    };
    await send(bufs[0]!);
    expect(p.a.sw.counters).toMatchObject({ registrations: 1, cacheHits: 0, cachedEntries: 1 });
    await send(bufs[0]!);
    expect(p.a.sw.counters).toMatchObject({ registrations: 1, cacheHits: 1 });
    await send(bufs[1]!);
    await send(bufs[2]!);
    // Bound of two idle entries: buffer 0 (least recently used) went.
    expect(p.a.sw.counters).toMatchObject({ registrations: 3, evictions: 1, cachedEntries: 2 });
    await send(bufs[0]!);
    expect(p.a.sw.counters).toMatchObject({ registrations: 4, cacheHits: 1 });
    await send(bufs[2]!);
    expect(p.a.sw.counters.cacheHits).toBe(2);
    await teardownWithoutLeaks(p);
  });

  it('SecureMemoryCacheCallback: free a sent buffer, reallocate the same range (new pages), send again — the peer gets the new bytes', async () => {
    for (const bits of [32, 64] as const) {
      const p = switchPair({ bits, rdmaRead: false });
      const { c, s } = await connect(p);
      const n = 256 * 1024;
      const va = userBuffer(p.a.process, n);
      const dst = userBuffer(p.b.process, n);
      const first = pattern(n, 11);
      p.a.process.writeMemory(va, first);
      await Promise.all([p.a.sw.send(c, va, n), recvAll(p.b.sw, s, dst, n)]);
      expect(firstDifference(readUser(p.b.process, dst, n), first)).toBe(-1);
      expect(p.a.sw.counters.cachedEntries).toBe(1);
      // Freeing the cached (secured) buffer succeeds only because the switch released it first.
      expect(p.a.process.VirtualFree(va, 0, MEM_RELEASE)).toBe(true);
      expect(p.a.sw.counters).toMatchObject({ cachedEntries: 0, invalidations: 1 });
      expect(p.a.process.VirtualAlloc(va, n, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)).toBe(va);
      const second = pattern(n, 22);
      p.a.process.writeMemory(va, second);
      await Promise.all([p.a.sw.send(c, va, n), recvAll(p.b.sw, s, dst, n)]);
      expect(firstDifference(readUser(p.b.process, dst, n), second)).toBe(-1);
      expect(p.a.sw.counters).toMatchObject({ registrations: 2, cacheHits: 0 });
      await teardownWithoutLeaks(p);
    }
  });
});

describe('failures', () => {
  it('WSAENOBUFS when memory cannot be registered; the connection keeps working afterwards', async () => {
    const p = switchPair({ rdmaRead: false });
    const { c, s } = await connect(p);
    const n = MIB;
    const src = userBuffer(p.a.process, n);
    const dst = userBuffer(p.b.process, n);
    p.a.process.writeMemory(src, pattern(n, 5));
    const before = snapshot(p.a.host);
    p.a.host.kernel.faults.setPolicy({ kind: 'always' });
    const e = await p.a.sw.send(c, src, n).catch((x: unknown) => x);
    p.a.host.kernel.faults.setPolicy({ kind: 'none' });
    expect(e).toBeInstanceOf(SocketError);
    expect((e as SocketError).code).toBe(WSAENOBUFS);
    expect(leakedCounters(before, snapshot(p.a.host))).toEqual([]);
    // Receiver side too: its target registration fails, the large send stays queued and completes later.
    const sending = p.a.sw.send(c, src, n);
    p.b.host.kernel.faults.setPolicy({ kind: 'always' });
    await expect(p.b.sw.recv(s, dst, n)).rejects.toMatchObject({ code: WSAENOBUFS });
    p.b.host.kernel.faults.setPolicy({ kind: 'none' });
    expect(await recvAll(p.b.sw, s, dst, n)).toBe(n);
    expect(await sending).toBe(n);
    expect(firstDifference(readUser(p.b.process, dst, n), pattern(n, 5))).toBe(-1);
    await teardownWithoutLeaks(p);
  });

  it('closesocket with transfers pending: the blocked calls fail, the peer sees the reset, nothing leaks', async () => {
    const p = switchPair();
    const { c, s } = await connect(p);
    const n = 4 * MIB;
    const src = userBuffer(p.a.process, n);
    const dst = userBuffer(p.b.process, 100);
    // A large send waits for a reader that never comes; a recv waits for bytes that never come.
    const sending = p.a.sw.send(c, src, n).catch((x: unknown) => x);
    const receiving = p.a.sw.recv(c, src, 100).catch((x: unknown) => x);
    await new Promise((r) => setImmediate(r));
    await p.a.sw.closesocket(c);
    expect(await sending).toBeInstanceOf(SocketError);
    expect(await receiving).toBeInstanceOf(SocketError);
    // The peer reads the offer's bytes? No: the sender is gone — its recv fails or sees the shutdown.
    const r = await p.b.sw.recv(s, dst, 100).catch((x: unknown) => x);
    expect(r === 0 || r instanceof SocketError).toBe(true);
    await teardownWithoutLeaks(p);
  });

  it('process exit mid-transfer: the peer sees the connection reset; every resource comes back', async () => {
    const p = switchPair({ bits: 32, rdmaRead: false });
    const { c, s } = await connect(p);
    const n = 2 * MIB;
    const src = userBuffer(p.a.process, n);
    const dst = userBuffer(p.b.process, n);
    const sending = p.a.sw.send(c, src, n).catch((x: unknown) => x);
    // The receiver takes a first part, then the sender's process dies.
    expect(await p.b.sw.recv(s, dst, 64 * 1024)).toBe(64 * 1024);
    expect(p.a.host.kernel.ps.terminateProcess(p.a.process, 0)).toBe(0);
    expect(await sending).toBeInstanceOf(SocketError);
    await expect(p.b.sw.recv(s, dst, n)).rejects.toBeInstanceOf(SocketError);
    expect(leakedCounters(p.baseline[0]!, snapshot(p.a.host))).toEqual([]);
    await p.b.sw.WSACleanup();
    expect(p.b.host.kernel.ps.terminateProcess(p.b.process, 0)).toBe(0);
    expect(leakedCounters(p.baseline[1]!, snapshot(p.b.host))).toEqual([]);
  });
});

describe('path choice', () => {
  it('a switch without the SAN uses the TCP-like provider: copies only, no RDMA, no app registrations', async () => {
    const p = switchPair({ switch: { san: false } });
    const { c, s } = await connect(p);
    expect(p.a.sw.pathOf(c)).toBe('tcp');
    expect(p.a.sw.rdmaReadOf(c)).toBe(null);
    await transfer(p, c, s, 3 * MIB + 5, 9, 100_000);
    expect(p.a.sw.counters).toMatchObject({ rdmaReadBytes: 0, rdmaWriteBytes: 0, registrations: 0, tcpConnections: 1 });
    await p.a.sw.WSACleanup();
    await p.b.sw.WSACleanup();
    for (const [i, app] of [p.a, p.b].entries()) {
      expect(app.host.kernel.ps.terminateProcess(app.process, 0)).toBe(0);
      expect(leakedCounters(p.baseline[i]!, snapshot(app.host))).toEqual([]);
    }
  });

  it('bad arguments reject with WSA codes, never a TypeError', async () => {
    const p = switchPair();
    const sw = p.a.sw;
    await expect(sw.send(12345, 0x10000, 1)).rejects.toMatchObject({ code: 10038 });
    const sock = sw.socket();
    await expect(sw.recv(sock, 0x10000, 1)).rejects.toMatchObject({ code: 10057 });
    expect(() => sw.bind(sock, { ip: 'nope', port: 1 })).toThrow(SocketError);
    expect(() => sw.bind(sock, null as never)).toThrow(SocketError);
    expect(() => sw.listen(sock)).toThrow(SocketError);
    await expect(sw.connect(sock, { ip: '10.9.9.9', port: 1 })).rejects.toBeInstanceOf(SocketError);
    await teardownWithoutLeaks(p);
  });
});
