/**
 * The session protocol over the SAN provider, one instance per connected socket ("Using the
 * Session Protocol", "Initiating a Connection", "Accepting Connection Requests", "Handling
 * Socket Options and Control Codes for a SAN").
 *
 * Why one file of this size: the session protocol's state machine (credits, control messages,
 * the two RDMA paths' handshakes, shutdown) acts on one per-connection state; large sends
 * (large-sends.ts), buffers (control-buffers.ts) and the cache are already apart.
 *
 * Implementation notes
 * - Two control-buffer pools per connection (messages sent, receives posted). Every receive
 *   buffer is posted with WSPRecv at once; the negotiation message after connect grants the
 *   peer `recvBuffers - 1` credits (one buffer takes the peer's own negotiation message).
 *   Every later message returns, in its `credits` field, the buffers reposted since the last
 *   one. A message needs a credit; all but CREDIT messages leave the last credit in reserve,
 *   so credit returns can always get through and the two sides never wait on each other.
 * - Bytes are a stream of items in arrival order: DATA (the payload stays in its receive
 *   buffer until the application has copied all of it — the buffer is reposted only then, so
 *   a slow reader throttles the sender through credits), large sends (RDMA read offers or
 *   write announcements) and the peer's shutdown. recv() takes from the head only, so any split
 *   of send and recv sizes delivers the bytes in order.
 * - Large sends (> rdmaThreshold) go by RDMA read or RDMA write (large-sends.ts), every
 *   registration through the switch's cache of application-buffer registrations.
 * - The completion path, with no bounce: the NIC writes a completion → the queue's completion
 *   event (a scheduler task) runs the provider's completion thread → it finishes the request
 *   and calls WPUCompleteOverlappedRequest (hEvent low bit 0) → `onComplete` here acts on it
 *   at once: a receive is decoded and reposted, a send buffer freed, an RDMA batch counted,
 *   credits returned. Nothing is queued for later and nobody polls. Application calls that
 *   wait (credits, bytes, a large send's answer) block on the machine's scheduler and resume
 *   after the task that changed what they wait for. A resumed call checks its condition again
 *   in the same synchronous step as it acts on it (`while (!ready) await wait…`).
 * - Errors contained: a control message from the peer is checked by the codec (messages.ts)
 *   and then against the session's state (order); a bad one raises a SessionProtocolError
 *   that aborts THIS connection only — its calls reject with WSAECONNABORTED and the reason —
 *   and never leaves the completion that carried it. A failed transfer breaks the connection
 *   with WSAECONNRESET. Other sockets never see either.
 * - Control slots post with an overlapped, buffer array and op made once per slot, so a control
 *   message allocates no objects on the way to the provider. Registration failure fails the
 *   call with the provider's error (WSAENOBUFS) and changes nothing in the stream.
 * - Bytes by path are counted where the operation is issued: control-message payload at the
 *   sender, RDMA read at the receiver, RDMA write at the sender.
 */
import type { Process } from '../kernel/ps/process.ts';
import { ref } from '../kernel/ref.ts';
import {
  GUID_BYTES, NO_ERROR, POINTER_BYTES, SIO_GET_EXTENSION_FUNCTION_POINTER, SOCKET_ERROR, WSA_IO_PENDING, WSAECONNABORTED,
  WSAECONNRESET, WSAEFAULT, WSAEINTR, WSAESHUTDOWN, WSAID_RDMAREAD, newWsaOverlapped, type SanServiceProvider, type WSAOVERLAPPED,
} from '../provider/index.ts';
import type { ApplicationBufferCache } from './application-buffer-cache.ts';
import { ControlBufferPool } from './control-buffers.ts';
import { SocketError } from './errors.ts';
import { LargeSends, type RdmaBatch, type ReadItem, type SessionLink, type WriteItem } from './large-sends.ts';
import {
  HEADER_BYTES, MSG_CREDIT, MSG_DATA, MSG_LARGE_WRITE, MSG_NEGOTIATE, MSG_RDMA_READ_OFFER, MSG_READ_DONE, MSG_SHUTDOWN,
  MSG_WRITE_DONE, MSG_WRITE_TARGET, MessageCodec, NEG_RDMA_READ, ProtocolErrorReason, SessionProtocolError, type Header,
} from './messages.ts';
import { verifySessionConfig, type SessionConfig } from './session-config.ts';

