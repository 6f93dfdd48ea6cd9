import { describe, expect, it } from 'vitest';
import { PA, PB, PORT, connectedPair, expectOk, makeHost } from '../../test/nic/harness.ts';
import { Fabric } from './fabric.ts';
import { NicConfigurationError, NicStatus, WcStatus } from './status.ts';
import { NicAccess } from './tpt.ts';

describe('Fabric', () => {
  it('SAN addresses are unique; attaching twice is a configuration error', () => {
    const f = new Fabric();
    const a = makeHost('a');
    const b = makeHost('b');
    expect(f.attach(a.nic)).not.toBe(f.attach(b.nic));
    expect(() => f.attach(a.nic)).toThrow(NicConfigurationError);
    const c = makeHost('c');
    expect(() => f.attach(c.nic, a.nic.sanAddress)).toThrow(/already in use/);
  });
  it('connect to an address with no NIC: back to idle, "unreachable"', () => {
    const f = new Fabric();
    const a = makeHost('a');
    f.attach(a.nic);
    const ep = a.nic.createEndpoint(PA, a.nic.createCompletionQueue(PA, 4).cq).endpoint;
    expectOk(a.nic.connect(PA, ep, 0x9999, PORT));
    expect(a.nic.endpointInfo(PA, ep)).toMatchObject({ state: 'connecting' });
    f.runUntilIdle();
    expect(a.nic.endpointInfo(PA, ep)).toMatchObject({ state: 'idle', lastEvent: 'unreachable' });
  });
  it('connect to a port nobody listens on, or a rejected request: "rejected"', () => {
    const f = new Fabric();
    const a = makeHost('a');
    const b = makeHost('b');
    f.attach(a.nic);
    f.attach(b.nic);
    const ep = a.nic.createEndpoint(PA, a.nic.createCompletionQueue(PA, 4).cq).endpoint;
    expectOk(a.nic.connect(PA, ep, b.nic.sanAddress, 1));
    f.runUntilIdle();
    expect(a.nic.endpointInfo(PA, ep)).toMatchObject({ state: 'idle', lastEvent: 'rejected' });
    expectOk(b.nic.listen(PB, 1));
    expect(b.nic.listen(PB, 1)).toBe(NicStatus.ADDRESS_IN_USE);
    expectOk(a.nic.connect(PA, ep, b.nic.sanAddress, 1));
    f.runUntilIdle();
    expect(b.nic.pendingConnections(PB, 1)).toBe(1);
    expect(b.nic.reject(PA, 1)).toBe(NicStatus.ACCESS_DENIED);
    expectOk(b.nic.reject(PB, 1));
    f.runUntilIdle();
    expect(a.nic.endpointInfo(PA, ep)).toMatchObject({ state: 'idle', lastEvent: 'rejected' });
    expect(b.nic.accept(PB, 1, ep)).toBe(NicStatus.INVALID_HANDLE);
  });
  it('the same calls give the same completions in the same order (deterministic)', () => {
    const run = () => {
      const p = connectedPair();
      const RW = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE;
      const s = p.a.nic.registerRegion({ owner: PA, pages: Float64Array.of(0), firstByteOffset: 0, length: 4096, access: RW });
      const r = p.b.nic.registerRegion({ owner: PB, pages: Float64Array.of(0), firstByteOffset: 0, length: 4096, access: RW });
      for (let i = 0; i < 5; i++) {
        p.b.nic.postRecv(PB, p.epB, { context: 100 + i, elements: [{ localHandle: r.handle, offset: 0, length: 4096 }] });
        p.a.nic.postSend(PA, p.epA, { context: i, elements: [{ localHandle: s.handle, offset: i, length: 10 + i }] });
      }
      p.fabric.runUntilIdle();
      return [p.a.nic.pollCompletionQueue(PA, p.cqA, 99).completions, p.b.nic.pollCompletionQueue(PB, p.cqB, 99).completions];
    };
    const first = run();
    expect(first[0]!.map((c) => c.context)).toEqual([0, 1, 2, 3, 4]);
    expect(first[1]!.map((c) => c.bytes)).toEqual([10, 11, 12, 13, 14]);
    expect(run()).toEqual(first);
  });
  it('auto-drive runs the queue from setImmediate and quiesce() waits for idle', async () => {
    const p = connectedPair();
    const RW = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE;
    const s = p.a.nic.registerRegion({ owner: PA, pages: Float64Array.of(0), firstByteOffset: 0, length: 4096, access: RW });
    const r = p.b.nic.registerRegion({ owner: PB, pages: Float64Array.of(0), firstByteOffset: 0, length: 4096, access: RW });
    p.fabric.autoDrive = true;
    p.b.nic.postRecv(PB, p.epB, { context: 1, elements: [{ localHandle: r.handle, offset: 0, length: 64 }] });
    p.a.nic.postSend(PA, p.epA, { context: 2, elements: [{ localHandle: s.handle, offset: 0, length: 64 }] });
    expect(p.fabric.pending).toBeGreaterThan(0);
    await p.fabric.quiesce();
    expect(p.fabric.pending).toBe(0);
    expect(p.a.nic.pollCompletionQueue(PA, p.cqA).completions[0]!.status).toBe(WcStatus.SUCCESS);
  });
  it('a task that throws is rethrown by runUntilIdle (a model bug is never swallowed)', () => {
    const f = new Fabric();
    f.enqueue(() => {
      throw new Error('boom');
    });
    expect(() => f.runUntilIdle()).toThrow('boom');
    expect(f.pending).toBe(0);
  });
});
