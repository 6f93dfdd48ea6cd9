/**
 * Memory windows (IB type 2, bound to an endpoint): the owner exposes part of a registered
 * region to one connection from user mode, and takes it back. Every rule of bindWindow /
 * invalidateWindow is broken once (immediate status, nothing changed), and every way a
 * window's remote key must stop working is tried through a real RDMA read or write, checking
 * that no byte moved.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  NicAccess,
  NicStatus,
  Opcode,
  Syndrome,
  WcStatus,
  type Completion,
  type NicStatusCode,
} from '../../src/nic/index.ts';
import { PA, PB, PORT, PX, connectedPair, expectOk, fillPattern, pagesOf, snapshot, type Pair } from './harness.ts';

const RW = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE;
const MW = RW | NicAccess.MW_BIND;
const RR = NicAccess.REMOTE_READ;
const RWR = NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;
const SRC = 0x10000; // local buffer on A
const DST = 0x20000; // region on B
const PAGES = 4;
const LEN = PAGES * 4096;
const OFF = 1000; // the window: [OFF, OFF + WLEN) of the region
const WLEN = 5000;

interface World extends Pair {
  src: { handle: number; remoteKey: number };
  region: { handle: number; remoteKey: number };
  window: number;
  key: number;
}

/** A connected pair; B registers DST with MW_BIND and binds a window on its endpoint. */
function world(access: number = RWR): World {
  const p = connectedPair();
  fillPattern(p.a.memory, 0, 0x40000, 1);
  fillPattern(p.b.memory, 0, 0x40000, 2);
  const src = p.a.nic.registerRegion({ owner: PA, pages: pagesOf(SRC, PAGES), firstByteOffset: 0, length: LEN, access: RW });
  const region = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, PAGES), firstByteOffset: 0, length: LEN, access: MW });
  expectOk(src.status);
  expectOk(region.status);
  const win = p.b.nic.allocateWindow(PB);
  expectOk(win.status, 'allocateWindow');
  const bound = p.b.nic.bindWindow(PB, p.epB, win.handle, region.handle, OFF, WLEN, access);
  expectOk(bound.status, 'bindWindow');
  return { ...p, src, region, window: win.handle, key: bound.remoteKey };
}

interface Rdma {
  rkey?: number;
  address?: number;
  length?: number;
  localOffset?: number;
  ep?: number;
}

function post(w: World, opcode: number, o: Rdma = {}): NicStatusCode {
  const length = o.length ?? 100;
  const wr = {
    context: 9,
    elements: [{ localHandle: w.src.handle, offset: o.localOffset ?? 0, length }],
    remote: { remoteKey: o.rkey ?? w.key, address: o.address ?? 0, length },
  };
  const ep = o.ep ?? w.epA;
  return opcode === Opcode.RDMA_READ ? w.a.nic.postRdmaRead(PA, ep, wr) : w.a.nic.postRdmaWrite(PA, ep, wr);
}

function poll(w: Pair): Completion[] {
  const r = w.a.nic.pollCompletionQueue(PA, w.cqA, 1000);
  expectOk(r.status);
  return r.completions;
}

/** Post, run, return A's single completion. */
function rdma(w: World, opcode: number, o: Rdma = {}): Completion {
  expectOk(post(w, opcode, o), 'post');
  w.fabric.runUntilIdle();
  const c = poll(w);
  expect(c).toHaveLength(1);
  return c[0]!;
}

/** The check B's responder recorded on the endpoint connected to A's `epA` (only the NAK code travels). */
function responderSyndrome(w: World, epA: number): number {
  const a = w.a.nic.endpointInfo(PA, epA);
  if (typeof a === 'number') throw new Error(`endpointInfo: ${a}`);
  const b = w.b.nic.endpointInfo(PB, a.peerEndpoint);
  if (typeof b === 'number') throw new Error(`endpointInfo: ${b}`);
  return b.responderSyndrome;
}

/**
 * The peer's access through the window fails with REM_ACCESS_ERR, moving no byte: A learns the
 * NAK code (KEY_MISMATCH is all a Remote Access Error says), B's responder recorded `syndrome`.
 */
function expectRemoteRefused(w: World, opcode: number, syndrome: number, o: Rdma = {}): void {
  const beforeA = snapshot(w.a.memory);
  const beforeB = snapshot(w.b.memory);
  const c = rdma(w, opcode, o);
  expect(c).toMatchObject({ status: WcStatus.REM_ACCESS_ERR, syndrome: Syndrome.KEY_MISMATCH, bytes: 0, opcode });
  expect(responderSyndrome(w, o.ep ?? w.epA)).toBe(syndrome);
  expect(Buffer.compare(snapshot(w.a.memory), beforeA)).toBe(0);
  expect(Buffer.compare(snapshot(w.b.memory), beforeB)).toBe(0);
}

