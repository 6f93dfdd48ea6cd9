/**
 * Responder stage (rxe_resp.c): serves a request that arrived from a peer. A loop over a
 * state: each check returns the next state; execute only ever sees a request every check
 * passed; `responderError` is the one place that maps a failed check to what the requester,
 * the responder's endpoint and a consumed receive see. A failed request moves no byte.
 *
 * Checks, in order: the target endpoint exists and is connected to the requester; the
 * opcode is served (RDMA read is optional); then for a send the head receive (absent:
 * receiver not ready) and its scatter list, which must hold the message; for RDMA the remote
 * key (TPT lookup: exists, current, bound to this connection, right granted, valid) and the
 * range inside the region. Bus faults are found before any byte moves (dma.ts).
 */
import { DMA_MASTER_ABORT, type DmaRunList } from '../bus/index.ts';
import { moveBytes } from './dma.ts';
import type { Endpoint } from './endpoint.ts';
import type { SanNic } from './san-nic.ts';
import { checkScatterList } from './scatter-list.ts';
import { Opcode, Syndrome, WcStatus, type SyndromeCode, type WcStatusCode } from './status.ts';
import { NicAccess } from './tpt.ts';

export interface RequestPacket {
  opcode: number;
  fromNic: SanNic;
  fromEndpoint: number;
  toEndpoint: number;
  remoteKey: number;
  /** Offset into the remote region. */
  remoteAddress: number;
  length: number;
  /** Requester's bus segments: the data (send, RDMA write) or where it goes (RDMA read). */
  local: DmaRunList;
}

export interface ResponderResult {
  status: WcStatusCode;
  syndrome: SyndromeCode;
  /** Receiver not ready: no receive posted; the requester retries when one is. */
  rnr: boolean;
}

const CHECK_ENDPOINT = 0;
const CHECK_OPCODE = 1;
const GET_RECV = 2;
const CHECK_RECV = 3;
const CHECK_RKEY = 4;
const CHECK_RANGE = 5;
const EXECUTE = 6;
const DONE = 7;
const ERROR = 8;
const RNR = 9;

/** Per-request responder state, reused (one per NIC). */
export class ResponderContext {
  ep: Endpoint | null = null;
  region = -1;
  failedAt = -1;
  syndrome: number = Syndrome.NONE;
  /** The bus fault was on the requester's side. */
  requesterBusFault = false;
}

function checkEndpoint(nic: SanNic, p: RequestPacket, c: ResponderContext): number {
  const ep = nic.endpointByHandle(p.toEndpoint);
  // 'connecting' on the passive side accepts requests once its peer is known (RTR).
  if (ep === null || (ep.state !== 'connected' && ep.state !== 'connecting') ||
      ep.peerAddress !== p.fromNic.sanAddress || ep.peerEndpoint !== p.fromEndpoint) {
    return fail(c, CHECK_ENDPOINT, Syndrome.PEER_GONE);
  }
  c.ep = ep;
  return CHECK_OPCODE;
}

function checkOpcode(nic: SanNic, p: RequestPacket, c: ResponderContext): number {
  if (p.opcode === Opcode.SEND) return GET_RECV;
  if (p.opcode === Opcode.RDMA_READ && !nic.capabilities.rdmaRead) {
    return fail(c, CHECK_OPCODE, Syndrome.RDMA_READ_UNSUPPORTED);
  }
  return CHECK_RKEY;
}

function getRecv(c: ResponderContext): number {
  const rq = c.ep!.rq;
  return rq.completed < rq.posted ? CHECK_RECV : RNR;
}

function checkRecv(nic: SanNic, p: RequestPacket, c: ResponderContext): number {
  const ep = c.ep!;
  const slot = ep.rq.slot(ep.rq.completed);
  const capacity = checkScatterList(nic, ep.owner, ep.rq, slot, NicAccess.LOCAL_WRITE, nic.responderSegs, p.length);
  if (capacity < 0) return fail(c, CHECK_RECV, -capacity);
  if (capacity === 0) return fail(c, CHECK_RECV, Syndrome.ZERO_LENGTH);
  if (capacity < p.length) return fail(c, CHECK_RECV, Syndrome.RECV_TOO_SMALL);
  return EXECUTE;
}

function checkRkey(nic: SanNic, p: RequestPacket, c: ResponderContext): number {
  const right = p.opcode === Opcode.RDMA_READ ? NicAccess.REMOTE_READ : NicAccess.REMOTE_WRITE;
  const index = nic.tpt.lookup(p.remoteKey, true, c.ep!.handle, right);
  if (index < 0) return fail(c, CHECK_RKEY, -index);
  c.region = index;
  return CHECK_RANGE;
}

function checkRange(nic: SanNic, p: RequestPacket, c: ResponderContext): number {
  if (!nic.tpt.inRange(c.region, p.remoteAddress, p.length)) return fail(c, CHECK_RANGE, Syndrome.OUT_OF_RANGE);
  nic.responderSegs.clear();
  nic.tpt.translate(c.region, p.remoteAddress, p.length, nic.responderSegs);
  return EXECUTE;
}

