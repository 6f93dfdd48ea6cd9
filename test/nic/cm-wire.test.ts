/**
 * Connection management over a lossy link (issue 16 item 3; roce-v2.md §10.7): the CM MADs on
 * QP1 are lost, duplicated, reordered and corrupted like any packet, and the GSI agent's resends
 * on the virtual clock still make the connect and the close — or the connect ends cleanly with
 * 'timeout' when nothing gets through. Both ends agree on the PSNs the REQ and REP carried.
 */
import { describe, expect, it } from 'vitest';
import { Fabric, NicStatus, type SanNic } from '../../src/nic/index.ts';
import { CmRejectReason, PacketView, PcapWriter, decodeCmMad, readPcap, type CmMessage } from '../../src/wire/index.ts';
import { PA, PB, PORT, makeHost } from './harness.ts';

const MS = 1_000_000;

function pair(loss: number, seed: number) {
  const fabric = new Fabric();
  const a = makeHost('nicA');
  const b = makeHost('nicB');
  fabric.attach(a.nic);
  fabric.attach(b.nic);
  if (loss > 0) fabric.link.impair({ seed, loss, reorder: loss / 2, duplicate: loss / 2, corrupt: loss / 4, delayNs: 1000 });
  const cqA = a.nic.createCompletionQueue(PA, 16).cq;
  const cqB = b.nic.createCompletionQueue(PB, 16).cq;
  const epA = a.nic.createEndpoint(PA, cqA).endpoint;
  const epB = b.nic.createEndpoint(PB, cqB).endpoint;
  expect(b.nic.listen(PB, PORT)).toBe(NicStatus.SUCCESS);
  return { fabric, a: a.nic, b: b.nic, epA, epB };
}

/** Run the machine, moving the virtual clock 10 ms at a time, until `done` or `limitMs`. */
function driveUntil(fabric: Fabric, done: () => boolean, limitMs = 10_000): void {
  for (let t = 0; t < limitMs && !done(); t += 10) {
    fabric.runUntilIdle();
    if (done()) return;
    fabric.scheduler.advance(10 * MS);
  }
  fabric.runUntilIdle();
}

const ep = (nic: SanNic, handle: number) => nic.endpointByQpn(handle)!;
/** The state as a string (read afresh: the machine changes it between reads). */
const st = (e: { state: string }): string => e.state;