/** Everything bindWindow / invalidateWindow may change, for "nothing changed" checks. */
function tptState(w: World): unknown {
  return {
    windows: w.b.nic.windowCount,
    regions: w.b.nic.regionCount,
    window: w.b.nic.queryWindow(w.window),
    region: w.b.nic.queryRegion(w.region.handle),
  };
}

/** A second connection between the same two processes (port PORT + 1). */
function secondConnection(w: World): { epA: number; epB: number } {
  const epA = w.a.nic.createEndpoint(PA, w.cqA);
  const epB = w.b.nic.createEndpoint(PB, w.cqB);
  expectOk(epA.status);
  expectOk(epB.status);
  expectOk(w.b.nic.listen(PB, PORT + 1));
  expectOk(w.a.nic.connect(PA, epA.endpoint, w.b.nic.sanAddress, PORT + 1));
  w.fabric.runUntilIdle();
  expectOk(w.b.nic.accept(PB, PORT + 1, epB.endpoint));
  w.fabric.runUntilIdle();
  return { epA: epA.endpoint, epB: epB.endpoint };
}

describe('remote access through a window (what the rules must allow)', () => {
  it('RDMA write through the window key lands at the window start + address, and nowhere else', () => {
    const w = world();
    const beforeB = snapshot(w.b.memory);
    const c = rdma(w, Opcode.RDMA_WRITE, { address: 200, length: 3000, localOffset: 50 });
    expect(c).toMatchObject({ status: WcStatus.SUCCESS, syndrome: Syndrome.NONE, bytes: 3000 });
    const expected = beforeB.slice();
    expected.set(snapshot(w.a.memory, SRC + 50, 3000), DST + OFF + 200);
    expect(Buffer.compare(snapshot(w.b.memory), expected)).toBe(0);
  });
  it('RDMA read of the whole window returns exactly [offset, offset+length) of the region', () => {
    const w = world();
    const c = rdma(w, Opcode.RDMA_READ, { length: WLEN });
    expect(c).toMatchObject({ status: WcStatus.SUCCESS, bytes: WLEN });
    expect(Buffer.compare(snapshot(w.a.memory, SRC, WLEN), snapshot(w.b.memory, DST + OFF, WLEN))).toBe(0);
  });
  it('the window reports its binding; regionCount counts regions only', () => {
    const w = world();
    expect(w.b.nic.queryWindow(w.window)).toEqual({
      handle: w.window, owner: PB, state: 'bound', remoteKey: w.key, boundEndpoint: w.epB,
      region: w.region.handle, offset: OFF, length: WLEN, access: RWR, reachable: true,
    });
    expect(w.b.nic.regionCount).toBe(1);
    expect(w.b.nic.windowCount).toBe(1);
    expect(w.key).not.toBe(0);
    expect(w.key).not.toBe(w.window);
  });
  it('bind takes effect at the doorbell: an access posted right after the bind succeeds', () => {
    const w = world(RR);
    expectOk(w.b.nic.invalidateWindow(PB, w.window));
    const r = w.b.nic.bindWindow(PB, w.epB, w.window, w.region.handle, 0, 64, RR);
    expectOk(r.status);
    expect(rdma(w, Opcode.RDMA_READ, { rkey: r.remoteKey, length: 64 })).toMatchObject({ status: WcStatus.SUCCESS, bytes: 64 });
  });
});

