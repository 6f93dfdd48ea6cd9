import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MessageKind, mtuBytes, mtuCode, Opcode, opcodeMask, OpMask, packetCount, payloadLengthValid, PMTUS, segmentLength, segmentOpcode,
  type MessageKindCode,
} from '../../src/wire/index.ts';

const KINDS = Object.values(MessageKind) as MessageKindCode[];

describe('path MTU (roce-v2.md §9)', () => {
  it('IB MTU codes 1..5 are 256..4096 bytes, both ways; anything else is 0', () => {
    expect(PMTUS.map((b) => mtuCode(b))).toEqual([1, 2, 3, 4, 5]);
    expect([1, 2, 3, 4, 5].map(mtuBytes)).toEqual([256, 512, 1024, 2048, 4096]);
    expect([0, 6, 1.5, -1].map(mtuBytes)).toEqual([0, 0, 0, 0]);
    expect([0, 1500, 8192].map(mtuCode)).toEqual([0, 0, 0]);
  });
});

describe('segmentation (roce-v2.md §4.2; rxe_req.c next_opcode_rc)', () => {
  it('packets cover the message exactly: PMTU-sized but the last, First/Middle…/Last or Only, each length legal for its opcode (property)', () => {
    fc.assert(fc.property(fc.constantFrom(...KINDS), fc.constantFrom(...PMTUS), fc.integer({ min: 0, max: 12 }), fc.integer({ min: -2, max: 2 }),
      (kind, pmtu, blocks, delta) => {
        const length = Math.max(0, blocks * pmtu + delta);
        const count = packetCount(length, pmtu);
        expect(count).toBe(Math.max(1, Math.ceil(length / pmtu)));
        let covered = 0;
        for (let i = 0; i < count; i++) {
          const n = segmentLength(length, pmtu, i);
          const op = segmentOpcode(kind, i, count);
          const mask = opcodeMask(op);
          expect(payloadLengthValid(op, n, pmtu), `packet ${i}/${count} 0x${op.toString(16)} ${n}`).toBe(true);
          expect((mask & OpMask.START) !== 0).toBe(i === 0);
          expect((mask & OpMask.END) !== 0).toBe(i === count - 1);
          // RETH only on the first WRITE packet; Immediate and Invalidate only on the last
          if (kind === MessageKind.RDMA_WRITE || kind === MessageKind.RDMA_WRITE_WITH_IMMEDIATE) expect((mask & OpMask.RETH) !== 0).toBe(i === 0);
          else expect(mask & OpMask.RETH).toBe(0);
          if ((mask & (OpMask.IMMDT | OpMask.IETH)) !== 0) expect(i).toBe(count - 1);
          covered += n;
        }
        expect(covered).toBe(length);
      }));
  });

  it('opcode sequences by kind', () => {
    const seq = (kind: MessageKindCode, count: number): number[] => Array.from({ length: count }, (_, i) => segmentOpcode(kind, i, count));
    expect(seq(MessageKind.SEND, 1)).toEqual([Opcode.RC_SEND_ONLY]);
    expect(seq(MessageKind.SEND, 3)).toEqual([Opcode.RC_SEND_FIRST, Opcode.RC_SEND_MIDDLE, Opcode.RC_SEND_LAST]);
    expect(seq(MessageKind.SEND_WITH_IMMEDIATE, 2)).toEqual([Opcode.RC_SEND_FIRST, Opcode.RC_SEND_LAST_WITH_IMMEDIATE]);
    expect(seq(MessageKind.SEND_WITH_INVALIDATE, 1)).toEqual([Opcode.RC_SEND_ONLY_WITH_INVALIDATE]);
    expect(seq(MessageKind.RDMA_WRITE, 4)).toEqual([Opcode.RC_RDMA_WRITE_FIRST, Opcode.RC_RDMA_WRITE_MIDDLE, Opcode.RC_RDMA_WRITE_MIDDLE, Opcode.RC_RDMA_WRITE_LAST]);
    expect(seq(MessageKind.RDMA_WRITE_WITH_IMMEDIATE, 1)).toEqual([Opcode.RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE]);
    expect(seq(MessageKind.RDMA_READ_RESPONSE, 3)).toEqual([Opcode.RC_RDMA_READ_RESPONSE_FIRST, Opcode.RC_RDMA_READ_RESPONSE_MIDDLE, Opcode.RC_RDMA_READ_RESPONSE_LAST]);
    expect(seq(MessageKind.RDMA_READ_RESPONSE, 1)).toEqual([Opcode.RC_RDMA_READ_RESPONSE_ONLY]);
  });

  it('a zero-length message is one Only packet with no payload; a READ of n·PMTU+1 bytes reserves n+1 PSNs', () => {
    expect(packetCount(0, 1024)).toBe(1);
    expect(segmentLength(0, 1024, 0)).toBe(0);
    expect(segmentOpcode(MessageKind.RDMA_READ_RESPONSE, 0, 1)).toBe(Opcode.RC_RDMA_READ_RESPONSE_ONLY);
    expect(packetCount(3 * 4096 + 1, 4096)).toBe(4);
    expect(packetCount(3 * 4096, 4096)).toBe(3);
  });

  it('a go-back-N retry resuming at packet i gets Middle/Last without RETH', () => {
    const count = packetCount(10_000, 4096);
    expect(segmentOpcode(MessageKind.RDMA_WRITE, 1, count)).toBe(Opcode.RC_RDMA_WRITE_MIDDLE);
    expect(segmentOpcode(MessageKind.RDMA_WRITE, 2, count)).toBe(Opcode.RC_RDMA_WRITE_LAST);
    expect(segmentLength(10_000, 4096, 2)).toBe(10_000 - 8192);
  });

  it('the responder length rule (rxe_resp.c check_length)', () => {
    expect(payloadLengthValid(Opcode.RC_SEND_FIRST, 1024, 1024)).toBe(true);
    expect(payloadLengthValid(Opcode.RC_SEND_FIRST, 1023, 1024)).toBe(false);
    expect(payloadLengthValid(Opcode.RC_RDMA_WRITE_MIDDLE, 1025, 1024)).toBe(false);
    expect(payloadLengthValid(Opcode.RC_SEND_LAST, 0, 1024)).toBe(false);
    expect(payloadLengthValid(Opcode.RC_SEND_LAST, 1, 1024)).toBe(true);
    expect(payloadLengthValid(Opcode.RC_SEND_ONLY, 0, 1024)).toBe(true);
    expect(payloadLengthValid(Opcode.RC_SEND_ONLY, 1025, 1024)).toBe(false);
    expect(payloadLengthValid(Opcode.RC_ACKNOWLEDGE, 0, 1024)).toBe(true);
    expect(payloadLengthValid(Opcode.RC_RDMA_READ_REQUEST, 4, 1024)).toBe(false);
    expect(payloadLengthValid(0x15, 0, 1024)).toBe(false);
  });
});
