/**
 * `demo --loss p,q` (and --reorder/--duplicate/--corrupt): one probability applies both ways;
 * two are host-a → host-b then host-b → host-a, set on the link as two directions of their own
 * (link-faults.ts), so impairing one way leaves the other as the lossless link carries it.
 */
import { describe, expect, it } from 'vitest';
import { demoImpairments } from '../../src/cli/demo.ts';
import { demoOptionsFrom } from '../../src/cli/main.ts';

const FLAGS = {
  ram: '8G', nolowmem: 'on', nicBits: '32,64', strategy: 'contiguous', iommu: 'off', rdmaRead: 'on', bytes: '1M', seed: '7', verifier: 'on',
  mtu: '4096', loss: '0', reorder: '0', duplicate: '0', corrupt: '0', firstAddress: '127.0.0.2',
};
const A = 0x0a000001;
const B = 0x0a000002;

describe('demo impairments per direction', () => {
  it('one number each: the same impairments both ways, no directions', () => {
    const o = demoOptionsFrom({ ...FLAGS, loss: '0.02', corrupt: '0.005' });
    expect(demoImpairments(o, A, B)).toEqual({ seed: 7, loss: 0.02, reorder: 0, duplicate: 0, corrupt: 0.005, delayNs: 0 });
  });

  it('p,q: host-a → host-b gets p, host-b → host-a gets q; flags given once apply both ways', () => {
    const o = demoOptionsFrom({ ...FLAGS, loss: '0.05,0', duplicate: '0.01' });
    expect(o.loss).toEqual([0.05, 0]);
    const i = demoImpairments(o, A, B);
    expect(i.loss).toBe(0);
    expect(i.directions).toEqual([
      { from: A, to: B, loss: 0.05, reorder: 0, duplicate: 0.01, corrupt: 0, delayNs: 0 },
      { from: B, to: A, loss: 0, reorder: 0, duplicate: 0.01, corrupt: 0, delayNs: 0 },
    ]);
  });
});
