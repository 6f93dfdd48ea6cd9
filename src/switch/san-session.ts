/**
 * The session protocol over the SAN provider, one instance per connected socket
 * [using-session-protocol, initiating-a-connection, accepting-connection-requests,
 * handling-socket-options-and-control-codes-for-a-san].
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
 * - Large sends (> rdmaThreshold). Read path, when both providers support WSPRdmaRead: the
 *   sender registers the whole buffer with WSPRegisterRdmaMemory(MEM_READ), sends its
 *   descriptor, and waits for READ_DONE; the receiver WSPRdmaReads straight into the
 *   application's recv buffer in chunks <= maxRdmaSize. Write path otherwise: the sender
 *   registers its buffer and announces the length; each recv registers the application's
 *   buffer with WSPRegisterRdmaMemory(MEM_WRITE) and advertises it (WRITE_TARGET); the sender
 *   WSPRdmaWrites, waits for completion, and sends WRITE_DONE; the receiver deregisters and
 *   returns. Every registration goes through the cache (registration-cache.ts): local ones hit
 *   with no driver request when a cached region contains the buffer; RDMA ones are re-exposed
 *   from a cached region (a window bind from user mode) and lose the peer's access at
 *   deregistration (the window invalidated).
 * - Control slots post with an overlapped, buffer array and op made once per slot, so a control
 *   message allocates no objects on the way to the provider. Registration failure fails the
 *   call with the provider's error (WSAENOBUFS) and changes nothing in the stream.
 * - Completions reach the session through the provider's WPUCompleteOverlappedRequest upcall
 *   (hEvent low bit 0); poll() asks WSPGetOverlappedResult on one pending request, which makes
 *   the provider drain the socket's completion queue. The session acts on completions only
 *   after the provider call returned (no re-entry into the provider from the upcall).
 * - Bytes by path are counted where the operation is issued: control-message payload at the
 *   sender, RDMA read at the receiver, RDMA write at the sender.
 */
import type { Process } from '../kernel/ps/process.ts';
import { ref } from '../kernel/ref.ts';
import {
  MEM_READ, MEM_WRITE, NO_ERROR, RDMA_DESCRIPTOR_BYTES, SOCKET_ERROR, WSA_IO_PENDING, newWsaOverlapped,
  type SanServiceProvider, type WSAOVERLAPPED,
} from '../provider/index.ts';
import { ControlBufferPool } from './control-buffers.ts';
import { SocketError, WSAECONNABORTED, WSAECONNRESET, WSAEINTR, WSAESHUTDOWN } from './errors.ts';
import {
  HEADER_BYTES, MSG_CREDIT, MSG_DATA, MSG_LARGE_WRITE, MSG_NEGOTIATE, MSG_RDMA_READ_OFFER, MSG_READ_DONE, MSG_SHUTDOWN,
  MSG_WRITE_DONE, MSG_WRITE_TARGET, MessageCodec, NEG_RDMA_READ, type Header,
} from './messages.ts';
import type { RegistrationCache } from './registration-cache.ts';

