/**
 * Every access check of the SAN NIC, each test trying to break one and asserting that no
 * byte of the target moved. Requester (local) checks, responder (remote) checks, queue rules.
 */
import { describe, expect, it } from 'vitest';
import { NicAccess, NicStatus, Opcode, Syndrome, WcStatus, type Completion } from '../../src/nic/index.ts';
import { localAckTimeoutNanoseconds } from '../../src/wire/index.ts';
import { ACK_TIMEOUT_CODE } from '../../src/nic/completer.ts';
import { PA, PB, PX, connectedPair, expectOk, fillPattern, pagesOf, snapshot, type Pair } from './harness.ts';

const RW = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE;
const ALL = RW | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;
const SRC = 0x10000; // on A
const DST = 0x20000; // on B
const LEN = 3 * 4096;

interface World extends Pair {
  src: { handle: number; remoteKey: number };
  dst: { handle: number; remoteKey: number };
  beforeA: Uint8Array;
  beforeB: Uint8Array;
}

function world(access = { src: RW, dst: ALL }, caps = {}, capsB = caps): World {
  const p = connectedPair(caps, capsB);
  fillPattern(p.a.memory, 0, 0x40000, 1);
  fillPattern(p.b.memory, 0, 0x40000, 2);
  const src = p.a.nic.registerRegion({ owner: PA, pages: pagesOf(SRC, 3), firstByteOffset: 0, length: LEN, access: access.src });
  const dst = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, 3), firstByteOffset: 0, length: LEN, access: access.dst });
  expectOk(src.status);
  expectOk(dst.status);
  if (access.dst & (NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE)) expectOk(p.b.nic.bindRegion(dst.handle, p.epB));
  return { ...p, src, dst, beforeA: snapshot(p.a.memory), beforeB: snapshot(p.b.memory) };
}

function poll(w: Pair, side: 'a' | 'b'): Completion[] {
  const r = side === 'a' ? w.a.nic.pollCompletionQueue(PA, w.cqA, 1000) : w.b.nic.pollCompletionQueue(PB, w.cqB, 1000);
  expectOk(r.status);
  return r.completions;
}

function expectNoByteMoved(w: World): void {
  expect(Buffer.compare(snapshot(w.a.memory), w.beforeA)).toBe(0);
  expect(Buffer.compare(snapshot(w.b.memory), w.beforeB)).toBe(0);
}

function rdmaWrite(w: World, over: { handle?: number; offset?: number; length?: number; rkey?: number; address?: number; rlength?: number } = {}): number {
  const length = over.length ?? 100;
  return w.a.nic.postRdmaWrite(PA, w.epA, {
    context: 7,
    elements: [{ localHandle: over.handle ?? w.src.handle, offset: over.offset ?? 0, length }],
    remote: { remoteKey: over.rkey ?? w.dst.remoteKey, address: over.address ?? 0, length: over.rlength ?? length },
  });
}

/** Post, run, and expect one failed completion with `status`/`syndrome`, zero bytes moved. */
function expectWriteFails(w: World, status: number, syndrome: number, over: Parameters<typeof rdmaWrite>[1] = {}): void {
  expectOk(rdmaWrite(w, over));
  w.fabric.runUntilIdle();
  const c = poll(w, 'a');
  expect(c).toHaveLength(1);
  expect(c[0]).toMatchObject({ status, syndrome, bytes: 0, context: 7, opcode: Opcode.RDMA_WRITE });
  expectNoByteMoved(w);
  expect(w.a.nic.endpointInfo(PA, w.epA)).toMatchObject({ state: 'error' });
}

describe('RDMA write happy path (the checks must not forbid what is allowed)', () => {
  it('moves exactly the bytes named, across pages, and completes with SUCCESS', () => {
    const w = world();
    expectOk(rdmaWrite(w, { offset: 4000, length: 5000, address: 3000 }));
    expect(poll(w, 'a')).toHaveLength(0); // posting returns at once; completion comes later
    w.fabric.runUntilIdle();
    expect(poll(w, 'a')).toEqual([
      { status: WcStatus.SUCCESS, syndrome: Syndrome.NONE, opcode: Opcode.RDMA_WRITE, bytes: 5000, context: 7, endpoint: w.epA },
    ]);
    const after = snapshot(w.b.memory);
    const expected = w.beforeB.slice();
    expected.set(w.beforeA.subarray(SRC + 4000, SRC + 9000), DST + 3000);
    expect(Buffer.compare(after, expected)).toBe(0);
    expect(w.a.nic.counters.bytesRdmaWrite).toBe(5000);
    expect(w.b.nic.counters.bytesRdmaWriteServed).toBe(5000);
  });
});

