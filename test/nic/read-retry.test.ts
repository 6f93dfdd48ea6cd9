/**
 * A READ's response lost while later READs are in flight: the requester goes back once for the
 * gap (rxe_comp.c started_retry), not once more for every response of a later READ still on
 * its way. Over a link that only delays (every frame 2 µs), READs posted 1 µs apart, one READ
 * Response Middle dropped by hand.
 */
import { describe, expect, it } from 'vitest';
import { NicAccess, WcStatus } from '../../src/nic/index.ts';
import type { LinkPort, WirePacket } from '../../src/nic/link.ts';
import { Opcode as WireOpcode } from '../../src/wire/index.ts';
import { PA, PB, connectedPair, fillPattern, pagesOf, snapshot } from './harness.ts';

const ALL = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;
const BASE_A = 0x40000;
const BASE_B = 0x80000;
const READS = 3;
const LENGTH = 8 * 1024; // 8 responses each at MTU 1024
const PAGES = (READS * LENGTH) / 4096;

describe('READ go-back-N over a delaying link', () => {
  it('sends the READ Requests again once per gap, and every READ completes with its bytes', () => {
    const p = connectedPair({ pathMtu: 1024 });
    fillPattern(p.a.memory, 0, p.a.memory.limit, 3);
    fillPattern(p.b.memory, 0, p.b.memory.limit, 4);
    const ra = p.a.nic.registerRegion({ owner: PA, pages: pagesOf(BASE_A, PAGES), firstByteOffset: 0, length: PAGES * 4096, access: ALL });
    const rb = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(BASE_B, PAGES), firstByteOffset: 0, length: PAGES * 4096, access: ALL });
    p.b.nic.bindRegion(rb.handle, p.epB);
    const link = p.fabric.link;
    link.impair({ seed: 1, loss: 0, reorder: 0, duplicate: 0, corrupt: 0, delayNs: 2_000 });
    // Drop the first READ Response Middle: the first READ's second response.
    const transmit = link.transmit.bind(link);
    let dropped = 0;
    link.transmit = (from: LinkPort, packet: WirePacket): void => {
      if (dropped === 0 && packet.opcode === WireOpcode.RC_RDMA_READ_RESPONSE_MIDDLE) {
        dropped++;
        link.release(packet);
        return;
      }
      transmit(from, packet);
    };
    const source = snapshot(p.b.memory, BASE_B, READS * LENGTH);
    for (let i = 0; i < READS; i++) {
      const el = [{ localHandle: ra.handle, offset: i * LENGTH, length: LENGTH }];
      p.a.nic.postRdmaRead(PA, p.epA, { context: i, elements: el, remote: { remoteKey: rb.remoteKey, address: i * LENGTH, length: LENGTH } });
      // 1 µs apart: each READ's responses arrive 1 µs after the one before's, so the third's
      // are still on their way when the requester has gone back for the gap the second's showed.
      p.fabric.scheduler.advance(1_000);
    }
    const done: { status: number; context: number }[] = [];
    for (let step = 0; step < 100 && done.length < READS; step++) {
      p.fabric.scheduler.advance(100_000);
      done.push(...p.a.nic.pollCompletionQueue(PA, p.cqA, 16).completions);
    }
    expect(dropped).toBe(1);
    expect(done.map((c) => [c.context, c.status])).toEqual([[0, WcStatus.SUCCESS], [1, WcStatus.SUCCESS], [2, WcStatus.SUCCESS]]);
    expect(Buffer.compare(snapshot(p.a.memory, BASE_A, READS * LENGTH), source)).toBe(0);
    const c = p.a.nic.wire.counters;
    // The three READs, then once more from the gap: the rest of the first and the two after it.
    expect(c.txByOpcode[WireOpcode.RC_RDMA_READ_REQUEST]).toBe(2 * READS);
    expect(c.timeouts).toBe(0); // found by the second READ's first response, not by the timer
  });
});
