/**
 * The NIC's connection manager (the IB CM's job, rdma_cm's events): listeners, connection
 * set-up and tear-down of reliable-connection endpoints, and the connection events it
 * signals to the owning process. Its messages are CM MADs on QP1 over the wire (cm-agent.ts
 * carries and resends them); no NIC holds a reference to another.
 *
 * Implementation notes
 * - The exchange is the CM's (IBA vol. 1 ch. 12.9; roce-v2.md §10.7): the active side sends
 *   REQ (its QPN, the PSN its receive queue starts at, the service ID rdma_cm makes from the
 *   port in the TCP port space, §10.9); the passive side matches a listener and, once its owner
 *   accepts, answers REP (its QPN and PSN) — or REJ: reason 8 "invalid service ID" when nobody
 *   listens (what the passive IB CM sends for rdma_cm), 28 "consumer defined" when the owner
 *   refuses. The active side sends RTU. Disconnect is DREQ, answered by DREP.
 * - Local Comm ID and QPN are the endpoint's handle; connections are found by the Remote Comm
 *   ID a message carries, cross-checked with the sender's IP and Local Comm ID (§10.8).
 * - PSNs (§10.8, Linux semantics): a message's Starting PSN is where its sender's receive queue
 *   starts, so the peer's send queue starts there. Each side picks its own (`startingPsn`).
 * - REQ, REP and DREQ are resent on the virtual clock (cm-agent.ts). A REQ that runs out of
 *   retries, or the owner's connect timeout, ends the connect with 'timeout'; a REP that runs
 *   out leaves the passive endpoint 'disconnected'; a DREQ that runs out just ends. A REP that
 *   finds no connection waiting for it (the active side gave up) is answered with REJ, and the
 *   passive side tears down. Duplicates: REQ already pending or accepted → ignored; REP after
 *   RTU → RTU again; DREQ for an unknown connection → DREP anyway (§10.7). A REQ queued at a
 *   listener is answered with MRA (again on each duplicate), which stretches the active side's
 *   resend interval, so a connect waits for a slow acceptor up to the owner's own timeout.
 * - States of an endpoint (endpoint.ts): idle → connecting → connected. The passive side is
 *   "connecting" (ready to receive) from accept until the RTU arrives.
 * - Events (`ConnectionEvent`) go to every handler the endpoint's owner subscribed through
 *   its ports, synchronously from the task that caused them: 'connect-request' at a listener,
 *   then 'established', 'rejected', 'unreachable' or 'timeout' for a connect, 'established'
 *   for an accept, 'disconnected' when the peer leaves. Handlers only record what happened;
 *   the owner's threads resume through the scheduler (scheduler.ts).
 */
import type { Endpoint } from './endpoint.ts';
import type { SanNic } from './san-nic.ts';
import { NicStatus, type NicStatusCode } from './status.ts';
import {
  CmMessageRef, CmRejectReason, RdmaPortSpace, ipCmPrivateData, ipv4MappedGid, macForIpv4, mtuBytes, mtuCode,
  nodeGuidFromMac, parseRdmaCmServiceId, psnAdd, rdmaCmServiceId,
  type CmDrep, type CmDreq, type CmMessage, type CmMra, type CmRej, type CmRep, type CmReq, type CmRtu,
} from '../wire/index.ts';

export type ConnectionEventType = 'connect-request' | 'established' | 'rejected' | 'unreachable' | 'timeout' | 'disconnected';

export interface ConnectionEvent {
  readonly type: ConnectionEventType;
  /** The endpoint the event is about (0 for 'connect-request'). */
  readonly endpoint: number;
  /** The port: the one listened on ('connect-request'), connected to or accepted on. */
  readonly port: number;
}

export type ConnectionHandler = (event: ConnectionEvent) => void;

interface PendingRequest {
  srcIp: number;
  req: CmReq;
}

interface Listener {
  owner: number;
  pending: PendingRequest[];
}

