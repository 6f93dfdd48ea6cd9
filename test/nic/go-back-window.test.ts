/**
 * Go-back-N bounded (roce-v2.md §8.2; rxe_req.c): on a link that serialises, the requester
 * sends a long message PACKET_BUDGET packets per task and starts no new request while
 * MAX_UNACKED_PSNS PSNs await acknowledgement, so a PSN sequence error NAK comes back while
 * the message is still being sent and the requester goes back into it — never a timeout for a
 * lost packet that later packets reveal, and a bounded resend per loss.
 */
import { describe, expect, it } from 'vitest';
import { WcStatus } from '../../src/nic/index.ts';
import { PA, connectedPair, registerBulkRegions, snapshot } from './harness.ts';

const PAGES = 256; // 1 MiB messages: 256 packets at PMTU 4096
const BASE = 0x40000;

describe('go-back-N into the message being sent', () => {
  it('1% loss over sixteen 1 MiB WRITEs: every byte placed, NAKs recover every loss the later packets reveal (no timeout), under 32 packets resent per frame lost', () => {
    const p = connectedPair({});
    const { ra, rb } = registerBulkRegions(p, BASE, PAGES, 3, 4);
    p.fabric.link.impair({ seed: 5637, loss: 0.01, reorder: 0, duplicate: 0, corrupt: 0, delayNs: 0 });
    const length = PAGES * 4096;
    for (let i = 0; i < 16; i++) {
      p.a.nic.postRdmaWrite(PA, p.epA, { context: i, elements: [{ localHandle: ra.handle, offset: 0, length }], remote: { remoteKey: rb.remoteKey, address: 0, length } });
    }
    const done: { status: number; context: number }[] = [];
    for (let step = 0; step < 1000 && done.length < 16; step++) {
      p.fabric.scheduler.advance(1_000_000);
      done.push(...p.a.nic.pollCompletionQueue(PA, p.cqA, 64).completions);
    }
    expect(done.map((c) => c.context)).toEqual([...Array(16).keys()]);
    expect(done.every((c) => c.status === WcStatus.SUCCESS)).toBe(true);
    expect(Buffer.compare(snapshot(p.b.memory, BASE, length), snapshot(p.a.memory, BASE, length))).toBe(0);
    const a = p.a.nic.wire.counters;
    const lost = p.fabric.link.faults.lost;
    expect(lost).toBeGreaterThan(10); // the seed does lose frames
    expect(a.naksReceived).toBeGreaterThan(0);
    expect(a.timeouts).toBe(0);
    expect(a.retransmitted).toBeLessThan(32 * lost);
  });
});