describe('remote access through a window (what the rules must refuse, no byte moves)', () => {
  it('read beyond the window length fails the range check although the region continues', () => {
    const w = world();
    expectRemoteRefused(w, Opcode.RDMA_READ, Syndrome.OUT_OF_RANGE, { address: WLEN - 10, length: 11 });
  });
  it('write starting at the window end fails the range check', () => {
    expectRemoteRefused(world(), Opcode.RDMA_WRITE, Syndrome.OUT_OF_RANGE, { address: WLEN, length: 1 });
  });
  it('wrapped remote range through a window fails the range check', () => {
    expectRemoteRefused(world(), Opcode.RDMA_WRITE, Syndrome.OUT_OF_RANGE, { address: Number.MAX_SAFE_INTEGER - 10, length: 20 });
  });
  it('a right the window does not grant is refused (read-only window, RDMA write)', () => {
    expectRemoteRefused(world(RR), Opcode.RDMA_WRITE, Syndrome.ACCESS_DENIED);
  });
  it('old key after invalidate fails', () => {
    const w = world();
    expectOk(w.b.nic.invalidateWindow(PB, w.window));
    expect(w.b.nic.queryWindow(w.window)).toMatchObject({ state: 'unbound', remoteKey: 0, reachable: false });
    expectRemoteRefused(w, Opcode.RDMA_WRITE, Syndrome.WINDOW_INVALID);
  });
  it('invalidate takes effect at the doorbell: an access posted before it but served after fails', () => {
    const w = world();
    expectOk(post(w, Opcode.RDMA_WRITE));
    expectOk(w.b.nic.invalidateWindow(PB, w.window));
    const beforeB = snapshot(w.b.memory);
    w.fabric.runUntilIdle();
    expect(poll(w)).toMatchObject([{ status: WcStatus.REM_ACCESS_ERR, syndrome: Syndrome.KEY_MISMATCH, bytes: 0 }]);
    expect(responderSyndrome(w, w.epA)).toBe(Syndrome.WINDOW_INVALID);
    expect(Buffer.compare(snapshot(w.b.memory), beforeB)).toBe(0);
  });
  it('old key after rebind (same window, same range) fails; the new key works', () => {
    const w = world();
    expectOk(w.b.nic.invalidateWindow(PB, w.window));
    const r = w.b.nic.bindWindow(PB, w.epB, w.window, w.region.handle, OFF, WLEN, RWR);
    expectOk(r.status);
    expect(r.remoteKey).not.toBe(w.key);
    expect(w.b.nic.queryWindow(w.window)?.handle).toBe(w.window);
    expect(rdma(w, Opcode.RDMA_READ, { rkey: r.remoteKey })).toMatchObject({ status: WcStatus.SUCCESS });
    expectRemoteRefused(w, Opcode.RDMA_WRITE, Syndrome.KEY_MISMATCH);
  });
  it('window bound on one connection, used from another connection: binding mismatch', () => {
    const w = world();
    const second = secondConnection(w);
    expectRemoteRefused(w, Opcode.RDMA_WRITE, Syndrome.BINDING_MISMATCH, { ep: second.epA });
  });
  it('region deregistered: access through the window fails (its region is gone)', () => {
    const w = world();
    expectOk(w.b.nic.deregisterRegion(w.region.handle));
    expect(w.b.nic.queryWindow(w.window)).toMatchObject({ state: 'bound', reachable: false });
    expectRemoteRefused(w, Opcode.RDMA_WRITE, Syndrome.WINDOW_REGION_GONE);
  });
  it('region deregistered and its slot reused by a new registration: the window still fails', () => {
    const w = world();
    expectOk(w.b.nic.deregisterRegion(w.region.handle));
    // Fill every free slot so the old region's slot surely holds a new registration.
    const before = w.b.nic.regionCount;
    for (;;) {
      const r = w.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, PAGES), firstByteOffset: 0, length: LEN, access: MW });
      if (r.status !== NicStatus.SUCCESS) break;
    }
    expect(w.b.nic.regionCount).toBe(w.b.nic.capabilities.maxRegistrations - 1);
    expect(before).toBe(0);
    expectRemoteRefused(w, Opcode.RDMA_READ, Syndrome.WINDOW_REGION_GONE);
  });
  it('region re-registered (same pages): access through the window fails', () => {
    const w = world();
    expectOk(w.b.nic.reregisterRegion(w.region.handle, { pages: pagesOf(DST, PAGES), firstByteOffset: 0, length: LEN, access: MW }).status);
    expectRemoteRefused(w, Opcode.RDMA_READ, Syndrome.WINDOW_REGION_GONE);
  });
  it('region invalidated: access through the window fails', () => {
    const w = world();
    expectOk(w.b.nic.invalidateRegion(w.region.handle));
    expectRemoteRefused(w, Opcode.RDMA_WRITE, Syndrome.REGION_INVALID);
  });
  it('freed window: its key fails', () => {
    const w = world();
    expectOk(w.b.nic.freeWindow(w.window));
    expect(w.b.nic.windowCount).toBe(0);
    expect(w.b.nic.queryWindow(w.window)).toBeNull();
    expectRemoteRefused(w, Opcode.RDMA_WRITE, Syndrome.NO_ENTRY);
  });
  it('the window handle is not a remote key', () => {
    const w = world();
    expectRemoteRefused(w, Opcode.RDMA_WRITE, Syndrome.KEY_MISMATCH, { rkey: w.window });
  });
  it('a region registered with MW_BIND but no remote right is not reachable by its own remote key', () => {
    const w = world();
    expect(w.b.nic.bindRegion(w.region.handle, w.epB)).toBe(NicStatus.SUCCESS);
    expectRemoteRefused(w, Opcode.RDMA_READ, Syndrome.ACCESS_DENIED, { rkey: w.region.remoteKey });
  });
});