export interface SessionConfig {
  recvBuffers: number;
  sendBuffers: number;
  /** Bytes per control buffer (header + payload). */
  bufferBytes: number;
  /** SO_RDMA_THRESHOLD_SIZE: sends larger than this go by RDMA. */
  rdmaThreshold: number;
  /** SO_MAX_RDMA_SIZE: the largest single RDMA operation. */
  maxRdmaSize: number;
  /** Credit-based flow control (SAN) or the NIC's receiver-not-ready alone (TCP-like). */
  creditBased: boolean;
  /** Large sends by RDMA (SAN) or every byte copied through control messages (TCP-like). */
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

export interface TransferStats {
  controlBytes: number;
  rdmaReadBytes: number;
  rdmaWriteBytes: number;
  controlMessages: number;
}

export interface SessionHost {
  readonly provider: SanServiceProvider;
  readonly process: Process;
  readonly cache: RegistrationCache | null;
  readonly stats: TransferStats;
  /** Block (asynchronously) until `done()` holds, driving providers and the fabric. */
  wait(done: () => boolean): Promise<void>;
  /** Tell other blocked callers that something changed. */
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

interface RdmaBatch {
  outstanding: number;
  error: number;
}

type Item =
  | { kind: 'data'; slot: number; offset: number; remaining: number }
  | { kind: 'read'; id: number; descriptor: Uint8Array; length: number; consumed: number }
  | { kind: 'write'; id: number; length: number; consumed: number }
  | { kind: 'eof' };

const COPY_CHUNK = 64 * 1024;

export class SanSession {
  readonly nicIndex: number;
  private sendPool: ControlBufferPool | null = null;
  private recvPool: ControlBufferPool | null = null;
  private readonly ops = new Map<WSAOVERLAPPED, Op>();
  /**
   * Completions not yet acted on, as parallel queues (no object per completion): entries
   * [completedHead, completedTail). The arrays keep their length; both indexes go back to 0
   * once everything is drained.
   */
  private readonly completedOv: WSAOVERLAPPED[] = [];
  private readonly completedError: number[] = [];
  private readonly completedBytes: number[] = [];
  private completedHead = 0;
  private completedTail = 0;
  private readonly stream: Item[] = [];
  private readonly codec: MessageCodec;
  private readonly copyBuffer = new Uint8Array(COPY_CHUNK);
  private readonly sendDescriptor = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
  /** Out parameters of provider calls whose values the session does not keep (no allocation per call). */
  private readonly outBytes = ref(0);
  private readonly outFlags = ref(0);
  private readonly outErrno = ref(0);
  /** lpFlags of WSPRecv: in/out, must be 0 on entry. */
  private readonly recvFlags = ref(0);
  private recvIo: SlotIo[] = [];
  private sendIo: SlotIo[] = [];
  /** Credits: receives the peer has posted for us. */
  private credits = 0;
  /** Buffers reposted since the last message that returned credits. */
  private toReturn = 0;
  private negotiated = false;
  private peerRdmaRead = false;
  private localRdmaRead = false;
  /** Error that broke the connection (0 while healthy). */
  private broken = 0;
  private closed = false;
  private sendShut = false;
  private recvShut = false;
  private nextId = 1;
  private readonly readDone = new Set<number>();
  private readonly writeTargets: { descriptor: Uint8Array; length: number }[] = [];
  private writeDone = -1;
  private sendChain: Promise<unknown> = Promise.resolve();
  /** Application sends queued or in progress (closesocket is abortive while any is). */
  private sendsQueued = 0;
  private recvChain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: SessionHost,
    readonly s: number,
    readonly config: SessionConfig,
  ) {
    const info = host.provider.socketInfo(s);
    if (info === null) throw new SocketError(WSAECONNRESET, `session on unknown provider socket ${s}`);
    this.nicIndex = info.nicIndex;
    this.codec = new MessageCodec(config.bufferBytes);
  }

  get isBroken(): boolean {
    return this.broken !== 0;
  }

  /** Whether large sends on this connection go by RDMA read (else RDMA write). */
  get usesRdmaRead(): boolean {
    return this.config.rdma && this.localRdmaRead && this.peerRdmaRead;
  }

  get pendingOperations(): number {
    return this.ops.size;
  }

  /** Pools, posted receives and the negotiation exchange (A17). */
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
      this.localRdmaRead = provider.WSPIoctl(this.s, 0xc8000006, '{C0B422FA-F58C-11D1-AD6C-00C04FA34A2D}', 16, fn, 8, ref(0), null, null, null, ref(0)) === 0;
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

  send(va: number, length: number): Promise<number> {
    this.sendsQueued++;
    const run = this.sendChain.then(() => this.sendNow(va, length)).finally(() => this.sendsQueued--);
    this.sendChain = run.catch(() => undefined);
    return run;
  }

  recv(va: number, length: number): Promise<number> {
    const run = this.recvChain.then(() => this.recvNow(va, length));
    this.recvChain = run.catch(() => undefined);
    return run;
  }

  /** shutdown(SD_SEND) sends the orderly-release message after everything queued before it. */
  async shutdown(send: boolean, receive: boolean): Promise<void> {
    if (receive) this.recvShut = true;
    if (send && !this.sendShut) {
      await this.sendChain;
      this.sendShut = true;
      if (this.broken === 0 && !this.closed) {
        if (!this.creditReady(false)) await this.waitForCredit(false);
        this.postMessage({ type: MSG_SHUTDOWN, flags: 0, credits: 0, payload: 0, length: 0, id: 0 }, null, null);
      }
    }
  }

