/**
 * The proxy's IOCTL codec (src/proxy/interface.ts): one layout per buffer, the same bytes for
 * the driver, the provider and the test client. Sizes are the documented ones; values survive a
 * round trip; a u64 that is not a safe integer decodes as -1; padding is written as zero.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as iface from '../../src/proxy/interface.ts';
import {
  LAYOUTS, SANPROXY_IOCTLS, SANPROXY_REQUESTS, SANPROXY_WINDOW_BIND, WINDOW_LAYOUTS, decode, decodeAddressList, decodeIoctlReply, decodeReply, encode,
  encodeAddressList, ioctlSpec, replyLayout, type IoctlSpec, type Layout,
} from '../../src/proxy/interface.ts';

const ALL: Record<string, Layout<string>> = { ...LAYOUTS, ...Object.fromEntries(Object.entries(WINDOW_LAYOUTS).map(([k, v]) => [`window.${k}`, v])) };

describe('IOCTL layouts', () => {
  it('have the sizes the interface documents (bytes per request and reply)', () => {
    expect(Object.fromEntries(Object.entries(ALL).map(([k, l]) => [k, l.bytes]))).toEqual({
      translateIn: 16, translateOut: 16, allocateIn: 24, allocateOut: 32, idIn: 8, registerIn: 32, registerOut: 16,
      secureIn: 24, secureOut: 8, createEndpointIn: 16, createEndpointOut: 8, destroyEndpointIn: 8, revalidateIn: 32,
      revalidateOut: 8, addressEntry: 16, 'window.allocateOut': 40, 'window.registerOut': 24,
    });
  });

  it('REGISTER_BUFFER input is u32 nicIndex, u32 access, u64 address, u64 length, u32 bindEndpoint, u32 0, little-endian', () => {
    const bytes = encode(LAYOUTS.registerIn, { nicIndex: 1, access: 0x13, address: 0x1_2345_6000, length: 0x3000, bindEndpoint: 7 });
    expect([...bytes]).toEqual([
      1, 0, 0, 0, 0x13, 0, 0, 0, 0x00, 0x60, 0x45, 0x23, 0x01, 0, 0, 0, 0x00, 0x30, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
    ]);
  });

  it('round-trips every field of every layout; padding is zero', () => {
    for (const [name, l] of Object.entries(ALL)) {
      const names = l.fields.filter(([n]) => n !== '').map(([n]) => n);
      fc.assert(fc.property(fc.array(fc.tuple(fc.nat(0xffff_ffff), fc.maxSafeNat()), { minLength: names.length, maxLength: names.length }), (vals) => {
        const values: Record<string, number> = {};
        names.forEach((n, i) => {
          const kind = l.fields.find(([f]) => f === n)![1];
          values[n] = kind === 'u32' ? vals[i]![0] : vals[i]![1];
        });
        const bytes = encode(l, values);
        expect(bytes.length, name).toBe(l.bytes);
        expect(decode(l, bytes), name).toEqual(values);
        let at = 0;
        for (const [n, kind] of l.fields) {
          if (n === '') expect([...bytes.subarray(at, at + 4)], `${name} padding`).toEqual([0, 0, 0, 0]);
          at += kind === 'u64' ? 8 : 4;
        }
      }), { numRuns: 50 });
    }
  });

  it('a u64 of 2^53 or more decodes as -1, which every driver check refuses', () => {
    const bytes = new Uint8Array(8);
    bytes[6] = 0x20; // 2^53
    expect(decode(LAYOUTS.idIn, bytes).id).toBe(-1);
    bytes[6] = 0x1f;
    bytes.fill(0xff, 0, 6);
    expect(decode(LAYOUTS.idIn, bytes).id).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('a reply shorter than its layout decodes as null', () => {
    const bytes = encode(LAYOUTS.registerOut, { handle: 1, remoteKey: 2, id: 3 });
    expect(decodeReply(LAYOUTS.registerOut, bytes, 16)).toEqual({ handle: 1, remoteKey: 2, id: 3 });
    expect(decodeReply(LAYOUTS.registerOut, bytes, 15)).toBeNull();
    expect(decodeReply(WINDOW_LAYOUTS.registerOut, bytes, 16)).toBeNull();
  });

  it('QUERY_ADDRESSES carries the total count and as many entries as fit', () => {
    const entries = [1, 2, 3].map((i) => ({ ipv4: 0x0a00_0000 + i, nicIndex: i - 1, sanAddress: 0x10 + i }));
    const all = encodeAddressList(entries, 4 + 3 * 16);
    expect(all.complete).toBe(true);
    expect(decodeAddressList(all.bytes, all.bytes.length)).toEqual({ count: 3, entries });
    const some = encodeAddressList(entries, 4 + 2 * 16 + 15);
    expect(some.complete).toBe(false);
    expect(decodeAddressList(some.bytes, some.bytes.length)).toEqual({ count: 3, entries: entries.slice(0, 2) });
    expect(decodeAddressList(some.bytes, 3)).toEqual({ count: 0, entries: [] });
  });
});

describe('SANPROXY_IOCTLS (the codes the driver takes, and the fuzzer draws from)', () => {
  it('holds every IOCTL_SANPROXY_* control code once, by function number', () => {
    const named = Object.entries(iface).filter(([name]) => name.startsWith('IOCTL_SANPROXY_')).map(([, code]) => code as number);
    expect(named.length).toBe(12);
    expect([...SANPROXY_IOCTLS].sort((a, b) => a - b)).toEqual(named.sort((a, b) => a - b));
    const functions = SANPROXY_IOCTLS.map((code) => (code >>> 2) & 0xfff);
    expect(functions).toEqual(functions.map((_, i) => 0x800 + i));
  });
});

describe('SANPROXY_REQUESTS (one codec per IOCTL: the driver, the provider and the test client all use it)', () => {
  const fieldValue = (kind: string) => (kind === 'u64' ? fc.maxSafeNat() : fc.nat(0xffff_ffff));
  const valuesOf = (l: Layout<string>) =>
    fc.record(Object.fromEntries(l.fields.filter(([n]) => n !== '').map(([n, kind]) => [n, fieldValue(kind)])) as Record<string, fc.Arbitrary<number>>);

  it('property: each request and reply round-trips through its entry; the window reply only when access has SANPROXY_WINDOW_BIND', () => {
    for (const [name, s] of Object.entries(SANPROXY_REQUESTS) as [string, IoctlSpec<string, string>][]) {
      fc.assert(fc.property(valuesOf(s.request), valuesOf(s.windowReply ?? s.reply), (request, reply) => {
        const sent = encode(s.request, request);
        expect(sent.length, name).toBe(s.request.bytes);
        expect(decode(s.request, sent), name).toEqual(request);
        const layout = replyLayout(s, request);
        const windowed = s.windowReply !== null && ((request.access ?? 0) & SANPROXY_WINDOW_BIND) !== 0;
        expect(layout, name).toBe(windowed ? s.windowReply : s.reply);
        const back = encode(layout, reply);
        const { window, ...plain } = reply;
        expect(decodeIoctlReply(s, request, back, back.length), name).toEqual({ ...plain, window: windowed ? window : 0 });
        if (layout.bytes > 0) expect(decodeIoctlReply(s, request, back, layout.bytes - 1), `${name} short`).toBeNull();
      }), { numRuns: 40 });
    }
  });

  it('lists every control code once, and ioctlSpec finds each entry by its code and no other code', () => {
    const entries = Object.values(SANPROXY_REQUESTS);
    expect(entries.map((s) => s.code)).toEqual(SANPROXY_IOCTLS);
    for (const s of entries) expect(ioctlSpec(s.code)).toBe(s);
    expect(ioctlSpec(SANPROXY_IOCTLS.at(-1)! + 4)).toBeNull();
  });
});
