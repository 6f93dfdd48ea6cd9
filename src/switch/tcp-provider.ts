/**
 * The plain TCP-like provider: a byte stream over the fabric's send/recv, never RDMA.
 *
 * Implementation notes
 * - The model has one network, the SAN fabric. The TCP-like path stands for the host's TCP/IP
 *   stack over the same NIC (as IP over a SAN does): a second, private provider instance whose
 *   connections only use WSPSend/WSPRecv on socket buffers of its own. Every byte is copied
 *   twice, application buffer → send socket buffer and receive socket buffer → application
 *   buffer, as the kernel stack copies; no application memory is ever registered and no JS
 *   buffer is shared between the two processes.
 * - Flow control is the NIC's receiver-not-ready wait (a zero window): the sender's message
 *   waits on the wire until the receiver has reposted a socket buffer.
 * - Segments are up to `bufferBytes` minus the message header.
 */
import type { Kernel } from '../kernel/kernel.ts';
import type { Process } from '../kernel/ps/process.ts';
import type { SanNic } from '../nic/index.ts';
import { SanServiceProvider, type CompleteOverlappedUpcall } from '../provider/index.ts';
import { SanSession, type SessionConfig, type SessionHost } from './san-session.ts';

export const TCP_SESSION_DEFAULTS: SessionConfig = Object.freeze({
  recvBuffers: 16,
  sendBuffers: 8,
  bufferBytes: 64 * 1024,
  rdmaThreshold: Number.MAX_SAFE_INTEGER,
  maxRdmaSize: 1,
  creditBased: false,
  rdma: false,
});

/** The TCP-like provider of one process. */
export class TcpProvider {
  readonly provider: SanServiceProvider;

  constructor(kernel: Kernel, process: Process, nics: readonly SanNic[], completeOverlapped: CompleteOverlappedUpcall) {
    this.provider = new SanServiceProvider({ kernel, process, nics, cacheRegistrations: false, completeOverlapped });
  }

  /** A byte-stream connection on the provider's connected socket `s`. */
  session(host: SessionHost, s: number, config: Partial<SessionConfig> = {}): TcpSession {
    return new TcpSession(host, s, { ...TCP_SESSION_DEFAULTS, ...config, creditBased: false, rdma: false });
  }
}

/** A TCP-like connection: the session machinery with copies only. */
export class TcpSession extends SanSession {}
