import { describe, expect, it } from 'vitest';
import { DeviceDmaView, FOUR_GIB, PAGE_SIZE, PhysicalMemory } from '../bus/index.ts';
import { HANDED_LOG_LIMIT } from './handed-log.ts';
import { SanNic } from './san-nic.ts';
import { NicStatus } from './status.ts';
import { NicAccess } from './tpt.ts';

describe('the log of addresses handed to a NIC', () => {
  it('stops growing at HANDED_LOG_LIMIT while handedPages, highestHanded and handedAboveLimit count everything', () => {
    const memory = new PhysicalMemory(8 * FOUR_GIB);
    const dma = new DeviceDmaView(memory, [{ base: 0, length: 8 * FOUR_GIB }], { name: 'd', addressBits: 32 });
    const nic = new SanNic({ name: 'n', dma, capabilities: { maxRegionBytes: 1 << 30 } });
    const pages = 4096;
    const low = Float64Array.from({ length: pages }, (_, i) => i * PAGE_SIZE);
    const r = nic.registerRegion({ owner: 1, pages: low, firstByteOffset: 0, length: pages * PAGE_SIZE, access: NicAccess.LOCAL_READ });
    expect(r.status).toBe(NicStatus.SUCCESS);
    let handle = r.handle;
    const rounds = HANDED_LOG_LIMIT / pages + 3;
    for (let i = 0; i < rounds; i++) {
      const again = nic.reregisterRegion(handle, { pages: low, firstByteOffset: 0, length: pages * PAGE_SIZE, access: NicAccess.LOCAL_READ });
      expect(again.status).toBe(NicStatus.SUCCESS);
      handle = again.handle;
    }
    // One page above what a 32-bit NIC can emit, after the log is full: still counted.
    const high = Float64Array.of(FOUR_GIB + 7 * PAGE_SIZE);
    expect(nic.reregisterRegion(handle, { pages: high, firstByteOffset: 0, length: PAGE_SIZE, access: NicAccess.LOCAL_READ }).status).toBe(NicStatus.SUCCESS);
    expect(nic.handedAddresses().length).toBe(HANDED_LOG_LIMIT);
    expect(nic.handedPages).toBe(pages * (rounds + 1) + 1);
    expect(nic.handedAboveLimit).toBe(1);
    expect(nic.highestHanded).toBe(FOUR_GIB + 7 * PAGE_SIZE);
  });
});