describe('requester (local) checks — LOC_PROT_ERR / LOC_LEN_ERR, endpoint to error, no byte moves', () => {
  it('forged local handle fails at "entry exists"', () => {
    const w = world();
    expectWriteFails(w, WcStatus.LOC_PROT_ERR, Syndrome.NO_ENTRY, { handle: 0xdead_0001 });
  });
  it('deregistered handle fails (slot freed)', () => {
    const w = world();
    expectOk(w.a.nic.deregisterRegion(w.src.handle));
    expectWriteFails(w, WcStatus.LOC_PROT_ERR, Syndrome.NO_ENTRY);
  });
  it('stale handle after re-registration fails at "full key matches"', () => {
    const w = world();
    const r = w.a.nic.reregisterRegion(w.src.handle, { pages: pagesOf(SRC, 3), firstByteOffset: 0, length: LEN, access: RW });
    expectOk(r.status);
    expect(r.handle).not.toBe(w.src.handle);
    expectWriteFails(w, WcStatus.LOC_PROT_ERR, Syndrome.KEY_MISMATCH);
  });
  it('handle of another process fails at "owner matches"', () => {
    const w = world();
    const other = w.a.nic.registerRegion({ owner: PX, pages: pagesOf(SRC, 3), firstByteOffset: 0, length: LEN, access: RW });
    expectWriteFails(w, WcStatus.LOC_PROT_ERR, Syndrome.OWNER_MISMATCH, { handle: other.handle });
  });
  it('missing LOCAL_READ fails at "rights present"', () => {
    const w = world({ src: NicAccess.LOCAL_WRITE, dst: ALL });
    expectWriteFails(w, WcStatus.LOC_PROT_ERR, Syndrome.ACCESS_DENIED);
  });
  it('invalidated region fails at "region valid"', () => {
    const w = world();
    expectOk(w.a.nic.invalidateRegion(w.src.handle));
    expectWriteFails(w, WcStatus.LOC_PROT_ERR, Syndrome.REGION_INVALID);
  });
  it('offset past the region fails the range check', () => {
    const w = world();
    expectWriteFails(w, WcStatus.LOC_PROT_ERR, Syndrome.OUT_OF_RANGE, { offset: LEN - 10, length: 11 });
  });
  it('wrapped range (offset + length past 2^53) fails the range check', () => {
    const w = world();
    expectWriteFails(w, WcStatus.LOC_PROT_ERR, Syndrome.OUT_OF_RANGE, { offset: Number.MAX_SAFE_INTEGER - 5, length: 100 });
  });
  it('zero-length request completes LOC_LEN_ERR', () => {
    const w = world();
    expectWriteFails(w, WcStatus.LOC_LEN_ERR, Syndrome.ZERO_LENGTH, { length: 0 });
  });
  it('oversized request (> maxMessageBytes) completes LOC_LEN_ERR', () => {
    const w = world(undefined, { maxMessageBytes: 4096 });
    expectWriteFails(w, WcStatus.LOC_LEN_ERR, Syndrome.TOO_LONG, { length: 4097 });
  });
  it('local length differing from the remote descriptor completes LOC_LEN_ERR', () => {
    const w = world();
    expectWriteFails(w, WcStatus.LOC_LEN_ERR, Syndrome.LENGTH_MISMATCH, { length: 100, rlength: 99 });
  });
  it('a failed request flushes every later one (RC) and later posts complete WR_FLUSH_ERR', () => {
    const w = world();
    expectOk(rdmaWrite(w, { handle: 12345 }));
    expectOk(rdmaWrite(w));
    w.fabric.runUntilIdle();
    expectOk(rdmaWrite(w)); // posting in error is accepted and flushed
    w.fabric.runUntilIdle();
    expect(poll(w, 'a').map((c) => c.status)).toEqual([WcStatus.LOC_PROT_ERR, WcStatus.WR_FLUSH_ERR, WcStatus.WR_FLUSH_ERR]);
    expectNoByteMoved(w);
  });
});

