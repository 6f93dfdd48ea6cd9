/**
 * The demo over a lossy link (issue 16 "Done means" 2): with loss, reordering, duplication and
 * corruption, every byte is verified on both RDMA paths (read on, read off) and both low-memory
 * strategies, nothing leaks, the summary counts what the link did and what the NICs repaired,
 * and the same seed gives the same counts.
 */
import { describe, expect, it } from 'vitest';
import { GIB, MIB } from '../../src/bus/index.ts';
import { formatDemoSummary, runDemo, type DemoOptions } from '../../src/cli/demo.ts';

const lossy: DemoOptions = {
  ramBytes: 1 * GIB, nolowmem: true, nicBits: [32, 64], strategy: 'contiguous', iommu: false, bytes: 2 * MIB, seed: 5, verifier: true,
  loss: 0.02, reorder: 0.02, duplicate: 0.01, corrupt: 0.005, mtu: 1024,
};
const ZERO_LEAKS = { pages: 0, poolBytes: 0, commonBuffers: 0, lockedPages: 0, mappings: 0, registrations: 0 };

describe('sanproxy demo over a lossy link', () => {
  for (const rdmaRead of [true, false]) {
    for (const strategy of ['contiguous', 'common-buffer'] as const) {
      it(`verifies every byte and leaks nothing: RDMA read ${rdmaRead ? 'on' : 'off'}, ${strategy}`, async () => {
        const o = { ...lossy, rdmaRead, strategy };
        const r = await runDemo(o);
        expect(r.transfer.verified).toBe(true);
        expect(r.leaks).toEqual(ZERO_LEAKS);
        expect(r.verifier.findings).toEqual([]);
        expect(r.wire.link.lost).toBeGreaterThan(0);
        expect(r.wire.link.corrupted).toBeGreaterThan(0);
        expect(r.wire.retransmitted).toBeGreaterThan(0);
        expect(r.wire.dropped).toBeGreaterThanOrEqual(r.wire.link.corrupted);
        expect(r.transfer[rdmaRead ? 'rdmaReadBytes' : 'rdmaWriteBytes']).toBeGreaterThan(0);
        const text = formatDemoSummary(r, o);
        expect(text).toMatch(/wire +\d+ RoCEv2 packets sent \(MTU 1024\), \d+ retransmitted, \d+ dropped at receive, \d+ duplicates, \d+ NAKs/);
        expect(text).toMatch(/link +loss 0.02, reorder 0.02, duplicate 0.01, corrupt 0.005 \(seed 5\): \d+ lost/);
      });
    }
  }
  it('the same seed gives the same counts', async () => {
    const one = await runDemo(lossy);
    const two = await runDemo(lossy);
    expect(two.wire).toEqual(one.wire);
  });
});