  /**
   * closesocket: orderly release if still healthy (the peer reads what was sent, then 0),
   * deregister the pools no pending request uses, then WSPCloseSocket — the provider aborts
   * the rest and releases their memory (A10, A24).
   */
  async close(): Promise<number> {
    if (this.closed) return NO_ERROR;
    if (!this.sendShut && this.sendsQueued === 0 && this.broken === 0 && this.host.process.state === 'running' && this.negotiated) {
      try {
        await this.shutdown(true, false);
        // Let the release message leave before the endpoint goes.
        await this.host.wait(() => this.broken !== 0 || ![...this.ops.values()].some((o) => o.kind === 'send'));
      } catch {
        // A broken connection closes all the same.
      }
    }
    this.closed = true;
    const e = ref(0);
    let error = NO_ERROR;
    if (this.host.process.state === 'running') {
      const sendIdle = ![...this.ops.values()].some((o) => o.kind === 'send');
      if (this.sendPool !== null && sendIdle) error = this.sendPool.destroy(true);
      if (this.host.provider.WSPCloseSocket(this.s, e) !== 0 && error === NO_ERROR) error = e.value;
      // The provider aborted the pending requests (upcalls): nothing of ours is in flight.
      this.drainCompleted();
      this.sendPool?.destroy(false);
      this.recvPool?.destroy(false);
    }
    this.ops.clear();
    this.host.wake();
    return error;
  }

  /** The process died under the session: its requests and memory went with it. */
  processGone(): void {
    this.closed = true;
    if (this.broken === 0) this.broken = WSAECONNABORTED;
    this.ops.clear();
  }

  // ───────────────────────────── progress ─────────────────────────────

  /** WPUCompleteOverlappedRequest for this socket's requests. */
  onComplete(ov: WSAOVERLAPPED, error: number, bytes: number): void {
    const i = this.completedTail++;
    this.completedOv[i] = ov;
    this.completedError[i] = error;
    this.completedBytes[i] = bytes;
  }

  /** Take completions; true when anything changed. */
  poll(): boolean {
    if (this.closed || this.host.process.state !== 'running') return false;
    const first = this.ops.keys().next();
    if (!first.done) {
      this.host.provider.WSPGetOverlappedResult(this.s, first.value, this.outBytes, false, this.outFlags, this.outErrno);
    }
    return this.drainCompleted();
  }

  private drainCompleted(): boolean {
    if (this.completedHead === this.completedTail) return false;
    // Acting on one may complete more (the provider's upcall appends): FIFO until none is left.
    while (this.completedHead < this.completedTail) {
      const i = this.completedHead++;
      const ov = this.completedOv[i]!;
      const op = this.ops.get(ov);
      if (op === undefined) continue;
      this.ops.delete(ov);
      this.completeOp(op, this.completedError[i]!, this.completedBytes[i]!);
    }
    this.completedHead = 0;
    this.completedTail = 0;
    if (!this.closed) this.returnCredits();
    return true;
  }

  private completeOp(op: Op, error: number, bytes: number): void {
    switch (op.kind) {
      case 'send':
        this.sendPool!.release(op.slot);
        if (error !== NO_ERROR) this.fail(error);
        return;
      case 'rdma':
        op.batch.outstanding--;
        if (error !== NO_ERROR && op.batch.error === NO_ERROR) op.batch.error = error;
        if (error !== NO_ERROR) this.fail(error);
        return;
      case 'recv':
        if (error !== NO_ERROR) {
          this.recvPool!.release(op.slot);
          this.fail(error);
          return;
        }
        this.receive(op.slot, bytes);
    }
  }

  private fail(error: number): void {
    if (this.broken === 0 && !this.closed) this.broken = WSAECONNRESET;
  }