describe('responder (remote) checks — REM_ACCESS_ERR, both endpoints to error, no byte moves', () => {
  // A learns the NAK code only (KEY_MISMATCH is all a Remote Access Error says); B's responder
  // records which check failed.
  const expectRemote = (w: World, syndrome: number, over: Parameters<typeof rdmaWrite>[1] = {}): void => {
    expectWriteFails(w, WcStatus.REM_ACCESS_ERR, Syndrome.KEY_MISMATCH, over);
    expect(w.b.nic.endpointInfo(PB, w.epB)).toMatchObject({ state: 'error', responderSyndrome: syndrome });
  };
  it('forged remote key fails at "entry exists"', () => expectRemote(world(), Syndrome.NO_ENTRY, { rkey: 0xfff0_0123 }));
  it('guessed generation of a live slot fails at "full key matches"', () => {
    const w = world();
    expectRemote(w, Syndrome.KEY_MISMATCH, { rkey: w.dst.remoteKey ^ 1 });
  });
  it('the local handle is not a remote key', () => {
    const w = world();
    expectRemote(w, Syndrome.KEY_MISMATCH, { rkey: w.dst.handle });
  });
  it('stale remote key after re-registration fails', () => {
    const w = world();
    const r = w.b.nic.reregisterRegion(w.dst.handle, { pages: pagesOf(DST, 3), firstByteOffset: 0, length: LEN, access: ALL });
    expectOk(w.b.nic.bindRegion(r.handle, w.epB));
    expectRemote(w, Syndrome.KEY_MISMATCH);
  });
  it('deregistered remote key fails', () => {
    const w = world();
    expectOk(w.b.nic.deregisterRegion(w.dst.handle));
    expectRemote(w, Syndrome.NO_ENTRY);
  });
  it('unbound region fails at "bound connection matches"', () => {
    const w = world();
    expectOk(w.b.nic.unbindRegion(w.dst.handle));
    expectRemote(w, Syndrome.BINDING_MISMATCH);
  });
  it('region bound to another connection fails', () => {
    const w = world();
    const other = w.b.nic.createEndpoint(PB, w.cqB);
    expectOk(w.b.nic.unbindRegion(w.dst.handle));
    expectOk(w.b.nic.bindRegion(w.dst.handle, other.endpoint));
    expectRemote(w, Syndrome.BINDING_MISMATCH);
  });
  it('missing REMOTE_WRITE fails at "rights present"', () => {
    expectRemote(world({ src: RW, dst: RW | NicAccess.REMOTE_READ }), Syndrome.ACCESS_DENIED);
  });
  it('invalidated remote region fails at "region valid"', () => {
    const w = world();
    expectOk(w.b.nic.invalidateRegion(w.dst.handle));
    expectRemote(w, Syndrome.REGION_INVALID);
  });
  it('remote offset past the region fails the range check', () => expectRemote(world(), Syndrome.OUT_OF_RANGE, { address: LEN - 50 }));
  it('wrapped remote range fails the range check', () =>
    expectRemote(world(), Syndrome.OUT_OF_RANGE, { address: Number.MAX_SAFE_INTEGER - 10 }));

  it('RDMA read needs REMOTE_READ and reads nothing otherwise', () => {
    const w = world({ src: RW, dst: RW | NicAccess.REMOTE_WRITE });
    expectOk(w.a.nic.postRdmaRead(PA, w.epA, {
      context: 1,
      elements: [{ localHandle: w.src.handle, offset: 0, length: 64 }],
      remote: { remoteKey: w.dst.remoteKey, address: 0, length: 64 },
    }));
    w.fabric.runUntilIdle();
    expect(poll(w, 'a')[0]).toMatchObject({ status: WcStatus.REM_ACCESS_ERR, syndrome: Syndrome.KEY_MISMATCH, bytes: 0 });
    expect(w.b.nic.endpointInfo(PB, w.epB)).toMatchObject({ responderSyndrome: Syndrome.ACCESS_DENIED });
    expectNoByteMoved(w);
  });
  it('RDMA read moves the remote bytes into the local buffer', () => {
    const w = world();
    expectOk(w.a.nic.postRdmaRead(PA, w.epA, {
      context: 1,
      elements: [{ localHandle: w.src.handle, offset: 10, length: 6000 }],
      remote: { remoteKey: w.dst.remoteKey, address: 20, length: 6000 },
    }));
    w.fabric.runUntilIdle();
    expect(poll(w, 'a')[0]).toMatchObject({ status: WcStatus.SUCCESS, bytes: 6000, opcode: Opcode.RDMA_READ });
    const expected = w.beforeA.slice();
    expected.set(w.beforeB.subarray(DST + 20, DST + 6020), SRC + 10);
    expect(Buffer.compare(snapshot(w.a.memory), expected)).toBe(0);
  });
  it('a responder that does not serve RDMA read answers REM_INV_REQ_ERR', () => {
    const w = world(undefined, {}, { rdmaRead: false });
    expectOk(w.a.nic.postRdmaRead(PA, w.epA, {
      context: 1,
      elements: [{ localHandle: w.src.handle, offset: 0, length: 8 }],
      remote: { remoteKey: w.dst.remoteKey, address: 0, length: 8 },
    }));
    w.fabric.runUntilIdle();
    // Invalid Request on a READ: the requester infers the responder does not serve READs.
    expect(poll(w, 'a')[0]).toMatchObject({ status: WcStatus.REM_INV_REQ_ERR, syndrome: Syndrome.RDMA_READ_UNSUPPORTED });
    expect(w.b.nic.endpointInfo(PB, w.epB)).toMatchObject({ responderSyndrome: Syndrome.RDMA_READ_UNSUPPORTED });
    expectNoByteMoved(w);
  });
  it('a NIC without RDMA read refuses the post at once (WSAEOPNOTSUPP)', () => {
    const w = world(undefined, { rdmaRead: false });
    expect(w.a.nic.postRdmaRead(PA, w.epA, {
      context: 1, elements: [{ localHandle: w.src.handle, offset: 0, length: 8 }], remote: { remoteKey: w.dst.remoteKey, address: 0, length: 8 },
    })).toBe(NicStatus.NOT_SUPPORTED);
  });
});

