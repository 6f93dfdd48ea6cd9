import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  aethMsn, aethSyndrome, atmackOrig, atmethCompare, atmethRkey, atmethSwapAdd, atmethVa, bthMig, bthPkey, bthSe, buildFrame,
  DROP_REASON_COUNT, dethQkey, dethSrcQp, DropReason, dropReasonName, frameHeadLength, frameLength, iethRkey, immDt,
  KNOWN_OPCODES, macForIpv4, Opcode, opcodeHeaderLength, opcodeMask, OpMask, packetFields, PacketView, pkeyMatch, PMTUS,
  rethLength, rethRkey, rethVa, sealFrame, serializeSplitFrame, splitFrameLength, WireError, writeFrameHead,
  type PacketFields,
} from '../../src/wire/index.ts';
import { fieldsArb, hasPayload } from './arbitraries.ts';
import { IP_A, IP_B, MAC_A, MAC_B, V1, V2, aToB, fromHex, referenceIcrc, wireIcrc } from './reference-vectors.ts';

/** Opcode, PMTU and a payload of 0..PMTU bytes (none for header-only opcodes). */
const packetArb = fc.record({
  f: fieldsArb(fc.constantFrom(...KNOWN_OPCODES)),
  pmtu: fc.constantFrom(...PMTUS),
  fraction: fc.double({ min: 0, max: 1, noNaN: true }),
  edge: fc.constantFrom('random', 'zero', 'one', 'pmtu', 'pmtu-1'),
  seed: fc.integer({ min: 0, max: 255 }),
}).map(({ f, pmtu, fraction, edge, seed }) => {
  let length = edge === 'zero' ? 0 : edge === 'one' ? 1 : edge === 'pmtu' ? pmtu : edge === 'pmtu-1' ? pmtu - 1 : Math.floor(fraction * pmtu);
  if (!hasPayload(f.opcode)) length = 0;
  const payload = new Uint8Array(length);
  for (let i = 0; i < length; i++) payload[i] = (i * 7 + seed) & 0xff;
  return { f, pmtu, payload };
});

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

function build(f: PacketFields, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(frameLength(f.opcode, payload.length) + 8);
  return out.subarray(0, buildFrame(out, f, payload));
}

/** Every field the opcode carries reads back from the view as it was built. */
function expectFields(v: PacketView, f: PacketFields, payload: Uint8Array): void {
  const mask = opcodeMask(f.opcode);
  expect(v.opcode).toBe(f.opcode);
  expect(v.mask).toBe(mask);
  expect(v.headerLength).toBe(opcodeHeaderLength(f.opcode));
  expect(v.psn).toBe(f.psn);
  expect(v.destQp).toBe(f.destQp);
  expect(v.ackReq).toBe(f.ackReq);
  expect(v.padCount).toBe(-payload.length & 3);
  expect(v.srcIp).toBe(f.srcIp);
  expect(v.dstIp).toBe(f.dstIp);
  expect(v.srcPort).toBe(f.srcPort);
  expect(bthSe(v.buf, v.bth)).toBe(f.se);
  expect(bthMig(v.buf, v.bth)).toBe(f.mig);
  expect(bthPkey(v.buf, v.bth)).toBe(f.pkey);
  expect(v.payloadLength).toBe(payload.length);
  expect(sameBytes(v.payload(), payload)).toBe(true);
  expect(v.reth >= 0).toBe((mask & OpMask.RETH) !== 0);
  expect(v.aeth >= 0).toBe((mask & OpMask.AETH) !== 0);
  expect(v.deth >= 0).toBe((mask & OpMask.DETH) !== 0);
  expect(v.immdt >= 0).toBe((mask & OpMask.IMMDT) !== 0);
  expect(v.ieth >= 0).toBe((mask & OpMask.IETH) !== 0);
  expect(v.atmeth >= 0).toBe((mask & OpMask.ATMETH) !== 0);
  expect(v.atmack >= 0).toBe((mask & OpMask.ATMACK) !== 0);
  if (v.reth >= 0) {
    expect(rethVa(v.buf, v.reth)).toBe(f.va);
    expect(rethRkey(v.buf, v.reth)).toBe(f.rkey);
    expect(rethLength(v.buf, v.reth)).toBe(f.dmaLength);
  }
  if (v.aeth >= 0) {
    expect(aethSyndrome(v.buf, v.aeth)).toBe(f.syndrome);
    expect(aethMsn(v.buf, v.aeth)).toBe(f.msn);
  }
  if (v.deth >= 0) {
    expect(dethQkey(v.buf, v.deth)).toBe(f.qkey);
    expect(dethSrcQp(v.buf, v.deth)).toBe(f.srcQp);
  }
  if (v.immdt >= 0) expect(immDt(v.buf, v.immdt)).toBe(f.immDt);
  if (v.ieth >= 0) expect(iethRkey(v.buf, v.ieth)).toBe(f.invalidateRkey);
  if (v.atmeth >= 0) {
    expect(atmethVa(v.buf, v.atmeth)).toBe(f.va);
    expect(atmethRkey(v.buf, v.atmeth)).toBe(f.rkey);
    expect(atmethSwapAdd(v.buf, v.atmeth)).toBe(f.swapAdd);
    expect(atmethCompare(v.buf, v.atmeth)).toBe(f.compare);
  }
  if (v.atmack >= 0) expect(atmackOrig(v.buf, v.atmack)).toBe(f.origData);
}

