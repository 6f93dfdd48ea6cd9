/**
 * The UDP link (src/nic/udp-link.ts): two NICs, each with its own scheduler in real time and
 * its own socket on a loopback address, exchange RDMA WRITE, READ and SEND over the kernel's
 * UDP; datagrams that are not good RoCEv2 from a peer are dropped and counted with nothing
 * else changed; sockets are closed at the end. Waits are on events (completions, counters),
 * never on time; the test timeout is only a hang guard.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import { testPattern } from '../../src/bus/test-pattern.ts';
import { Fabric, NicAccess, Opcode, Scheduler, UdpLink, UdpLinkError, WcStatus, type Completion } from '../../src/nic/index.ts';
import { seededRandom } from '../../src/kernel/fault-injection.ts';
import { Opcode as WireOpcode, buildFrame, packetFields, macForIpv4, FRAME_BTH, ROCE_UDP_PORT, ICRC_BYTES } from '../../src/wire/index.ts';
import { PA, PB, PORT, expectOk, fillPattern, pagesOf, snapshot } from './harness.ts';
import { closeUdpHost, udpHandles, udpHost, type UdpHost } from './udp-harness.ts';

const A = '127.0.17.2';
const B = '127.0.17.3';
const STRANGER = '127.0.17.9';
const RW = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE;
const REMOTE = RW | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;

const open: UdpHost[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await closeUdpHost(h);
  for (const s of sockets.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function pair(): Promise<{ a: UdpHost; b: UdpHost; cqA: number; cqB: number; epA: number; epB: number }> {
  const a = await udpHost('a', A, [B]);
  open.push(a);
  const b = await udpHost('b', B, [A]);
  open.push(b);
  const cqA = a.nic.createCompletionQueue(PA, 64).cq;
  const cqB = b.nic.createCompletionQueue(PB, 64).cq;
  const epA = a.nic.createEndpoint(PA, cqA).endpoint;
  const epB = b.nic.createEndpoint(PB, cqB).endpoint;
  expectOk(b.nic.listen(PB, PORT));
  // The active side names the peer by its SAN address, which on a UDP fabric is its IPv4 address.
  expectOk(a.nic.connect(PA, epA, b.ip, PORT));
  await b.scheduler.block(() => b.nic.pendingConnections(PB, PORT) === 1);
  expectOk(b.nic.accept(PB, PORT, epB));
  await a.scheduler.block(() => a.nic.endpointInfo(PA, epA) !== null && (a.nic.endpointInfo(PA, epA) as { state: string }).state !== 'connecting');
  await b.scheduler.block(() => (b.nic.endpointInfo(PB, epB) as { state: string }).state === 'connected');
  return { a, b, cqA, cqB, epA, epB };
}

/** Wait for the next completion on `cq` (an event: a completion arrived), then take it. */
async function next(h: UdpHost, owner: number, cq: number): Promise<Completion> {
  for (;;) {
    const got = h.nic.pollCompletionQueue(owner, cq, 1).completions;
    if (got.length > 0) return got[0]!;
    await h.scheduler.block(() => (h.nic.completionQueues.get(cq)?.count ?? 0) > 0);
  }
}