describe('a window is never a local key', () => {
  const expectLocalRefused = (w: World, localHandle: number, syndrome: number): void => {
    const r = w.b.nic.postSend(PB, w.epB, { context: 3, elements: [{ localHandle, offset: 0, length: 10 }] });
    expectOk(r);
    w.fabric.runUntilIdle();
    const c = w.b.nic.pollCompletionQueue(PB, w.cqB, 10).completions;
    expect(c).toMatchObject([{ status: WcStatus.LOC_PROT_ERR, syndrome, bytes: 0 }]);
  };
  it('window handle as local key fails: a window grants no local right', () => {
    const w = world();
    expectLocalRefused(w, w.window, Syndrome.ACCESS_DENIED);
  });
  it('window remote key as local key fails', () => {
    const w = world();
    expectLocalRefused(w, w.key, Syndrome.KEY_MISMATCH);
  });
});

describe('bindWindow rules: each refused with its status, nothing changed', () => {
  /** Invalidate first so only the rule under test can refuse the bind. */
  const unbound = (access = RWR): World => {
    const w = world(access);
    expectOk(w.b.nic.invalidateWindow(PB, w.window));
    return w;
  };
  const expectBindRefused = (
    w: World,
    status: NicStatusCode,
    args: Partial<{ owner: number; endpoint: number; window: number; region: number; offset: number; length: number; access: number }>,
  ): void => {
    const before = tptState(w);
    const a = { owner: PB, endpoint: w.epB, window: w.window, region: w.region.handle, offset: OFF, length: WLEN, access: RWR, ...args };
    const r = w.b.nic.bindWindow(a.owner, a.endpoint, a.window, a.region, a.offset, a.length, a.access);
    expect(r).toEqual({ status, remoteKey: 0 });
    expect(tptState(w)).toEqual(before);
  };

  it('window not a live window (forged, region handle, freed) is INVALID_HANDLE', () => {
    const w = unbound();
    expectBindRefused(w, NicStatus.INVALID_HANDLE, { window: 0xdead_0001 });
    expectBindRefused(w, NicStatus.INVALID_HANDLE, { window: w.region.handle });
    expectBindRefused(w, NicStatus.INVALID_HANDLE, { window: 'w' as unknown as number });
    const other = w.b.nic.allocateWindow(PB);
    expectOk(w.b.nic.freeWindow(other.handle));
    expectBindRefused(w, NicStatus.INVALID_HANDLE, { window: other.handle });
  });
  it('window of another process is ACCESS_DENIED', () => {
    const w = unbound();
    const theirs = w.b.nic.allocateWindow(PX);
    expectOk(theirs.status);
    expectBindRefused(w, NicStatus.ACCESS_DENIED, { window: theirs.handle });
    expect(w.b.nic.queryWindow(theirs.handle)).toMatchObject({ state: 'unbound' });
  });
  it('type 2: a bound window must be invalidated before rebinding (INVALID_STATE); the old key keeps working', () => {
    const w = world();
    expectBindRefused(w, NicStatus.INVALID_STATE, { offset: 0, length: 10 });
    expect(rdma(w, Opcode.RDMA_READ)).toMatchObject({ status: WcStatus.SUCCESS });
  });
  it('endpoint unknown is INVALID_HANDLE', () => {
    const w = unbound();
    expectBindRefused(w, NicStatus.INVALID_HANDLE, { endpoint: 0x1234_5001 });
    const gone = w.b.nic.createEndpoint(PB, w.cqB);
    expectOk(w.b.nic.destroyEndpoint(PB, gone.endpoint));
    expectBindRefused(w, NicStatus.INVALID_HANDLE, { endpoint: gone.endpoint });
    expectBindRefused(w, NicStatus.INVALID_HANDLE, { endpoint: 'ep' as unknown as number });
  });
  it('endpoint of another process is ACCESS_DENIED', () => {
    const w = unbound();
    const cq = w.b.nic.createCompletionQueue(PX, 4);
    const ep = w.b.nic.createEndpoint(PX, cq.cq);
    expectOk(ep.status);
    expectBindRefused(w, NicStatus.ACCESS_DENIED, { endpoint: ep.endpoint });
  });
  it('endpoint not connected (idle, disconnected) is INVALID_STATE: type 2 windows bind to a connection', () => {
    const w = unbound();
    const idle = w.b.nic.createEndpoint(PB, w.cqB);
    expectOk(idle.status);
    expectBindRefused(w, NicStatus.INVALID_STATE, { endpoint: idle.endpoint });
    expectOk(w.b.nic.disconnect(PB, w.epB));
    w.fabric.runUntilIdle();
    expectBindRefused(w, NicStatus.INVALID_STATE, {});
  });
  it('region not a live region (forged, window handle, deregistered) is INVALID_HANDLE', () => {
    const w = unbound();
    expectBindRefused(w, NicStatus.INVALID_HANDLE, { region: 0xdead_0001 });
    expectBindRefused(w, NicStatus.INVALID_HANDLE, { region: w.window });
    const gone = w.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, 1), firstByteOffset: 0, length: 4096, access: MW });
    expectOk(w.b.nic.deregisterRegion(gone.handle));
    expectBindRefused(w, NicStatus.INVALID_HANDLE, { region: gone.handle, offset: 0, length: 10 });
  });
  it('region of another process is ACCESS_DENIED', () => {
    const w = unbound();
    const theirs = w.b.nic.registerRegion({ owner: PX, pages: pagesOf(DST, PAGES), firstByteOffset: 0, length: LEN, access: MW });
    expectOk(theirs.status);
    expectBindRefused(w, NicStatus.ACCESS_DENIED, { region: theirs.handle });
  });
  it('region invalidated is INVALID_STATE', () => {
    const w = unbound();
    expectOk(w.b.nic.invalidateRegion(w.region.handle));
    expectBindRefused(w, NicStatus.INVALID_STATE, {});
  });
  it('region registered without MW_BIND is ACCESS_DENIED', () => {
    const w = unbound();
    const plain = w.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, PAGES), firstByteOffset: 0, length: LEN, access: RW });
    expectBindRefused(w, NicStatus.ACCESS_DENIED, { region: plain.handle });
  });
  it('REMOTE_WRITE needs the region\'s LOCAL_WRITE, REMOTE_READ its LOCAL_READ (ACCESS_DENIED)', () => {
    const w = unbound();
    const readOnly = w.b.nic.registerRegion({
      owner: PB, pages: pagesOf(DST, PAGES), firstByteOffset: 0, length: LEN, access: NicAccess.LOCAL_READ | NicAccess.MW_BIND,
    });
    const writeOnly = w.b.nic.registerRegion({
      owner: PB, pages: pagesOf(DST, PAGES), firstByteOffset: 0, length: LEN, access: NicAccess.LOCAL_WRITE | NicAccess.MW_BIND,
    });
    expectBindRefused(w, NicStatus.ACCESS_DENIED, { region: readOnly.handle, access: NicAccess.REMOTE_WRITE });
    expectBindRefused(w, NicStatus.ACCESS_DENIED, { region: writeOnly.handle, access: NicAccess.REMOTE_READ });
    // The allowed combinations bind.
    expectOk(w.b.nic.bindWindow(PB, w.epB, w.window, readOnly.handle, 0, 10, NicAccess.REMOTE_READ).status);
    expectOk(w.b.nic.invalidateWindow(PB, w.window));
    expectOk(w.b.nic.bindWindow(PB, w.epB, w.window, writeOnly.handle, 0, 10, NicAccess.REMOTE_WRITE).status);
  });
  it('access zero or beyond REMOTE_READ | REMOTE_WRITE is INVALID_PARAMETER', () => {
    const w = unbound();
    for (const access of [0, NicAccess.LOCAL_READ, NicAccess.LOCAL_WRITE | RR, NicAccess.MW_BIND | RR, 0x20, -1, 1.5, NaN]) {
      expectBindRefused(w, NicStatus.INVALID_PARAMETER, { access });
    }
  });
  it('range empty or outside the region is INVALID_PARAMETER (integers, overflow-safe)', () => {
    const w = unbound();
    const cases: [number, number][] = [
      [0, 0], [LEN, 0], [LEN - 10, 11], [LEN, 1], [LEN + 1, 1], [0, LEN + 1],
      [Number.MAX_SAFE_INTEGER, 2], [2, Number.MAX_SAFE_INTEGER], [-1, 10], [1.5, 10], [0, 2.5], [NaN, 1], [0, Infinity],
    ];
    for (const [offset, length] of cases) expectBindRefused(w, NicStatus.INVALID_PARAMETER, { offset, length });
    // The whole region is a valid window.
    expectOk(w.b.nic.bindWindow(PB, w.epB, w.window, w.region.handle, 0, LEN, RWR).status);
  });
  it('owner not a process id is INVALID_PARAMETER, never a TypeError', () => {
    const w = unbound();
    for (const owner of [-1, 1.5, NaN, 'pb', null, undefined]) {
      expectBindRefused(w, NicStatus.INVALID_PARAMETER, { owner: owner as unknown as number });
    }
  });
  it('another process cannot bind the window, even naming its own endpoint and region', () => {
    const w = unbound();
    const cq = w.b.nic.createCompletionQueue(PX, 4);
    const ep = w.b.nic.createEndpoint(PX, cq.cq);
    const theirRegion = w.b.nic.registerRegion({ owner: PX, pages: pagesOf(DST, PAGES), firstByteOffset: 0, length: LEN, access: MW });
    expectBindRefused(w, NicStatus.ACCESS_DENIED, { owner: PX, endpoint: ep.endpoint, region: theirRegion.handle });
  });
});

