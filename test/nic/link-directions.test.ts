/**
 * Per-direction impairments of the in-process link (issue 16 §4: "per-direction probabilities
 * of loss, reordering, duplication and corruption and a delay"): a direction is the frames
 * from one IPv4 address to another; its settings replace the link's, and a direction with
 * nothing set is carried untouched.
 */
import { describe, expect, it } from 'vitest';
import { NicConfigurationError, WcStatus, type LinkImpairments } from '../../src/nic/index.ts';
import { PA, connectedPair, registerBulkRegions, snapshot } from './harness.ts';

const NONE = { loss: 0, reorder: 0, duplicate: 0, corrupt: 0, delayNs: 0 };
const PAGES = 16;
const BASE = 0x40000;

function traffic(directions: (ipA: number, ipB: number) => LinkImpairments['directions']) {
  const p = connectedPair({});
  const { ra, rb } = registerBulkRegions(p, BASE, PAGES, 5, 6);
  const ipA = p.a.nic.wireIp;
  const ipB = p.b.nic.wireIp;
  p.fabric.link.impair({ seed: 99, ...NONE, directions: directions(ipA, ipB) });
  const half = (PAGES / 2) * 4096;
  // WRITEs carry data A → B, READs B → A (their responses).
  for (let i = 0; i < 8; i++) {
    const wr = { context: i, elements: [{ localHandle: ra.handle, offset: (i & 1) * half, length: half }], remote: { remoteKey: rb.remoteKey, address: (i & 1) * half, length: half } };
    if (i % 2 === 0) p.a.nic.postRdmaWrite(PA, p.epA, wr);
    else p.a.nic.postRdmaRead(PA, p.epA, wr);
  }
  const done: { status: number }[] = [];
  for (let step = 0; step < 2000 && done.length < 8; step++) {
    p.fabric.scheduler.advance(1_000_000);
    done.push(...p.a.nic.pollCompletionQueue(PA, p.cqA, 64).completions);
  }
  return { p, ipA, ipB, done };
}

describe('link impairments per direction', () => {
  it('loss only A → B: frames are lost that way, and every frame B sends reaches A (counters of both directions)', () => {
    const { p, ipA, ipB, done } = traffic((ipA, ipB) => [{ from: ipA, to: ipB, ...NONE, loss: 0.1 }]);
    expect(done).toHaveLength(8);
    expect(done.every((c) => c.status === WcStatus.SUCCESS)).toBe(true);
    expect(Buffer.compare(snapshot(p.a.memory, BASE, PAGES * 4096), snapshot(p.b.memory, BASE, PAGES * 4096))).toBe(0);
    const link = p.fabric.link;
    expect(link.faultsBetween(ipA, ipB).lost).toBeGreaterThan(0);
    expect(link.faultsBetween(ipB, ipA)).toEqual({ lost: 0, corrupted: 0, duplicated: 0, reordered: 0 });
    expect(link.faults.lost).toBe(link.faultsBetween(ipA, ipB).lost);
    const a = p.a.nic.wire.counters;
    const b = p.b.nic.wire.counters;
    expect(b.packetsSent).toBe(a.packetsReceived + a.packetsDropped);
    expect(a.packetsSent).toBeGreaterThan(b.packetsReceived + b.packetsDropped);
  });

  it('loss only B → A: the mirror image', () => {
    const { p, ipA, ipB, done } = traffic((ipA, ipB) => [{ from: ipB, to: ipA, ...NONE, loss: 0.1 }]);
    expect(done.every((c) => c.status === WcStatus.SUCCESS)).toBe(true);
    expect(p.fabric.link.faultsBetween(ipB, ipA).lost).toBeGreaterThan(0);
    expect(p.fabric.link.faultsBetween(ipA, ipB).lost).toBe(0);
    const a = p.a.nic.wire.counters;
    const b = p.b.nic.wire.counters;
    expect(a.packetsSent).toBe(b.packetsReceived + b.packetsDropped);
  });

  it('refuses malformed directions with a message naming the direction and the field', () => {
    const link = connectedPair({}).fabric.link;
    const base = { seed: 1, ...NONE };
    const bad = (directions: unknown) => () => link.impair({ ...base, directions } as LinkImpairments);
    expect(bad('x')).toThrow(NicConfigurationError);
    expect(bad([{ from: 1, ...NONE }])).toThrow(/direction 0 needs from and to/);
    expect(bad([{ from: 0x0a000001, to: 0x0a000001, ...NONE }])).toThrow(/10\.0\.0\.1 -> 10\.0\.0\.1 goes nowhere/);
    expect(bad([{ from: 0x0a000001, to: 0x0a000002, ...NONE, loss: 2 }])).toThrow(/direction 10\.0\.0\.1 -> 10\.0\.0\.2: loss must be a probability 0\.\.1, got 2/);
    expect(bad([{ from: 0x0a000001, to: 0x0a000002, ...NONE }, { from: 0x0a000001, to: 0x0a000002, ...NONE }])).toThrow(/given twice/);
    // A refused setting leaves the link as it was.
    expect(link.currentImpairments.loss).toBe(0);
    expect(link.serialises).toBe(false);
  });
});
