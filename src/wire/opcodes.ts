/**
 * The opcode table (rxe_opcode.c): for every BTH opcode the codec knows, which extension
 * headers follow the BTH, the header length, where the packet sits in its message, whether it
 * consumes a receive WQE and whether it carries payload. Reference: IBA volume 1 chapter 9 (the
 * opcodes; the extension headers and their fixed order).
 *
 * Implementation notes
 * - The table is written once as readable rows and compiled at load into typed arrays indexed
 *   by the opcode byte (mask, header length, one offset per extension header), so the packet
 *   path does one array read per question and never looks at an object. An opcode whose mask
 *   is 0 is unknown (0x15 reserved, UC/RD, CNP 0x81, manufacturer opcodes): the parser drops it.
 * - Extension headers follow the BTH in the IBA's fixed order: DETH, RETH, AtomicETH, AETH,
 *   AtomicAckETH, ImmDt, IETH (RDETH is RD-only and not modelled). Offsets are computed from
 *   that order, never typed in by hand, so a row cannot disagree with its offsets.
 */

/** Opcode numbers as ib_pack.h names them (IB_OPCODE_RC_*, IB_OPCODE_UD_*). */
export const Opcode = {
  RC_SEND_FIRST: 0x00,
  RC_SEND_MIDDLE: 0x01,
  RC_SEND_LAST: 0x02,
  RC_SEND_LAST_WITH_IMMEDIATE: 0x03,
  RC_SEND_ONLY: 0x04,
  RC_SEND_ONLY_WITH_IMMEDIATE: 0x05,
  RC_RDMA_WRITE_FIRST: 0x06,
  RC_RDMA_WRITE_MIDDLE: 0x07,
  RC_RDMA_WRITE_LAST: 0x08,
  RC_RDMA_WRITE_LAST_WITH_IMMEDIATE: 0x09,
  RC_RDMA_WRITE_ONLY: 0x0a,
  RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE: 0x0b,
  RC_RDMA_READ_REQUEST: 0x0c,
  RC_RDMA_READ_RESPONSE_FIRST: 0x0d,
  RC_RDMA_READ_RESPONSE_MIDDLE: 0x0e,
  RC_RDMA_READ_RESPONSE_LAST: 0x0f,
  RC_RDMA_READ_RESPONSE_ONLY: 0x10,
  RC_ACKNOWLEDGE: 0x11,
  RC_ATOMIC_ACKNOWLEDGE: 0x12,
  RC_COMPARE_SWAP: 0x13,
  RC_FETCH_ADD: 0x14,
  RC_SEND_LAST_WITH_INVALIDATE: 0x16,
  RC_SEND_ONLY_WITH_INVALIDATE: 0x17,
  UD_SEND_ONLY: 0x64,
  UD_SEND_ONLY_WITH_IMMEDIATE: 0x65,
} as const;

/** Per-opcode flags (rxe_opcode.h enum rxe_hdr_mask, same meanings). */
export const OpMask = {
  RETH: 1 << 0,
  AETH: 1 << 1,
  DETH: 1 << 2,
  IMMDT: 1 << 3,
  IETH: 1 << 4,
  ATMETH: 1 << 5,
  ATMACK: 1 << 6,
  /** Carries payload bytes (possibly 0 of them on an Only). */
  PAYLOAD: 1 << 7,
  /** A request (requester → responder); otherwise a response (responder → completer). */
  REQ: 1 << 8,
  /** A response: acknowledge, atomic acknowledge or read response. */
  ACK: 1 << 9,
  SEND: 1 << 10,
  WRITE: 1 << 11,
  READ: 1 << 12,
  ATOMIC: 1 << 13,
  /** Consumes a receive WQE at the responder (rxe RXE_RWR_MASK): RNR NAK possible. */
  RWR: 1 << 14,
  /** Completes a receive WQE at the responder (rxe RXE_COMP_MASK). */
  COMP: 1 << 15,
  /** First packet of a message (First or Only). */
  START: 1 << 16,
  MIDDLE: 1 << 17,
  /** Last packet of a message (Last or Only). */
  END: 1 << 18,
  /** Unreliable Datagram transport (BTH opcode bits 7–5 = 011). */
  UD: 1 << 19,
} as const;

/** Extension headers in their fixed order after the BTH, with their sizes. */
export const ExtHeader = { DETH: 0, RETH: 1, ATMETH: 2, AETH: 3, ATMACK: 4, IMMDT: 5, IETH: 6 } as const;
export type ExtHeaderId = (typeof ExtHeader)[keyof typeof ExtHeader];
const EXT_COUNT = 7;
const EXT_SIZE = [8, 16, 28, 4, 8, 4, 4] as const;
const EXT_MASK = [OpMask.DETH, OpMask.RETH, OpMask.ATMETH, OpMask.AETH, OpMask.ATMACK, OpMask.IMMDT, OpMask.IETH] as const;

export const BTH_BYTES = 12;
export const RETH_BYTES = 16;
export const AETH_BYTES = 4;
export const DETH_BYTES = 8;
export const IMMDT_BYTES = 4;
export const IETH_BYTES = 4;
export const ATMETH_BYTES = 28;
export const ATMACK_BYTES = 8;