/** IPv4 header checksum written here (RFC 1071), to forge consistent headers in tests. */
function fixIpChecksum(frame: Uint8Array): void {
  frame[24] = 0;
  frame[25] = 0;
  let sum = 0;
  for (let i = 14; i < 34; i += 2) sum += (frame[i]! << 8) | frame[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  frame[24] = (~sum >>> 8) & 0xff;
  frame[25] = ~sum & 0xff;
}

/** Offsets (from the frame start) the ICRC does not cover: Ethernet, the masked IPv4/UDP/BTH
 *  bytes, the ICRC itself. */
const uncovered = (i: number, n: number): boolean => i < 14 || [15, 22, 24, 25, 40, 41, 46].includes(i) || i >= n - 4;

describe('build → parse round trip', () => {
  it('every opcode, every PMTU, payload 0..PMTU, random fields and PSNs incl. wrap: the view reads back what was built (property)', () => {
    fc.assert(fc.property(packetArb, ({ f, payload }) => {
      const frame = build(f, payload);
      expect(frame.length).toBe(frameLength(f.opcode, payload.length));
      expect(wireIcrc(frame)).toBe(referenceIcrc(frame));
      const v = new PacketView({ localIp: f.dstIp, localMac: f.dstMac });
      expect(v.parseFrame(frame)).toBe(DropReason.NONE);
      expectFields(v, f, payload);
      // the same packet as a bare IPv4 datagram and as a UDP payload with its addresses
      expect(v.parseDatagram(frame.subarray(14))).toBe(DropReason.NONE);
      expectFields(v, f, payload);
      expect(v.parseUdpPayload(frame.subarray(42), frame.length - 42, f.srcIp, f.srcPort, f.dstIp, f.ipId)).toBe(DropReason.NONE);
      expectFields(v, f, payload);
    }), { numRuns: 400 });
  });

  it('each opcode round-trips at each PMTU with a full, a one-byte and an empty payload', () => {
    const v = new PacketView();
    for (const opcode of KNOWN_OPCODES) {
      for (const pmtu of PMTUS) {
        for (const length of hasPayload(opcode) ? [0, 1, pmtu] : [0]) {
          const payload = new Uint8Array(length).fill(0xa5);
          const f = aToB({ opcode, psn: 0xffffff, ackReq: 1, syndrome: 0x1f, qkey: 0x80010000, srcQp: 1 });
          expect(v.parseFrame(build(f, payload))).toBe(DropReason.NONE);
          expectFields(v, f, payload);
        }
      }
    }
  });

  it('trailing Ethernet padding is ignored: a 58-byte SEND Only padded to 60 bytes is accepted with no payload', () => {
    const f = aToB({ opcode: Opcode.RC_SEND_ONLY, ackReq: 1 });
    const frame = build(f, new Uint8Array(0));
    expect(frame.length).toBe(58);
    const padded = new Uint8Array(60);
    padded.set(frame);
    const v = new PacketView();
    expect(v.parseFrame(padded)).toBe(DropReason.NONE);
    expect(v.payloadLength).toBe(0);
  });

  it('a frame in a larger buffer is parsed up to the given length', () => {
    const buffer = new Uint8Array(4096).fill(0xee);
    const n = buildFrame(buffer, V1.fields, V1.payload);
    const v = new PacketView();
    expect(v.parseFrame(buffer, n)).toBe(DropReason.NONE);
    expect(new TextDecoder().decode(v.payload())).toBe('Hello');
  });

  it('the payload may be DMA-placed in the frame buffer: writeFrameHead, fill at frameHeadLength, sealFrame = buildFrame', () => {
    fc.assert(fc.property(packetArb, ({ f, payload }) => {
      const expected = build(f, payload);
      const out = new Uint8Array(expected.length + 16).fill(0x77); // stale bytes where pad goes
      const at = writeFrameHead(out, f, payload.length);
      expect(at).toBe(frameHeadLength(f.opcode));
      out.set(payload, at);
      expect(sealFrame(out)).toBe(expected.length);
      expect(sameBytes(out.subarray(0, expected.length), expected)).toBe(true);
      // and buildFrame with the payload view already in place copies nothing
      const again = new Uint8Array(expected.length);
      again.set(payload, at);
      expect(buildFrame(again, f, again.subarray(at, at + payload.length))).toBe(expected.length);
      expect(sameBytes(again, expected)).toBe(true);
    }), { numRuns: 150 });
  });
});

describe('split frames (the lossless link carries head + payload view, frame.ts)', () => {
  it('serializeSplitFrame gives the bytes buildFrame gives, and parseSplitFrame reads the same fields (property)', () => {
    fc.assert(fc.property(packetArb, ({ f, payload }) => {
      const expected = build(f, payload);
      const head = new Uint8Array(frameHeadLength(f.opcode));
      writeFrameHead(head, f, payload.length);
      const split = { head, payload };
      expect(splitFrameLength(split)).toBe(expected.length);
      const out = new Uint8Array(expected.length);
      expect(serializeSplitFrame(split, out)).toBe(expected.length);
      expect(sameBytes(out, expected)).toBe(true);
      const v = new PacketView({ localIp: f.dstIp });
      expect(v.parseSplitFrame(head, payload)).toBe(DropReason.NONE);
      expectFields(v, f, payload);
      expect(v.payloadBuf).toBe(payload);
    }), { numRuns: 150 });
  });

  it('a split frame whose payload does not match the head\'s lengths is dropped as BAD_LENGTH', () => {
    const head = new Uint8Array(frameHeadLength(Opcode.RC_SEND_ONLY));
    writeFrameHead(head, V1.fields, 5);
    expect(new PacketView().parseSplitFrame(head, new Uint8Array(6))).toBe(DropReason.BAD_LENGTH);
    expect(() => serializeSplitFrame({ head, payload: new Uint8Array(6) }, new Uint8Array(100))).toThrow(WireError);
  });
});

describe('corruption', () => {
  it('any single corrupted byte except the (uncovered) source MAC is dropped; past the IPv4/UDP checks, in covered bytes, by the ICRC (property)', () => {
    fc.assert(fc.property(packetArb, fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.integer({ min: 1, max: 255 }), ({ f, payload }, where, xor) => {
      const frame = build(f, payload);
      const i = Math.floor(where * frame.length);
      const v = new PacketView({ localIp: f.dstIp, localMac: f.dstMac });
      frame[i]! ^= xor;
      const reason = v.parseFrame(frame);
      if (i >= 6 && i < 12) {
        expect(reason).toBe(DropReason.NONE); // nothing covers the source MAC (the FCS would)
      } else {
        expect(reason).not.toBe(DropReason.NONE);
        if (i >= 42 + opcodeHeaderLength(f.opcode)) expect(reason).toBe(DropReason.ICRC); // payload, pad, ICRC
      }
    }), { numRuns: 1000 });
  });

  it('every covered byte, corrupted with the IPv4 checksum made consistent again (a rewriting router), fails the ICRC check or an earlier rxe rule', () => {
    const frame0 = build(aToB({ opcode: Opcode.RC_RDMA_WRITE_FIRST, psn: 5, va: 0x10000, rkey: 0x1234, dmaLength: 600 }), new Uint8Array(256).fill(3));
    const v = new PacketView({ localIp: IP_B, localMac: MAC_B });
    for (let i = 14; i < frame0.length - 4; i++) {
      if (uncovered(i, frame0.length)) continue;
      const frame = frame0.slice();
      frame[i]! ^= 0x01;
      fixIpChecksum(frame);
      const reason = v.parseFrame(frame);
      expect(reason, `byte ${i}`).not.toBe(DropReason.NONE);
      if (i >= 42 && i !== 43 && (i < 44 || i > 47)) expect(reason, `byte ${i}`).toBe(DropReason.ICRC);
    }
  });

  it('masked fields rewritten in flight (ECN CE, TTL decrement, IPv4 checksum fixed; FECN/BECN) keep the packet acceptable', () => {
    const frame = fromHex(V1.frame);
    frame[15] = 0x03; // ECN CE
    frame[22] = 63; // TTL − 1
    fixIpChecksum(frame);
    frame[46] = 0xc0; // FECN, BECN
    const v = new PacketView({ localIp: IP_B });
    expect(v.parseFrame(frame)).toBe(DropReason.NONE);
    frame[18] = 0; // IP ID 0 → 7: covered
    frame[19] = 7;
    fixIpChecksum(frame);
    expect(v.parseFrame(frame)).toBe(DropReason.ICRC);
  });
});

describe('hostile bytes never throw', () => {
  const views = [new PacketView(), new PacketView({ localIp: IP_B, localMac: MAC_B, pkey: 0x8001 })];
  const check = (reason: number): number => {
    expect(Number.isInteger(reason) && reason >= 0 && reason < DROP_REASON_COUNT).toBe(true);
    return reason;
  };

  it('random bytes, every entry point: a drop reason, never an exception (fuzz)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer(), (bytes, n) => {
      for (const v of views) {
        check(v.parseFrame(bytes));
        check(v.parseDatagram(bytes));
        check(v.parseUdpPayload(bytes, bytes.length, n >>> 0, n & 0xffff, IP_B));
        check(v.parseSplitFrame(bytes, bytes.subarray(0, n & 15)));
      }
    }), { numRuns: 3000 });
  });

  it('valid frames with random bytes overwritten and random lengths: a drop reason, never an exception (fuzz)', () => {
    const seen = new Set<number>();
    fc.assert(fc.property(packetArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(),
      ({ f, payload }, edits, cut) => {
        const frame = build(f, payload);
        for (const [at, value] of edits) frame[at % frame.length] = value;
        const length = cut % (frame.length + 1);
        for (const v of views) {
          seen.add(check(v.parseFrame(frame, length)));
          seen.add(check(v.parseDatagram(frame.subarray(14), Math.max(0, length - 14))));
          seen.add(check(v.parseUdpPayload(frame.subarray(42), Math.max(0, length - 42), f.srcIp, f.srcPort, f.dstIp)));
          seen.add(check(v.parseSplitFrame(frame.subarray(0, Math.min(length, frameHeadLength(f.opcode))), payload)));
        }
      }), { numRuns: 1000 });
    // the mutations reach deep into the checks, not just the first one
    for (const r of [DropReason.NONE, DropReason.IP_CHECKSUM, DropReason.SHORT_HEADERS, DropReason.UNKNOWN_OPCODE, DropReason.BAD_LENGTH, DropReason.ICRC]) {
      expect(seen.has(r), dropReasonName(r)).toBe(true);
    }
  });

  it('drop reasons are numbered 0 … DROP_REASON_COUNT - 1 without gaps and have names for counters', () => {
    expect(Object.values(DropReason)).toEqual(Array.from({ length: DROP_REASON_COUNT }, (_, r) => r));
    expect(dropReasonName(DropReason.ICRC)).toBe('icrc');
    expect(dropReasonName(DropReason.IP_CHECKSUM)).toBe('ip-checksum');
    expect(new Set(Array.from({ length: DROP_REASON_COUNT }, (_, r) => dropReasonName(r))).size).toBe(DROP_REASON_COUNT);
  });
});

