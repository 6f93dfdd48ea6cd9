/**
 * The session protocol's configuration ("Handling Socket Options and Control Codes for a
 * SAN": SO_RDMA_THRESHOLD_SIZE, SO_MAX_RDMA_SIZE) and its one check. The switch verifies a
 * configuration once, when it is built (yamux's verifyConfig): a bad field is refused with a
 * message that names it and quotes the value, before any connection could run with it.
 */
import { MIN_SLOT_BYTES } from './control-buffers.ts';
import { HEADER_BYTES } from './messages.ts';

export interface SessionConfig {
  /** Control buffers posted for the peer's messages (each is one credit the peer holds). */
  recvBuffers: number;
  /** Control buffers for the messages this side sends. */
  sendBuffers: number;
  /** Bytes per control buffer (header + payload). */
  bufferBytes: number;
  /** SO_RDMA_THRESHOLD_SIZE: sends larger than this go by RDMA. */
  rdmaThreshold: number;
  /** SO_MAX_RDMA_SIZE: the largest single RDMA operation. */
  maxRdmaSize: number;
  /** Credit-based flow control (SAN) or the NIC's receiver-not-ready alone (the TCP stand-in). */
  creditBased: boolean;
  /** Large sends by RDMA (SAN) or every byte copied through control messages (the TCP stand-in). */
  rdma: boolean;
}

export const SAN_SESSION_DEFAULTS: SessionConfig = Object.freeze({
  recvBuffers: 32,
  sendBuffers: 16,
  bufferBytes: 8192,
  rdmaThreshold: 32 * 1024,
  maxRdmaSize: 1024 * 1024,
  creditBased: true,
  rdma: true,
});

/** Credits travel in a u16 header field: a side never grants more. */
const MAX_RECV_BUFFERS = 0xffff;
/** A control buffer is at most what the proxy lets one registration be, and never absurd. */
const MAX_BUFFER_BYTES = 1024 * 1024;
/** One RDMA operation moves at most what one NIC message may (the capability's ceiling). */
const MAX_RDMA_SIZE = 2 ** 31;

/** A session configuration that cannot work, named by its field. */
export class SessionConfigError extends RangeError {
  override readonly name = 'SessionConfigError';
}

function integerIn(what: string, field: keyof SessionConfig, value: unknown, lo: number, hi: number, why: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < lo || value > hi) {
    throw new SessionConfigError(`${what}: ${field} must be an integer in [${lo}, ${hi}] (${why}), got ${String(value)}`);
  }
}

/**
 * `given` over `defaults`, every field checked; throws SessionConfigError naming the first bad
 * field. `what` says whose configuration it is ("session", "tcpSession").
 */
export function verifySessionConfig(what: string, defaults: SessionConfig, given: Partial<SessionConfig> | undefined): SessionConfig {
  if (given !== undefined && (given === null || typeof given !== 'object')) {
    throw new SessionConfigError(`${what} must be an object, got ${String(given)}`);
  }
  for (const key of Object.keys(given ?? {})) {
    if (!(key in defaults)) throw new SessionConfigError(`${what}: unknown field ${key}`);
  }
  const c = { ...defaults, ...given };
  // One receive takes the peer's negotiation message; a data message keeps one credit in
  // reserve for credit returns: fewer than two receives could never carry data.
  integerIn(what, 'recvBuffers', c.recvBuffers, 2, MAX_RECV_BUFFERS, 'credits are a u16 and one is kept in reserve');
  integerIn(what, 'sendBuffers', c.sendBuffers, 1, MAX_RECV_BUFFERS, 'at least one message in flight');
  integerIn(what, 'bufferBytes', c.bufferBytes, Math.max(MIN_SLOT_BYTES, HEADER_BYTES + 1), MAX_BUFFER_BYTES, `a ${HEADER_BYTES}-byte header and payload`);
  integerIn(what, 'rdmaThreshold', c.rdmaThreshold, 0, Number.MAX_SAFE_INTEGER, 'bytes');
  integerIn(what, 'maxRdmaSize', c.maxRdmaSize, 1, MAX_RDMA_SIZE, 'a zero-byte RDMA operation moves nothing');
  for (const field of ['creditBased', 'rdma'] as const) {
    if (typeof c[field] !== 'boolean') throw new SessionConfigError(`${what}: ${field} must be a boolean, got ${String(c[field])}`);
  }
  return Object.freeze(c);
}