describe('invalidateWindow / allocateWindow / freeWindow rules', () => {
  it('another process cannot invalidate the window (ACCESS_DENIED); its key keeps working', () => {
    const w = world();
    const before = tptState(w);
    expect(w.b.nic.invalidateWindow(PX, w.window)).toBe(NicStatus.ACCESS_DENIED);
    expect(tptState(w)).toEqual(before);
    expect(rdma(w, Opcode.RDMA_READ)).toMatchObject({ status: WcStatus.SUCCESS });
  });
  it('invalidating a window that is not bound is INVALID_STATE', () => {
    const w = world();
    expectOk(w.b.nic.invalidateWindow(PB, w.window));
    const before = tptState(w);
    expect(w.b.nic.invalidateWindow(PB, w.window)).toBe(NicStatus.INVALID_STATE);
    const fresh = w.b.nic.allocateWindow(PB);
    expect(w.b.nic.invalidateWindow(PB, fresh.handle)).toBe(NicStatus.INVALID_STATE);
    expectOk(w.b.nic.freeWindow(fresh.handle));
    expect(tptState(w)).toEqual(before);
  });
  it('invalidating something that is not a live window is INVALID_HANDLE; a bad owner INVALID_PARAMETER', () => {
    const w = world();
    const before = tptState(w);
    expect(w.b.nic.invalidateWindow(PB, w.region.handle)).toBe(NicStatus.INVALID_HANDLE);
    expect(w.b.nic.invalidateWindow(PB, 0)).toBe(NicStatus.INVALID_HANDLE);
    expect(w.b.nic.invalidateWindow(PB, w.key)).toBe(NicStatus.INVALID_HANDLE);
    expect(w.b.nic.invalidateWindow(-1, w.window)).toBe(NicStatus.INVALID_PARAMETER);
    expect(tptState(w)).toEqual(before);
  });
  it('allocateWindow: a bad owner is INVALID_PARAMETER; a full table INSUFFICIENT_RESOURCES (slots shared with regions)', () => {
    const p = connectedPair({ maxRegistrations: 3 });
    expect(p.b.nic.allocateWindow(-1)).toEqual({ status: NicStatus.INVALID_PARAMETER, handle: 0 });
    expect(p.b.nic.allocateWindow('x' as unknown as number)).toEqual({ status: NicStatus.INVALID_PARAMETER, handle: 0 });
    const r = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, 1), firstByteOffset: 0, length: 4096, access: MW });
    expectOk(r.status);
    expectOk(p.b.nic.allocateWindow(PB).status);
    const last = p.b.nic.allocateWindow(PB);
    expectOk(last.status);
    expect(p.b.nic.allocateWindow(PB)).toEqual({ status: NicStatus.INSUFFICIENT_RESOURCES, handle: 0 });
    expect(p.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, 1), firstByteOffset: 0, length: 4096, access: MW }).status)
      .toBe(NicStatus.INSUFFICIENT_RESOURCES);
    expect(p.b.nic.windowCount).toBe(2);
    expect(p.b.nic.regionCount).toBe(1);
    expectOk(p.b.nic.freeWindow(last.handle));
    expectOk(p.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, 1), firstByteOffset: 0, length: 4096, access: MW }).status);
  });
  it('freeWindow refuses anything that is not a live window (region handle, freed window, remote key)', () => {
    const w = world();
    const before = tptState(w);
    expect(w.b.nic.freeWindow(w.region.handle)).toBe(NicStatus.INVALID_HANDLE);
    expect(w.b.nic.freeWindow(w.key)).toBe(NicStatus.INVALID_HANDLE);
    expect(w.b.nic.freeWindow(0)).toBe(NicStatus.INVALID_HANDLE);
    expect(w.b.nic.freeWindow('w' as unknown as number)).toBe(NicStatus.INVALID_HANDLE);
    expect(tptState(w)).toEqual(before);
    expectOk(w.b.nic.freeWindow(w.window));
    expect(w.b.nic.freeWindow(w.window)).toBe(NicStatus.INVALID_HANDLE);
  });
  it('region routines refuse a window handle: queryRegion is null, deregister/invalidate/bind INVALID_HANDLE', () => {
    const w = world();
    const before = tptState(w);
    expect(w.b.nic.queryRegion(w.window)).toBeNull();
    expect(w.b.nic.deregisterRegion(w.window)).toBe(NicStatus.INVALID_HANDLE);
    expect(w.b.nic.invalidateRegion(w.window)).toBe(NicStatus.INVALID_HANDLE);
    expect(w.b.nic.bindRegion(w.window, w.epB)).toBe(NicStatus.INVALID_HANDLE);
    expect(w.b.nic.unbindRegion(w.window)).toBe(NicStatus.INVALID_HANDLE);
    expect(w.b.nic.reregisterRegion(w.window, { pages: pagesOf(DST, 1), firstByteOffset: 0, length: 10, access: MW }).status)
      .toBe(NicStatus.INVALID_HANDLE);
    expect(tptState(w)).toEqual(before);
  });
  it('a window with a dead region stays bound until invalidated (type 2), then rebinds elsewhere', () => {
    const w = world();
    expectOk(w.b.nic.deregisterRegion(w.region.handle));
    const again = w.b.nic.registerRegion({ owner: PB, pages: pagesOf(DST, PAGES), firstByteOffset: 0, length: LEN, access: MW });
    expect(w.b.nic.bindWindow(PB, w.epB, w.window, again.handle, 0, 10, RR).status).toBe(NicStatus.INVALID_STATE);
    expectOk(w.b.nic.invalidateWindow(PB, w.window));
    const r = w.b.nic.bindWindow(PB, w.epB, w.window, again.handle, 0, 10, RR);
    expectOk(r.status);
    expect(rdma(w, Opcode.RDMA_READ, { rkey: r.remoteKey, length: 10 })).toMatchObject({ status: WcStatus.SUCCESS, bytes: 10 });
  });
});

