import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ackSyndrome, AethType, CREDIT_TABLE, localAckTimeoutNanoseconds, nakSyndrome, NakCode, RNR_TIMER_MICROSECONDS, rnrNakSyndrome,
  Syndrome, syndromeType, syndromeValue,
} from '../../src/wire/index.ts';

describe('AETH syndrome (roce-v2.md §7.1)', () => {
  it('ACK 0x1F, RNR NAK 0x20|timer, NAK 0x60–0x64 as rxe_hdr.h names them', () => {
    expect(ackSyndrome()).toBe(0x1f);
    expect(rnrNakSyndrome(14)).toBe(46); // tshark shows 46 for RNR 1.28 ms
    expect(Syndrome).toEqual({
      ACK_UNLIMITED: 0x1f, RNR_NAK: 0x20, NAK_PSN_SEQUENCE_ERROR: 0x60, NAK_INVALID_REQUEST: 0x61, NAK_REMOTE_ACCESS_ERROR: 0x62,
      NAK_REMOTE_OPERATIONAL_ERROR: 0x63, NAK_INVALID_RD_REQUEST: 0x64,
    });
    expect([0x60, 0x61, 0x62, 0x63, 0x64]).toEqual(Object.values(NakCode).map(nakSyndrome));
  });

  it('type and value decode what was encoded, bit 7 never set (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 31 }), (v) => {
      for (const [s, type] of [[ackSyndrome(v), AethType.ACK], [rnrNakSyndrome(v), AethType.RNR_NAK], [nakSyndrome(v), AethType.NAK]] as const) {
        expect(s & 0x80).toBe(0);
        expect(syndromeType(s)).toBe(type);
        expect(syndromeValue(s)).toBe(v);
      }
    }));
    expect(syndromeType(0x40)).toBe(AethType.RESERVED);
  });

  it('RNR timer table: code 0 is 655.36 ms, codes 1–30 are 10 µs × the credit table entry, code 31 is 491.52 ms', () => {
    expect(RNR_TIMER_MICROSECONDS.length).toBe(32);
    expect(RNR_TIMER_MICROSECONDS[0]).toBe(655_360);
    for (let code = 1; code <= 30; code++) expect(RNR_TIMER_MICROSECONDS[code]).toBe(10 * CREDIT_TABLE[code]!);
    expect(RNR_TIMER_MICROSECONDS[14]).toBe(1280);
    expect(RNR_TIMER_MICROSECONDS[25]).toBe(61_440); // not rxe's 61.41 ms typo
    expect(RNR_TIMER_MICROSECONDS[31]).toBe(491_520);
    expect(CREDIT_TABLE[31]).toBe(Infinity);
  });

  it('local ACK timeout = 4.096 µs × 2^timeout, 0 = no timer (roce-v2.md §8.1)', () => {
    expect(localAckTimeoutNanoseconds(0)).toBe(Infinity);
    expect(localAckTimeoutNanoseconds(1)).toBe(8192);
    expect(localAckTimeoutNanoseconds(14)).toBe(67_108_864); // 67.1 ms
    expect(localAckTimeoutNanoseconds(17)).toBe(536_870_912); // 536.9 ms
    expect(localAckTimeoutNanoseconds(18)).toBe(1_073_741_824); // 1.074 s
    expect(localAckTimeoutNanoseconds(20)).toBe(4_294_967_296); // 4.295 s
    expect(localAckTimeoutNanoseconds(31) / 3.6e12).toBeCloseTo(2.44, 2); // 2.44 h
  });
});