describe('acceptance checks, one by one and in rxe_recv.c order (roce-v2.md §1.5)', () => {
  const base = (): Uint8Array => build(aToB({ opcode: Opcode.RC_SEND_ONLY, ackReq: 1, psn: 3 }), new Uint8Array(20).fill(9));
  /** Set the UDP Length and IP Total Length for a UDP payload of `payload` bytes. */
  const setLengths = (frame: Uint8Array, payload: number): void => {
    frame[38] = (payload + 8) >>> 8;
    frame[39] = (payload + 8) & 0xff;
    frame[16] = (payload + 28) >>> 8;
    frame[17] = (payload + 28) & 0xff;
    fixIpChecksum(frame);
  };
  const cases: [string, number, (f: Uint8Array) => Uint8Array, PacketView?][] = [
    ['a frame shorter than the Ethernet header', DropReason.TRUNCATED, (f) => f.subarray(0, 10)],
    ['a frame cut inside the UDP header', DropReason.TRUNCATED, (f) => f.subarray(0, 40)],
    ['EtherType IPv6', DropReason.NOT_IPV4, (f) => ((f[12] = 0x86), (f[13] = 0xdd), f)],
    ['an 802.1Q tag', DropReason.NOT_IPV4, (f) => ((f[12] = 0x81), (f[13] = 0x00), f)],
    ['another destination MAC', DropReason.MAC_DST, (f) => ((f[5] = 9), f), new PacketView({ localMac: MAC_B })],
    ['IPv4 options (IHL 6)', DropReason.IP_HEADER, (f) => ((f[14] = 0x46), f)],
    ['a bad IPv4 header checksum', DropReason.IP_CHECKSUM, (f) => ((f[22] = 1), f)],
    ['Total Length beyond the frame', DropReason.IP_LENGTH, (f) => ((f[16] = 0x10), fixIpChecksum(f), f)],
    ['Total Length below IPv4 + UDP', DropReason.IP_LENGTH, (f) => ((f[16] = 0), (f[17] = 27), fixIpChecksum(f), f)],
    ['a fragment (MF)', DropReason.IP_FRAGMENT, (f) => ((f[20] = 0x60), fixIpChecksum(f), f)],
    ['a fragment offset', DropReason.IP_FRAGMENT, (f) => ((f[21] = 1), fixIpChecksum(f), f)],
    ['TCP', DropReason.NOT_UDP, (f) => ((f[23] = 6), fixIpChecksum(f), f)],
    ['UDP Length 7', DropReason.UDP_LENGTH, (f) => ((f[38] = 0), (f[39] = 7), f)],
    ['UDP Length beyond the IP payload', DropReason.UDP_LENGTH, (f) => ((f[39] += 1), f)],
    ['destination port 4792', DropReason.NOT_ROCE_PORT, (f) => ((f[37] = 0xb8), f)],
    ['a wrong non-zero UDP checksum', DropReason.UDP_CHECKSUM, (f) => ((f[40] = 0x12), (f[41] = 0x34), f)],
    ['rule 1: UDP payload of 11 bytes', DropReason.SHORT_BTH, (f) => (setLengths(f, 11), f)],
    ['rule 2: another destination IP', DropReason.DGID, (f) => f, new PacketView({ localIp: IP_A })],
    ['rule 3: a READ Request cut inside its RETH', DropReason.SHORT_HEADERS, (f) => ((f[42] = Opcode.RC_RDMA_READ_REQUEST), setLengths(f, 20), f)],
    ['rule 4: TVer 1', DropReason.TVER, (f) => ((f[43] |= 1), f)],
    ['rule 5: DestQP 0', DropReason.DEST_QP_ZERO, (f) => ((f[47] = 0), (f[48] = 0), (f[49] = 0), f)],
    ['reserved opcode 0x15', DropReason.UNKNOWN_OPCODE, (f) => ((f[42] = 0x15), f)],
    ['CNP 0x81 (not modelled)', DropReason.UNKNOWN_OPCODE, (f) => ((f[42] = 0x81), f)],
    ['UC SEND Only 0x24', DropReason.UNKNOWN_OPCODE, (f) => ((f[42] = 0x24), f)],
    ['pad and ICRC not fitting', DropReason.BAD_LENGTH, (f) => (setLengths(f, 14), f)],
    ['an ACK carrying payload bytes', DropReason.BAD_LENGTH, (f) => ((f[42] = Opcode.RC_ACKNOWLEDGE), f)],
    ['rule 9: P_Key 0x7FFF (limited) against the limited 0x7FFF', DropReason.PKEY, (f) => ((f[44] = 0x7f), f), new PacketView({ pkey: 0x7fff })],
    ['rule 9: another partition', DropReason.PKEY, (f) => ((f[45] = 0xfe), f)],
    ['rule 10: a payload bit', DropReason.ICRC, (f) => ((f[60] ^= 0x80), f)],
  ];
  for (const [what, reason, mutate, view] of cases) {
    it(`${what} → ${dropReasonName(reason)}`, () => {
      expect((view ?? new PacketView()).parseFrame(mutate(base()))).toBe(reason);
    });
  }

  it('the checks run in order: a packet failing rules 4, 5 and 9 and the ICRC is dropped for TVer', () => {
    const f = base();
    f[43] |= 1;
    f[49] = 0;
    f[45] = 0xfe;
    f[60] ^= 1;
    expect(new PacketView().parseFrame(f)).toBe(DropReason.TVER);
  });

  it('a correct non-zero UDP checksum is accepted (the host stack verifies it, the ICRC masks it)', () => {
    const f = base();
    const n = f.length;
    let sum = 0x7f00 + 0x0002 + 0x7f00 + 0x0003 + 17 + (n - 34);
    for (let i = 34; i < n; i += 2) sum += (f[i]! << 8) | (i + 1 < n ? f[i + 1]! : 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    f[40] = (~sum >>> 8) & 0xff;
    f[41] = ~sum & 0xff;
    expect(new PacketView().parseFrame(f)).toBe(DropReason.NONE);
  });

  it('a UDP payload whose sender used another IP ID fails the ICRC (the UDP link must fix the IP ID)', () => {
    const frame = build({ ...V2.fields, ipId: 5 }, new Uint8Array(0));
    const v = new PacketView();
    expect(v.parseUdpPayload(frame.subarray(42), frame.length - 42, IP_B, 49154, IP_A)).toBe(DropReason.ICRC);
    expect(v.parseUdpPayload(frame.subarray(42), frame.length - 42, IP_B, 49154, IP_A, 5)).toBe(DropReason.NONE);
  });

  it('P_Key rule (rxe_verbs.h pkey_match): low 15 bits equal and non-zero, one of the two a full member', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (a, b) => {
      const expected = (a & 0x7fff) !== 0 && (a & 0x7fff) === (b & 0x7fff) && (a >= 0x8000 || b >= 0x8000);
      expect(pkeyMatch(a, b)).toBe(expected);
      expect(pkeyMatch(b, a)).toBe(expected);
    }));
    expect(pkeyMatch(0xffff, 0xffff)).toBe(true);
    expect(pkeyMatch(0x7fff, 0xffff)).toBe(true);
    expect(pkeyMatch(0x7fff, 0x7fff)).toBe(false);
    expect(pkeyMatch(0x8000, 0x8000)).toBe(false);
  });
});

