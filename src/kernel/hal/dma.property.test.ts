/**
 * Property: random sequences of adapter, common-buffer and scatter/gather operations (with some
 * misuse that must fail cleanly) keep the HAL's books straight, keep every buffer reachable by
 * its device, and leave nothing allocated once everything is released and every adapter put.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DMA_OK, GIB, PAGE_SIZE } from '../../bus/index.ts';
import { IoAllocateMdl, IoFreeMdl, IoModifyAccess, MmProbeAndLockPages, MmUnlockPages, UserMode } from '../mm/mdl.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../mm/virtual-memory.ts';
import { ref } from '../ref.ts';
import { STATUS_SUCCESS } from '../status.ts';
import { IoGetDmaAdapter } from './dma-adapter.ts';
import { bootHost, memorySnapshot, v3Description } from './test-fixtures.ts';
import type { DMA_ADAPTER, SCATTER_GATHER_LIST } from './types.ts';

type Cmd =
  | { op: 'adapter'; wide: boolean; maxPages: number }
  | { op: 'alloc'; a: number; bytes: number }
  | { op: 'free'; i: number; wrongLength: boolean }
  | { op: 'sg'; a: number; b: number; offset: number; bytes: number; toDevice: boolean }
  | { op: 'putsg'; i: number }
  | { op: 'putAdapter'; a: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant('adapter' as const), wide: fc.boolean(), maxPages: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('alloc' as const), a: fc.nat(), bytes: fc.integer({ min: 0, max: 9 * PAGE_SIZE }) }),
  fc.record({ op: fc.constant('free' as const), i: fc.nat(), wrongLength: fc.boolean() }),
  fc.record({ op: fc.constant('sg' as const), a: fc.nat(), b: fc.nat(), offset: fc.nat({ max: 3 * PAGE_SIZE }), bytes: fc.integer({ min: 1, max: 5 * PAGE_SIZE }), toDevice: fc.boolean() }),
  fc.record({ op: fc.constant('putsg' as const), i: fc.nat() }),
  fc.record({ op: fc.constant('putAdapter' as const), a: fc.nat() }),
);

describe('HAL DMA property', () => {
  it('random adapter/common-buffer/SG sequences leave nothing allocated after all adapters are put', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.array(cmd, { maxLength: 40 }), (iommu, nolowmem, cmds) => {
        const host = bootHost({ ramBytes: 5 * GIB, iommu, nolowmem });
        const { k } = host;
        const boot = memorySnapshot(k);
        // Two locked user buffers of 4 pages each for scatter/gather.
        const p = k.ps.createProcess('app');
        const buffers = [0, 1].map((i) => {
          const va = p.VirtualAlloc(0, 4 * PAGE_SIZE, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE);
          const data = new Uint8Array(4 * PAGE_SIZE).map((_, j) => (j * 7 + i * 13) & 0xff);
          p.writeMemory(va, data);
          const mdl = IoAllocateMdl(k, va, 4 * PAGE_SIZE, false, false, null)!;
          k.ps.runInProcess(p, () => MmProbeAndLockPages(k, mdl, UserMode, IoModifyAccess));
          return { va, mdl, data };
        });
        const ready = memorySnapshot(k);

        const adapters: { adapter: DMA_ADAPTER; nic: typeof host.nic32; maxPages: number }[] = [];
        const commons: { a: number; va: number; logical: number; length: number }[] = [];
        const lists: { a: number; list: SCATTER_GATHER_LIST; toDevice: boolean }[] = [];
        const live = () => adapters.map((x, i) => i).filter((i) => !k.hal.byObject.get(adapters[i]!.adapter)!.put);

        for (const c of cmds) {
          const alive = live();
          switch (c.op) {
            case 'adapter': {
              const nic = c.wide ? host.nic64 : host.nic32;
              const n = ref(0);
              const adapter = IoGetDmaAdapter(k, { pciDevice: nic }, v3Description(c.wide ? 64 : 32, c.maxPages * PAGE_SIZE), n);
              expect(adapter).not.toBeNull();
              adapters.push({ adapter: adapter!, nic, maxPages: n.value });
              break;
            }
            case 'alloc': {
              if (alive.length === 0) break;
              const a = alive[c.a % alive.length]!;
              const { adapter, nic } = adapters[a]!;
              const logical = ref(0);
              const va = adapter.DmaOperations.AllocateCommonBuffer(adapter, c.bytes, logical, true);
              if (c.bytes === 0) expect(va).toBeNull();
              if (va === null) break;
              // Contiguous as the device sees it: what the CPU writes, the device reads at LogicalAddress.
              const probe = new Uint8Array(c.bytes).map((_, j) => (j ^ commons.length) & 0xff);
              k.mm.system.write(va, probe);
              const seen = new Uint8Array(c.bytes);
              expect(nic.dmaView.read(logical.value, seen)).toBe(DMA_OK);
              expect(seen).toEqual(probe);
              commons.push({ a, va, logical: logical.value, length: c.bytes });
              break;
            }
            case 'free': {
              const mine = commons.filter((x) => alive.includes(x.a));
              if (mine.length === 0) break;
              const cb = mine[c.i % mine.length]!;
              const { adapter } = adapters[cb.a]!;
              const before = k.hal.counters().commonBuffers;
              adapter.DmaOperations.FreeCommonBuffer(adapter, cb.length + (c.wrongLength ? 1 : 0), cb.logical, cb.va, true);
              if (c.wrongLength) {
                expect(k.hal.counters().commonBuffers).toBe(before); // refused, nothing changed
              } else {
                commons.splice(commons.indexOf(cb), 1);
                expect(k.hal.counters().commonBuffers).toBe(before - 1);
              }
              break;
            }
            case 'sg': {
              if (alive.length === 0) break;
              const a = alive[c.a % alive.length]!;
              const { adapter, nic } = adapters[a]!;
              const buf = buffers[c.b % 2]!;
              const offset = Math.min(c.offset, 4 * PAGE_SIZE - 1);
              const bytes = Math.min(c.bytes, 4 * PAGE_SIZE - offset);
              let got: SCATTER_GATHER_LIST | null = null;
              const status = adapter.DmaOperations.GetScatterGatherList(adapter, null, buf.mdl, buf.va + offset, bytes,
                (_d, _i, l) => { got = l; }, null, c.toDevice);
              if (status !== STATUS_SUCCESS) {
                expect(got).toBeNull();
                break;
              }
              const list = got as unknown as SCATTER_GATHER_LIST;
              expect(list.Elements.reduce((n, e) => n + e.Length, 0)).toBe(bytes);
              if (c.toDevice) {
                const out = new Uint8Array(bytes);
                let at = 0;
                for (const e of list.Elements) {
                  expect(nic.dmaView.read(e.Address, out, at, e.Length)).toBe(DMA_OK);
                  at += e.Length;
                }
                expect(out).toEqual(buf.data.subarray(offset, offset + bytes));
              }
              lists.push({ a, list, toDevice: c.toDevice });
              break;
            }
            case 'putsg': {
              const mine = lists.filter((x) => alive.includes(x.a));
              if (mine.length === 0) break;
              const l = mine[c.i % mine.length]!;
              adapters[l.a]!.adapter.DmaOperations.PutScatterGatherList(adapters[l.a]!.adapter, l.list, l.toDevice);
              lists.splice(lists.indexOf(l), 1);
              break;
            }
            case 'putAdapter': {
              if (alive.length === 0) break;
              const a = alive[c.a % alive.length]!;
              // A well-behaved driver releases everything first; the verifier-off leak path has its own test.
              for (const cb of commons.filter((x) => x.a === a)) {
                adapters[a]!.adapter.DmaOperations.FreeCommonBuffer(adapters[a]!.adapter, cb.length, cb.logical, cb.va, true);
                commons.splice(commons.indexOf(cb), 1);
              }
              for (const l of lists.filter((x) => x.a === a)) {
                adapters[a]!.adapter.DmaOperations.PutScatterGatherList(adapters[a]!.adapter, l.list, l.toDevice);
                lists.splice(lists.indexOf(l), 1);
              }
              adapters[a]!.adapter.DmaOperations.PutDmaAdapter(adapters[a]!.adapter);
              break;
            }
          }
          const counters = k.hal.counters();
          expect(counters.commonBuffers).toBe(commons.length);
          expect(counters.sgLists).toBe(lists.length);
          expect(counters.leakedAdapters).toBe(0);
          const sumRegs = counters.byAdapter.reduce((n, x) => n + x.mapRegistersInUse, 0);
          expect(counters.mapRegistersInUse).toBe(sumRegs);
          if (iommu) expect(counters.mapRegistersInUse).toBe(0);
        }

        // Teardown: release everything, put every adapter.
        for (const cb of commons) adapters[cb.a]!.adapter.DmaOperations.FreeCommonBuffer(adapters[cb.a]!.adapter, cb.length, cb.logical, cb.va, true);
        for (const l of lists) adapters[l.a]!.adapter.DmaOperations.PutScatterGatherList(adapters[l.a]!.adapter, l.list, l.toDevice);
        for (const i of live()) adapters[i]!.adapter.DmaOperations.PutDmaAdapter(adapters[i]!.adapter);
        expect(memorySnapshot(k)).toEqual(ready);
        expect(k.hal.counters().adapters).toBe(0);
        expect(k.mm.audit()).toEqual([]);
        for (const b of buffers) {
          k.ps.runInProcess(p, () => MmUnlockPages(k, b.mdl));
          IoFreeMdl(k, b.mdl);
        }
        k.ps.terminateProcess(p, 0);
        expect(memorySnapshot(k)).toEqual(boot);
        expect(k.bugcheck.crashed).toBeNull();
      }),
      { numRuns: 40 },
    );
  });
});

