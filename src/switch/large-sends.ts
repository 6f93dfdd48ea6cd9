/**
 * Large sends of one session (> rdmaThreshold), by RDMA ("Using the Session Protocol",
 * "Handling Socket Options and Control Codes for a SAN"): both paths, their state, and the
 * order checks of the control messages they exchange.
 *
 *   read path (both providers serve WSPRdmaRead): the sender registers the whole buffer with
 *     WSPRegisterRdmaMemory(MEM_READ), sends RDMA_READ_OFFER with its descriptor and waits for
 *     READ_DONE; the receiver WSPRdmaReads straight into the application's recv buffers in
 *     chunks <= maxRdmaSize, then sends READ_DONE.
 *   write path otherwise: the sender registers its buffer and announces LARGE_WRITE; each recv
 *     registers the application's buffer with WSPRegisterRdmaMemory(MEM_WRITE) and advertises
 *     it (WRITE_TARGET); the sender WSPRdmaWrites, waits for the completions and sends
 *     WRITE_DONE; the receiver deregisters (a shadowed target's bytes reach the application
 *     then) and returns.
 *
 * Every registration goes through the switch's cache of application-buffer registrations. A
 * message of these paths the peer sends out of turn (a READ_DONE for no offer, a target
 * nobody announced, a WRITE_DONE for another size) is refused by `checkOrder` before anything
 * changes, which aborts the session (san-session.ts).
 */
import { ref } from '../kernel/ref.ts';
import { MEM_READ, MEM_WRITE, NO_ERROR, RDMA_DESCRIPTOR_BYTES, SOCKET_ERROR, WSA_IO_PENDING, newWsaOverlapped, type WSAOVERLAPPED } from '../provider/index.ts';
import { SocketError } from './errors.ts';
import {
  MSG_LARGE_WRITE, MSG_RDMA_READ_OFFER, MSG_READ_DONE, MSG_WRITE_DONE, MSG_WRITE_TARGET, ProtocolErrorReason, SessionProtocolError, type Header,
} from './messages.ts';
import type { SessionHost } from './san-session.ts';
import type { SessionConfig } from './session-config.ts';

/** A batch of RDMA operations of one large send or recv. */
export interface RdmaBatch {
  outstanding: number;
  error: number;
}

/** What the large-send paths need of their session. */
export interface SessionLink {
  readonly s: number;
  readonly config: SessionConfig;
  readonly host: SessionHost;
  readonly closed: boolean;
  /** Neither broken nor closed. */
  readonly healthy: boolean;
  /** Send a control message as soon as a buffer and a credit are free (throws when the connection broke). */
  sendWhenReady(h: Header, descriptor: Uint8Array | null): Promise<void>;
  /** Throw the connection's error (closed, aborted, reset) if it has one. */
  check(what: string): void;
  /** `ov` is an RDMA operation of `batch` in flight. */
  trackRdma(ov: WSAOVERLAPPED, batch: RdmaBatch): void;
  /** The stream item at the head is consumed. */
  dropStreamHead(): void;
  wait(done: () => boolean): Promise<void>;
}

/** A large send the peer announced, at the head of the receiver's stream. */
export type ReadItem = { kind: 'read'; id: number; descriptor: Uint8Array; length: number; consumed: number };
export type WriteItem = { kind: 'write'; id: number; length: number; consumed: number };

const outOfOrder = (what: string): SessionProtocolError => new SessionProtocolError(ProtocolErrorReason.OUT_OF_ORDER, what);

export class LargeSends {
  private nextId = 1;
  /** Read path (sender): the id of our offer the peer has not finished reading (0: none). */
  private offerOutstanding = 0;
  private readDone = 0;
  /** Write path (sender): bytes of our announced large write no target was advertised for yet. */
  private writeUntargeted = 0;
  private readonly writeTargets: { descriptor: Uint8Array; length: number }[] = [];
  /** Write path (receiver): bytes of the target we advertised and wait on (0: none). */
  private targetOutstanding = 0;
  private writeDone = -1;
  /** Sends run one at a time (the session's send chain): one descriptor buffer serves them all. */
  private readonly sendDescriptor = new Uint8Array(RDMA_DESCRIPTOR_BYTES);

  constructor(private readonly link: SessionLink) {}