  /** A control message arrived in `slot`. */
  private receive(slot: number, bytes: number): void {
    const pool = this.recvPool!;
    if (bytes < HEADER_BYTES) throw new Error(`session ${this.s}: control message of ${bytes} bytes is shorter than its header`);
    this.host.process.readMemory(pool.address(slot), this.codec.bytes, 0, HEADER_BYTES);
    const h = this.codec.read();
    this.credits += h.credits;
    let keep = false;
    switch (h.type) {
      case MSG_NEGOTIATE:
        this.peerRdmaRead = (h.flags & NEG_RDMA_READ) !== 0;
        this.negotiated = true;
        break;
      case MSG_DATA:
        if (h.payload === 0 || HEADER_BYTES + h.payload !== bytes) {
          throw new Error(`session ${this.s}: DATA message says ${h.payload} payload bytes, ${bytes} arrived`);
        }
        this.stream.push({ kind: 'data', slot, offset: HEADER_BYTES, remaining: h.payload });
        keep = true;
        break;
      case MSG_RDMA_READ_OFFER:
        this.stream.push({ kind: 'read', id: h.id, descriptor: this.codec.descriptor(), length: h.length, consumed: 0 });
        break;
      case MSG_LARGE_WRITE:
        this.stream.push({ kind: 'write', id: h.id, length: h.length, consumed: 0 });
        break;
      case MSG_WRITE_TARGET:
        this.writeTargets.push({ descriptor: this.codec.descriptor(), length: h.length });
        break;
      case MSG_WRITE_DONE:
        this.writeDone = h.length;
        break;
      case MSG_READ_DONE:
        this.readDone.add(h.id);
        break;
      case MSG_SHUTDOWN:
        this.stream.push({ kind: 'eof' });
        break;
      case MSG_CREDIT:
        break;
      default:
        throw new Error(`session ${this.s}: unknown control message type ${h.type}`);
    }
    if (!keep) this.repost(slot);
  }

  private repost(slot: number): void {
    if (this.closed || this.broken !== 0) {
      this.recvPool!.release(slot);
      return;
    }
    const e = this.postRecv(slot);
    if (e !== NO_ERROR) {
      this.recvPool!.release(slot);
      this.fail(e);
      return;
    }
    this.toReturn++;
  }

  /** Explicit credit return when a quarter of the receives are waiting to be returned. */
  private returnCredits(): void {
    if (!this.config.creditBased || this.broken !== 0 || !this.negotiated) return;
    if (this.toReturn >= Math.max(1, this.config.recvBuffers >> 2) && this.credits >= 1 && this.sendPool!.available > 0) {
      this.postMessage({ type: MSG_CREDIT, flags: 0, credits: 0, payload: 0, length: 0, id: 0 }, null, null);
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

  /** A message can go now on a healthy connection (callers skip the wait, and its promise). */
  private creditReady(control: boolean): boolean {
    return this.broken === 0 && !this.closed && this.canSend(control);
  }

  private async waitForCredit(control: boolean): Promise<void> {
    await this.host.wait(() => this.broken !== 0 || this.closed || this.canSend(control));
    this.check('send');
  }

  /**
   * Write a message into a send buffer and WSPSend it; the payload comes from process memory
   * at `payloadVa`. The caller made sure a buffer and a credit are free.
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
      throw new SocketError(10014 /* WSAEFAULT */, `send buffer at 0x${(payloadVa ?? at).toString(16)} is not readable: ${String(error)}`);
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
    this.toReturn = 0;
    if (this.config.creditBased) this.credits--;
    this.host.stats.controlMessages++;
    this.host.wake();
  }

  private check(what: string): void {
    if (this.closed) throw new SocketError(WSAEINTR, `${what}: the socket was closed`);
    if (this.broken !== 0) throw new SocketError(this.broken === WSAECONNABORTED ? WSAECONNABORTED : WSAECONNRESET, `${what}: the connection is broken`);
  }

  // ───────────────────────────── send ─────────────────────────────

