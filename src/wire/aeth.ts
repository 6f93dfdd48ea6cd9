/**
 * The AETH syndrome and the transport's timers (IBA volume 1 chapter 9; rxe_hdr.h enum
 * aeth_syndrome; torvalds/linux include/rdma/ib_verbs.h enum ib_rnr_timeout; rdmavt rc.c
 * credit_table).
 *
 * Syndrome byte: bit 7 reserved (0), bits 6–5 the type (00 ACK, 01 RNR NAK, 10 reserved,
 * 11 NAK), bits 4–0 the value: ACK credit code, RNR timer code, or NAK error code.
 */
export const AethType = { ACK: 0, RNR_NAK: 1, RESERVED: 2, NAK: 3 } as const;
export type AethTypeCode = (typeof AethType)[keyof typeof AethType];

/** NAK error codes (the low 5 bits of a NAK syndrome 0x60–0x64). */
export const NakCode = {
  PSN_SEQUENCE_ERROR: 0,
  INVALID_REQUEST: 1,
  REMOTE_ACCESS_ERROR: 2,
  REMOTE_OPERATIONAL_ERROR: 3,
  /** RD only: never sent by an RC responder. */
  INVALID_RD_REQUEST: 4,
} as const;
export type NakCodeValue = (typeof NakCode)[keyof typeof NakCode];

/** The credit code meaning "no credit information". */
export const CREDIT_UNLIMITED = 31;

export const ackSyndrome = (creditCode: number = CREDIT_UNLIMITED): number => creditCode & 0x1f;
export const rnrNakSyndrome = (timerCode: number): number => 0x20 | (timerCode & 0x1f);
export const nakSyndrome = (code: number): number => 0x60 | (code & 0x1f);
/** Bits 6–5: an AethType. */
export const syndromeType = (syndrome: number): number => (syndrome >>> 5) & 3;
/** Bits 4–0: credit code, RNR timer code or NAK code, by type. */
export const syndromeValue = (syndrome: number): number => syndrome & 0x1f;

/** Whole syndromes as rxe names them (rxe_hdr.h AETH_*), built from the codes above. */
export const Syndrome = {
  /** ACK without end-to-end credit information: what rxe always sends. */
  ACK_UNLIMITED: ackSyndrome(CREDIT_UNLIMITED),
  /** The RNR NAK type with timer code 0; a sender ORs its timer code in. */
  RNR_NAK: rnrNakSyndrome(0),
  NAK_PSN_SEQUENCE_ERROR: nakSyndrome(NakCode.PSN_SEQUENCE_ERROR),
  NAK_INVALID_REQUEST: nakSyndrome(NakCode.INVALID_REQUEST),
  NAK_REMOTE_ACCESS_ERROR: nakSyndrome(NakCode.REMOTE_ACCESS_ERROR),
  NAK_REMOTE_OPERATIONAL_ERROR: nakSyndrome(NakCode.REMOTE_OPERATIONAL_ERROR),
  NAK_INVALID_RD_REQUEST: nakSyndrome(NakCode.INVALID_RD_REQUEST),
} as const;

/**
 * RNR timer code → minimum wait before the retry, in microseconds (ib_verbs.h enum
 * ib_rnr_timeout; code 0 is the longest, 655.36 ms). The responder puts its min_rnr_timer code
 * in RNR NAKs; the requester waits this long.
 */
export const RNR_TIMER_MICROSECONDS: readonly number[] = Object.freeze([
  655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960, 1280, 1920,
  2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720, 40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520,
]);

/** ACK credit code → receive WQEs available (rdmavt rc.c credit_table); code 31 = unlimited. */
export const CREDIT_TABLE: readonly number[] = Object.freeze([
  0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192,
  256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768, Infinity,
]);

/**
 * The local ACK timeout of a QP, in nanoseconds: 4.096 µs × 2^timeout (rxe_qp.c computes
 * `4096 ns << timeout`), exact as an integer. Timeout 0 means no timer: Infinity.
 */
export const localAckTimeoutNanoseconds = (timeout: number): number => ((timeout & 0x1f) === 0 ? Infinity : 4096 * 2 ** (timeout & 0x1f));
