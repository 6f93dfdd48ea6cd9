/**
 * Property (issue 16 "Done means" 2): over a link that loses, reorders, duplicates, corrupts
 * and delays frames at random (seeded), the RC transport behaves like its model — every work
 * request completes exactly once and in order, each success moved exactly its bytes, each
 * receive completed at most once and in order with the bytes of its SEND; or the connection
 * ends cleanly: a prefix of successes, one RETRY_EXC_ERR, then WR_FLUSH_ERR for the rest.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NicAccess, Opcode, WcStatus } from '../../src/nic/index.ts';
import { PA, PB, connectedPair, fillPattern, pagesOf, snapshot } from './harness.ts';

const ALL = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;
const SLOT = 12 * 1024; // each operation has its own area on each side: no buffer is shared
const MAX_OPS = 8;
const PAGES = (SLOT * MAX_OPS) / 4096;
const BASE_A = 0x40000;
const BASE_B = 0x80000;
const STEP_NS = 10_000_000;

const impairment = fc.record({
  seed: fc.nat(),
  loss: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
  reorder: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
  duplicate: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
  corrupt: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.2, noNaN: true })),
  delayNs: fc.constantFrom(0, 0, 2_000),
});
const operation = fc.record({ kind: fc.constantFrom('send' as const, 'write' as const, 'read' as const), length: fc.integer({ min: 1, max: 9000 }) });

describe('RC over a lossy link: exactly once, in order, or a clean error', () => {
  it('matches the model of RC delivery for random loss/reorder/duplicate/corrupt schedules', () => {
    const tally = { runs: 0, clean: 0, retryExceeded: 0, retransmitted: 0, dropped: 0 };
    fc.assert(
      fc.property(impairment, fc.constantFrom(256, 1024, 4096), fc.array(operation, { minLength: 1, maxLength: MAX_OPS }), (imp, mtu, ops) => {
        const p = connectedPair({ pathMtu: mtu });
        fillPattern(p.a.memory, 0, p.a.memory.limit, 11);
        fillPattern(p.b.memory, 0, p.b.memory.limit, 22);
        const ra = p.a.nic.registerRegion({ owner: PA, pages: pagesOf(BASE_A, PAGES), firstByteOffset: 0, length: PAGES * 4096, access: ALL });
        const rb = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(BASE_B, PAGES), firstByteOffset: 0, length: PAGES * 4096, access: ALL });
        p.b.nic.bindRegion(rb.handle, p.epB);
        const beforeA = snapshot(p.a.memory);
        const beforeB = snapshot(p.b.memory);
        p.fabric.link.impair({ ...imp, seed: imp.seed | 0 });
        const el = (handle: number, offset: number, length: number) => [{ localHandle: handle, offset, length }];
        ops.forEach((op, i) => {
          const at = i * SLOT;
          if (op.kind === 'send') {
            p.b.nic.postRecv(PB, p.epB, { context: i, elements: el(rb.handle, at, SLOT) });
            p.a.nic.postSend(PA, p.epA, { context: i, elements: el(ra.handle, at, op.length) });
          } else if (op.kind === 'write') {
            p.a.nic.postRdmaWrite(PA, p.epA, { context: i, elements: el(ra.handle, at, op.length), remote: { remoteKey: rb.remoteKey, address: at, length: op.length } });
          } else {
            p.a.nic.postRdmaRead(PA, p.epA, { context: i, elements: el(ra.handle, at, op.length), remote: { remoteKey: rb.remoteKey, address: at, length: op.length } });
          }
        });
        const ca: { status: number; context: number; bytes: number; opcode: number }[] = [];
        const cb: { status: number; context: number; bytes: number }[] = [];
        for (let step = 0; step < 2000 && ca.length < ops.length; step++) {
          p.fabric.scheduler.advance(STEP_NS);
          ca.push(...p.a.nic.pollCompletionQueue(PA, p.cqA, 64).completions);
        }
        p.fabric.scheduler.advance(STEP_NS);
        ca.push(...p.a.nic.pollCompletionQueue(PA, p.cqA, 64).completions);
        cb.push(...p.b.nic.pollCompletionQueue(PB, p.cqB, 64).completions);

        // Requester: every request once, in order; a success prefix, then at most one error and flushes.
        expect(ca.map((c) => c.context)).toEqual(ops.map((_, i) => i));
        let k = 0;
        while (k < ca.length && ca[k]!.status === WcStatus.SUCCESS) k++;
        if (k < ca.length) {
          expect(ca[k]!.status).toBe(WcStatus.RETRY_EXC_ERR);
          for (const c of ca.slice(k + 1)) expect(c.status).toBe(WcStatus.WR_FLUSH_ERR);
          tally.retryExceeded++;
        } else tally.clean++;
        const memA = snapshot(p.a.memory);
        const memB = snapshot(p.b.memory);
        for (let i = 0; i < k; i++) {
          const op = ops[i]!;
          const a = BASE_A + i * SLOT;
          const b = BASE_B + i * SLOT;
          expect(ca[i]!.bytes).toBe(op.length);
          expect(ca[i]!.opcode).toBe(op.kind === 'send' ? Opcode.SEND : op.kind === 'write' ? Opcode.RDMA_WRITE : Opcode.RDMA_READ);
          if (op.kind === 'read') expect(Buffer.compare(memA.subarray(a, a + op.length), beforeB.subarray(b, b + op.length))).toBe(0);
          else expect(Buffer.compare(memB.subarray(b, b + op.length), beforeA.subarray(a, a + op.length))).toBe(0);
        }
        // Responder: receives complete at most once each, in order, and every successful SEND's did.
        const sends = ops.map((op, i) => ({ op, i })).filter((x) => x.op.kind === 'send');
        const okRecvs = cb.filter((c) => c.status === WcStatus.SUCCESS);
        expect(okRecvs.map((c) => c.context)).toEqual(sends.slice(0, okRecvs.length).map((x) => x.i));
        for (const c of okRecvs) expect(c.bytes).toBe(ops[c.context]!.length);
        expect(okRecvs.length).toBeGreaterThanOrEqual(sends.filter((x) => x.i < k).length);
        // Nothing outside the areas of the requests moved.
        for (let i = ops.length; i < MAX_OPS; i++) {
          const b = BASE_B + i * SLOT;
          expect(Buffer.compare(memB.subarray(b, b + SLOT), beforeB.subarray(b, b + SLOT))).toBe(0);
        }
        tally.runs++;
        tally.retransmitted += p.a.nic.wire.counters.retransmitted;
        tally.dropped += p.a.nic.wire.counters.packetsDropped + p.b.nic.wire.counters.packetsDropped;
      }),
      { numRuns: 60 },
    );
    // The property saw losses repaired, not only clean links.
    expect(tally.clean).toBeGreaterThan(0);
    expect(tally.retransmitted).toBeGreaterThan(0);
    expect(tally.dropped).toBeGreaterThan(0);
  });

  it('the same seed gives the same run: completions and counters', () => {
    const run = () => {
      const p = connectedPair({ pathMtu: 512 });
      const ra = p.a.nic.registerRegion({ owner: PA, pages: pagesOf(BASE_A, 8), firstByteOffset: 0, length: 8 * 4096, access: ALL });
      const rb = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(BASE_B, 8), firstByteOffset: 0, length: 8 * 4096, access: ALL });
      p.b.nic.bindRegion(rb.handle, p.epB);
      p.fabric.link.impair({ seed: 42, loss: 0.1, reorder: 0.1, duplicate: 0.1, corrupt: 0.05, delayNs: 1000 });
      for (let i = 0; i < 6; i++) {
        p.a.nic.postRdmaWrite(PA, p.epA, { context: i, elements: [{ localHandle: ra.handle, offset: i * 4096, length: 4000 }], remote: { remoteKey: rb.remoteKey, address: i * 4096, length: 4000 } });
      }
      for (let s = 0; s < 500; s++) p.fabric.scheduler.advance(STEP_NS);
      return {
        completions: p.a.nic.pollCompletionQueue(PA, p.cqA, 64).completions,
        counters: [p.a.nic.wire.counters.packetsSent, p.a.nic.wire.counters.retransmitted, p.b.nic.wire.counters.packetsDropped, p.b.nic.wire.counters.duplicates],
        faults: { ...p.fabric.link.faults },
      };
    };
    const one = run();
    const two = run();
    expect(two.completions).toEqual(one.completions);
    expect(two.counters).toEqual(one.counters);
    expect(two.faults).toEqual(one.faults);
    expect(one.faults.lost + one.faults.corrupted).toBeGreaterThan(0);
  });
});
