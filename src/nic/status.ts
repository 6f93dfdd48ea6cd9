/**
 * Status codes of the SAN NIC. Three kinds, as in verbs hardware:
 * - `NicStatus`: the immediate result of a driver or user-queue call (ibv_post_send's errno,
 *   ibv_reg_mr's NULL+errno). Nothing changed when it is not SUCCESS.
 * - `WcStatus`: the status a completion carries (numbered as ibv_wc_status so an RDMA engineer
 *   reads them at a glance).
 * - `Syndrome`: the vendor error in a completion (mlx5's "vendor_err"): which check failed.
 *   Each failed check maps to exactly one WcStatus; the syndrome says which check it was.
 */
export const NicStatus = {
  SUCCESS: 0,
  INVALID_PARAMETER: 1,
  /** Registration table, endpoint or completion-queue table full. */
  INSUFFICIENT_RESOURCES: 2,
  /** Region longer than capabilities.maxRegionBytes. */
  REGION_TOO_LARGE: 3,
  /** Unknown, stale or forged handle. */
  INVALID_HANDLE: 4,
  /** The object belongs to another process. */
  ACCESS_DENIED: 5,
  /** The object is in a state that does not allow the call. */
  INVALID_STATE: 6,
  /** Work queue full (ibv_post_send ENOMEM). */
  QUEUE_FULL: 7,
  /** The NIC lacks the capability (RDMA read). */
  NOT_SUPPORTED: 8,
  /** Still in use (a completion queue with endpoints attached). */
  BUSY: 9,
  ADDRESS_IN_USE: 10,
  NO_PENDING_CONNECTION: 11,
  /** The NIC is not attached to a fabric. */
  NOT_ATTACHED: 12,
} as const;
export type NicStatusCode = (typeof NicStatus)[keyof typeof NicStatus];

export const WcStatus = {
  SUCCESS: 0,
  LOC_LEN_ERR: 1,
  LOC_QP_OP_ERR: 2,
  LOC_PROT_ERR: 4,
  WR_FLUSH_ERR: 5,
  REM_INV_REQ_ERR: 9,
  REM_ACCESS_ERR: 10,
  REM_OP_ERR: 11,
  RETRY_EXC_ERR: 12,
  GENERAL_ERR: 21,
} as const;
export type WcStatusCode = (typeof WcStatus)[keyof typeof WcStatus];

export const Syndrome = {
  NONE: 0,
  /** TPT check 1: no region at the key's index. */
  NO_ENTRY: 1,
  /** TPT check 2: the key's generation is not the region's current one (stale or guessed). */
  KEY_MISMATCH: 2,
  /** TPT check 3 (local): the region belongs to another process. */
  OWNER_MISMATCH: 3,
  /** TPT check 3 (remote): the region is not bound to the connection the request came on. */
  BINDING_MISMATCH: 4,
  /** TPT check 4: a requested right is missing. */
  ACCESS_DENIED: 5,
  /** TPT check 5: the region was invalidated (for a window: the window's region was). */
  REGION_INVALID: 6,
  /** Range check: the bytes do not lie inside the region (includes wrapped ranges). */
  OUT_OF_RANGE: 7,
  ZERO_LENGTH: 8,
  /** Longer than capabilities.maxMessageBytes. */
  TOO_LONG: 9,
  /** RDMA: the local scatter list and the remote descriptor differ in length. */
  LENGTH_MISMATCH: 10,
  /** Send: the message does not fit the receive buffer posted by the peer. */
  RECV_TOO_SMALL: 11,
  /** The peer endpoint is gone or no longer connected to us. */
  PEER_GONE: 12,
  /** The responder NIC does not serve RDMA read. */
  RDMA_READ_UNSUPPORTED: 13,
  DMA_MASTER_ABORT: 14,
  DMA_IOMMU_FAULT: 15,
  /** The endpoint's completion queue overflowed. */
  CQ_OVERRUN: 16,
  /** TPT check 5 for a memory window: it is not bound (invalidated since the key was given). */
  WINDOW_INVALID: 17,
  /** TPT check 6 for a memory window: the region it was bound to was deregistered or
   *  re-registered (that registration is gone even if the slot holds a new one). */
  WINDOW_REGION_GONE: 18,
} as const;
export type SyndromeCode = (typeof Syndrome)[keyof typeof Syndrome];

/** Completion opcodes (ibv_wc_opcode numbering). */
export const Opcode = {
  SEND: 0,
  RDMA_WRITE: 1,
  RDMA_READ: 2,
  RECV: 128,
} as const;
export type OpcodeCode = (typeof Opcode)[keyof typeof Opcode];

function nameOf(table: Record<string, number>, code: number): string {
  for (const [name, value] of Object.entries(table)) if (value === code) return name;
  return `UNKNOWN(${code})`;
}
export const nicStatusName = (code: number): string => nameOf(NicStatus, code);
export const wcStatusName = (code: number): string => nameOf(WcStatus, code);
export const syndromeName = (code: number): string => nameOf(Syndrome, code);
export const opcodeName = (code: number): string => nameOf(Opcode, code);

/** A NIC was constructed with an impossible configuration (a host-assembly bug, not a run-time error). */
export class NicConfigurationError extends Error {
  override readonly name = 'NicConfigurationError';
}