  // ───────────────────────────── the peer's messages ─────────────────────────────

  /**
   * May the peer send this message of the large-send paths now? `readPath`: the connection
   * uses RDMA read. Throws SessionProtocolError; changes nothing.
   */
  checkOrder(h: Header, readPath: boolean): void {
    switch (h.type) {
      case MSG_RDMA_READ_OFFER:
        if (!readPath) throw outOfOrder('an RDMA read offer on a connection that does not use RDMA read');
        return;
      case MSG_LARGE_WRITE:
        if (!this.link.config.rdma || readPath) throw outOfOrder('a large write on a connection that does not use RDMA write');
        return;
      case MSG_WRITE_TARGET:
        if (h.length > this.writeUntargeted) throw outOfOrder(`a write target of ${h.length} bytes, ${this.writeUntargeted} announced and not targeted`);
        return;
      case MSG_WRITE_DONE:
        if (this.targetOutstanding === 0 || h.length !== this.targetOutstanding) {
          throw outOfOrder(`WRITE_DONE for ${h.length} bytes, the advertised target is ${this.targetOutstanding}`);
        }
        return;
      case MSG_READ_DONE:
        if (this.offerOutstanding === 0 || h.id !== this.offerOutstanding) throw outOfOrder(`READ_DONE for offer ${h.id}, outstanding ${this.offerOutstanding}`);
        return;
    }
  }

  /** Act on a checked WRITE_TARGET, WRITE_DONE or READ_DONE (`descriptor`: the target's). */
  received(h: Header, descriptor: () => Uint8Array): void {
    switch (h.type) {
      case MSG_WRITE_TARGET:
        this.writeUntargeted -= h.length;
        this.writeTargets.push({ descriptor: descriptor(), length: h.length });
        return;
      case MSG_WRITE_DONE:
        this.targetOutstanding = 0;
        this.writeDone = h.length;
        return;
      case MSG_READ_DONE:
        this.offerOutstanding = 0;
        this.readDone = h.id;
        return;
    }
  }

  // ───────────────────────────── sender ─────────────────────────────

  /** Read path: register for read, offer, wait for READ_DONE, deregister. */
  async sendByRdmaRead(va: number, length: number): Promise<number> {
    const link = this.link;
    const cache = link.host.cache!;
    const descriptor = this.sendDescriptor;
    const error = cache.registerRdma(link.s, va, length, MEM_READ, descriptor);
    if (error !== NO_ERROR) throw new SocketError(error, `cannot register ${length} bytes at 0x${va.toString(16)} for RDMA read`);
    const id = this.nextId++;
    try {
      this.offerOutstanding = id;
      await link.sendWhenReady({ type: MSG_RDMA_READ_OFFER, flags: 0, credits: 0, payload: 0, length, id }, descriptor);
      await link.wait(() => this.readDone === id || !this.link.healthy);
      link.check('send');
    } finally {
      this.offerOutstanding = 0;
      if (!link.closed) cache.deregisterRdma(link.s, descriptor);
    }
    return length;
  }

  /** Write path: register locally, announce, write into each advertised target, WRITE_DONE. */
  async sendByRdmaWrite(va: number, length: number): Promise<number> {
    const link = this.link;
    const cache = link.host.cache!;
    const reg = cache.register(link.s, va, length, MEM_READ);
    if ('error' in reg) throw new SocketError(reg.error, `cannot register ${length} bytes at 0x${va.toString(16)}`);
    try {
      this.writeUntargeted = length;
      await link.sendWhenReady({ type: MSG_LARGE_WRITE, flags: 0, credits: 0, payload: 0, length, id: this.nextId++ }, null);
      for (let sent = 0; sent < length; ) {
        await link.wait(() => this.writeTargets.length > 0 || !this.link.healthy);
        link.check('send');
        const t = this.writeTargets.shift()!;
        await this.rdma('write', va + sent, t.length, reg.handle, t.descriptor);
        link.host.stats.rdmaWriteBytes += t.length;
        sent += t.length;
        await link.sendWhenReady({ type: MSG_WRITE_DONE, flags: 0, credits: 0, payload: 0, length: t.length, id: 0 }, null);
      }
    } finally {
      this.writeUntargeted = 0;
      this.writeTargets.length = 0;
      if (!link.closed) cache.deregister(link.s, reg.handle);
    }
    return length;
  }

