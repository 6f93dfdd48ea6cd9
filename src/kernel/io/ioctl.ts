/**
 * I/O control codes. [kernel: "Defining I/O Control Codes", "Buffer Descriptions for I/O Control
 * Codes"]
 *
 * An IOCTL code packs four fields into 32 bits:
 *   bits 31..16 DeviceType (0x8000.. for vendors), bit 15..14 RequiredAccess,
 *   bits 13..2 FunctionCode (0x800.. for vendors; bit 13 is the "custom" bit), bits 1..0 TransferType.
 * DeviceType 0x8000+ sets bit 31, so codes are kept as unsigned 32-bit numbers (`>>> 0`).
 */

export const METHOD_BUFFERED = 0;
export const METHOD_IN_DIRECT = 1;
export const METHOD_OUT_DIRECT = 2;
export const METHOD_NEITHER = 3;

export const FILE_ANY_ACCESS = 0;
/** FILE_READ_ACCESS == FILE_READ_DATA, FILE_WRITE_ACCESS == FILE_WRITE_DATA (winioctl.h). */
export const FILE_READ_ACCESS = 0x0001;
export const FILE_WRITE_ACCESS = 0x0002;
export const FILE_SPECIAL_ACCESS = FILE_ANY_ACCESS;

/**
 * CTL_CODE(DeviceType, Function, Method, Access), with the macro's argument order.
 * A field that does not fit its bits throws a RangeError when the code is defined (this is a
 * compile-time macro in C, not a kernel routine): the C macro would silently spill into the
 * neighbouring field, which is how two IOCTLs end up with one value.
 *
 * ```ts
 * const IOCTL_SAN_REGISTER = CTL_CODE(0x8001, 0x801, METHOD_OUT_DIRECT, FILE_READ_ACCESS | FILE_WRITE_ACCESS);
 * ```
 */
export function CTL_CODE(DeviceType: number, Function: number, Method: number, Access: number): number {
  checkField('DeviceType', DeviceType, 0xffff);
  checkField('Function', Function, 0xfff);
  checkField('Method', Method, 3);
  checkField('Access', Access, 3);
  return ((DeviceType << 16) | (Access << 14) | (Function << 2) | Method) >>> 0;
}

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`CTL_CODE: ${name} must be an integer in [0, 0x${max.toString(16)}], got ${String(value)}`);
  }
}

/** DEVICE_TYPE_FROM_CTL_CODE (wdm.h). */
export const DEVICE_TYPE_FROM_CTL_CODE = (ControlCode: number): number => (ControlCode >>> 16) & 0xffff;
/** METHOD_FROM_CTL_CODE (wdm.h). */
export const METHOD_FROM_CTL_CODE = (ControlCode: number): number => ControlCode & 3;
/** The RequiredAccess field (no wdm.h macro; winioctl.h documents the layout). */
export const ACCESS_FROM_CTL_CODE = (ControlCode: number): number => (ControlCode >>> 14) & 3;
/** IoGetFunctionCodeFromCtlCode (wdm.h). */
export const IoGetFunctionCodeFromCtlCode = (ControlCode: number): number => (ControlCode >>> 2) & 0xfff;