  private async sendNow(va: number, length: number): Promise<number> {
    if (this.sendShut) throw new SocketError(WSAESHUTDOWN, 'send after shutdown(SD_SEND)');
    this.check('send');
    if (length === 0) return 0;
    if (!this.config.rdma || length <= this.config.rdmaThreshold) {
      const max = this.config.bufferBytes - HEADER_BYTES;
      for (let done = 0; done < length; ) {
        const n = Math.min(max, length - done);
        if (!this.creditReady(false)) await this.waitForCredit(false);
        this.postMessage({ type: MSG_DATA, flags: 0, credits: 0, payload: n, length: 0, id: 0 }, null, va + done);
        this.host.stats.controlBytes += n;
        done += n;
      }
      return length;
    }
    return this.usesRdmaRead ? this.sendByRdmaRead(va, length) : this.sendByRdmaWrite(va, length);
  }

  /** A20: register for read, offer, wait for READ_DONE, deregister. */
  private async sendByRdmaRead(va: number, length: number): Promise<number> {
    const cache = this.host.cache!;
    // Sends run one at a time (sendChain): one descriptor buffer serves them all.
    const descriptor = this.sendDescriptor;
    const error = cache.registerRdma(this.s, va, length, MEM_READ, descriptor);
    if (error !== NO_ERROR) throw new SocketError(error, `cannot register ${length} bytes at 0x${va.toString(16)} for RDMA read`);
    const id = this.nextId++;
    try {
      if (!this.creditReady(false)) await this.waitForCredit(false);
      this.postMessage({ type: MSG_RDMA_READ_OFFER, flags: 0, credits: 0, payload: 0, length, id }, descriptor, null);
      await this.host.wait(() => this.readDone.has(id) || this.broken !== 0 || this.closed);
      this.check('send');
      this.readDone.delete(id);
    } finally {
      if (!this.closed) cache.deregisterRdma(this.s, descriptor);
    }
    return length;
  }

  /** A21: register locally, announce, write into each advertised target, WRITE_DONE. */
  private async sendByRdmaWrite(va: number, length: number): Promise<number> {
    const cache = this.host.cache!;
    const reg = cache.register(this.s, va, length, MEM_READ);
    if ('error' in reg) throw new SocketError(reg.error, `cannot register ${length} bytes at 0x${va.toString(16)}`);
    try {
      if (!this.creditReady(false)) await this.waitForCredit(false);
      this.postMessage({ type: MSG_LARGE_WRITE, flags: 0, credits: 0, payload: 0, length, id: this.nextId++ }, null, null);
      for (let sent = 0; sent < length; ) {
        await this.host.wait(() => this.writeTargets.length > 0 || this.broken !== 0 || this.closed);
        this.check('send');
        const t = this.writeTargets.shift()!;
        if (t.length <= 0 || t.length > length - sent) throw new Error(`session ${this.s}: write target of ${t.length} bytes, ${length - sent} left`);
        await this.rdma('write', va + sent, t.length, reg.handle, t.descriptor);
        this.host.stats.rdmaWriteBytes += t.length;
        sent += t.length;
        if (!this.creditReady(false)) await this.waitForCredit(false);
        this.postMessage({ type: MSG_WRITE_DONE, flags: 0, credits: 0, payload: 0, length: t.length, id: 0 }, null, null);
      }
    } finally {
      if (!this.closed) cache.deregister(this.s, reg.handle);
    }
    return length;
  }

  /** Post RDMA operations of <= maxRdmaSize covering `length` bytes, wait for all of them. */
  private async rdma(kind: 'read' | 'write', va: number, length: number, handle: number, descriptor: Uint8Array, targetOffset = 0): Promise<void> {
    const batch: RdmaBatch = { outstanding: 0, error: NO_ERROR };
    const { provider } = this.host;
    for (let off = 0; off < length; ) {
      const n = Math.min(this.config.maxRdmaSize, length - off);
      const ov = newWsaOverlapped(0);
      const e = this.outErrno;
      const buffers = [{ len: n, buf: va + off, handle }];
      const r = kind === 'read'
        ? provider.WSPRdmaRead(this.s, buffers, 1, descriptor, RDMA_DESCRIPTOR_BYTES, targetOffset + off, null, 0, ov, null, null, e)
        : provider.WSPRdmaWrite(this.s, buffers, 1, descriptor, RDMA_DESCRIPTOR_BYTES, targetOffset + off, null, 0, ov, null, null, e);
      if (r !== SOCKET_ERROR || e.value !== WSA_IO_PENDING) {
        batch.error = e.value;
        break;
      }
      this.ops.set(ov, { kind: 'rdma', batch });
      batch.outstanding++;
      off += n;
    }
    this.host.wake();
    await this.host.wait(() => batch.outstanding === 0 || this.closed);
    this.check(kind === 'read' ? 'recv' : 'send');
    if (batch.error !== NO_ERROR) throw new SocketError(batch.error, `RDMA ${kind} failed`);
  }