export interface TransferStats {
  controlBytes: number;
  rdmaReadBytes: number;
  rdmaWriteBytes: number;
  controlMessages: number;
}

export interface SessionHost {
  readonly provider: SanServiceProvider;
  readonly process: Process;
  readonly cache: ApplicationBufferCache | null;
  readonly stats: TransferStats;
  /** Block (asynchronously) until `done()` holds; the machine's scheduler runs meanwhile. */
  wait(done: () => boolean): Promise<void>;
  /** Something a blocked call may wait for changed outside the machine's tasks. */
  wake(): void;
}

type Op =
  | { kind: 'recv'; slot: number }
  | { kind: 'send'; slot: number }
  | { kind: 'rdma'; batch: RdmaBatch };

/**
 * What one control slot posts: its overlapped, its one-element WSABUFEX array and its op, made
 * once per slot (a slot has at most one request in flight), so a message allocates nothing.
 */
interface SlotIo {
  readonly ov: WSAOVERLAPPED;
  readonly bufs: [{ len: number; buf: number; handle: number }];
  readonly op: Op;
}

type Item = { kind: 'data'; slot: number; offset: number; remaining: number } | ReadItem | WriteItem | { kind: 'eof' };

const COPY_CHUNK = 64 * 1024;

const outOfOrder = (what: string): SessionProtocolError => new SessionProtocolError(ProtocolErrorReason.OUT_OF_ORDER, what);