describe('send / receive', () => {
  const send = (w: World, length: number, handle = w.src.handle) =>
    w.a.nic.postSend(PA, w.epA, { context: 3, elements: [{ localHandle: handle, offset: 0, length }] });
  const recv = (w: World, length: number, handle = w.dst.handle) =>
    w.b.nic.postRecv(PB, w.epB, { context: 4, elements: [{ localHandle: handle, offset: 0, length }] });

  it('a message lands in the posted receive buffer; both sides complete', () => {
    const w = world();
    expectOk(recv(w, 1000));
    expectOk(send(w, 700));
    w.fabric.runUntilIdle();
    expect(poll(w, 'a')[0]).toMatchObject({ status: WcStatus.SUCCESS, opcode: Opcode.SEND, bytes: 700, context: 3 });
    expect(poll(w, 'b')[0]).toMatchObject({ status: WcStatus.SUCCESS, opcode: Opcode.RECV, bytes: 700, context: 4 });
    const expected = w.beforeB.slice();
    expected.set(w.beforeA.subarray(SRC, SRC + 700), DST);
    expect(Buffer.compare(snapshot(w.b.memory), expected)).toBe(0);
  });
  it('receiver not ready: the send waits for a receive, then completes', () => {
    const w = world();
    expectOk(send(w, 10));
    w.fabric.runUntilIdle();
    expect(poll(w, 'a')).toHaveLength(0);
    expectNoByteMoved(w);
    expectOk(recv(w, 10));
    w.fabric.runUntilIdle();
    expect(poll(w, 'a')[0]).toMatchObject({ status: WcStatus.SUCCESS, bytes: 10 });
  });
  it('a message longer than the receive buffer: REM_INV_REQ_ERR / LOC_LEN_ERR, no byte moves', () => {
    const w = world();
    expectOk(recv(w, 99));
    expectOk(send(w, 100));
    w.fabric.runUntilIdle();
    expect(poll(w, 'a')[0]).toMatchObject({ status: WcStatus.REM_INV_REQ_ERR, syndrome: Syndrome.RECV_TOO_SMALL });
    expect(poll(w, 'b')[0]).toMatchObject({ status: WcStatus.LOC_LEN_ERR, opcode: Opcode.RECV, bytes: 0 });
    expectNoByteMoved(w);
  });
  it('a receive buffer of another process: REM_OP_ERR / LOC_PROT_ERR, no byte moves', () => {
    const w = world();
    const foreign = w.b.nic.registerRegion({ owner: PX, pages: pagesOf(DST, 1), firstByteOffset: 0, length: 4096, access: RW });
    expectOk(recv(w, 100, foreign.handle));
    expectOk(send(w, 100));
    w.fabric.runUntilIdle();
    expect(poll(w, 'a')[0]).toMatchObject({ status: WcStatus.REM_OP_ERR, syndrome: Syndrome.NONE });
    expect(w.b.nic.endpointInfo(PB, w.epB)).toMatchObject({ responderSyndrome: Syndrome.OWNER_MISMATCH });
    expect(poll(w, 'b')[0]).toMatchObject({ status: WcStatus.LOC_PROT_ERR, syndrome: Syndrome.OWNER_MISMATCH });
    expectNoByteMoved(w);
  });
});

