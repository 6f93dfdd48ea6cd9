/**
 * Packet sequence numbers: 24 bits, every sum taken modulo 2^24 (IBA volume 1 chapter 9; rxe_verbs.h
 * psn_compare). MSNs are 24-bit counters too and use `psnAdd` the same way.
 */
export const PSN_MASK = 0xffffff;

/** `psn + n` modulo 2^24, for any safe integer n (negative steps back). */
export const psnAdd = (psn: number, n: number): number => (psn + n) & PSN_MASK;

/**
 * The signed distance from b to a: > 0 when a is after b, < 0 before, 0 equal. The 24-bit
 * difference sign-extended (rxe psn_compare: `((a − b) << 8) >> 8` in 32-bit arithmetic): a in
 * (b, b + 2^23 − 1] is ahead, a in [b − 2^23, b) behind; b + 2^23 counts as behind.
 */
export const psnDiff = (a: number, b: number): number => ((a - b) << 8) >> 8;