describe('CM over a lossy link', () => {
  it('connects and closes through loss, duplication, reordering and corruption, with the PSNs of the REQ and REP', () => {
    let connected = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const p = pair(0.3, seed);
      expect(p.a.connect(PA, p.epA, p.b.sanAddress, PORT)).toBe(NicStatus.SUCCESS);
      const A = ep(p.a, p.epA);
      const B = ep(p.b, p.epB);
      driveUntil(p.fabric, () => p.b.cm.pendingConnections(PB, PORT) === 1 || st(A) !== 'connecting');
      if (st(A) !== 'connecting') {
        // The REQ and all its resends were lost: a clean timeout, nothing half-made.
        expect(st(A)).toBe('idle');
        expect(A.lastEvent).toBe('timeout');
        continue;
      }
      expect(p.b.accept(PB, PORT, p.epB)).toBe(NicStatus.SUCCESS);
      driveUntil(p.fabric, () => st(A) !== 'connecting' && st(B) !== 'connecting');
      if (st(A) === 'connected' && st(B) === 'connected') {
        connected++;
        expect(A.sqPsn).toBe(B.ePsn);
        expect(B.sqPsn).toBe(A.ePsn);
        expect(A.peerEndpoint).toBe(p.epB);
        expect(B.peerEndpoint).toBe(p.epA);
        expect(p.a.disconnect(PA, p.epA)).toBe(NicStatus.SUCCESS);
        driveUntil(p.fabric, () => st(B) === 'disconnected');
        // The DREQ may be lost every time; then B never hears, as on a real wire. Otherwise:
        if (st(B) === 'disconnected') expect(B.lastEvent).toBe('peer-disconnected');
      } else {
        // Gave up on either side: never one side connected and the other idle forever.
        expect(['idle', 'disconnected']).toContain(st(A) === 'connected' ? st(B) : st(A));
      }
      expect(p.a.gsi.counters.madsSent + p.b.gsi.counters.madsSent).toBeGreaterThan(0);
    }
    expect(connected).toBeGreaterThan(6);
  });

  it('resends a lost MAD on the virtual clock: the REQ, REP and RTU are resent and the connect still succeeds', () => {
    let resent = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const p = pair(0.4, seed);
      p.a.connect(PA, p.epA, p.b.sanAddress, PORT);
      driveUntil(p.fabric, () => p.b.cm.pendingConnections(PB, PORT) === 1 || st(ep(p.a, p.epA)) !== 'connecting');
      if (p.b.cm.pendingConnections(PB, PORT) === 1) p.b.accept(PB, PORT, p.epB);
      driveUntil(p.fabric, () => st(ep(p.a, p.epA)) !== 'connecting' && st(ep(p.b, p.epB)) !== 'connecting');
      resent += p.a.gsi.counters.madsResent + p.b.gsi.counters.madsResent;
    }
    expect(resent).toBeGreaterThan(0);
  });

  it('a peer that never answers: the connect ends with timeout once the REQ retries run out, and nothing is left outstanding', () => {
    const p = pair(1, 3);
    const A = ep(p.a, p.epA);
    expect(p.a.connect(PA, p.epA, p.b.sanAddress, PORT)).toBe(NicStatus.SUCCESS);
    driveUntil(p.fabric, () => st(A) !== 'connecting');
    expect(st(A)).toBe('idle');
    expect(A.lastEvent).toBe('timeout');
    // 1 REQ + 15 resends (Max CM Retries), every one lost.
    expect(p.a.gsi.counters.madsSent).toBe(16);
    expect(p.a.gsi.counters.madsResent).toBe(15);
    expect(p.a.gsi.awaiting(p.epA)).toBe(false);
    expect(p.fabric.scheduler.now).toBeLessThan(2_000 * MS);
  });

  it('answers a REQ with REJ: reason 8 (invalid service ID) when nobody listens, 28 (consumer defined) when the owner refuses', () => {
    const p = pair(0, 1);
    const w = PcapWriter.toMemory({ nanoseconds: true });
    p.fabric.startCapture(w);
    const A = ep(p.a, p.epA);
    expect(p.a.connect(PA, p.epA, p.b.sanAddress, PORT + 1)).toBe(NicStatus.SUCCESS);
    p.fabric.runUntilIdle();
    expect(st(A)).toBe('idle');
    expect(A.lastEvent).toBe('rejected');
    expect(p.a.connect(PA, p.epA, p.b.sanAddress, PORT)).toBe(NicStatus.SUCCESS);
    p.fabric.runUntilIdle();
    expect(p.b.reject(PB, PORT)).toBe(NicStatus.SUCCESS);
    p.fabric.runUntilIdle();
    expect(A.lastEvent).toBe('rejected');
    p.fabric.stopCapture();
    const view = new PacketView();
    const mads: CmMessage[] = [];
    for (const r of readPcap(w.bytes())!.records) {
      view.parseFrame(r.data);
      const m = decodeCmMad(r.data, view.payloadOffset, view.payloadLength);
      if (m.kind !== 'invalid') mads.push(m as CmMessage);
    }
    expect(mads.map((m) => m.kind)).toEqual(['REQ', 'REJ', 'REQ', 'MRA', 'REJ']);
    const rejects = mads.filter((m) => m.kind === 'REJ');
    expect(rejects.map((m) => m.reason)).toEqual([CmRejectReason.INVALID_SERVICE_ID, CmRejectReason.CONSUMER_DEFINED]);
    expect(rejects.map((m) => m.transactionId)).toEqual([mads[0]!.transactionId, mads[2]!.transactionId]);
  });
});