/** CM state of a connection (ib_cm.h enum ib_cm_state, the states this model passes through). */
type CmState = 'REQ_SENT' | 'REP_SENT' | 'ESTABLISHED' | 'DREQ_SENT';

/** A connection the CM keeps, by Local Comm ID (= the endpoint's handle). */
interface Connection {
  state: CmState;
  peerIp: number;
  /** The peer's Local Comm ID (0 until the REP, on the active side). */
  remoteCommId: number;
  /** The REQ's TID (REQ, REP, RTU carry it, §10.8). */
  tid: bigint;
  /** The PSN our receive queue starts at (sent in our REQ or REP). */
  rqPsn: number;
  /** The path MTU in bytes. */
  pmtu: number;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isPort = (v: unknown): v is number => isCount(v) && v >= 1 && v <= 0xffff;

/**
 * CM timeouts (IBA 12.6; roce-v2.md §10.7): codes of 4.096 µs × 2^code. Response timeout 14
 * (67 ms) and packet life time 12 (17 ms) make a REQ resend interval of 2 × 17 + 67 ≈ 101 ms
 * of virtual time; 15 retries as rdma_cm asks. (rdma_cm's 20 and 18 would make 6 s intervals:
 * the same protocol, only slower on the virtual clock.)
 */
const CM_RESPONSE_TIMEOUT = 14;
const PACKET_LIFE_TIME = 12;
const MAX_CM_RETRIES = 15;
/** Service timeout an MRA announces (code 20 ≈ 4.3 s) while a REQ waits for the listener's owner. */
const MRA_SERVICE_TIMEOUT = 20;
const cmTimeNs = (code: number): number => 4096 * 2 ** code;
const resendIntervalNs = (responseTimeout: number): number => 2 * cmTimeNs(PACKET_LIFE_TIME) + cmTimeNs(responseTimeout);
/** The high half of our TIDs (cm.c cm_form_tid: the MAD agent's hi_tid). */
const HI_TID = 1n;
const tidOf = (commId: number): bigint => (HI_TID << 32n) | BigInt(commId >>> 0);
/** Read/atomic resources offered in REQ/REP (the endpoint's queue admits one read at a time per side). */
const RD_ATOMIC = 1;
/** QP retry counts sent in the REQ/REP (3 bits; 7 = infinite RNR retry as the endpoint does). */
const RETRY_COUNT = 7;
const RNR_RETRY_COUNT = 7;
/** rxe's CA ACK delay (§10.4: ACK timeout ≈ max(ack delay, packet life time + 1)). */
const TARGET_ACK_DELAY = 15;
const EMPTY = new Uint8Array(0);

/**
 * The first PSN a QP's receive queue expects (the CM's Starting PSN, §10.8; random in Linux).
 * Derived from the QPN for reproducible runs, and close below 2^24 so that every connection
 * crosses the 24-bit wrap within its first few hundred packets (§6).
 */
export const startingPsn = (qpn: number): number => psnAdd(0xffffff - 0xff, -(qpn & 0xff));

export class ConnectionManager {
  private readonly listeners = new Map<number, Listener>();
  private readonly handlers = new Map<number, Set<ConnectionHandler>>();
  /** Connect timeouts armed, by endpoint handle (scheduler timer ids). */
  private readonly timeouts = new Map<number, number>();
  /** Connections by Local Comm ID. */
  private readonly connections = new Map<number, Connection>();

  constructor(private readonly nic: SanNic) {}

  // ───────────────────────────── the owner's calls (through its port) ─────────────────────────────

  subscribe(owner: number, handler: ConnectionHandler): void {
    let set = this.handlers.get(owner);
    if (set === undefined) this.handlers.set(owner, (set = new Set()));
    set.add(handler);
  }

  unsubscribe(owner: number, handler: ConnectionHandler): void {
    const set = this.handlers.get(owner);
    if (set === undefined) return;
    set.delete(handler);
    if (set.size === 0) this.handlers.delete(owner);
  }