  // ───────────────────────────── receiver ─────────────────────────────

  /** Read path: RDMA-read the next part of the offer at the stream's head into the recv buffer. */
  async recvByRdmaRead(item: ReadItem, va: number, length: number): Promise<number> {
    const link = this.link;
    const cache = link.host.cache!;
    const n = Math.min(length, item.length - item.consumed);
    const reg = cache.register(link.s, va, n, MEM_WRITE);
    if ('error' in reg) throw new SocketError(reg.error, `cannot register the ${n}-byte recv buffer at 0x${va.toString(16)}`);
    try {
      await this.rdma('read', va, n, reg.handle, item.descriptor, item.consumed);
    } finally {
      if (!link.closed) cache.deregister(link.s, reg.handle);
    }
    link.host.stats.rdmaReadBytes += n;
    item.consumed += n;
    if (item.consumed === item.length) {
      link.dropStreamHead();
      await link.sendWhenReady({ type: MSG_READ_DONE, flags: 0, credits: 0, payload: 0, length: 0, id: item.id }, null);
    }
    return n;
  }

  /** Write path: advertise the recv buffer as a target, wait for WRITE_DONE, deregister. */
  async recvByRdmaWrite(item: WriteItem, va: number, length: number): Promise<number> {
    const link = this.link;
    const cache = link.host.cache!;
    const n = Math.min(length, item.length - item.consumed);
    const descriptor = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
    const error = cache.registerRdma(link.s, va, n, MEM_WRITE, descriptor);
    if (error !== NO_ERROR) {
      throw new SocketError(error, `cannot register the ${n}-byte recv buffer at 0x${va.toString(16)} for RDMA write`);
    }
    let registered = true;
    try {
      this.writeDone = -1;
      this.targetOutstanding = n;
      await link.sendWhenReady({ type: MSG_WRITE_TARGET, flags: 0, credits: 0, payload: 0, length: n, id: item.id }, descriptor);
      // WRITE_DONE is checked against the target when it arrives (checkOrder).
      await link.wait(() => this.writeDone >= 0 || !this.link.healthy);
      link.check('recv');
      this.writeDone = -1;
      // Deregistering a shadowed target copies what the peer wrote into the application's buffer.
      registered = false;
      const e = cache.deregisterRdma(link.s, descriptor);
      if (e !== NO_ERROR) throw new SocketError(e, 'cannot deregister the RDMA write target');
    } finally {
      this.targetOutstanding = 0;
      if (registered && !link.closed) cache.deregisterRdma(link.s, descriptor);
    }
    item.consumed += n;
    if (item.consumed === item.length) link.dropStreamHead();
    return n;
  }

  // ───────────────────────────── internals ─────────────────────────────

  /** Post RDMA operations of <= maxRdmaSize covering `length` bytes, wait for all of them. */
  private async rdma(kind: 'read' | 'write', va: number, length: number, handle: number, descriptor: Uint8Array, targetOffset = 0): Promise<void> {
    const link = this.link;
    const batch: RdmaBatch = { outstanding: 0, error: NO_ERROR };
    const { provider } = link.host;
    const e = ref(0);
    for (let off = 0; off < length; ) {
      const n = Math.min(link.config.maxRdmaSize, length - off);
      const ov = newWsaOverlapped(0);
      const buffers = [{ len: n, buf: va + off, handle }];
      const r = kind === 'read'
        ? provider.WSPRdmaRead(link.s, buffers, 1, descriptor, RDMA_DESCRIPTOR_BYTES, targetOffset + off, null, 0, ov, null, null, e)
        : provider.WSPRdmaWrite(link.s, buffers, 1, descriptor, RDMA_DESCRIPTOR_BYTES, targetOffset + off, null, 0, ov, null, null, e);
      if (r !== SOCKET_ERROR || e.value !== WSA_IO_PENDING) {
        batch.error = e.value;
        break;
      }
      link.trackRdma(ov, batch);
      batch.outstanding++;
      off += n;
    }
    await link.wait(() => batch.outstanding === 0 || link.closed);
    link.check(kind === 'read' ? 'recv' : 'send');
    if (batch.error !== NO_ERROR) throw new SocketError(batch.error, `RDMA ${kind} failed`);
  }
}
