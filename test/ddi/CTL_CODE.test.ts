/** CTL_CODE and the decode macros: the bit layout of "Defining I/O Control Codes". */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ACCESS_FROM_CTL_CODE, CTL_CODE, DEVICE_TYPE_FROM_CTL_CODE, FILE_ANY_ACCESS, FILE_READ_ACCESS, FILE_WRITE_ACCESS,
  IoGetFunctionCodeFromCtlCode, METHOD_BUFFERED, METHOD_FROM_CTL_CODE, METHOD_IN_DIRECT, METHOD_NEITHER, METHOD_OUT_DIRECT,
} from '../../src/kernel/io/index.ts';

describe('CTL_CODE', () => {
  it('packs DeviceType<<16 | Access<<14 | Function<<2 | Method as an unsigned 32-bit value', () => {
    expect(CTL_CODE(0x22, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS)).toBe(0x222000);
    // IOCTL_DISK_GET_DRIVE_GEOMETRY = CTL_CODE(7, 0, METHOD_BUFFERED, FILE_ANY_ACCESS) = 0x70000
    expect(CTL_CODE(7, 0, METHOD_BUFFERED, FILE_ANY_ACCESS)).toBe(0x70000);
    expect(CTL_CODE(0xffff, 0xfff, METHOD_NEITHER, FILE_READ_ACCESS | FILE_WRITE_ACCESS)).toBe(0xffffffff);
    expect([METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_OUT_DIRECT, METHOD_NEITHER]).toEqual([0, 1, 2, 3]);
  });

  it('decoding returns every field it was built from (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xfff }),
      fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), (dev, fn, method, access) => {
        const code = CTL_CODE(dev, fn, method, access);
        expect(code).toBeGreaterThanOrEqual(0);
        expect(DEVICE_TYPE_FROM_CTL_CODE(code)).toBe(dev);
        expect(IoGetFunctionCodeFromCtlCode(code)).toBe(fn);
        expect(METHOD_FROM_CTL_CODE(code)).toBe(method);
        expect(ACCESS_FROM_CTL_CODE(code)).toBe(access);
      }));
  });

  it('a field that does not fit is refused instead of spilling into its neighbour', () => {
    expect(() => CTL_CODE(0x10000, 0, 0, 0)).toThrow(RangeError);
    expect(() => CTL_CODE(0x8000, 0x1000, 0, 0)).toThrow(/Function/);
    expect(() => CTL_CODE(0x8000, 0x800, 4, 0)).toThrow(/Method/);
    expect(() => CTL_CODE(0x8000, 0x800, 0, -1)).toThrow(/Access/);
  });
});
