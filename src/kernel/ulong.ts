/**
 * ULONG, the WDK's 32-bit unsigned integer. Routines that take a ULONG (a length, a tag, a
 * control code, flags) check their argument with `isUlong`: a value outside it is a caller bug.
 */
export const MAXULONG = 0xffff_ffff;

export const isUlong = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAXULONG;