describe('the builder refuses what cannot be built (WireError naming the field, nothing written)', () => {
  const bad: [string, Partial<PacketFields>, number][] = [
    ['opcode', { opcode: 0x15 }, 0],
    ['opcode', { opcode: 0x104 }, 0],
    ['psn', { psn: 0x1000000 }, 0],
    ['psn', { psn: -1 }, 0],
    ['destQp', { destQp: 1.5 }, 0],
    ['srcIp', { srcIp: 2 ** 32 }, 0],
    ['dstMac', { dstMac: 2 ** 48 }, 0],
    ['pkey', { pkey: 0x10000 }, 0],
    ['ackReq', { ackReq: 2 }, 0],
    ['payloadLength', { opcode: Opcode.RC_ACKNOWLEDGE }, 4],
    ['payloadLength', {}, 70000],
    ['va', { opcode: Opcode.RC_RDMA_WRITE_ONLY, va: 2 ** 53 }, 0],
    ['syndrome', { opcode: Opcode.RC_ACKNOWLEDGE, syndrome: 0x80 }, 0],
    ['swapAdd', { opcode: Opcode.RC_FETCH_ADD, swapAdd: -1n }, 0],
    ['qkey', { opcode: Opcode.UD_SEND_ONLY, qkey: NaN }, 0],
  ];
  for (const [field, init, length] of bad) {
    it(`${field} = ${String(Object.values(init).at(-1) ?? length)}`, () => {
      const out = new Uint8Array(80000);
      const f = aToB({ opcode: Opcode.RC_SEND_ONLY, ...init });
      try {
        buildFrame(out, f, new Uint8Array(length));
        expect.unreachable('buildFrame accepted a bad field');
      } catch (e) {
        expect(e).toBeInstanceOf(WireError);
        expect((e as WireError).field).toBe(field);
      }
      expect(out.every((b) => b === 0)).toBe(true);
    });
  }

  it('a buffer too small for the frame is refused before anything is written', () => {
    const out = new Uint8Array(60);
    expect(() => buildFrame(out, V1.fields, V1.payload)).toThrow(/out = 60: expected a Uint8Array of at least 66 bytes/);
    expect(out.every((b) => b === 0)).toBe(true);
  });

  it('a payload view overlapping the frame head is refused', () => {
    const out = new Uint8Array(200);
    expect(() => buildFrame(out, V1.fields, out.subarray(10, 20))).toThrow(WireError);
  });

  it('sealFrame refuses a head whose UDP Length does not cover its headers', () => {
    const out = new Uint8Array(100);
    writeFrameHead(out, V2.fields, 0);
    out[39] = 10;
    expect(() => sealFrame(out)).toThrow(WireError);
  });

  it('PacketView refuses options out of range and a length beyond the bytes', () => {
    expect(() => new PacketView({ pkey: 0x10000 })).toThrow(WireError);
    expect(() => new PacketView({ localIp: -5 })).toThrow(WireError);
    expect(() => new PacketView().parseFrame(new Uint8Array(10), 11)).toThrow(WireError);
    expect(() => new PacketView().parseUdpPayload(new Uint8Array(10), 10, IP_A, 70000, IP_B)).toThrow(WireError);
  });
});

describe('network helpers', () => {
  it('macForIpv4 gives 02:00:a.b.c.d', () => {
    expect(macForIpv4(0x0a000001)).toBe(0x02000a000001);
    const frame = build(packetFields({ opcode: Opcode.RC_SEND_ONLY, srcIp: 0x0a000001, dstIp: 0x0a000002, srcMac: macForIpv4(0x0a000001), dstMac: macForIpv4(0x0a000002), destQp: 1 }), new Uint8Array(16));
    expect(Array.from(frame.subarray(0, 12))).toEqual([2, 0, 10, 0, 0, 2, 2, 0, 10, 0, 0, 1]);
    expect(MAC_A).toBe(0x020000000002);
  });
});
