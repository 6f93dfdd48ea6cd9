/**
 * The proxy's scenario matrix through the SAN service provider (the WSP calls the switch makes):
 * NIC width {32, 64} × NOLOWMEM {on, off} × strategy {contiguous, common-buffer}. Each run
 * registers, moves bytes A → B by RDMA write, B → A by RDMA read, A → B by send/recv, checks
 * every byte, tears down with WSPCloseSocket / WSPCleanup, and requires every counter back.
 */
import { describe, expect, it } from 'vitest';
import { FOUR_GIB, PAGE_SIZE } from '../../src/bus/index.ts';
import { leakedCounters, snapshot, type Host } from '../../src/host/index.ts';
import { ref } from '../../src/kernel/ref.ts';
import {
  MEM_READ, MEM_READWRITE, MEM_WRITE, RDMA_DESCRIPTOR_BYTES, SOCKET_ERROR, WSA_IO_PENDING, newWsaOverlapped,
  type SanServiceProvider, type WSAOVERLAPPED,
} from '../../src/provider/index.ts';
import { connectedPair, drive, pattern, readUser, userBuffer } from './harness.ts';

const N = 40 * 1024 + 77;

function done(p: SanServiceProvider, s: number, ov: WSAOVERLAPPED): number {
  const bytes = ref(-1);
  const e = ref(0);
  drive(p);
  const ok = p.WSPGetOverlappedResult(s, ov, bytes, true, ref(0), e);
  if (!ok) throw new Error(`transfer failed with WSA error ${e.value}`);
  return bytes.value;
}