describe('UDP link: two NICs in real time over loopback UDP', () => {
  it('connect by CM MADs, then RDMA WRITE, RDMA READ and SEND move every byte', async () => {
    const { a, b, cqA, cqB, epA, epB } = await pair();
    expect((a.nic.endpointInfo(PA, epA) as { state: string }).state).toBe('connected');
    expect(a.link.recvBufferBytes).toBeGreaterThan(0);

    const N = 96 * 1024; // 24 packets at a 4096 PMTU
    fillPattern(a.memory, 0, N, 1);
    fillPattern(b.memory, 1 << 20, N, 2);
    const srcA = a.nic.registerRegion({ owner: PA, pages: pagesOf(0, N / PAGE_SIZE), firstByteOffset: 0, length: N, access: RW });
    const backA = a.nic.registerRegion({ owner: PA, pages: pagesOf(2 << 20, N / PAGE_SIZE), firstByteOffset: 0, length: N, access: RW });
    const dstB = b.nic.registerRegion({ owner: PB, pages: pagesOf(1 << 20, 2 * N / PAGE_SIZE), firstByteOffset: 0, length: 2 * N, access: REMOTE });
    expectOk(b.nic.bindRegion(dstB.handle, epB));

    // WRITE A[0, N) → B[N, 2N); READ B[0, N) → A[2 MiB, +N); SEND A[0, 1000) → B[N, +1000) after the WRITE is checked.
    expectOk(a.nic.postRdmaWrite(PA, epA, { context: 1, elements: [{ localHandle: srcA.handle, offset: 0, length: N }], remote: { remoteKey: dstB.remoteKey, address: N, length: N } }));
    expectOk(a.nic.postRdmaRead(PA, epA, { context: 2, elements: [{ localHandle: backA.handle, offset: 0, length: N }], remote: { remoteKey: dstB.remoteKey, address: 0, length: N } }));
    expect(await next(a, PA, cqA)).toMatchObject({ status: WcStatus.SUCCESS, context: 1, bytes: N, opcode: Opcode.RDMA_WRITE });
    expect(await next(a, PA, cqA)).toMatchObject({ status: WcStatus.SUCCESS, context: 2, bytes: N, opcode: Opcode.RDMA_READ });
    expect(Buffer.compare(snapshot(b.memory, (1 << 20) + N, N), testPattern(N, 1))).toBe(0);
    expect(Buffer.compare(snapshot(a.memory, 2 << 20, N), testPattern(N, 2))).toBe(0);

    expectOk(b.nic.postRecv(PB, epB, { context: 3, elements: [{ localHandle: dstB.handle, offset: 0, length: 10_000 }] }));
    expectOk(a.nic.postSend(PA, epA, { context: 4, elements: [{ localHandle: srcA.handle, offset: 5, length: 9_000 }] }));
    expect(await next(a, PA, cqA)).toMatchObject({ status: WcStatus.SUCCESS, context: 4, bytes: 9_000 });
    expect(await next(b, PB, cqB)).toMatchObject({ status: WcStatus.SUCCESS, context: 3, bytes: 9_000, opcode: Opcode.RECV });
    expect(Buffer.compare(snapshot(b.memory, 1 << 20, 9_000), testPattern(N, 1).subarray(5, 9_005))).toBe(0);

    // Every datagram was a good packet: nothing dropped by either link or either port.
    for (const h of [a, b]) {
      expect(h.link.counters.dropped).toBe(0);
      expect(h.nic.wire.counters.packetsDropped).toBe(0);
    }
    expect(a.link.counters.sendErrors + b.link.counters.sendErrors).toBe(0);
  });

  it('sockets are bound while open and released after close: no UDP handle left, the address binds again', async () => {
    const before = udpHandles();
    const a = await udpHost('a', A, [B]);
    open.push(a);
    expect(udpHandles()).toBe(before + 1);
    await expect(UdpLink.open(new Scheduler('twice'), { address: A, peers: [B] })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(udpHandles()).toBe(before + 1);
    await closeUdpHost(open.pop()!);
    expect(udpHandles()).toBe(before);
    expect(a.scheduler.wakeTimerArmed).toBe(false);
    const again = await UdpLink.open(new Scheduler('again'), { address: A, peers: [B] });
    await again.close();
    expect(udpHandles()).toBe(before);
    await expect(UdpLink.open(new Scheduler('x'), { address: '300.1.2.3', peers: [] })).rejects.toThrow(/not a dotted IPv4/);
    await expect(UdpLink.open(new Scheduler('x'), { address: A, peers: [A] })).rejects.toThrow(/own address/);
  });

  it('datagrams from strangers, truncated, oversized, with a bad ICRC, to unknown QPs or random bytes are dropped and counted, nothing else changes (seeded fuzz)', async () => {
    const { a, b, cqB, epB } = await pair();
    const random = seededRandom(17);
    // A fuzzer at the peer's address would need that socket: it sends from a stranger's address
    // and, for the "from a peer" cases, from a second socket of the peer's address on another port.
    const stranger = createSocket('udp4');
    sockets.push(stranger);
    await new Promise<void>((r) => stranger.bind({ address: STRANGER, port: 0 }, () => r()));
    const fromPeer = createSocket('udp4');
    sockets.push(fromPeer);
    await new Promise<void>((r) => fromPeer.bind({ address: A, port: 0 }, () => r()));
    // The ICRC covers the UDP source port: a frame from this socket is sealed with its port.
    const fromPort = fromPeer.address().port;

    const rxBefore = b.nic.wire.counters.packetsReceived;
    const memoryBefore = snapshot(b.memory);
    const stateBefore = JSON.stringify(b.nic.endpointInfo(PB, epB));
    const linkBefore = { ...b.link.counters, dropped: b.link.counters.dropped };
    const portDropsBefore = b.nic.wire.counters.packetsDropped;
    const frame = new Uint8Array(8192);
    const f = packetFields();
    const kinds = { stranger: 0, truncated: 0, oversized: 0, badIcrc: 0, unknownQp: 0, random: 0 };
    const CASES = 1200;
    let sent = 0;
    for (let i = 0; i < CASES; i++) {
      const kind = Math.floor(random() * 6);
      let bytes: Uint8Array;
      let socket = fromPeer;
      if (kind <= 1 || kind === 5) {
        const n = kind === 0 ? Math.floor(random() * 4200) : kind === 1 ? Math.floor(random() * 16) : 4200 + Math.floor(random() * 3000);
        bytes = Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
        if (kind === 0) socket = stranger;
        kinds[kind === 0 ? 'stranger' : kind === 1 ? 'truncated' : 'oversized']++;
      } else if (kind === 2) {
        bytes = Uint8Array.from({ length: 16 + Math.floor(random() * 4100) }, () => Math.floor(random() * 256));
        kinds.random++;
      } else {
        // A well-formed RC SEND Only from the peer: to a QP that does not exist, or with its ICRC broken.
        Object.assign(f, { srcIp: a.ip, dstIp: b.ip, srcMac: macForIpv4(a.ip), dstMac: macForIpv4(b.ip), srcPort: fromPort,
          opcode: WireOpcode.RC_SEND_ONLY, destQp: kind === 3 ? 0xabcdef : epB, psn: Math.floor(random() * 0xffffff), ackReq: 1 });
        const n = buildFrame(frame, f, testPattern(Math.floor(random() * 1024), i));
        bytes = frame.slice(FRAME_BTH, n);
        if (kind === 4) bytes[bytes.length - 1 - Math.floor(random() * ICRC_BYTES)]! ^= 1 << Math.floor(random() * 8);
        kinds[kind === 3 ? 'unknownQp' : 'badIcrc']++;
      }
      await new Promise<void>((r) => socket.send(bytes, ROCE_UDP_PORT, B, () => r()));
      sent++;
      // In batches, each waited for, so the socket buffer never overflows (a kernel drop is no count).
      if (sent % 50 === 0 || i === CASES - 1) await b.scheduler.block(() => b.link.counters.received - linkBefore.received === sent && b.scheduler.idle);
    }
    await b.scheduler.block(() => b.scheduler.idle);
    const linkDrops = b.link.counters.dropped - linkBefore.dropped;
    const portDrops = b.nic.wire.counters.packetsDropped - portDropsBefore;
    expect(linkDrops + portDrops).toBe(CASES);
    expect(b.link.counters.droppedUnknownSource - linkBefore.droppedUnknownSource).toBe(kinds.stranger);
    expect(b.link.counters.droppedTruncated - linkBefore.droppedTruncated).toBe(kinds.truncated);
    expect(b.link.counters.droppedOversized - linkBefore.droppedOversized).toBe(kinds.oversized);
    expect(b.nic.wire.counters.droppedNoQp).toBe(kinds.unknownQp);
    expect(Object.values(kinds).every((n) => n > 100)).toBe(true);
    // Nothing else changed: no packet accepted, no byte of memory, no endpoint state, no completion.
    expect(b.nic.wire.counters.packetsReceived).toBe(rxBefore);
    expect(Buffer.compare(snapshot(b.memory), memoryBefore)).toBe(0);
    expect(JSON.stringify(b.nic.endpointInfo(PB, epB))).toBe(stateBefore);
    expect(b.nic.pollCompletionQueue(PB, cqB, 8).completions).toEqual([]);
  });
});

// Fabric on a UDP link: SAN addresses are IPv4 addresses; the rest resolves through the link.
describe('Fabric over a UDP link', () => {
  it('resolves a peer by its IPv4 address and nothing else; a NIC must be attached at its IPv4 address', async () => {
    const a = await udpHost('a', A, [B]);
    open.push(a);
    expect(a.fabric.addressesAreIps).toBe(true);
    expect(a.fabric.resolveIp(0x7f001103)).toBe(0x7f001103);
    expect(a.fabric.pathTo(0x7f001103)).toEqual({ ip: 0x7f001103, mtu: 4096 });
    expect(a.fabric.ipOf(0x7f001103)).toBe(0x7f001103);
    expect(a.fabric.resolveIp(0x7f001109)).toBe(0);
    expect(a.fabric.pathTo(0x7f001109)).toBeNull();
    expect(a.fabric.ipOf(a.ip)).toBe(a.ip);
    const other = new Fabric<UdpLink>('x', a.scheduler, a.link);
    const { makeHost } = await import('./harness.ts');
    expect(() => other.attach(makeHost('n').nic)).toThrow(/IPv4 address/);
    expect(UdpLinkError).toBeDefined();
  });
});