describe('queue rules (immediate errors change nothing)', () => {
  it('queue overflow returns QUEUE_FULL at once and queues nothing', () => {
    const p = world(undefined, { sendQueueDepth: 2 });
    expectOk(rdmaWrite(p));
    expectOk(rdmaWrite(p));
    expect(rdmaWrite(p)).toBe(NicStatus.QUEUE_FULL);
    p.fabric.runUntilIdle();
    expect(poll(p, 'a').map((c) => c.status)).toEqual([WcStatus.SUCCESS, WcStatus.SUCCESS]);
  });
  it('posting on an endpoint of another process is ACCESS_DENIED', () => {
    const w = world();
    expect(w.a.nic.postSend(PX, w.epA, { context: 0, elements: [] })).toBe(NicStatus.ACCESS_DENIED);
    expect(w.a.nic.postRecv(PX, w.epA, { context: 0, elements: [] })).toBe(NicStatus.ACCESS_DENIED);
    expect(w.a.nic.pollCompletionQueue(PX, w.cqA).status).toBe(NicStatus.ACCESS_DENIED);
  });
  it('posting a send before the connection exists is INVALID_STATE', () => {
    const w = world();
    const idle = w.a.nic.createEndpoint(PA, w.cqA);
    expect(w.a.nic.postSend(PA, idle.endpoint, { context: 0, elements: [] })).toBe(NicStatus.INVALID_STATE);
  });
  it('malformed requests are INVALID_PARAMETER, never a TypeError', () => {
    const w = world();
    const bad: unknown[] = [
      null, undefined, 5, {}, { context: -1, elements: [] }, { context: 0, elements: 'x' },
      { context: 0, elements: [null] }, { context: 0, elements: [{ localHandle: 1, offset: NaN, length: 1 }] },
      { context: 0, elements: [{ localHandle: 1, offset: 0, length: 1.5 }] },
      { context: 0, elements: new Array(9).fill({ localHandle: 1, offset: 0, length: 1 }) },
      { context: 0, elements: [], remote: null }, { context: 0, elements: [], remote: { remoteKey: '1', address: 0, length: 0 } },
    ];
    for (const wr of bad) {
      expect(w.a.nic.postRdmaWrite(PA, w.epA, wr as never)).toBe(NicStatus.INVALID_PARAMETER);
    }
    expect(w.a.nic.postSend(PA, 'ep' as never, { context: 0, elements: [] })).toBe(NicStatus.INVALID_HANDLE);
    w.fabric.runUntilIdle();
    expect(poll(w, 'a')).toHaveLength(0);
    expectNoByteMoved(w);
  });
  it('a destroyed endpoint handle is never valid again', () => {
    const w = world();
    const e = w.a.nic.createEndpoint(PA, w.cqA);
    expectOk(w.a.nic.destroyEndpoint(PA, e.endpoint));
    expect(w.a.nic.postRecv(PA, e.endpoint, { context: 0, elements: [] })).toBe(NicStatus.INVALID_HANDLE);
    const again = w.a.nic.createEndpoint(PA, w.cqA);
    expect(again.endpoint).not.toBe(e.endpoint);
  });
  it('a completion queue with endpoints cannot be destroyed', () => {
    const w = world();
    expect(w.a.nic.destroyCompletionQueue(PA, w.cqA)).toBe(NicStatus.BUSY);
  });
  it('completion-queue overrun loses the entry and moves the endpoint to error', () => {
    const p = connectedPair({}, {}, 1);
    const src = p.a.nic.registerRegion({ owner: PA, pages: pagesOf(SRC, 1), firstByteOffset: 0, length: 4096, access: RW });
    const dst = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, 1), firstByteOffset: 0, length: 4096, access: ALL });
    expectOk(p.b.nic.bindRegion(dst.handle, p.epB));
    const wr = { context: 1, elements: [{ localHandle: src.handle, offset: 0, length: 8 }], remote: { remoteKey: dst.remoteKey, address: 0, length: 8 } };
    expectOk(p.a.nic.postRdmaWrite(PA, p.epA, wr));
    expectOk(p.a.nic.postRdmaWrite(PA, p.epA, wr));
    p.fabric.runUntilIdle();
    expect(p.a.nic.completionQueueOverrun(PA, p.cqA)).toBe(true);
    expect(p.a.nic.pollCompletionQueue(PA, p.cqA, 10).completions).toHaveLength(1);
    expect(p.a.nic.endpointInfo(PA, p.epA)).toMatchObject({ state: 'error', lastEvent: 'cq-overrun' });
  });
});

