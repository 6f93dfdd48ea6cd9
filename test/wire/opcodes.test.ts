import { describe, expect, it } from 'vitest';
import { ExtHeader, extOffset, KNOWN_OPCODES, Opcode, opcodeHeaderLength, opcodeKnown, opcodeMask, opcodeName, OpMask } from '../../src/wire/index.ts';

/** roce-v2.md §4.1 as data: opcode → [headers after the BTH, header length, position, RQ, payload]. */
const REFERENCE: Record<number, [headers: string, hdrLen: number, pos: 'S' | 'M' | 'E' | 'S+E' | '', rq: boolean, payload: boolean]> = {
  0x00: ['', 12, 'S', true, true],
  0x01: ['', 12, 'M', false, true],
  0x02: ['', 12, 'E', false, true],
  0x03: ['ImmDt', 16, 'E', false, true],
  0x04: ['', 12, 'S+E', true, true],
  0x05: ['ImmDt', 16, 'S+E', true, true],
  0x06: ['RETH', 28, 'S', false, true],
  0x07: ['', 12, 'M', false, true],
  0x08: ['', 12, 'E', false, true],
  0x09: ['ImmDt', 16, 'E', true, true],
  0x0a: ['RETH', 28, 'S+E', false, true],
  0x0b: ['RETH,ImmDt', 32, 'S+E', true, true],
  0x0c: ['RETH', 28, 'S+E', false, false],
  0x0d: ['AETH', 16, 'S', false, true],
  0x0e: ['', 12, 'M', false, true],
  0x0f: ['AETH', 16, 'E', false, true],
  0x10: ['AETH', 16, 'S+E', false, true],
  0x11: ['AETH', 16, 'S+E', false, false],
  0x12: ['AETH,AtomicAckETH', 24, 'S+E', false, false],
  0x13: ['AtomicETH', 40, 'S+E', false, false],
  0x14: ['AtomicETH', 40, 'S+E', false, false],
  0x16: ['IETH', 16, 'E', false, true],
  0x17: ['IETH', 16, 'S+E', true, true],
  0x64: ['DETH', 20, 'S+E', true, true],
  0x65: ['DETH,ImmDt', 24, 'S+E', true, true],
};

const HEADER_BITS: [string, number, number][] = [
  ['DETH', OpMask.DETH, ExtHeader.DETH], ['RETH', OpMask.RETH, ExtHeader.RETH], ['AtomicETH', OpMask.ATMETH, ExtHeader.ATMETH],
  ['AETH', OpMask.AETH, ExtHeader.AETH], ['AtomicAckETH', OpMask.ATMACK, ExtHeader.ATMACK], ['ImmDt', OpMask.IMMDT, ExtHeader.IMMDT],
  ['IETH', OpMask.IETH, ExtHeader.IETH],
];

describe('opcode table (rxe_opcode.c; roce-v2.md §4.1)', () => {
  it('knows exactly the RC opcodes 0x00–0x14, 0x16, 0x17 and UD 0x64, 0x65', () => {
    expect([...KNOWN_OPCODES].sort((a, b) => a - b)).toEqual(Object.keys(REFERENCE).map(Number).sort((a, b) => a - b));
    expect(Object.values(Opcode).sort((a, b) => a - b)).toEqual([...KNOWN_OPCODES].sort((a, b) => a - b));
  });

  for (const [op, [headers, hdrLen, pos, rq, payload]] of Object.entries(REFERENCE).map(([k, v]) => [Number(k), v] as const)) {
    it(`${opcodeName(op)} (0x${op.toString(16).padStart(2, '0')}): headers [${headers}], ${hdrLen} bytes, ${pos || 'no position'}, RQ ${rq}, payload ${payload}`, () => {
      const mask = opcodeMask(op);
      const carried = HEADER_BITS.filter(([, bit]) => (mask & bit) !== 0).map(([name]) => name).join(',');
      expect(carried).toBe(headers);
      expect(opcodeHeaderLength(op)).toBe(hdrLen);
      expect((mask & OpMask.START) !== 0).toBe(pos.startsWith('S'));
      expect((mask & OpMask.END) !== 0).toBe(pos.endsWith('E'));
      expect((mask & OpMask.MIDDLE) !== 0).toBe(pos === 'M');
      expect((mask & OpMask.RWR) !== 0).toBe(rq);
      expect((mask & OpMask.PAYLOAD) !== 0).toBe(payload);
      // request xor response; UD exactly for opcodes 0x60–0x7F
      expect((mask & OpMask.REQ) !== 0).toBe((mask & OpMask.ACK) === 0);
      expect((mask & OpMask.UD) !== 0).toBe(op >> 5 === 3);
    });
  }

  it('extension headers sit after the BTH in the fixed order, each right after the previous one', () => {
    for (const op of KNOWN_OPCODES) {
      let at = 12;
      for (const [, bit, id] of HEADER_BITS) {
        if ((opcodeMask(op) & bit) === 0) {
          expect(extOffset(op, id as 0)).toBe(-1);
          continue;
        }
        expect(extOffset(op, id as 0)).toBe(at);
        at += { [ExtHeader.DETH]: 8, [ExtHeader.RETH]: 16, [ExtHeader.ATMETH]: 28, [ExtHeader.AETH]: 4, [ExtHeader.ATMACK]: 8, [ExtHeader.IMMDT]: 4, [ExtHeader.IETH]: 4 }[id]!;
      }
      expect(at).toBe(opcodeHeaderLength(op));
    }
    expect(extOffset(Opcode.RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE, ExtHeader.IMMDT)).toBe(28);
    expect(extOffset(Opcode.UD_SEND_ONLY_WITH_IMMEDIATE, ExtHeader.IMMDT)).toBe(20);
    expect(extOffset(Opcode.RC_ATOMIC_ACKNOWLEDGE, ExtHeader.ATMACK)).toBe(16);
  });

  it('every other opcode byte is unknown: mask 0, header length 0, named Unknown', () => {
    for (let op = 0; op < 256; op++) {
      if (KNOWN_OPCODES.includes(op)) continue;
      expect(opcodeKnown(op)).toBe(false);
      expect(opcodeMask(op)).toBe(0);
      expect(opcodeHeaderLength(op)).toBe(0);
    }
    expect(opcodeName(0x15)).toBe('Unknown (0x15)');
    expect(opcodeName(0x81)).toBe('Unknown (0x81)');
  });
});
