/**
 * observeRuns (src/nic/dma.ts): the verifier's observer is told of exactly the physical bytes
 * [offset, offset + length) of a run list, one call per contiguous run; an observer that stops
 * the host by throwing, or that starts a DMA of its own, leaves later reports right.
 */
import { describe, expect, it } from 'vitest';
import { DeviceDmaView, DmaRunList, PhysicalMemory } from '../../src/bus/index.ts';
import { observeRuns } from '../../src/nic/dma.ts';

function setup() {
  const view = new DeviceDmaView(new PhysicalMemory(1 << 20), [{ base: 0, length: 1 << 20 }], { name: 'nic', addressBits: 64 });
  const runs = new DmaRunList();
  runs.add(0x1000, 100);
  runs.add(0x3000, 50);
  runs.add(0x5000, 200);
  const calls: [string, number, number][] = [];
  return { view, runs, calls };
}

describe('observeRuns', () => {
  it('reports exactly bytes [offset, offset + length) of the runs, in order', () => {
    const { view, runs, calls } = setup();
    view.observer = (_d, dir, physical, length) => calls.push([dir, physical, length]);
    observeRuns(view, runs, 'write', 90, 80);
    expect(calls).toEqual([['write', 0x1000 + 90, 10], ['write', 0x3000, 50], ['write', 0x5000, 20]]);
    calls.length = 0;
    observeRuns(view, runs, 'read');
    expect(calls).toEqual([['read', 0x1000, 100], ['read', 0x3000, 50], ['read', 0x5000, 200]]);
  });

  it('an observer that throws (a bug check) or reports a DMA of its own leaves the next report right', () => {
    const { view, runs, calls } = setup();
    view.observer = () => {
      throw new Error('stop');
    };
    expect(() => observeRuns(view, runs, 'write', 0, 10)).toThrow('stop');
    const inner = new DmaRunList();
    inner.add(0x9000, 8);
    let nested = true;
    view.observer = (_d, dir, physical, length) => {
      calls.push([dir, physical, length]);
      if (nested) {
        nested = false;
        observeRuns(view, inner, 'read');
      }
    };
    observeRuns(view, runs, 'write', 100, 60);
    expect(calls).toEqual([['write', 0x3000, 50], ['read', 0x9000, 8], ['write', 0x5000, 10]]);
  });
});
