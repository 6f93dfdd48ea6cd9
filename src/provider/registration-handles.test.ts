import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RDMA_DESCRIPTOR_BYTES, decodeRdmaDescriptor, encodeRdmaDescriptor } from './rdma-descriptor.ts';
import { RegistrationHandles } from './registration-handles.ts';

describe('RegistrationHandles', () => {
  it('property: a scope has at most one live handle; handles never repeat; indexes agree with a model', () => {
    const op = fc.record({
      add: fc.boolean(),
      socket: fc.integer({ min: 1, max: 3 }),
      kind: fc.constantFrom('local' as const, 'rdma' as const),
      address: fc.constantFrom(0x10000, 0x20000),
      flags: fc.integer({ min: 1, max: 3 }),
    });
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const t = new RegistrationHandles();
      const model = new Map<string, { handle: number; count: number }>();
      const seen = new Set<number>();
      let key = 1;
      for (const o of ops) {
        const k = `${o.socket}/${o.kind}/${o.address}/${o.flags}`;
        const found = t.find(o.socket, o.kind, o.address, 4096, o.flags);
        expect(found?.handle).toBe(model.get(k)?.handle);
        if (o.add) {
          if (found) {
            found.refCount++;
            model.get(k)!.count++;
          } else {
            const r = t.insert({ socket: o.socket, kind: o.kind, address: o.address, length: 4096, flags: o.flags, nicIndex: 0,
              nicHandle: key, remoteKey: key++, driverId: 1, shadow: null });
            expect(seen.has(r.handle)).toBe(false);
            seen.add(r.handle);
            model.set(k, { handle: r.handle, count: 1 });
            if (o.kind === 'rdma') expect(t.findRemote(o.socket, r.remoteKey)).toBe(r);
          }
        } else if (found) {
          if (--found.refCount === 0) {
            t.remove(found);
            model.delete(k);
            expect(t.get(found.handle)).toBeNull();
            expect(t.findRemote(found.socket, found.remoteKey)).toBeNull();
          } else model.get(k)!.count--;
        }
      }
      expect(t.size).toBe(model.size);
      // Index maps stay only for sockets that still have registrations.
      if (model.size === 0) expect(t.indexMaps).toBe(0);
      for (let s = 1; s <= 3; s++) {
        expect(t.ofSocket(s).length).toBe([...model.keys()].filter((k) => k.startsWith(`${s}/`)).length);
      }
    }));
  });

  it('index maps stay bounded while a socket registers and releases many distinct buffers', () => {
    const t = new RegistrationHandles();
    const keep = t.insert({ socket: 1, kind: 'local', address: 0x1000, length: 4096, flags: 3, nicIndex: 0, nicHandle: 1, remoteKey: 0,
      driverId: 1, shadow: null });
    for (let i = 0; i < 5000; i++) {
      const r = t.insert({ socket: 1, kind: 'local', address: 0x100000 + i * 4096, length: 4096, flags: 1, nicIndex: 0, nicHandle: 2,
        remoteKey: 0, driverId: 2, shadow: null });
      t.remove(r);
    }
    expect(t.size).toBe(1);
    expect(t.indexMaps).toBeLessThan(100);
    t.remove(keep);
    expect(t.indexMaps).toBe(0);
  });

  it('garbage handles find nothing', () => {
    const t = new RegistrationHandles();
    for (const h of [undefined, null, '4096', {}, Number.NaN, -1, 0x1000]) expect(t.get(h)).toBeNull();
  });
});

describe('RDMA descriptor', () => {
  const desc = fc.record({
    remoteKey: fc.integer({ min: 0, max: 0xffffffff }),
    offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    length: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    sanAddress: fc.integer({ min: 0, max: 0xffffffff }),
  });

  it('property: decode(encode(d)) = d', () => {
    fc.assert(fc.property(desc, (d) => {
      const b = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
      encodeRdmaDescriptor(d, b);
      expect(decodeRdmaDescriptor(b, RDMA_DESCRIPTOR_BYTES)).toEqual(d);
    }));
  });

  it('property: any single corrupted byte or a short length is refused', () => {
    fc.assert(fc.property(desc, fc.integer({ min: 0, max: RDMA_DESCRIPTOR_BYTES - 1 }), fc.integer({ min: 1, max: 255 }), (d, at, x) => {
      const b = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
      encodeRdmaDescriptor(d, b);
      expect(decodeRdmaDescriptor(b, RDMA_DESCRIPTOR_BYTES - 1)).toBeNull();
      b[at]! ^= x;
      expect(decodeRdmaDescriptor(b, RDMA_DESCRIPTOR_BYTES)).toBeNull();
    }));
    for (const junk of [null, undefined, 'x', [], new Uint8Array(4)]) expect(decodeRdmaDescriptor(junk, 32)).toBeNull();
  });
});