async function scenario(bits: 32 | 64, nolowmem: boolean, strategy: 'contiguous' | 'common-buffer') {
  const hostSpec = { nolowmem, strategy } as const;
  const pair = await connectedPair({ nicA: { addressBits: bits }, nicB: { addressBits: bits }, hostA: hostSpec, hostB: hostSpec });
  const { a, b } = pair;
  const hosts: Host[] = [a.host, b.host];
  // Baseline after the proxy, processes and connection exist; the providers' buffers come next.
  const e = ref(0);
  const src = userBuffer(a.process, N);
  const back = userBuffer(a.process, N);
  const dst = userBuffer(b.process, N);
  const out = pattern(N, bits + (nolowmem ? 1 : 0));
  a.process.writeMemory(src + 0, out);

  // A: one local registration for the source, one for the read-back target.
  const hSrc = a.provider.WSPRegisterMemory(a.s, src, N, MEM_READ, e);
  const hBack = a.provider.WSPRegisterMemory(a.s, back, N, MEM_WRITE, e);
  expect(hSrc).not.toBeNull();
  expect(hBack).not.toBeNull();
  // B: the RDMA target, readable and writable by the peer of this connection only.
  const desc = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
  const dlen = ref(RDMA_DESCRIPTOR_BYTES);
  expect(b.provider.WSPRegisterRdmaMemory(b.s, dst, N, MEM_READWRITE, desc, dlen, e)).toBe(0);

  const shadowed = bits === 32 && nolowmem;
  for (const p of [a.provider, b.provider]) {
    for (const r of p.registrations.all()) expect(r.shadow !== null).toBe(shadowed);
  }

  // RDMA write A → B.
  const w = newWsaOverlapped();
  expect(a.provider.WSPRdmaWrite(a.s, [{ len: N, buf: src, handle: hSrc! }], 1, desc, dlen.value, 0, ref(0), 0, w, null, 0, e))
    .toBe(SOCKET_ERROR);
  expect(e.value).toBe(WSA_IO_PENDING);
  expect(done(a.provider, a.s, w)).toBe(N);
  // B sees the bytes in its own buffer (through its shadow when there is one) — at the
  // latest when it deregisters; re-register to keep the buffer exposed for the read below.
  expect(b.provider.WSPDeregisterRdmaMemory(b.s, desc, dlen.value, e)).toBe(0);
  expect(Buffer.compare(readUser(b.process, dst, N), out)).toBe(0);
  const changed = pattern(N, 99);
  b.process.writeMemory(dst, changed);
  expect(b.provider.WSPRegisterRdmaMemory(b.s, dst, N, MEM_READWRITE, desc, dlen, e)).toBe(0);

  // RDMA read B → A.
  const r = newWsaOverlapped();
  const rd = a.provider.WSPRdmaRead(a.s, [{ len: N, buf: back, handle: hBack! }], 1, desc, dlen.value, 0, ref(0), 0, r, null, 0, e);
  expect([rd, e.value]).toEqual([SOCKET_ERROR, WSA_IO_PENDING]);
  expect(done(a.provider, a.s, r)).toBe(N);
  expect(Buffer.compare(readUser(a.process, back, N), changed)).toBe(0);

  // Send / recv A → B on registered buffers.
  const hRecv = b.provider.WSPRegisterMemory(b.s, dst, N, MEM_WRITE, e);
  expect(hRecv).not.toBeNull();
  const rv = newWsaOverlapped();
  expect(b.provider.WSPRecv(b.s, [{ len: N, buf: dst, handle: hRecv! }], 1, ref(0), ref(0), rv, null, 0, e)).toBe(SOCKET_ERROR);
  const sd = newWsaOverlapped();
  expect(a.provider.WSPSend(a.s, [{ len: 1000, buf: src + 5, handle: hSrc! }], 1, ref(0), 0, sd, null, 0, e)).toBe(SOCKET_ERROR);
  expect(done(a.provider, a.s, sd)).toBe(1000);
  expect(done(b.provider, b.s, rv)).toBe(1000);
  expect(Buffer.compare(readUser(b.process, dst, 1000), out.subarray(5, 1005))).toBe(0);

  if (shadowed) expect(a.provider.shadowCopyBytes + b.provider.shadowCopyBytes).toBeGreaterThanOrEqual(3 * N + 2000);
  else expect(a.provider.shadowCopyBytes + b.provider.shadowCopyBytes).toBe(0);

  // No NIC was ever handed an address it cannot reach; the low pages kept their fill.
  for (const h of hosts) {
    const nic = h.nics[0]!.nic;
    if (bits === 32) expect(nic.handedAddresses().every((x) => x + PAGE_SIZE <= FOUR_GIB)).toBe(true);
    expect(nic.handedAboveLimit).toBe(0);
    expect(h.kernel.mm.chklowmem().violations).toBe(0);
  }

  // Teardown: the provider releases everything itself before the handle closes.
  expect(a.provider.WSPCloseSocket(a.s, e)).toBe(0);
  for (const side of [a, b]) {
    expect(side.provider.WSPCleanup(e)).toBe(0);
    expect(side.provider.counters).toMatchObject({ sockets: 0, registrations: 0, cached: 0, pendingTransfers: 0 });
    expect(side.host.nics[0]!.nic.regionCount).toBe(0);
    expect(side.process.lockedPages).toBe(0);
    expect(side.process.lockedPageMappings.size).toBe(0);
    expect(side.process.secureEntries.size).toBe(0);
  }
  return pair;
}

describe('WSD through the provider: NIC width × NOLOWMEM × strategy', () => {
  for (const bits of [32, 64] as const) {
    for (const nolowmem of [true, false]) {
      for (const strategy of ['contiguous', 'common-buffer'] as const) {
        it(`${bits}-bit NIC, NOLOWMEM ${nolowmem ? 'on' : 'off'}, ${strategy}: bytes arrive, nothing leaks`, async () => {
          const pair = await scenario(bits, nolowmem, strategy);
          // Every resource is back once the processes are gone (their own VirtualAllocs go with them).
          [pair.a, pair.b].forEach((side, i) => {
            expect(side.host.kernel.ps.terminateProcess(side.process, 0)).toBe(0);
            expect(leakedCounters(pair.baseline[i]!, snapshot(side.host))).toEqual([]);
          });
        });
      }
    }
  }
});
