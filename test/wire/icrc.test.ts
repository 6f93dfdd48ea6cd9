import fc from 'fast-check';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  buildCmFrame, buildFrame, frameIcrc, ICRC_SEED, icrcHeaders, icrcPad, icrcUpdate, PacketView, DropReason,
  frameHeadLength, Opcode, KNOWN_OPCODES, opcodeMask, OpMask, writeFrameHead, sealFrame, getIcrc,
} from '../../src/wire/index.ts';
import {
  RC_VECTORS, V1, V5_FRAME, V5_HEAD, V5_MAD, V5_ICRC, aToB, fromHex, referenceCrc32, referenceIcrc, toHex, v5Req, wireIcrc,
} from './reference-vectors.ts';

describe('ICRC (roce-v2.md §5)', () => {
  it('the reference CRC-32 is the IBA/Ethernet CRC: crc("123456789") = 0xCBF43926, and zlib agrees', () => {
    const check = new TextEncoder().encode('123456789');
    expect(referenceCrc32(check)).toBe(0xcbf43926);
    expect(crc32(check)).toBe(0xcbf43926);
  });

  it('the start value 0x2144DF1C is the CRC of the 8-byte LRH stand-in of ones', () => {
    expect(referenceCrc32(new Uint8Array(8).fill(0xff))).toBe(ICRC_SEED);
  });

  it('V1 CRC input (56 bytes, §5.4) gives 0x6D57EA6A, sent as 6a ea 57 6d', () => {
    const input = fromHex('ffffffffffffffff 45ff003400004000ff11ffff7f0000027f000003 c00112b70020ffff 0430ffffff00001180000000 48656c6c6f000000');
    expect(input.length).toBe(56);
    expect(referenceCrc32(input)).toBe(0x6d57ea6a);
  });

  for (const v of RC_VECTORS) {
    it(`${v.name}: the builder reproduces the frame byte for byte and its ICRC is the independent one`, () => {
      const out = new Uint8Array(256);
      const n = buildFrame(out, v.fields, v.payload);
      const frame = out.subarray(0, n);
      expect(toHex(frame)).toBe(v.frame);
      expect(toHex(frame.subarray(n - 4))).toBe(v.icrc);
      expect(wireIcrc(frame)).toBe(referenceIcrc(fromHex(v.frame)));
    });
  }

  it('V5 (CM REQ, §10.10): buildCmFrame reproduces the 322-byte frame byte for byte', () => {
    const out = new Uint8Array(400);
    const n = buildCmFrame(out, aToB({ psn: 0 }), v5Req());
    expect(n).toBe(322);
    expect(toHex(out.subarray(0, 62))).toBe(V5_HEAD);
    expect(toHex(out.subarray(62, 318))).toBe(V5_MAD);
    expect(toHex(out.subarray(318, 322))).toBe(V5_ICRC);
    expect(toHex(out.subarray(0, n))).toBe(V5_FRAME);
    expect(wireIcrc(out.subarray(0, n))).toBe(referenceIcrc(fromHex(V5_FRAME)));
  });

  it('masked fields do not change the ICRC: TTL 1, TOS 0x6A, ECN CE, UDP checksum 0x1234, FECN=BECN=1 (§5.4)', () => {
    const cases: [string, (f: Uint8Array) => void][] = [
      ['TTL 1', (f) => { f[22] = 1; }],
      ['TOS 0x6A', (f) => { f[15] = 0x6a; }],
      ['TOS 0x03 (ECN CE)', (f) => { f[15] = 0x03; }],
      ['IP checksum', (f) => { f[24] = 0x12; f[25] = 0x34; }],
      ['UDP checksum 0x1234', (f) => { f[40] = 0x12; f[41] = 0x34; }],
      ['FECN=BECN=1', (f) => { f[46] |= 0xc0; }],
      ['BTH Resv6a', (f) => { f[46] |= 0x3f; }],
    ];
    for (const [, change] of cases) {
      const f = fromHex(V1.frame);
      change(f);
      f.set([0, 0, 0, 0], f.length - 4); // sealFrame recomputes the ICRC over the changed frame
      const n = sealFrame(f);
      expect(toHex(f.subarray(n - 4, n))).toBe('6aea576d');
      expect(referenceIcrc(f)).toBe(0x6d57ea6a);
    }
  });

  it('a covered header field changes the ICRC: IP ID 7 gives ca 2c 5d 63 (§5.4)', () => {
    const out = new Uint8Array(128);
    const n = buildFrame(out, { ...V1.fields, ipId: 7 }, V1.payload);
    expect(toHex(out.subarray(n - 4, n))).toBe('ca2c5d63');
    expect(wireIcrc(out.subarray(0, n))).toBe(referenceIcrc(out.subarray(0, n)));
  });

  it('every opcode, payload and header value: the ICRC equals the independent CRC (property)', () => {
    fc.assert(fc.property(
      fc.constantFrom(...KNOWN_OPCODES), fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 0xffffff }),
      fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xff }),
      (opcode, len, psn, ipId, key, tos) => {
        const payloadLength = (opcodeMask(opcode) & OpMask.PAYLOAD) !== 0 ? len : 0;
        const payload = Uint8Array.from({ length: payloadLength }, (_, i) => (i * 31 + psn) & 0xff);
        const f = aToB({ opcode, psn, ipId, tos, rkey: key, va: key * 4096, dmaLength: len, qkey: key, immDt: key, invalidateRkey: key, syndrome: psn & 0x7f, msn: psn, srcQp: psn, swapAdd: BigInt(key) << 20n, compare: BigInt(psn), origData: 77n });
        const out = new Uint8Array(1024);
        const n = buildFrame(out, f, payload);
        expect(wireIcrc(out.subarray(0, n))).toBe(referenceIcrc(out.subarray(0, n)));
      }));
  });

  it('short pieces (table loop) and long ones (native zlib.crc32) continue a CRC alike, at every length around the switch', () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 91 + 7) & 0xff);
    for (let n = 0; n <= 200; n++) {
      const start = referenceCrc32(bytes.subarray(0, 50));
      expect(icrcUpdate(start, bytes.subarray(50, 50 + n)), `${n} bytes`).toBe(referenceCrc32(bytes.subarray(0, 50 + n)));
      expect(icrcUpdate(start, bytes.subarray(50, 50 + n))).toBe(crc32(bytes.subarray(50, 50 + n), start));
    }
    expect(icrcUpdate(-1, bytes.subarray(0, 100))).toBe(crc32(bytes.subarray(0, 100), 0xffffffff)); // a signed value is read as u32
  });

  it('the chained pieces (headers, extension headers + payload in several views, pad) give the one-shot value', () => {
    const out = new Uint8Array(256);
    const f = aToB({ opcode: Opcode.RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE, psn: 9, va: 0x1000, rkey: 5, dmaLength: 13, immDt: 0xdeadbeef });
    const payload = Uint8Array.from({ length: 13 }, (_, i) => i + 1);
    const n = buildFrame(out, f, payload);
    const head = out.subarray(0, frameHeadLength(f.opcode));
    let c = icrcHeaders(head, 14, head, 42);
    c = icrcUpdate(c, head.subarray(54));
    c = icrcUpdate(c, payload.subarray(0, 5));
    c = icrcUpdate(c, payload.subarray(5));
    c = icrcPad(c, 3) >>> 0;
    expect(c).toBe(getIcrc(out, n - 4));
    expect(frameIcrc(head, payload)).toBe(c);
  });
});

describe('ICRC check on receive', () => {
  it('a frame with a wrong ICRC is dropped as ICRC; the same frame sealed is accepted', () => {
    const out = new Uint8Array(128);
    const n = buildFrame(out, V1.fields, V1.payload);
    const view = new PacketView();
    expect(view.parseFrame(out, n)).toBe(DropReason.NONE);
    out[n - 1]! ^= 1;
    expect(view.parseFrame(out, n)).toBe(DropReason.ICRC);
    writeFrameHead(out, V1.fields, V1.payload.length);
    expect(sealFrame(out)).toBe(n);
    expect(view.parseFrame(out, n)).toBe(DropReason.NONE);
  });
});