describe('property: which window keys work, against a model', () => {
  interface ModelWindow {
    live: boolean;
    bound: boolean;
    key: number;
    buffer: number;
    registration: number;
    offset: number;
    length: number;
  }
  interface ModelBuffer {
    handle: number; // 0: not registered
    registration: number; // bumps on every register / re-register
    valid: boolean;
  }
  const BUFFERS = [0x20000, 0x30000];

  // Weighted so that most binds succeed and most keys see several events.
  const op = fc.oneof(
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('alloc' as const) }) },
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('bind' as const), w: fc.nat(), b: fc.nat(),
        offset: fc.integer({ min: 0, max: LEN - 1 }), length: fc.integer({ min: 0, max: 8000 }),
      }),
    },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('invalidate' as const), w: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('free' as const), w: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('deregister' as const), b: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('register' as const), b: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('reregister' as const), b: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalidateRegion' as const), b: fc.nat() }) },
  );

  it('random bind / invalidate / rebind / free / region deregister, re-register, invalidate', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60, size: 'max' }), (ops) => {
        const p = connectedPair();
        fillPattern(p.b.memory, 0, 0x40000, 5);
        const nic = p.b.nic;
        const src = p.a.nic.registerRegion({ owner: PA, pages: pagesOf(SRC, PAGES), firstByteOffset: 0, length: LEN, access: RW });
        const other = nic.createEndpoint(PB, p.cqB).endpoint; // a second connection's endpoint handle
        const spec = (b: number) => ({ pages: pagesOf(BUFFERS[b]!, PAGES), firstByteOffset: 0, length: LEN, access: MW });
        const buffers: ModelBuffer[] = BUFFERS.map((_, b) => {
          const r = nic.registerRegion({ owner: PB, ...spec(b) });
          return { handle: r.handle, registration: 1, valid: true };
        });
        const windows = new Map<number, ModelWindow>(); // every window handle ever allocated
        const keys: { window: number; key: number }[] = []; // every remote key ever issued
        for (let n = 0; n < 3; n++) {
          const r = nic.allocateWindow(PB);
          windows.set(r.handle, { live: true, bound: false, key: 0, buffer: -1, registration: 0, offset: 0, length: 0 });
        }
        // Mostly a live window; one pick in four from every handle ever seen (freed ones too).
        const pick = (n: number): number => {
          const from = n % 4 === 0 ? [...windows.keys()] : [...windows].filter(([, m]) => m.live).map(([h]) => h);
          return from[(n >> 2) % Math.max(1, from.length)] ?? 0xdead_0001;
        };

        for (const o of ops) {
          if (o.kind === 'alloc') {
            const r = nic.allocateWindow(PB);
            expectOk(r.status);
            windows.set(r.handle, { live: true, bound: false, key: 0, buffer: -1, registration: 0, offset: 0, length: 0 });
          } else if (o.kind === 'bind') {
            const h = pick(o.w);
            const m = windows.get(h);
            const b = o.b % BUFFERS.length;
            const buf = buffers[b]!;
            const expected =
              o.length === 0 ? NicStatus.INVALID_PARAMETER
              : m === undefined || !m.live ? NicStatus.INVALID_HANDLE
              : m.bound ? NicStatus.INVALID_STATE
              : buf.handle === 0 ? NicStatus.INVALID_HANDLE
              : !buf.valid ? NicStatus.INVALID_STATE
              : o.offset + o.length > LEN ? NicStatus.INVALID_PARAMETER
              : NicStatus.SUCCESS;
            const r = nic.bindWindow(PB, p.epB, h, buf.handle, o.offset, o.length, RWR);
            expect(r.status).toBe(expected);
            if (r.status === NicStatus.SUCCESS) {
              expect(keys.some((k) => k.key === r.remoteKey)).toBe(false); // never an earlier key
              Object.assign(m!, { bound: true, key: r.remoteKey, buffer: b, registration: buf.registration, offset: o.offset, length: o.length });
              keys.push({ window: h, key: r.remoteKey });
            } else expect(r.remoteKey).toBe(0);
          } else if (o.kind === 'invalidate') {
            const h = pick(o.w);
            const m = windows.get(h);
            const expected = m === undefined || !m.live ? NicStatus.INVALID_HANDLE : m.bound ? NicStatus.SUCCESS : NicStatus.INVALID_STATE;
            expect(nic.invalidateWindow(PB, h)).toBe(expected);
            if (expected === NicStatus.SUCCESS) m!.bound = false;
          } else if (o.kind === 'free') {
            const h = pick(o.w);
            const m = windows.get(h);
            const expected = m === undefined || !m.live ? NicStatus.INVALID_HANDLE : NicStatus.SUCCESS;
            expect(nic.freeWindow(h)).toBe(expected);
            if (m !== undefined) Object.assign(m, { live: false, bound: false });
          } else {
            const b = o.b % BUFFERS.length;
            const buf = buffers[b]!;
            if (o.kind === 'register') {
              if (buf.handle !== 0) continue;
              const r = nic.registerRegion({ owner: PB, ...spec(b) });
              expectOk(r.status);
              Object.assign(buf, { handle: r.handle, registration: buf.registration + 1, valid: true });
            } else if (buf.handle === 0) {
              expect(nic.deregisterRegion(buf.handle)).toBe(NicStatus.INVALID_HANDLE);
            } else if (o.kind === 'deregister') {
              expectOk(nic.deregisterRegion(buf.handle));
              buf.handle = 0;
            } else if (o.kind === 'reregister') {
              const r = nic.reregisterRegion(buf.handle, spec(b));
              expectOk(r.status);
              Object.assign(buf, { handle: r.handle, registration: buf.registration + 1, valid: true });
            } else {
              expectOk(nic.invalidateRegion(buf.handle));
              buf.valid = false;
            }
          }

          // Every key ever issued works exactly when the model says so — through the
          // responder's own checks (lookup, then the window's range).
          const live = [...windows.values()].filter((m) => m.live);
          expect(nic.windowCount).toBe(live.length);
          expect(nic.regionCount).toBe(buffers.filter((b) => b.handle !== 0).length);
          for (const { window, key } of keys) {
            const m = windows.get(window)!;
            const buf = m.buffer >= 0 ? buffers[m.buffer]! : null;
            const works = m.live && m.bound && m.key === key && buf !== null && buf.handle !== 0 &&
              buf.registration === m.registration && buf.valid;
            const index = nic.tpt.lookup(key, true, p.epB, RR);
            expect(index >= 0).toBe(works);
            expect(nic.tpt.lookup(key, true, other, RR) < 0).toBe(true);
            expect(nic.tpt.lookup(key, false, PB, NicAccess.LOCAL_READ) < 0).toBe(true);
            if (works) {
              expect(nic.tpt.inRange(index, 0, m.length)).toBe(true);
              expect(nic.tpt.inRange(index, 0, m.length + 1)).toBe(false);
            }
            if (m.key === key) expect(nic.queryWindow(window)?.reachable ?? false).toBe(works);
          }
        }

        // End to end: every key that works reads exactly its window's bytes.
        for (const [, m] of windows) {
          const buf = m.buffer >= 0 ? buffers[m.buffer]! : null;
          if (!(m.live && m.bound && buf !== null && buf.handle !== 0 && buf.registration === m.registration && buf.valid)) continue;
          const len = Math.min(m.length, LEN);
          expectOk(p.a.nic.postRdmaRead(PA, p.epA, {
            context: 1, elements: [{ localHandle: src.handle, offset: 0, length: len }], remote: { remoteKey: m.key, address: 0, length: len },
          }));
          p.fabric.runUntilIdle();
          const c = p.a.nic.pollCompletionQueue(PA, p.cqA, 10).completions;
          expect(c).toMatchObject([{ status: WcStatus.SUCCESS, bytes: len }]);
          expect(Buffer.compare(snapshot(p.a.memory, SRC, len), snapshot(p.b.memory, BUFFERS[m.buffer]! + m.offset, len))).toBe(0);
        }
      }),
      { numRuns: 120 },
    );
  });
});
