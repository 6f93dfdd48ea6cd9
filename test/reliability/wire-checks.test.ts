/**
 * The wire checks of `sanproxy faults` (src/host/reliability/wire.ts): seeded lossy-link runs
 * verify every byte, leak nothing and account for every packet; a peer whose link dies
 * mid-transfer ends the survivor's socket with a clean error within the retry budget.
 */
import { describe, expect, it } from 'vitest';
import { deadPeer, deadPeerBudgetNs, lossyLink } from '../../src/host/reliability/wire.ts';

describe('faults: wire checks', () => {
  it('lossy link: verified, no leaks, every packet accounted (RDMA read on and off)', async () => {
    const r = await lossyLink({ runs: 2, bytes: 512 * 1024 });
    expect(r.examples).toEqual([]);
    expect(r.runs).toBe(2);
    expect(r.failures).toBe(0);
    expect(r.lost).toBeGreaterThan(0);
    expect(r.retransmitted).toBeGreaterThan(0);
  });
  it('dead peer: the survivor fails cleanly within the retry budget and nothing leaks', async () => {
    const r = await deadPeer({ runs: 4 });
    expect(r.examples).toEqual([]);
    expect(r.failedCleanly).toBe(4);
    expect(r.leaks).toBe(0);
    expect(r.worstNs).toBeGreaterThan(0);
    expect(r.worstNs).toBeLessThanOrEqual(deadPeerBudgetNs());
  });
});