export class SanSession implements SessionLink {
  readonly nicIndex: number;
  readonly config: SessionConfig;
  private sendPool: ControlBufferPool | null = null;
  private recvPool: ControlBufferPool | null = null;
  private readonly ops = new Map<WSAOVERLAPPED, Op>();
  private readonly stream: Item[] = [];
  private readonly codec: MessageCodec;
  private readonly copyBuffer = new Uint8Array(COPY_CHUNK);
  private readonly large: LargeSends;
  /** Out parameters of provider calls whose values the session does not keep (no allocation per call). */
  private readonly outErrno = ref(0);
  /** lpFlags of WSPRecv: in/out, must be 0 on entry. */
  private readonly recvFlags = ref(0);
  private recvIo: SlotIo[] = [];
  private sendIo: SlotIo[] = [];
  /** Control messages posted and not yet completed. */
  private sendsInFlight = 0;
  /** Credits: receives the peer has posted for us. */
  private credits = 0;
  /** Buffers reposted since the last message that returned credits. */
  private toReturn = 0;
  private negotiated = false;
  private peerRdmaRead = false;
  private localRdmaRead = false;
  /** Error that broke the connection (0 while healthy): WSAECONNRESET, or WSAECONNABORTED. */
  private broken = 0;
  /** Why the peer's control message aborted the connection. */
  private protocolError: SessionProtocolError | null = null;
  private wasClosed = false;
  private sendShut = false;
  private recvShut = false;
  private peerShut = false;
  /** An application recv is blocked for bytes: credits go back at once rather than at the threshold. */
  private recvWaiting = false;
  private sendChain: Promise<unknown> = Promise.resolve();
  /** Application sends queued or in progress (closesocket is abortive while any is). */
  private sendsQueued = 0;
  private recvChain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly host: SessionHost,
    readonly s: number,
    config: SessionConfig,
  ) {
    this.config = verifySessionConfig('session', config, undefined);
    this.large = new LargeSends(this);
    const info = host.provider.socketInfo(s);
    if (info === null) throw new SocketError(WSAECONNRESET, `session on unknown provider socket ${s}`);
    this.nicIndex = info.nicIndex;
    this.codec = new MessageCodec(config.bufferBytes);
  }

  get isBroken(): boolean {
    return this.broken !== 0;
  }

  /** closesocket ran, or the process went. */
  get closed(): boolean {
    return this.wasClosed;
  }

  get healthy(): boolean {
    return this.broken === 0 && !this.closed;
  }

  /** Whether large sends on this connection go by RDMA read (else RDMA write). */
  get usesRdmaRead(): boolean {
    return this.config.rdma && this.localRdmaRead && this.peerRdmaRead;
  }

  get pendingOperations(): number {
    return this.ops.size;
  }

  /** Pools, posted receives and the negotiation exchange ("Initiating a Connection"). */
  async start(): Promise<void> {
    const { provider, process } = this.host;
    const recv = ControlBufferPool.create(provider, process, this.s, this.config.bufferBytes, this.config.recvBuffers);
    if (typeof recv === 'number') throw new SocketError(recv, 'cannot register the receive control buffers');
    const send = ControlBufferPool.create(provider, process, this.s, this.config.bufferBytes, this.config.sendBuffers);
    if (typeof send === 'number') {
      recv.destroy(true);
      throw new SocketError(send, 'cannot register the send control buffers');
    }
    this.recvPool = recv;
    this.sendPool = send;
    const io = (pool: ControlBufferPool, kind: 'recv' | 'send') => Array.from({ length: pool.count }, (_, slot): SlotIo =>
      ({ ov: newWsaOverlapped(0), bufs: [pool.buffer(slot)], op: { kind, slot } }));
    this.recvIo = io(recv, 'recv');
    this.sendIo = io(send, 'send');
    for (let i = 0; i < this.config.recvBuffers; i++) {
      const e = this.postRecv(recv.acquire());
      if (e !== NO_ERROR) throw new SocketError(e, 'cannot post the control receives');
    }
    if (this.config.rdma) {
      const fn = ref<unknown>(null);
      this.localRdmaRead = provider.WSPIoctl(this.s, SIO_GET_EXTENSION_FUNCTION_POINTER, WSAID_RDMAREAD, GUID_BYTES, fn, POINTER_BYTES,
        ref(0), null, null, null, ref(0)) === NO_ERROR;
    }
    // The negotiation message needs no credit: every receive is posted before either side sends.
    this.credits = 1;
    this.postMessage({
      type: MSG_NEGOTIATE, flags: this.localRdmaRead ? NEG_RDMA_READ : 0, credits: this.config.recvBuffers - 1, payload: 0, length: 0, id: 0,
    }, null, null);
    await this.host.wait(() => this.negotiated || this.broken !== 0 || this.closed);
    this.check('connect');
  }

  // ───────────────────────────── application calls ─────────────────────────────

  /**
   * send: after this side's shutdown(SD_SEND) or SD_BOTH it fails at once with WSAESHUTDOWN
   * ("send function"; Wine sock.c test_shutdown) — sends queued before the shutdown still go.
   */
  send(va: number, length: number): Promise<number> {
    if (this.sendShut) return Promise.reject(new SocketError(WSAESHUTDOWN, 'send after shutdown(SD_SEND)'));
    this.sendsQueued++;
    const run = this.sendChain.then(() => this.sendNow(va, length)).finally(() => this.sendsQueued--);
    this.sendChain = run.catch(() => undefined);
    return run;
  }

  /**
   * recv: after this side's shutdown(SD_RECEIVE) or SD_BOTH it fails at once with WSAESHUTDOWN
   * ("recv function"; Wine sock.c test_shutdown: also after the peer's FIN was read) — a recv
   * already waiting when the shutdown came still completes (test_shutdown's pending WSARecv).
   */
  recv(va: number, length: number): Promise<number> {
    if (this.recvShut) return Promise.reject(new SocketError(WSAESHUTDOWN, 'recv after shutdown(SD_RECEIVE)'));
    const run = this.recvChain.then(() => this.recvNow(va, length));
    this.recvChain = run.catch(() => undefined);
    return run;
  }

  /**
   * shutdown: later sends / receives of this side are refused from now on; SD_SEND's
   * orderly-release message goes after everything queued before it (the peer reads those bytes,
   * then 0). Shutting a direction down twice is no error (Wine sock.c test_shutdown).
   */
  async shutdown(send: boolean, receive: boolean): Promise<void> {
    if (receive) this.recvShut = true;
    if (send && !this.sendShut) {
      this.sendShut = true;
      await this.sendChain;
      if (this.broken === 0 && !this.closed) {
        await this.sendWhenReady({ type: MSG_SHUTDOWN, flags: 0, credits: 0, payload: 0, length: 0, id: 0 }, null);
      }
    }
  }

  /**
   * closesocket: orderly release if still healthy (the peer reads what was sent, then 0),
   * deregister the pools no pending request uses, then WSPCloseSocket — the provider aborts
   * the rest and releases their memory ("Closing a SAN Socket").
   */
  async close(): Promise<number> {
    if (this.closed) return NO_ERROR;
    if (!this.sendShut && this.sendsQueued === 0 && this.broken === 0 && this.host.process.state === 'running' && this.negotiated) {
      try {
        await this.shutdown(true, false);
        // Let the release message leave before the endpoint goes.
        await this.host.wait(() => this.broken !== 0 || this.sendsInFlight === 0);
      } catch {
        // A broken connection closes all the same.
      }
    }
    this.wasClosed = true;
    const e = ref(0);
    let error = NO_ERROR;
    if (this.host.process.state === 'running') {
      if (this.sendPool !== null && this.sendsInFlight === 0) error = this.sendPool.destroy(true);
      // The provider aborts the pending requests; their upcalls arrive inside this call.
      if (this.host.provider.WSPCloseSocket(this.s, e) !== 0 && error === NO_ERROR) error = e.value;
      this.sendPool?.destroy(false);
      this.recvPool?.destroy(false);
    }
    this.ops.clear();
    this.host.wake();
    return error;
  }

  /** The process died under the session: its requests and memory went with it. */
  processGone(): void {
    this.wasClosed = true;
    if (this.broken === 0) this.broken = WSAECONNABORTED;
    this.ops.clear();
  }

  // ───────────────────────────── completions ─────────────────────────────

  /**
   * WPUCompleteOverlappedRequest for this socket's requests: called by the provider's
   * completion thread as each request finishes, and acted on at once.
   */
  onComplete(ov: WSAOVERLAPPED, error: number, bytes: number): void {
    const op = this.ops.get(ov);
    if (op === undefined) return;
    this.ops.delete(ov);
    switch (op.kind) {
      case 'send':
        this.sendsInFlight--;
        this.sendPool!.release(op.slot);
        if (error !== NO_ERROR) this.fail();
        break;
      case 'rdma':
        op.batch.outstanding--;
        if (error !== NO_ERROR && op.batch.error === NO_ERROR) op.batch.error = error;
        if (error !== NO_ERROR) this.fail();
        break;
      case 'recv':
        if (error !== NO_ERROR) {
          this.recvPool!.release(op.slot);
          this.fail();
        } else {
          this.received(op.slot, bytes);
        }
    }
    if (!this.closed) this.returnCredits();
    this.host.wake();
  }

  /** A transfer failed: the connection is broken (WSAECONNRESET). */
  private fail(): void {
    if (this.broken === 0 && !this.closed) this.broken = WSAECONNRESET;
  }

  /** The peer broke the protocol: abort this connection, and only it (WSAECONNABORTED). */
  private abort(e: SessionProtocolError): void {
    if (this.broken !== 0 || this.closed) return;
    this.broken = WSAECONNABORTED;
    this.protocolError = e;
  }

  /** A control message arrived in receive slot `slot`; a bad one aborts the connection. */
  private received(slot: number, bytes: number): void {
    // After an abort nothing more from the peer is read: the stream ends at the bad message.
    if (this.broken === WSAECONNABORTED) {
      this.recvPool!.release(slot);
      return;
    }
    let keep = false;
    try {
      keep = this.receive(slot, bytes);
    } catch (e) {
      if (!(e instanceof SessionProtocolError)) throw e;
      this.recvPool!.release(slot);
      this.abort(e);
      return;
    }
    if (!keep) this.repost(slot);
  }

  /**
   * Decode and act on one control message; true when its buffer stays with the stream (DATA).
   * Every check comes before the first change, so a refused message changes nothing.
   */
  private receive(slot: number, bytes: number): boolean {
    this.host.process.readMemory(this.recvPool!.address(slot), this.codec.bytes, 0, Math.min(bytes, HEADER_BYTES));
    const h = this.codec.decode(bytes);
    this.checkOrder(h);
    this.credits += h.credits;
    switch (h.type) {
      case MSG_NEGOTIATE:
        this.peerRdmaRead = (h.flags & NEG_RDMA_READ) !== 0;
        this.negotiated = true;
        return false;
      case MSG_DATA:
        this.stream.push({ kind: 'data', slot, offset: HEADER_BYTES, remaining: h.payload });
        return true;
      case MSG_RDMA_READ_OFFER:
        this.stream.push({ kind: 'read', id: h.id, descriptor: this.codec.descriptor(), length: h.length, consumed: 0 });
        return false;
      case MSG_LARGE_WRITE:
        this.stream.push({ kind: 'write', id: h.id, length: h.length, consumed: 0 });
        return false;
      case MSG_WRITE_TARGET:
      case MSG_WRITE_DONE:
      case MSG_READ_DONE:
        this.large.received(h, this.descriptorOfLast);
        return false;
      case MSG_SHUTDOWN:
        this.peerShut = true;
        this.stream.push({ kind: 'eof' });
        return false;
      default: // MSG_CREDIT: the credits are all it carries
        return false;
    }
  }

  /** The checks that need the session's state: what the peer may send now. */
  private checkOrder(h: Header): void {
    if (h.type === MSG_NEGOTIATE) {
      if (this.negotiated) throw outOfOrder('a second NEGOTIATE');
      return;
    }
    if (!this.negotiated) throw outOfOrder(`type ${h.type} before NEGOTIATE`);
    const dataDirection = h.type === MSG_DATA || h.type === MSG_RDMA_READ_OFFER || h.type === MSG_LARGE_WRITE ||
      h.type === MSG_WRITE_DONE || h.type === MSG_SHUTDOWN;
    if (dataDirection && this.peerShut) throw outOfOrder(`type ${h.type} after the peer's SHUTDOWN`);
    this.large.checkOrder(h, this.usesRdmaRead);
  }

  private readonly descriptorOfLast = (): Uint8Array => this.codec.descriptor();

  private repost(slot: number): void {
    if (this.closed || this.broken !== 0) {
      this.recvPool!.release(slot);
      return;
    }
    const e = this.postRecv(slot);
    if (e !== NO_ERROR) {
      this.recvPool!.release(slot);
      this.fail();
      return;
    }
    this.toReturn++;
  }

  /**
   * Return credits in a CREDIT message when a quarter of the receives are waiting to be
   * returned, or at once while the application waits for bytes.
   */
  private returnCredits(): void {
    if (!this.config.creditBased || this.broken !== 0 || this.closed || !this.negotiated || this.toReturn === 0) return;
    // (An application blocked in recv with bytes already in the stream is about to take them.)
    const starving = this.recvWaiting && this.stream.length === 0;
    if (this.toReturn < Math.max(1, this.config.recvBuffers >> 2) && !starving) return;
    if (this.credits < 1 || this.sendPool!.available === 0) return;
    try {
      this.postMessage({ type: MSG_CREDIT, flags: 0, credits: 0, payload: 0, length: 0, id: 0 }, null, null);
    } catch (e) {
      // From a completion, a provider refusal breaks this connection; it never escapes.
      if (!(e instanceof SocketError)) throw e;
      this.fail();
    }
  }

  // ───────────────────────────── posting ─────────────────────────────

  private postRecv(slot: number): number {
    const io = this.recvIo[slot]!;
    const e = this.outErrno;
    this.recvFlags.value = 0;
    const r = this.host.provider.WSPRecv(this.s, io.bufs, 1, null, this.recvFlags, io.ov, null, null, e);
    if (r !== SOCKET_ERROR || e.value !== WSA_IO_PENDING) return r === SOCKET_ERROR ? e.value : NO_ERROR;
    this.ops.set(io.ov, io.op);
    return NO_ERROR;
  }

  private canSend(control: boolean): boolean {
    if (this.sendPool!.available === 0) return false;
    if (!this.config.creditBased) return true;
    return this.credits >= (control ? 1 : 2);
  }

  /** A message can go now on a healthy connection. */
  private creditReady(control: boolean): boolean {
    return this.broken === 0 && !this.closed && this.canSend(control);
  }

  /** Block until a message could go; throws when the connection broke or closed meanwhile. */
  private async waitForCredit(control: boolean): Promise<void> {
    await this.host.wait(() => this.broken !== 0 || this.closed || this.canSend(control));
    this.check('send');
  }

  /**
   * Send a control message (no payload) as soon as a buffer and a credit are free. The check
   * and the post are one synchronous step, so nothing can take the credit in between.
   */
  async sendWhenReady(h: Header, descriptor: Uint8Array | null): Promise<void> {
    while (!this.creditReady(false)) await this.waitForCredit(false);
    this.postMessage(h, descriptor, null);
  }

  trackRdma(ov: WSAOVERLAPPED, batch: RdmaBatch): void {
    this.ops.set(ov, { kind: 'rdma', batch });
  }

  dropStreamHead(): void {
    this.stream.shift();
  }

  wait(done: () => boolean): Promise<void> {
    return this.host.wait(done);
  }

  /**
   * Write a message into a send buffer and WSPSend it; the payload comes from process memory
   * at `payloadVa`. The caller made sure, in the same synchronous step, that a buffer and a
   * credit are free.
   */
  private postMessage(h: Header, descriptor: Uint8Array | null, payloadVa: number | null): void {
    const pool = this.sendPool!;
    const slot = pool.acquire();
    if (slot < 0 || (this.config.creditBased && this.credits < 1)) throw new Error(`session ${this.s}: message posted without a buffer or credit`);
    h.credits += this.toReturn;
    this.codec.write(h, descriptor);
    const { process } = this.host;
    const at = pool.address(slot);
    try {
      process.writeMemory(at, this.codec.bytes, 0, HEADER_BYTES);
      if (payloadVa !== null && h.payload > 0) {
        // User-mode memcpy from the application's buffer into the registered control buffer.
        process.readMemory(payloadVa, this.copyBuffer, 0, h.payload);
        process.writeMemory(at + HEADER_BYTES, this.copyBuffer, 0, h.payload);
      }
    } catch (error) {
      pool.release(slot);
      h.credits -= this.toReturn;
      throw new SocketError(WSAEFAULT, `send buffer at 0x${(payloadVa ?? at).toString(16)} is not readable: ${String(error)}`);
    }
    const io = this.sendIo[slot]!;
    io.bufs[0].len = HEADER_BYTES + h.payload;
    const e = this.outErrno;
    const r = this.host.provider.WSPSend(this.s, io.bufs, 1, null, 0, io.ov, null, null, e);
    if (r !== SOCKET_ERROR || e.value !== WSA_IO_PENDING) {
      pool.release(slot);
      throw new SocketError(e.value, `WSPSend of a control message failed`);
    }
    this.ops.set(io.ov, io.op);
    this.sendsInFlight++;
    this.toReturn = 0;
    if (this.config.creditBased) this.credits--;
    this.host.stats.controlMessages++;
  }

  check(what: string): void {
    if (this.closed) throw new SocketError(WSAEINTR, `${what}: the socket was closed`);
    if (this.broken === WSAECONNABORTED) {
      const why = this.protocolError !== null ? `: ${this.protocolError.message}` : '';
      throw new SocketError(WSAECONNABORTED, `${what}: the connection was aborted${why}`);
    }
    if (this.broken !== 0) throw new SocketError(WSAECONNRESET, `${what}: the connection is broken`);
  }

  // ───────────────────────────── send ─────────────────────────────

  private async sendNow(va: number, length: number): Promise<number> {
    this.check('send');
    if (length === 0) return 0;
    if (!this.config.rdma || length <= this.config.rdmaThreshold) {
      const max = this.config.bufferBytes - HEADER_BYTES;
      for (let done = 0; done < length; ) {
        const n = Math.min(max, length - done);
        while (!this.creditReady(false)) await this.waitForCredit(false);
        this.postMessage({ type: MSG_DATA, flags: 0, credits: 0, payload: n, length: 0, id: 0 }, null, va + done);
        this.host.stats.controlBytes += n;
        done += n;
      }
      return length;
    }
    return this.usesRdmaRead ? this.large.sendByRdmaRead(va, length) : this.large.sendByRdmaWrite(va, length);
  }

  // ───────────────────────────── recv ─────────────────────────────

  /**
   * One recv: wait for the head of the stream (bytes, a large send, the peer's shutdown) or a
   * broken connection, then take from it. A zero-byte recv waits the same way and moves nothing:
   * it returns 0 once something is there and leaves it for the next recv (Wine sock.c
   * test_empty_recv: a zero-length WSARecv pends until data arrives, completes with 0 bytes,
   * and the data is still read by the next recv).
   */
  private async recvNow(va: number, length: number): Promise<number> {
    if (this.stream.length === 0 && this.broken === 0 && !this.closed) {
      // The application waits for bytes: credits go back now rather than at the threshold.
      this.recvWaiting = true;
      this.returnCredits();
      try {
        await this.host.wait(() => this.stream.length > 0 || this.broken !== 0 || this.closed);
      } finally {
        this.recvWaiting = false;
      }
    }
    if (this.closed) this.check('recv');
    const head = this.stream[0];
    if (head === undefined) {
      this.check('recv');
      return 0;
    }
    if (length === 0) return 0;
    switch (head.kind) {
      case 'eof':
        return 0;
      case 'data':
        return this.copyOut(va, length);
      case 'read':
        return this.large.recvByRdmaRead(head, va, length);
      case 'write':
        return this.large.recvByRdmaWrite(head, va, length);
    }
  }

  /** Copy DATA payloads at the head of the stream into the application's buffer. */
  private copyOut(va: number, length: number): number {
    const { process } = this.host;
    const pool = this.recvPool!;
    let done = 0;
    while (done < length && this.stream.length > 0 && this.stream[0]!.kind === 'data') {
      const item = this.stream[0] as Extract<Item, { kind: 'data' }>;
      const n = Math.min(length - done, item.remaining);
      for (let off = 0; off < n; ) {
        const c = Math.min(COPY_CHUNK, n - off);
        process.readMemory(pool.address(item.slot) + item.offset + off, this.copyBuffer, 0, c);
        try {
          process.writeMemory(va + done + off, this.copyBuffer, 0, c);
        } catch (error) {
          if (done + off > 0) return done + off;
          throw new SocketError(WSAEFAULT, `recv buffer at 0x${va.toString(16)} is not writable: ${String(error)}`);
        }
        off += c;
        item.offset += c;
        item.remaining -= c;
      }
      done += n;
      if (item.remaining === 0) {
        this.stream.shift();
        this.repost(item.slot);
      }
    }
    this.returnCredits();
    return done;
  }
}
