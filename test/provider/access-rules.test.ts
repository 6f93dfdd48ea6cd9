/**
 * The WSD access rules ("Registering Memory for Operations on a SAN"), each one a test that tries
 * to break it — through the provider and around it (posting straight to the NIC with the
 * numbers a buggy or hostile process could learn) — and must fail cleanly with the memory
 * untouched. Run on a 64-bit NIC (zero copy) and a 32-bit NIC on NOLOWMEM (shadows).
 */
import { describe, expect, it } from 'vitest';
import { parseIpv4 } from '../../src/kernel/net/ip-addresses.ts';
import { ref } from '../../src/kernel/ref.ts';
import { NicStatus, Syndrome, WcStatus } from '../../src/nic/index.ts';
import {
  MEM_READ, MEM_READWRITE, MEM_WRITE, RDMA_DESCRIPTOR_BYTES, SOCKET_ERROR, WSAEACCES, WSAEFAULT, WSA_IO_PENDING,
  newWsaOverlapped, type SanServiceProvider, type WSAOVERLAPPED,
} from '../../src/provider/index.ts';
import { connectedPair, drive, IP_B, type Pair, pattern, PORT, readUser, socket, startProvider, userBuffer } from './harness.ts';

const N = 8192 + 10;

function result(p: SanServiceProvider, s: number, ov: WSAOVERLAPPED): number {
  const e = ref(0);
  drive(p);
  return p.WSPGetOverlappedResult(s, ov, ref(0), true, ref(0), e) ? 0 : e.value;
}

/** A second process on host A, connected to B's listener: the would-be intruder. */
async function intruder(pair: Pair) {
  const x = startProvider(pair.a.host, 'intruder');
  const e = ref(0);
  const sx = socket(x.provider);
  const c = x.provider.WSPConnect(sx, { ip: parseIpv4(IP_B)!, port: PORT }, e);
  const sb2 = await pair.b.provider.WSPAccept(pair.listener, null, ref(0));
  expect(await c).toBe(0);
  return { ...x, s: sx, sb2 };
}

/** B exposes `dst` (filled with a known pattern) for RDMA with `flags`; returns the descriptor. */
function expose(pair: Pair, flags: number, dst: number): Uint8Array {
  pair.b.process.writeMemory(dst, pattern(N, 3));
  const d = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
  expect(pair.b.provider.WSPRegisterRdmaMemory(pair.b.s, dst, N, flags, d, ref(RDMA_DESCRIPTOR_BYTES), ref(0))).toBe(0);
  return d;
}

function localBuffer(p: SanServiceProvider, proc: Pair['a']['process'], s: number, flags: number) {
  const va = userBuffer(proc, N);
  proc.writeMemory(va, pattern(N, 9));
  const h = p.WSPRegisterMemory(s, va, N, flags, ref(0));
  expect(h).not.toBeNull();
  return { va, h: h! };
}

function rdma(p: SanServiceProvider, s: number, write: boolean, buf: { va: number; h: number }, d: Uint8Array): WSAOVERLAPPED {
  const e = ref(0);
  const ov = newWsaOverlapped();
  const args = [s, [{ len: N, buf: buf.va, handle: buf.h }], 1, d, RDMA_DESCRIPTOR_BYTES, 0, ref(0), 0, ov, null, 0, e] as const;
  expect(write ? p.WSPRdmaWrite(...args) : p.WSPRdmaRead(...args)).toBe(SOCKET_ERROR);
  expect(e.value).toBe(WSA_IO_PENDING);
  return ov;
}

const configs = [
  { name: '64-bit NIC', bits: 64 as const },
  { name: '32-bit NIC on NOLOWMEM (shadowed)', bits: 32 as const },
];

