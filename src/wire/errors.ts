/**
 * The one exception of the wire layer: a caller (the NIC) asked the codec to build something
 * that cannot be built — a field out of range, an unknown opcode, a buffer too small. It is a
 * programming error on our side of the wire, never a reaction to received bytes: the parser
 * answers hostile input with a drop reason (packet-view.ts) and the CM decoder with an
 * "invalid" result, and neither throws.
 */
export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    /** The offending field or argument, as named in the API ("destQp", "out"). */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
