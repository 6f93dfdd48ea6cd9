import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HeadTemplate, KNOWN_OPCODES, Opcode, opcodeMask, OpMask, packetFields, WireError, writeFrameHead,
  type PacketFields,
} from '../../src/wire/index.ts';
import { fieldsArb, hasPayload } from './arbitraries.ts';

/** The extension headers a template writes: RETH and AETH (the RC requests and responses). */
const TEMPLATED = KNOWN_OPCODES.filter(
  (op) => (opcodeMask(op) & (OpMask.DETH | OpMask.ATMETH | OpMask.ATMACK | OpMask.IMMDT | OpMask.IETH)) === 0,
);
const lengthArb = fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.integer({ min: 0, max: 65_000 }), fc.constantFrom(0, 1, 2, 3, 4, 4095, 4096));

/** What writeFrameHead writes for `f` and `length`. */
function reference(f: PacketFields, length: number): Uint8Array {
  const out = new Uint8Array(128);
  const n = writeFrameHead(out, f, length);
  return out.subarray(0, n);
}

function viaTemplate(t: HeadTemplate, f: PacketFields, length: number): Uint8Array {
  const out = new Uint8Array(128).fill(0xa5); // stale bytes of an earlier packet must not survive
  const n = t.write(out, f.opcode, f.psn, f.ackReq, length, f.va, f.rkey, f.dmaLength, f.syndrome, f.msn);
  return out.subarray(0, n);
}

describe('HeadTemplate', () => {
  it('writes the same bytes as writeFrameHead, for every RC opcode with RETH/AETH and any lengths', () => {
    fc.assert(
      fc.property(fieldsArb(fc.constantFrom(...TEMPLATED)), fieldsArb(fc.constantFrom(...TEMPLATED)), lengthArb, lengthArb, (f, g, l1, l2) => {
        // The template takes f's connection fields; g's per-packet fields go through it too.
        const t = new HeadTemplate();
        t.prepare(f);
        const second = packetFields({
          ...f, opcode: g.opcode, psn: g.psn, ackReq: g.ackReq, va: g.va, rkey: g.rkey, dmaLength: g.dmaLength, syndrome: g.syndrome, msn: g.msn,
        });
        for (const [h, len] of [[f, l1], [second, l2]] as const) {
          const length = hasPayload(h.opcode) ? len : 0;
          expect(Buffer.compare(viaTemplate(t, h, length), reference(h, length))).toBe(0);
        }
        expect(t.matches(f.srcIp, f.dstIp, f.srcPort, f.destQp)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('leaves the record it was prepared from as it was', () => {
    const f = packetFields({ opcode: Opcode.RC_RDMA_WRITE_FIRST, psn: 77, ackReq: 1, syndrome: 3, msn: 9, destQp: 5 });
    const before = { ...f };
    new HeadTemplate().prepare(f);
    expect(f).toEqual(before);
  });

  it('range-checks the per-packet fields as writeFrameHead does, and refuses opcodes with other headers', () => {
    const t = new HeadTemplate();
    const out = new Uint8Array(128);
    expect(() => t.write(out, Opcode.RC_ACKNOWLEDGE, 0, 0, 0, 0, 0, 0, 0, 0)).toThrow(WireError); // not prepared
    t.prepare(packetFields({ srcIp: 0x0a000001, dstIp: 0x0a000002, destQp: 0x12 }));
    const write = (op: number, psn: number, ackReq: number, len: number, va = 0, rkey = 0, dmaLength = 0, syndrome = 0, msn = 0) =>
      () => t.write(out, op, psn, ackReq, len, va, rkey, dmaLength, syndrome, msn);
    expect(write(Opcode.RC_SEND_ONLY, 0x1000000, 0, 4)).toThrow(/psn/);
    expect(write(Opcode.RC_SEND_ONLY, 0, 2, 4)).toThrow(/ackReq/);
    expect(write(Opcode.RC_ACKNOWLEDGE, 0, 0, 4)).toThrow(/payloadLength/);
    expect(write(Opcode.RC_SEND_ONLY, 0, 0, 70_000)).toThrow(/payloadLength/);
    expect(write(Opcode.RC_RDMA_WRITE_ONLY, 0, 0, 4, -1)).toThrow(/va/);
    expect(write(Opcode.RC_RDMA_WRITE_ONLY, 0, 0, 4, 0, 2 ** 32)).toThrow(/rkey/);
    expect(write(Opcode.RC_RDMA_WRITE_ONLY, 0, 0, 4, 0, 0, -1)).toThrow(/dmaLength/);
    expect(write(Opcode.RC_ACKNOWLEDGE, 0, 0, 0, 0, 0, 0, 0x80)).toThrow(/syndrome/);
    expect(write(Opcode.RC_ACKNOWLEDGE, 0, 0, 0, 0, 0, 0, 0, 0x1000000)).toThrow(/msn/);
    expect(write(Opcode.RC_SEND_ONLY_WITH_IMMEDIATE, 0, 0, 4)).toThrow(WireError);
    expect(write(Opcode.RC_SEND_ONLY_WITH_IMMEDIATE, 0, 0, 4)).toThrow(/RETH and\/or AETH/);
  });
});