const { RETH, AETH, DETH, IMMDT, IETH, ATMETH, ATMACK, PAYLOAD, REQ, ACK, SEND, WRITE, READ, ATOMIC, RWR, COMP, START, MIDDLE, END, UD } = OpMask;

/** The rows of rxe_opcode.c, named as tshark's Info column names them. */
const ROWS: readonly (readonly [opcode: number, name: string, mask: number])[] = [
  [0x00, 'RC Send First', PAYLOAD | REQ | SEND | RWR | START],
  [0x01, 'RC Send Middle', PAYLOAD | REQ | SEND | MIDDLE],
  [0x02, 'RC Send Last', PAYLOAD | REQ | SEND | COMP | END],
  [0x03, 'RC Send Last Immediate', IMMDT | PAYLOAD | REQ | SEND | COMP | END],
  [0x04, 'RC Send Only', PAYLOAD | REQ | SEND | RWR | COMP | START | END],
  [0x05, 'RC Send Only Immediate', IMMDT | PAYLOAD | REQ | SEND | RWR | COMP | START | END],
  [0x06, 'RC RDMA Write First', RETH | PAYLOAD | REQ | WRITE | START],
  [0x07, 'RC RDMA Write Middle', PAYLOAD | REQ | WRITE | MIDDLE],
  [0x08, 'RC RDMA Write Last', PAYLOAD | REQ | WRITE | END],
  [0x09, 'RC RDMA Write Last Immediate', IMMDT | PAYLOAD | REQ | WRITE | RWR | COMP | END],
  [0x0a, 'RC RDMA Write Only', RETH | PAYLOAD | REQ | WRITE | START | END],
  [0x0b, 'RC RDMA Write Only Immediate', RETH | IMMDT | PAYLOAD | REQ | WRITE | RWR | COMP | START | END],
  [0x0c, 'RC RDMA Read Request', RETH | REQ | READ | START | END],
  [0x0d, 'RC RDMA Read Response First', AETH | PAYLOAD | ACK | START],
  [0x0e, 'RC RDMA Read Response Middle', PAYLOAD | ACK | MIDDLE],
  [0x0f, 'RC RDMA Read Response Last', AETH | PAYLOAD | ACK | END],
  [0x10, 'RC RDMA Read Response Only', AETH | PAYLOAD | ACK | START | END],
  [0x11, 'RC Acknowledge', AETH | ACK | START | END],
  [0x12, 'RC Atomic Acknowledge', AETH | ATMACK | ACK | START | END],
  [0x13, 'RC Compare Swap', ATMETH | REQ | ATOMIC | START | END],
  [0x14, 'RC Fetch Add', ATMETH | REQ | ATOMIC | START | END],
  [0x16, 'RC Send Last Invalidate', IETH | PAYLOAD | REQ | SEND | COMP | END],
  [0x17, 'RC Send Only Invalidate', IETH | PAYLOAD | REQ | SEND | RWR | COMP | START | END],
  [0x64, 'UD Send Only', DETH | PAYLOAD | REQ | SEND | RWR | COMP | START | END | UD],
  [0x65, 'UD Send Only Immediate', DETH | IMMDT | PAYLOAD | REQ | SEND | RWR | COMP | START | END | UD],
];

const MASKS = new Uint32Array(256);
const HEADER_LENGTH = new Uint8Array(256);
/** Offset from the BTH start of each extension header, [opcode * 8 + ExtHeader]; 0 = absent. */
const EXT_OFFSET = new Uint8Array(256 * 8);
const NAMES: (string | undefined)[] = new Array<string | undefined>(256);

for (const [opcode, name, mask] of ROWS) {
  MASKS[opcode] = mask;
  NAMES[opcode] = name;
  let at = BTH_BYTES;
  for (let h = 0; h < EXT_COUNT; h++) {
    if ((mask & EXT_MASK[h]!) === 0) continue;
    EXT_OFFSET[opcode * 8 + h] = at;
    at += EXT_SIZE[h]!;
  }
  HEADER_LENGTH[opcode] = at;
}

/** Every opcode the codec builds and accepts, ascending. */
export const KNOWN_OPCODES: readonly number[] = ROWS.map((r) => r[0]);

/** The opcode's OpMask flags; 0 for an opcode the codec does not know. */
export const opcodeMask = (opcode: number): number => MASKS[opcode & 0xff]!;

export const opcodeKnown = (opcode: number): boolean => MASKS[opcode & 0xff] !== 0;

/** BTH plus extension headers, in bytes (rxe_opcode.c `length`); 0 for an unknown opcode. */
export const opcodeHeaderLength = (opcode: number): number => HEADER_LENGTH[opcode & 0xff]!;

/** Offset of extension header `h` from the BTH start, or -1 when the opcode does not carry it. */
export function extOffset(opcode: number, h: ExtHeaderId): number {
  const at = EXT_OFFSET[(opcode & 0xff) * 8 + h]!;
  return at === 0 ? -1 : at;
}

/** The opcode as tshark's Info column writes it ("RC Send Only"), or "Unknown (0xNN)". */
export function opcodeName(opcode: number): string {
  return NAMES[opcode & 0xff] ?? `Unknown (0x${(opcode & 0xff).toString(16).padStart(2, '0')})`;
}