describe('disconnect (RC): both ends flush, nothing moves afterwards', () => {
  it('disconnect flushes outstanding work on both ends and tells the peer', () => {
    const w = world();
    expectOk(w.b.nic.postRecv(PB, w.epB, { context: 9, elements: [{ localHandle: w.dst.handle, offset: 0, length: 10 }] }));
    expectOk(rdmaWrite(w));
    expectOk(w.a.nic.disconnect(PA, w.epA));
    w.fabric.runUntilIdle();
    expect(poll(w, 'a').map((c) => c.status)).toEqual([WcStatus.WR_FLUSH_ERR]);
    expect(poll(w, 'b').map((c) => [c.status, c.context])).toEqual([[WcStatus.WR_FLUSH_ERR, 9]]);
    expect(w.b.nic.endpointInfo(PB, w.epB)).toMatchObject({ state: 'disconnected', lastEvent: 'peer-disconnected' });
    expectNoByteMoved(w);
    expectOk(rdmaWrite(w));
    w.fabric.runUntilIdle();
    expect(poll(w, 'a').map((c) => c.status)).toEqual([WcStatus.WR_FLUSH_ERR]);
    expectNoByteMoved(w);
  });
  it('requests from the peer after our disconnect fail (RETRY_EXC_ERR) and move nothing', () => {
    const w = world();
    const bsrc = w.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, 1), firstByteOffset: 0, length: 4096, access: RW });
    const asink = w.a.nic.registerRegion({ owner: PA, pages: pagesOf(SRC, 1), firstByteOffset: 0, length: 4096, access: ALL });
    expectOk(w.a.nic.bindRegion(asink.handle, w.epA));
    expectOk(w.b.nic.postRdmaWrite(PB, w.epB, {
      context: 5, elements: [{ localHandle: bsrc.handle, offset: 0, length: 16 }], remote: { remoteKey: asink.remoteKey, address: 0, length: 16 },
    }));
    expectOk(w.a.nic.disconnect(PA, w.epA)); // before B's request runs
    w.fabric.runUntilIdle();
    // A drops B's packets (its QP is gone, rxe_recv.c): B learns it only from its retransmit
    // timer, on the virtual clock, within the retry budget.
    w.fabric.scheduler.advance(8 * localAckTimeoutNanoseconds(ACK_TIMEOUT_CODE));
    expect(poll(w, 'b')[0]).toMatchObject({ status: WcStatus.RETRY_EXC_ERR, syndrome: Syndrome.PEER_GONE });
    expectNoByteMoved(w);
  });
});