  // ───────────────────────────── recv ─────────────────────────────

  private async recvNow(va: number, length: number): Promise<number> {
    if (length === 0) return 0;
    if (this.recvShut) return 0;
    await this.host.wait(() => {
      if (this.stream.length > 0 || this.broken !== 0 || this.closed) return true;
      // The application waits for bytes: return credits now rather than at the threshold.
      if (this.config.creditBased && this.toReturn > 0 && this.credits >= 1 && this.sendPool!.available > 0 && this.negotiated) {
        this.postMessage({ type: MSG_CREDIT, flags: 0, credits: 0, payload: 0, length: 0, id: 0 }, null, null);
      }
      return false;
    });
    if (this.closed) this.check('recv');
    const head = this.stream[0];
    if (head === undefined) {
      this.check('recv');
      return 0;
    }
    switch (head.kind) {
      case 'eof':
        return 0;
      case 'data':
        return this.copyOut(va, length);
      case 'read':
        return this.recvByRdmaRead(head, va, length);
      case 'write':
        return this.recvByRdmaWrite(head, va, length);
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
          throw new SocketError(10014 /* WSAEFAULT */, `recv buffer at 0x${va.toString(16)} is not writable: ${String(error)}`);
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

  private async recvByRdmaRead(item: Extract<Item, { kind: 'read' }>, va: number, length: number): Promise<number> {
    const cache = this.host.cache!;
    const n = Math.min(length, item.length - item.consumed);
    const reg = cache.register(this.s, va, n, MEM_WRITE);
    if ('error' in reg) throw new SocketError(reg.error, `cannot register the ${n}-byte recv buffer at 0x${va.toString(16)}`);
    try {
      await this.rdma('read', va, n, reg.handle, item.descriptor, item.consumed);
    } finally {
      if (!this.closed) cache.deregister(this.s, reg.handle);
    }
    this.host.stats.rdmaReadBytes += n;
    item.consumed += n;
    if (item.consumed === item.length) {
      this.stream.shift();
      if (!this.creditReady(false)) await this.waitForCredit(false);
      this.postMessage({ type: MSG_READ_DONE, flags: 0, credits: 0, payload: 0, length: 0, id: item.id }, null, null);
    }
    return n;
  }

  private async recvByRdmaWrite(item: Extract<Item, { kind: 'write' }>, va: number, length: number): Promise<number> {
    const cache = this.host.cache!;
    const n = Math.min(length, item.length - item.consumed);
    const descriptor = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
    const error = cache.registerRdma(this.s, va, n, MEM_WRITE, descriptor);
    if (error !== NO_ERROR) {
      throw new SocketError(error, `cannot register the ${n}-byte recv buffer at 0x${va.toString(16)} for RDMA write`);
    }
    let registered = true;
    try {
      if (!this.creditReady(false)) await this.waitForCredit(false);
      this.writeDone = -1;
      this.postMessage({ type: MSG_WRITE_TARGET, flags: 0, credits: 0, payload: 0, length: n, id: item.id }, descriptor, null);
      await this.host.wait(() => this.writeDone >= 0 || this.broken !== 0 || this.closed);
      this.check('recv');
      if (this.writeDone !== n) throw new Error(`session ${this.s}: WRITE_DONE for ${this.writeDone} bytes, target was ${n}`);
      this.writeDone = -1;
      // Deregistering a shadowed target copies what the peer wrote into the application's buffer.
      registered = false;
      const e = cache.deregisterRdma(this.s, descriptor);
      if (e !== NO_ERROR) throw new SocketError(e, 'cannot deregister the RDMA write target');
    } finally {
      if (registered && !this.closed) cache.deregisterRdma(this.s, descriptor);
    }
    item.consumed += n;
    if (item.consumed === item.length) this.stream.shift();
    return n;
  }
}