for (const cfg of configs) {
  const make = () => connectedPair({ nicA: { addressBits: cfg.bits }, nicB: { addressBits: cfg.bits } });

  describe(`access rules, ${cfg.name}`, () => {
    it('WSPRegisterMemory memory is usable only by the registering process', async () => {
      const pair = await make();
      const x = await intruder(pair);
      const { a, b } = pair;
      const mine = localBuffer(a.provider, a.process, a.s, MEM_READWRITE);
      // Through the provider: the handle means nothing in another process.
      const e = ref(0);
      const ov = newWsaOverlapped();
      expect(x.provider.WSPSend(x.s, [{ len: 16, buf: mine.va, handle: mine.h }], 1, null, 0, ov, null, 0, e)).toBe(SOCKET_ERROR);
      expect(e.value).not.toBe(WSA_IO_PENDING);
      // Around it: the intruder names A's NIC registration on its own endpoint.
      const reg = a.provider.registrations.get(mine.h)!;
      const info = x.provider.socketInfo(x.s)!;
      const nic = a.host.nics[0]!.nic;
      const recvVa = userBuffer(b.process, N);
      const hr = b.provider.WSPRegisterMemory(x.sb2, recvVa, N, MEM_WRITE, e)!;
      const rov = newWsaOverlapped();
      b.provider.WSPRecv(x.sb2, [{ len: N, buf: recvVa, handle: hr }], 1, null, ref(0), rov, null, 0, e);
      // The intruder bypasses its provider: it stops the provider's completion channel on the
      // socket's queue and polls the queue itself.
      expect(nic.openUserPort(x.process.ProcessId).notifyCompletions(info.completionQueue, null)).toBe(NicStatus.SUCCESS);
      expect(nic.postSend(x.process.ProcessId, info.endpoint, { context: 7, elements: [{ localHandle: reg.nicHandle, offset: 0, length: 16 }] }))
        .toBe(NicStatus.SUCCESS);
      pair.cluster.fabric.runUntilIdle();
      const c = nic.pollCompletionQueue(x.process.ProcessId, info.completionQueue, 8).completions;
      expect(c.map((q) => [q.status, q.syndrome])).toEqual([[WcStatus.LOC_PROT_ERR, Syndrome.OWNER_MISMATCH]]);
      expect(readUser(b.process, recvVa, N).every((v) => v === 0)).toBe(true);
    });

    it('RDMA memory is usable only by the peer connected on that socket', async () => {
      const pair = await make();
      const x = await intruder(pair);
      const dst = userBuffer(pair.b.process, N);
      const d = expose(pair, MEM_READWRITE, dst);
      // Another process (on A) with its own connection to B replays the descriptor.
      const src = localBuffer(x.provider, x.process, x.s, MEM_READWRITE);
      expect(result(x.provider, x.s, rdma(x.provider, x.s, true, src, d))).toBe(WSAEACCES);
      // B's own other connection cannot be used as a way in either: the NIC binds the key to one connection.
      expect(pair.b.provider.WSPDeregisterRdmaMemory(pair.b.s, d, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      expect(readUser(pair.b.process, dst, N)).toEqual(pattern(N, 3));
      // The legitimate peer can.
      const d2 = expose(pair, MEM_READWRITE, dst);
      const mine = localBuffer(pair.a.provider, pair.a.process, pair.a.s, MEM_READWRITE);
      expect(result(pair.a.provider, pair.a.s, rdma(pair.a.provider, pair.a.s, true, mine, d2))).toBe(0);
    });

    it('RDMA memory is usable only while registered', async () => {
      const pair = await make();
      const dst = userBuffer(pair.b.process, N);
      const d = expose(pair, MEM_READWRITE, dst);
      expect(pair.b.provider.WSPDeregisterRdmaMemory(pair.b.s, d, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      const src = localBuffer(pair.a.provider, pair.a.process, pair.a.s, MEM_READ);
      expect(result(pair.a.provider, pair.a.s, rdma(pair.a.provider, pair.a.s, true, src, d))).toBe(WSAEACCES);
      expect(readUser(pair.b.process, dst, N)).toEqual(pattern(N, 3));
    });

    it('RDMA memory is usable only while connected: the peer closing revokes it', async () => {
      const pair = await make();
      const dst = userBuffer(pair.b.process, N);
      const d = expose(pair, MEM_READWRITE, dst);
      const src = localBuffer(pair.a.provider, pair.a.process, pair.a.s, MEM_READ);
      expect(pair.b.provider.WSPCloseSocket(pair.b.s, ref(0))).toBe(0);
      pair.cluster.fabric.runUntilIdle();
      const e = ref(0);
      const ov = newWsaOverlapped();
      const r = pair.a.provider.WSPRdmaWrite(pair.a.s, [{ len: N, buf: src.va, handle: src.h }], 1, d, 32, 0, null, 0, ov, null, 0, e);
      if (e.value === WSA_IO_PENDING) expect(result(pair.a.provider, pair.a.s, ov)).not.toBe(0);
      else expect(r).toBe(SOCKET_ERROR);
      expect(readUser(pair.b.process, dst, N)).toEqual(pattern(N, 3));
      expect(pair.b.host.nics[0]!.nic.regionCount).toBe(0);
    });

    it('read-only registrations are never written', async () => {
      let pair = await make();
      // Locally: a receive into a MEM_READ registration is refused by the provider…
      const b = pair.b;
      const ro = localBuffer(b.provider, b.process, b.s, MEM_READ);
      const e = ref(0);
      expect(b.provider.WSPRecv(b.s, [{ len: N, buf: ro.va, handle: ro.h }], 1, null, ref(0), newWsaOverlapped(), null, 0, e))
        .toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEFAULT);
      // …and by the NIC when the provider is bypassed.
      const info = b.provider.socketInfo(b.s)!;
      const nic = b.host.nics[0]!.nic;
      const reg = b.provider.registrations.get(ro.h)!;
      // Bypassing the provider: its completion channel off, the process polls the queue itself.
      expect(nic.openUserPort(b.process.ProcessId).notifyCompletions(info.completionQueue, null)).toBe(NicStatus.SUCCESS);
      expect(nic.postRecv(b.process.ProcessId, info.endpoint, { context: 99, elements: [{ localHandle: reg.nicHandle, offset: 0, length: N }] }))
        .toBe(NicStatus.SUCCESS);
      const sendBuf = localBuffer(pair.a.provider, pair.a.process, pair.a.s, MEM_READ);
      const sov = newWsaOverlapped();
      pair.a.provider.WSPSend(pair.a.s, [{ len: 100, buf: sendBuf.va, handle: sendBuf.h }], 1, null, 0, sov, null, 0, e);
      pair.cluster.fabric.runUntilIdle();
      const c = nic.pollCompletionQueue(b.process.ProcessId, info.completionQueue, 8).completions;
      expect(c.map((q) => q.status)).toEqual([WcStatus.LOC_PROT_ERR]);
      expect(readUser(b.process, ro.va, N)).toEqual(pattern(N, 9));
      if (reg.shadow) expect(readUser(b.process, reg.shadow.userAddress, 100).every((v) => v === 0)).toBe(true);
      // Remotely: the peer's RDMA write into a MEM_READ RDMA registration is refused. (A fresh
      // connection: the NIC's protection error above put this one in the error state, as RC does.)
      const pair2 = await make();
      expect(pair.b.provider.WSPRegisterRdmaMemory(pair.b.s, userBuffer(b.process, N), N, MEM_READ, new Uint8Array(32), ref(32), e))
        .toBe(SOCKET_ERROR);
      pair = pair2;
      const dst = userBuffer(pair.b.process, N);
      const d = expose(pair, MEM_READ, dst);
      const src = localBuffer(pair.a.provider, pair.a.process, pair.a.s, MEM_READ);
      expect(result(pair.a.provider, pair.a.s, rdma(pair.a.provider, pair.a.s, true, src, d))).toBe(WSAEACCES);
      expect(pair.b.provider.WSPDeregisterRdmaMemory(pair.b.s, d, RDMA_DESCRIPTOR_BYTES, ref(0))).toBe(0);
      expect(readUser(pair.b.process, dst, N)).toEqual(pattern(N, 3));
    });

    it('write-only registrations are never read', async () => {
      const pair = await make();
      const dst = userBuffer(pair.b.process, N);
      const d = expose(pair, MEM_WRITE, dst);
      const back = localBuffer(pair.a.provider, pair.a.process, pair.a.s, MEM_WRITE);
      expect(result(pair.a.provider, pair.a.s, rdma(pair.a.provider, pair.a.s, false, back, d))).toBe(WSAEACCES);
      expect(readUser(pair.a.process, back.va, N)).toEqual(pattern(N, 9));
      // Locally: a send from a MEM_WRITE registration is refused by the provider and by the NIC.
      const a = pair.a;
      const e = ref(0);
      const wo = localBuffer(a.provider, a.process, a.s, MEM_WRITE);
      expect(a.provider.WSPSend(a.s, [{ len: 10, buf: wo.va, handle: wo.h }], 1, null, 0, newWsaOverlapped(), null, 0, e))
        .toBe(SOCKET_ERROR);
      expect(e.value).toBe(WSAEFAULT);
    });
  });
}