function execute(nic: SanNic, p: RequestPacket, c: ResponderContext): number {
  const requester = p.fromNic;
  const read = p.opcode === Opcode.RDMA_READ;
  const r = read
    ? moveBytes(nic.dma, nic.responderSegs, requester.dma, p.local)
    : moveBytes(requester.dma, p.local, nic.dma, nic.responderSegs);
  if (r.side !== null) {
    const responderSide = read ? r.side === 'source' : r.side === 'target';
    c.requesterBusFault = !responderSide;
    return fail(c, EXECUTE, r.status === DMA_MASTER_ABORT ? Syndrome.DMA_MASTER_ABORT : Syndrome.DMA_IOMMU_FAULT);
  }
  const ep = c.ep!;
  if (p.opcode === Opcode.SEND) {
    const slot = ep.rq.slot(ep.rq.completed);
    ep.rq.completed++;
    nic.counters.bytesReceived += p.length;
    nic.complete(ep, WcStatus.SUCCESS, Syndrome.NONE, Opcode.RECV, p.length, ep.rq.context[slot]!);
  } else if (read) nic.counters.bytesRdmaReadServed += p.length;
  else nic.counters.bytesRdmaWriteServed += p.length;
  return DONE;
}

function fail(c: ResponderContext, at: number, syndrome: number): number {
  c.failedAt = at;
  c.syndrome = syndrome;
  return ERROR;
}

/**
 * The one mapping from a failed responder check to its effects: the requester's completion
 * status, the status of the receive it consumed (or -1: none consumed), and whether the
 * responder's endpoint goes to error.
 */
export function responderError(
  failedAt: number,
  syndrome: number,
  requesterBusFault: boolean,
): { requester: WcStatusCode; recv: WcStatusCode | -1; responderToError: boolean } {
  switch (failedAt) {
    case CHECK_ENDPOINT:
      return { requester: WcStatus.RETRY_EXC_ERR, recv: -1, responderToError: false };
    case CHECK_OPCODE:
      return { requester: WcStatus.REM_INV_REQ_ERR, recv: -1, responderToError: true };
    case CHECK_RECV:
      return syndrome === Syndrome.RECV_TOO_SMALL
        ? { requester: WcStatus.REM_INV_REQ_ERR, recv: WcStatus.LOC_LEN_ERR, responderToError: true }
        : {
            requester: WcStatus.REM_OP_ERR,
            recv: syndrome === Syndrome.ZERO_LENGTH ? WcStatus.LOC_LEN_ERR : WcStatus.LOC_PROT_ERR,
            responderToError: true,
          };
    case CHECK_RKEY:
    case CHECK_RANGE:
      return { requester: WcStatus.REM_ACCESS_ERR, recv: -1, responderToError: true };
    case EXECUTE:
      // A fault on the requester's own bus is a local error: the responder never saw data.
      return requesterBusFault
        ? { requester: WcStatus.GENERAL_ERR, recv: -1, responderToError: false }
        : { requester: WcStatus.REM_OP_ERR, recv: -1, responderToError: true };
    default:
      throw new Error(`responderError: unknown state ${failedAt}`);
  }
}

/** Serve one request on `nic` (the responder) and write the outcome to `out`. */
export function respond(nic: SanNic, p: RequestPacket, out: ResponderResult): void {
  const c = nic.responderContext;
  c.ep = null;
  c.region = -1;
  c.failedAt = -1;
  c.syndrome = Syndrome.NONE;
  c.requesterBusFault = false;
  let state = CHECK_ENDPOINT;
  for (;;) {
    switch (state) {
      case CHECK_ENDPOINT: state = checkEndpoint(nic, p, c); break;
      case CHECK_OPCODE: state = checkOpcode(nic, p, c); break;
      case GET_RECV: state = getRecv(c); break;
      case CHECK_RECV: state = checkRecv(nic, p, c); break;
      case CHECK_RKEY: state = checkRkey(nic, p, c); break;
      case CHECK_RANGE: state = checkRange(nic, p, c); break;
      case EXECUTE: state = execute(nic, p, c); break;
      case DONE:
        out.status = WcStatus.SUCCESS;
        out.syndrome = Syndrome.NONE;
        out.rnr = false;
        return;
      case RNR:
        out.status = WcStatus.SUCCESS;
        out.syndrome = Syndrome.NONE;
        out.rnr = true;
        return;
      case ERROR: {
        const e = responderError(c.failedAt, c.syndrome, c.requesterBusFault);
        const ep = c.ep as Endpoint | null;
        if (ep !== null && e.recv !== -1) {
          const slot = ep.rq.slot(ep.rq.completed);
          ep.rq.completed++;
          nic.complete(ep, e.recv, c.syndrome as SyndromeCode, Opcode.RECV, 0, ep.rq.context[slot]!);
        }
        if (ep !== null && e.responderToError) nic.enterError(ep, 'error');
        out.status = e.requester;
        out.syndrome = c.syndrome as SyndromeCode;
        out.rnr = false;
        return;
      }
      default:
        throw new Error(`respond: unknown state ${state}`);
    }
  }
}
