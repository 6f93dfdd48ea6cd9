/**
 * The stand-in for the host's TCP/IP path: a second SAN service provider of the process with
 * RDMA off and no registration caching, whose sessions copy every byte through control
 * messages. The model has one network, the SAN fabric; this is what an application gets when
 * the SAN cannot reach the peer (the switch's fallback), standing for the kernel TCP/IP stack
 * over the same NIC (as IP over a SAN does).
 *
 * Implementation notes
 * - Its connections only use WSPSend/WSPRecv on socket buffers of its own. Every byte is
 *   copied twice, application buffer → send socket buffer and receive socket buffer →
 *   application buffer, as the kernel stack copies; no application memory is ever registered
 *   and no JS buffer is shared between the two processes.
 * - Flow control is the NIC's receiver-not-ready wait (a zero window): the sender's message
 *   waits on the wire until the receiver has reposted a socket buffer.
 * - Segments are up to `bufferBytes` minus the message header.
 */
import type { Kernel } from '../kernel/kernel.ts';
import type { Process } from '../kernel/ps/process.ts';
import type { UserPort } from '../nic/index.ts';
import { SanServiceProvider, type CompleteOverlappedUpcall } from '../provider/index.ts';
import { SanSession, type SessionHost } from './san-session.ts';
import { verifySessionConfig, type SessionConfig } from './session-config.ts';

export const TCP_STAND_IN_SESSION_DEFAULTS: SessionConfig = Object.freeze({
  recvBuffers: 16,
  sendBuffers: 8,
  bufferBytes: 64 * 1024,
  rdmaThreshold: Number.MAX_SAFE_INTEGER,
  maxRdmaSize: 1,
  creditBased: false,
  rdma: false,
});

/** The process's stand-in for the TCP/IP path: a copy-only provider and its sessions' configuration. */
export class TcpStandIn {
  readonly provider: SanServiceProvider;
  readonly config: SessionConfig;

  /** `config`: from TcpStandIn.verify. */
  constructor(kernel: Kernel, process: Process, ports: readonly UserPort[], completeOverlapped: CompleteOverlappedUpcall,
    config: SessionConfig) {
    this.config = config;
    this.provider = new SanServiceProvider({ kernel, process, ports, cacheRegistrations: false, completeOverlapped });
  }

  /**
   * The stand-in's session configuration: `given` over its defaults, verified (a
   * SessionConfigError names a bad field), copies only whatever was asked — that is what
   * makes it the TCP path.
   */
  static verify(given: Partial<SessionConfig> | undefined): SessionConfig {
    const verified = verifySessionConfig('tcpSession', TCP_STAND_IN_SESSION_DEFAULTS, given);
    return Object.freeze({ ...verified, creditBased: false, rdma: false });
  }

  /** A byte-stream connection on the provider's connected socket `s`. */
  session(host: SessionHost, s: number): SanSession {
    return new SanSession(host, s, this.config);
  }
}