  listen(owner: number, port: number): NicStatusCode {
    if (!isPort(port)) return NicStatus.INVALID_PARAMETER;
    if (this.listeners.has(port)) return NicStatus.ADDRESS_IN_USE;
    this.listeners.set(port, { owner, pending: [] });
    return NicStatus.SUCCESS;
  }

  /** Stop listening; pending connection requests are rejected. */
  unlisten(owner: number, port: number): NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    if (l.owner !== owner) return NicStatus.ACCESS_DENIED;
    this.listeners.delete(port);
    for (const r of l.pending) this.rejectRequest(r.srcIp, r.req, CmRejectReason.CONSUMER_DEFINED);
    return NicStatus.SUCCESS;
  }

  pendingConnections(owner: number, port: number): number | NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    return l.owner === owner ? l.pending.length : NicStatus.ACCESS_DENIED;
  }

  /**
   * Start connecting an idle endpoint to `port` on the NIC at `remoteSanAddress` (REQ). With
   * `timeoutNs`, the attempt ends with 'timeout' when no answer came by then.
   */
  connect(owner: number, endpoint: number, remoteSanAddress: number, port: number, timeoutNs?: number): NicStatusCode {
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (!isCount(remoteSanAddress) || remoteSanAddress === 0 || !isPort(port)) return NicStatus.INVALID_PARAMETER;
    if (timeoutNs !== undefined && !isCount(timeoutNs)) return NicStatus.INVALID_PARAMETER;
    const fabric = this.nic.fabric;
    if (fabric === null) return NicStatus.NOT_ATTACHED;
    if (ep.state !== 'idle') return NicStatus.INVALID_STATE;
    ep.state = 'connecting';
    ep.peerAddress = remoteSanAddress;
    ep.peerEndpoint = 0;
    ep.port = port;
    // Address and route resolution (rdma_resolve_addr/route): the peer's IP and path MTU.
    const path = fabric.pathTo(remoteSanAddress);
    if (path === null) {
      fabric.enqueue(() => this.connectFailed(endpoint, 'unreachable'));
      return NicStatus.SUCCESS;
    }
    const pmtu = Math.min(this.nic.capabilities.pathMtu, path.mtu);
    const conn: Connection = { state: 'REQ_SENT', peerIp: path.ip, remoteCommId: 0, tid: tidOf(endpoint), rqPsn: startingPsn(endpoint), pmtu };
    this.connections.set(endpoint, conn);
    const req = this.request(endpoint, conn, port);
    this.nic.gsi.sendExpectingAnswer(endpoint, path.ip, req, resendIntervalNs(CM_RESPONSE_TIMEOUT), MAX_CM_RETRIES,
      () => this.connectFailed(endpoint, 'timeout'));
    if (timeoutNs !== undefined) {
      this.timeouts.set(endpoint, fabric.scheduler.after(timeoutNs, () => {
        this.timeouts.delete(endpoint);
        this.connectFailed(endpoint, 'timeout');
      }));
    }
    return NicStatus.SUCCESS;
  }

  /** Accept the oldest pending request on `port` onto an idle endpoint of the listener's owner (REP). */
  accept(owner: number, port: number, endpoint: number): NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    if (l.owner !== owner) return NicStatus.ACCESS_DENIED;
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (ep.state !== 'idle') return NicStatus.INVALID_STATE;
    const r = l.pending.shift();
    if (r === undefined) return NicStatus.NO_PENDING_CONNECTION;
    const req = r.req;
    // Passive side: ready to receive (RTR) now, connected when the requester confirms (RTU).
    ep.state = 'connecting';
    ep.peerAddress = this.nic.fabric?.resolveIp(r.srcIp) ?? 0;
    ep.peerEndpoint = req.localQpn;
    ep.port = port;
    const pmtu = Math.min(this.nic.capabilities.pathMtu, mtuBytes(req.pathMtu) || this.nic.capabilities.pathMtu);
    const conn: Connection = { state: 'REP_SENT', peerIp: r.srcIp, remoteCommId: req.localCommId, tid: req.transactionId, rqPsn: startingPsn(endpoint), pmtu };
    this.connections.set(endpoint, conn);
    // §10.8: the passive send queue starts at the REQ's Starting PSN.
    this.nic.initTransport(ep, r.srcIp, pmtu, req.startingPsn, conn.rqPsn);
    const rep: CmRep = {
      kind: 'REP', transactionId: conn.tid, localCommId: endpoint, remoteCommId: conn.remoteCommId, privateData: EMPTY,
      localQkey: 0, localQpn: endpoint, localEecn: 0, startingPsn: conn.rqPsn, responderResources: RD_ATOMIC,
      initiatorDepth: RD_ATOMIC, targetAckDelay: TARGET_ACK_DELAY, failoverAccepted: 0, endToEndFlowControl: 0,
      rnrRetryCount: RNR_RETRY_COUNT, srq: 0, localCaGuid: this.caGuid(),
    };
    this.nic.gsi.sendExpectingAnswer(endpoint, r.srcIp, rep, resendIntervalNs(req.localCmResponseTimeout), req.maxCmRetries,
      () => this.peerGone(endpoint));
    return NicStatus.SUCCESS;
  }

  /** Refuse the oldest pending request on `port` (REJ, consumer defined). */
  reject(owner: number, port: number): NicStatusCode {
    const l = this.listeners.get(port);
    if (l === undefined) return NicStatus.INVALID_HANDLE;
    if (l.owner !== owner) return NicStatus.ACCESS_DENIED;
    const r = l.pending.shift();
    if (r === undefined) return NicStatus.NO_PENDING_CONNECTION;
    this.rejectRequest(r.srcIp, r.req, CmRejectReason.CONSUMER_DEFINED);
    return NicStatus.SUCCESS;
  }

  /** Disconnect (DREQ): both ends leave the connection and flush every outstanding request. */
  disconnect(owner: number, endpoint: number): NicStatusCode {
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null) return NicStatus.INVALID_HANDLE;
    if (ep.owner !== owner) return NicStatus.ACCESS_DENIED;
    if (ep.state === 'idle' || ep.state === 'disconnected') return NicStatus.INVALID_STATE;
    this.cancelTimeout(endpoint);
    this.leave(ep);
    ep.state = 'disconnected';
    ep.lastEvent = 'disconnected';
    this.nic.schedule(ep);
    return NicStatus.SUCCESS;
  }

  /** An endpoint is being destroyed: the peer is told (DREQ), a connect timeout disarmed. */
  endpointDestroyed(ep: Endpoint): void {
    this.cancelTimeout(ep.handle);
    if (ep.state === 'connected' || ep.state === 'connecting' || ep.state === 'error') this.leave(ep);
  }

  // ───────────────────────────── MADs from the wire (cm-agent.ts) ─────────────────────────────

  /** A CM MAD arrived from `srcIp`. */
  onMad(msg: CmMessage, srcIp: number): void {
    switch (msg.kind) {
      case 'REQ': return this.onRequest(msg, srcIp);
      case 'REP': return this.onReply(msg, srcIp);
      case 'RTU': return this.onReadyToUse(msg, srcIp);
      case 'REJ': return this.onReject(msg, srcIp);
      case 'DREQ': return this.onDisconnectRequest(msg, srcIp);
      case 'DREP': return this.onDisconnectReply(msg, srcIp);
      case 'MRA': return this.onMessageReceiptAck(msg, srcIp);
    }
  }

  /** REQ: match a listener by the rdma_cm service ID (§10.9), or reject. */
  private onRequest(req: CmReq, srcIp: number): void {
    const ip = parseRdmaCmServiceId(req.serviceId);
    const l = ip !== null && ip.portSpace === RdmaPortSpace.TCP ? this.listeners.get(ip.port) : undefined;
    // A duplicate (our REP or the owner's decision is on its way): ignored (§10.7).
    for (const c of this.connections.values()) if (c.peerIp === srcIp && c.remoteCommId === req.localCommId) return;
    if (l === undefined) {
      this.rejectRequest(srcIp, req, CmRejectReason.INVALID_SERVICE_ID);
      return;
    }
    if (l.pending.some((r) => r.srcIp === srcIp && r.req.localCommId === req.localCommId)) {
      this.acknowledgeReceipt(srcIp, req); // still waiting for the owner: MRA again (§10.7)
      return;
    }
    l.pending.push({ srcIp, req });
    this.acknowledgeReceipt(srcIp, req);
    this.emit(l.owner, { type: 'connect-request', endpoint: 0, port: ip!.port });
  }

  /** MRA of our REQ: the peer's owner has not decided yet; resend the REQ less often. */
  private onMessageReceiptAck(mra: CmMra, srcIp: number): void {
    const conn = this.connections.get(mra.remoteCommId);
    if (conn === undefined || conn.state !== 'REQ_SENT' || conn.peerIp !== srcIp || mra.messageMraed !== CmMessageRef.REQ) return;
    this.nic.gsi.stretch(mra.remoteCommId, cmTimeNs(mra.serviceTimeout) + resendIntervalNs(CM_RESPONSE_TIMEOUT));
  }

  /** REP: the answer to our REQ; RTU back, the QP to RTS. */
  private onReply(rep: CmRep, srcIp: number): void {
    const endpoint = rep.remoteCommId;
    const conn = this.connections.get(endpoint);
    const ep = this.nic.endpointByHandle(endpoint);
    if (conn !== undefined && conn.peerIp === srcIp && conn.state === 'ESTABLISHED' && conn.remoteCommId === rep.localCommId) {
      this.nic.gsi.send(srcIp, this.readyToUse(endpoint, conn)); // our RTU was lost
      return;
    }
    if (conn === undefined || ep === null || conn.state !== 'REQ_SENT' || conn.peerIp !== srcIp || ep.state !== 'connecting') {
      // We gave up meanwhile: the acceptor tears its side down on this REJ.
      const rej: CmRej = {
        kind: 'REJ', transactionId: rep.transactionId, localCommId: 0, remoteCommId: rep.localCommId, privateData: EMPTY,
        messageRejected: CmMessageRef.REP, rejectInfoLength: 0, reason: CmRejectReason.INVALID_COMM_ID, ari: EMPTY,
      };
      this.nic.gsi.send(srcIp, rej);
      return;
    }
    this.nic.gsi.cancel(endpoint);
    this.cancelTimeout(endpoint);
    conn.state = 'ESTABLISHED';
    conn.remoteCommId = rep.localCommId;
    ep.state = 'connected';
    ep.peerEndpoint = rep.localQpn;
    ep.lastEvent = 'established';
    // §10.8: the active send queue starts at the REP's Starting PSN.
    this.nic.initTransport(ep, srcIp, conn.pmtu, rep.startingPsn, conn.rqPsn);
    this.nic.gsi.send(srcIp, this.readyToUse(endpoint, conn));
    this.nic.schedule(ep);
    this.emit(ep.owner, { type: 'established', endpoint, port: ep.port });
  }

  /** RTU: the active side confirmed; the passive endpoint is connected. */
  private onReadyToUse(rtu: CmRtu, srcIp: number): void {
    const endpoint = rtu.remoteCommId;
    const conn = this.connections.get(endpoint);
    const ep = this.nic.endpointByHandle(endpoint);
    if (conn === undefined || conn.state !== 'REP_SENT' || conn.peerIp !== srcIp || conn.remoteCommId !== rtu.localCommId) return;
    this.nic.gsi.cancel(endpoint);
    conn.state = 'ESTABLISHED';
    if (ep === null || ep.state !== 'connecting') return;
    ep.state = 'connected';
    ep.lastEvent = 'established';
    this.nic.schedule(ep);
    this.emit(ep.owner, { type: 'established', endpoint, port: ep.port });
  }

  /** REJ: of our REQ (refused), or of our REP (the active side gave up). */
  private onReject(rej: CmRej, srcIp: number): void {
    const endpoint = rej.remoteCommId;
    const conn = this.connections.get(endpoint);
    if (conn === undefined || conn.peerIp !== srcIp) return;
    if (conn.state === 'REQ_SENT' && rej.messageRejected === CmMessageRef.REQ) {
      this.connectFailed(endpoint, 'rejected');
    } else if (conn.state === 'REP_SENT' && rej.messageRejected === CmMessageRef.REP) {
      this.peerGone(endpoint);
    }
  }

  /** DREQ: the peer disconnected or was destroyed; DREP back in every case (§10.7). */
  private onDisconnectRequest(dreq: CmDreq, srcIp: number): void {
    const drep: CmDrep = { kind: 'DREP', transactionId: dreq.transactionId, localCommId: dreq.remoteCommId, remoteCommId: dreq.localCommId, privateData: EMPTY };
    this.nic.gsi.send(srcIp, drep);
    const endpoint = dreq.remoteCommId;
    const conn = this.connections.get(endpoint);
    if (conn === undefined || conn.peerIp !== srcIp || conn.remoteCommId !== dreq.localCommId || dreq.remoteQpn !== endpoint) return;
    this.peerGone(endpoint);
  }

  /** DREP: our DREQ is answered. */
  private onDisconnectReply(drep: CmDrep, srcIp: number): void {
    const conn = this.connections.get(drep.remoteCommId);
    if (conn === undefined || conn.state !== 'DREQ_SENT' || conn.peerIp !== srcIp || conn.remoteCommId !== drep.localCommId) return;
    this.nic.gsi.cancel(drep.remoteCommId);
    this.connections.delete(drep.remoteCommId);
  }

  // ───────────────────────────── internals ─────────────────────────────

  private request(endpoint: number, conn: Connection, port: number): CmReq {
    const me = this.nic.wireIp;
    const path = {
      localLid: 0xffff, remoteLid: 0xffff, localGid: ipv4MappedGid(me), remoteGid: ipv4MappedGid(conn.peerIp),
      flowLabel: 0, packetRate: 0, trafficClass: 0, hopLimit: 64, sl: 0, subnetLocal: 0, localAckTimeout: PACKET_LIFE_TIME + 1,
    };
    return {
      kind: 'REQ', transactionId: conn.tid, localCommId: endpoint, privateData: ipCmPrivateData(me, 0, conn.peerIp),
      serviceId: rdmaCmServiceId(RdmaPortSpace.TCP, port), localCaGuid: this.caGuid(), localQkey: 0, localQpn: endpoint,
      responderResources: RD_ATOMIC, localEecn: 0, initiatorDepth: RD_ATOMIC, remoteEecn: 0,
      remoteCmResponseTimeout: CM_RESPONSE_TIMEOUT, transportServiceType: 0, endToEndFlowControl: 0, startingPsn: conn.rqPsn,
      localCmResponseTimeout: CM_RESPONSE_TIMEOUT, retryCount: RETRY_COUNT, pkey: 0xffff, pathMtu: mtuCode(conn.pmtu), rdcExists: 0,
      rnrRetryCount: RNR_RETRY_COUNT, maxCmRetries: MAX_CM_RETRIES, srq: 0, extendedTransportType: 0, primaryPath: path, alternatePath: null,
    };
  }

  private readyToUse(endpoint: number, conn: Connection): CmRtu {
    return { kind: 'RTU', transactionId: conn.tid, localCommId: endpoint, remoteCommId: conn.remoteCommId, privateData: EMPTY };
  }

  /**
   * MRA for a REQ queued at a listener: the owner accepts when it gets round to it (rdma_cm
   * sends one as soon as a REQ goes up to a listener that accepts later, cma.c).
   */
  private acknowledgeReceipt(srcIp: number, req: CmReq): void {
    const mra: CmMra = {
      kind: 'MRA', transactionId: req.transactionId, localCommId: 0, remoteCommId: req.localCommId, privateData: EMPTY,
      messageMraed: CmMessageRef.REQ, serviceTimeout: MRA_SERVICE_TIMEOUT,
    };
    this.nic.gsi.send(srcIp, mra);
  }

  private rejectRequest(srcIp: number, req: CmReq, reason: number): void {
    const rej: CmRej = {
      kind: 'REJ', transactionId: req.transactionId, localCommId: 0, remoteCommId: req.localCommId, privateData: EMPTY,
      messageRejected: CmMessageRef.REQ, rejectInfoLength: 0, reason, ari: EMPTY,
    };
    this.nic.gsi.send(srcIp, rej);
  }

  private caGuid(): bigint {
    return nodeGuidFromMac(macForIpv4(this.nic.wireIp));
  }

  /** A connect ends without a connection: refused, unreachable or timed out. */
  private connectFailed(endpoint: number, event: 'rejected' | 'unreachable' | 'timeout'): void {
    this.cancelTimeout(endpoint);
    this.nic.gsi.cancel(endpoint);
    this.connections.delete(endpoint);
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null || ep.state !== 'connecting' || ep.peerEndpoint !== 0) return;
    const port = ep.port;
    ep.state = 'idle';
    ep.peerAddress = 0;
    ep.port = 0;
    ep.lastEvent = event;
    this.emit(ep.owner, { type: event, endpoint, port });
  }

  /** The peer left (DREQ, REJ of our REP, or our REP unanswered): the endpoint is disconnected. */
  private peerGone(endpoint: number): void {
    this.nic.gsi.cancel(endpoint);
    this.connections.delete(endpoint);
    const ep = this.nic.endpointByHandle(endpoint);
    if (ep === null || ep.state === 'idle' || ep.state === 'disconnected') return;
    ep.state = 'disconnected';
    ep.lastEvent = 'peer-disconnected';
    this.nic.schedule(ep);
    this.emit(ep.owner, { type: 'disconnected', endpoint, port: ep.port });
  }

  /** We leave: DREQ to a peer that knows the connection; a REQ still out is abandoned. */
  private leave(ep: Endpoint): void {
    const endpoint = ep.handle;
    const conn = this.connections.get(endpoint);
    if (conn === undefined) return;
    this.nic.gsi.cancel(endpoint);
    if (conn.state === 'REQ_SENT') {
      this.connections.delete(endpoint); // a REP that still comes is answered with REJ
      return;
    }
    conn.state = 'DREQ_SENT';
    const dreq: CmDreq = {
      kind: 'DREQ', transactionId: tidOf(endpoint), localCommId: endpoint, remoteCommId: conn.remoteCommId,
      remoteQpn: ep.peerEndpoint, privateData: EMPTY,
    };
    this.nic.gsi.sendExpectingAnswer(endpoint, conn.peerIp, dreq, resendIntervalNs(CM_RESPONSE_TIMEOUT), MAX_CM_RETRIES,
      () => this.connections.delete(endpoint));
  }

  private cancelTimeout(endpoint: number): void {
    const timer = this.timeouts.get(endpoint);
    if (timer === undefined) return;
    this.timeouts.delete(endpoint);
    this.nic.fabric?.scheduler.cancel(timer);
  }

  private emit(owner: number, event: ConnectionEvent): void {
    const set = this.handlers.get(owner);
    if (set === undefined) return;
    for (const handler of [...set]) handler(event);
  }
}
