/**
 * A process's user port (src/nic/user-port.ts): what a verbs library gets in a process and
 * nothing else. The port is bound to one process id when it is opened; every object it can
 * name is checked against that id, so another process's endpoints, completion queues, windows
 * and listeners answer ACCESS_DENIED and stay as they were; the NIC's privileged calls are not
 * on a port at all, and the NIC itself cannot be reached through one.
 */
import { describe, expect, it } from 'vitest';
import { CompletionBatch, NicAccess, NicStatus, SanNic, UserPort, type ConnectionEvent } from '../../src/nic/index.ts';
import { PA, PB, PORT, PX, connectedPair, expectOk, pagesOf } from './harness.ts';

const ALL = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;

/** Everything of process PB's a port could touch on NIC B, for "nothing changed" checks. */
function stateOfB(nic: SanNic, owner: UserPort, ep: number, cq: number, window: number) {
  return {
    endpoint: owner.endpointInfo(ep),
    pending: owner.pendingConnections(PORT + 1),
    window: nic.queryWindow(window),
    overrun: owner.completionQueueOverrun(cq),
    regions: nic.regionCount,
  };
}

describe('UserPort', () => {
  it("a port cannot name another process's endpoints, completion queues, windows or listeners: ACCESS_DENIED, nothing changes", () => {
    const p = connectedPair();
    const nic = p.b.nic;
    const owner = nic.openUserPort(PB);
    const intruder = nic.openUserPort(PX);
    expectOk(owner.listen(PORT + 1), 'listen');
    const region = nic.registerRegion({ owner: PB, pages: pagesOf(0, 1), firstByteOffset: 0, length: 4096, access: ALL | NicAccess.MW_BIND });
    expectOk(region.status);
    const window = nic.allocateWindow(PB);
    expectOk(window.status);
    const bound = owner.bindWindow(p.epB, window.handle, region.handle, 0, 4096, NicAccess.REMOTE_READ);
    expectOk(bound.status, 'bind');
    const before = stateOfB(nic, owner, p.epB, p.cqB, window.handle);
    const wr = { context: 1, elements: [{ localHandle: region.handle, offset: 0, length: 16 }] };
    const rwr = { ...wr, remote: { remoteKey: 1, address: 0, length: 16 } };
    const denied = NicStatus.ACCESS_DENIED;
    expect(intruder.postSend(p.epB, wr)).toBe(denied);
    expect(intruder.postRecv(p.epB, wr)).toBe(denied);
    expect(intruder.postRdmaWrite(p.epB, rwr)).toBe(denied);
    expect(intruder.postRdmaRead(p.epB, rwr)).toBe(denied);
    expect(intruder.endpointInfo(p.epB)).toBe(denied);
    expect(intruder.disconnect(p.epB)).toBe(denied);
    expect(intruder.destroyEndpoint(p.epB)).toBe(denied);
    expect(intruder.connect(p.epB, p.a.nic.sanAddress, PORT)).toBe(denied);
    expect(intruder.pollCompletionQueue(p.cqB).status).toBe(denied);
    const batch = new CompletionBatch(4);
    expect(intruder.pollInto(p.cqB, batch)).toBe(denied);
    expect(batch.count).toBe(0);
    expect(intruder.notifyCompletions(p.cqB, () => {})).toBe(denied);
    expect(intruder.completionQueueOverrun(p.cqB)).toBe(denied);
    expect(intruder.destroyCompletionQueue(p.cqB)).toBe(denied);
    expect(intruder.createEndpoint(p.cqB).status).toBe(denied);
    expect(intruder.invalidateWindow(window.handle)).toBe(denied);
    expect(intruder.bindWindow(p.epB, window.handle, region.handle, 0, 4096, NicAccess.REMOTE_READ).status).toBe(denied);
    expect(intruder.pendingConnections(PORT + 1)).toBe(denied);
    expect(intruder.accept(PORT + 1, p.epB)).toBe(denied);
    expect(intruder.reject(PORT + 1)).toBe(denied);
    expect(intruder.unlisten(PORT + 1)).toBe(denied);
    expect(stateOfB(nic, owner, p.epB, p.cqB, window.handle)).toEqual(before);
    // The owner's own port does all of it.
    expectOk(owner.invalidateWindow(window.handle), 'invalidate');
    expectOk(owner.unlisten(PORT + 1), 'unlisten');
  });

  it("the NIC's privileged calls are not on a port, and the NIC cannot be reached through one", () => {
    const p = connectedPair();
    const port = p.b.nic.openUserPort(PB);
    const privileged = ['registerRegion', 'deregisterRegion', 'invalidateRegion', 'reregisterRegion', 'bindRegion', 'unbindRegion',
      'queryRegion', 'allocateWindow', 'freeWindow', 'queryWindow', 'setIpAddresses', 'openUserPort', 'handedAddresses'];
    const names = new Set<string>();
    for (let o: object | null = port; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
      for (const n of Object.getOwnPropertyNames(o)) names.add(n);
    }
    for (const name of privileged) expect(names.has(name)).toBe(false);
    // No property of the port, own or inherited, yields the NIC.
    for (const name of names) {
      const v = (port as unknown as Record<string, unknown>)[name];
      expect(v instanceof SanNic).toBe(false);
    }
    expect(Object.values(port)).not.toContain(p.b.nic);
    // The machine's waits a port hands out block and wake; they cannot run the machine.
    const waits = port.waits!;
    for (const name of ['runUntilIdle', 'advance', 'enqueue', 'quiesce', 'autoDrive']) expect(name in waits).toBe(false);
    expect(waits).not.toBe(p.fabric.scheduler);
    // The process id is fixed at creation.
    expect(() => {
      (port as unknown as { processId: number }).processId = PA;
    }).toThrow(TypeError);
    expect(port.processId).toBe(PB);
    expect(() => p.b.nic.openUserPort(-1)).toThrow(/process id/);
  });

  it('the owner-naming calls of the NIC (the driver acting for a process) make the same checks as that process\'s port', () => {
    const p = connectedPair();
    const wr = { context: 1, elements: [] };
    expect(p.b.nic.postSend(PX, p.epB, wr)).toBe(NicStatus.ACCESS_DENIED);
    expect(p.b.nic.openUserPort(PX).postSend(p.epB, wr)).toBe(NicStatus.ACCESS_DENIED);
    expect(p.b.nic.pollCompletionQueue(PX, p.cqB).status).toBe(NicStatus.ACCESS_DENIED);
    expect(p.b.nic.postSend(-1, p.epB, wr)).toBe(NicStatus.INVALID_PARAMETER);
  });

  it('connection events reach the owner only: a request at the listener, then established on both sides', () => {
    const p = connectedPair();
    const events: Record<string, ConnectionEvent[]> = { a: [], b: [], x: [] };
    const portA = p.a.nic.openUserPort(PA);
    const portB = p.b.nic.openUserPort(PB);
    portA.onConnectionEvent((e) => events.a!.push(e));
    portB.onConnectionEvent((e) => events.b!.push(e));
    p.b.nic.openUserPort(PX).onConnectionEvent((e) => events.x!.push(e));
    const cqA = portA.createCompletionQueue(4).cq;
    const epA = portA.createEndpoint(cqA).endpoint;
    const cqB = portB.createCompletionQueue(4).cq;
    const epB = portB.createEndpoint(cqB).endpoint;
    expectOk(portB.listen(PORT + 2));
    expectOk(portA.connect(epA, p.b.nic.sanAddress, PORT + 2));
    p.fabric.runUntilIdle();
    expect(events.b).toEqual([{ type: 'connect-request', endpoint: 0, port: PORT + 2 }]);
    expectOk(portB.accept(PORT + 2, epB));
    p.fabric.runUntilIdle();
    expect(events.a).toEqual([{ type: 'established', endpoint: epA, port: PORT + 2 }]);
    expect(events.b.slice(1)).toEqual([{ type: 'established', endpoint: epB, port: PORT + 2 }]);
    expectOk(portA.disconnect(epA));
    p.fabric.runUntilIdle();
    expect(events.b.slice(2)).toEqual([{ type: 'disconnected', endpoint: epB, port: PORT + 2 }]);
    expect(events.x).toEqual([]);
    portA.close();
    expectOk(portB.unlisten(PORT + 2));
  });

  it('a connect with a timeout ends with "timeout" when the machine clock reaches it, never before; a late accept is torn down', () => {
    const p = connectedPair();
    const portA = p.a.nic.openUserPort(PA);
    const portB = p.b.nic.openUserPort(PB);
    const seen: string[] = [];
    portA.onConnectionEvent((e) => seen.push(e.type));
    const epA = portA.createEndpoint(portA.createCompletionQueue(4).cq).endpoint;
    const epB = portB.createEndpoint(portB.createCompletionQueue(4).cq).endpoint;
    expectOk(portB.listen(PORT + 3));
    expectOk(portA.connect(epA, p.b.nic.sanAddress, PORT + 3, 1000));
    p.fabric.scheduler.advance(999);
    expect(seen).toEqual([]);
    expect(portA.endpointInfo(epA)).toMatchObject({ state: 'connecting' });
    p.fabric.scheduler.advance(1);
    expect(seen).toEqual(['timeout']);
    expect(portA.endpointInfo(epA)).toMatchObject({ state: 'idle', lastEvent: 'timeout' });
    expectOk(portB.accept(PORT + 3, epB));
    p.fabric.runUntilIdle();
    expect(portB.endpointInfo(epB)).toMatchObject({ state: 'disconnected' });
    expect(seen).toEqual(['timeout']);
  });

  it('the completion channel: one event task per burst of completions, and the handler polls them all', () => {
    const p = connectedPair();
    const portA = p.a.nic.openUserPort(PA);
    const portB = p.b.nic.openUserPort(PB);
    const RW = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE;
    const s = p.a.nic.registerRegion({ owner: PA, pages: pagesOf(0, 1), firstByteOffset: 0, length: 4096, access: RW });
    const r = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(0, 1), firstByteOffset: 0, length: 4096, access: RW });
    const batch = new CompletionBatch(64);
    const polled: number[] = [];
    let events = 0;
    expectOk(portA.notifyCompletions(p.cqA, () => {
      events++;
      expectOk(portA.pollInto(p.cqA, batch));
      for (let k = 0; k < batch.count; k++) polled.push(batch.context[k]!);
    }));
    for (let i = 0; i < 5; i++) {
      expectOk(portB.postRecv(p.epB, { context: 100 + i, elements: [{ localHandle: r.handle, offset: 0, length: 64 }] }));
      expectOk(portA.postSend(p.epA, { context: i, elements: [{ localHandle: s.handle, offset: 0, length: 64 }] }));
    }
    p.fabric.runUntilIdle();
    expect(polled).toEqual([0, 1, 2, 3, 4]);
    expect(events).toBeGreaterThanOrEqual(1);
    expect(events).toBeLessThanOrEqual(5);
    expect(portA.pollCompletionQueue(p.cqA).completions).toEqual([]);
    expectOk(portA.notifyCompletions(p.cqA, null));
  });
});
