/**
 * The NIC's GSI agent on QP1: sends and receives CM MADs as RoCEv2 UD packets, and resends the
 * ones that expect an answer (IBA vol. 1 ch. 12.6 and 12.9; roce-v2.md §10.1, §10.7). What the
 * messages mean is the connection manager's business (connection-manager.ts); this file only
 * carries them.
 *
 * Implementation notes
 * - Every MAD is one UD SEND Only to QP1: BTH DestQP 1, DETH Q_Key 0x80010000 and Source QP 1,
 *   the 256-byte MAD as payload (src/wire buildCmFrame). The frame is built in bytes at send
 *   time, so a capture shows it and the link's impairments can lose, duplicate or corrupt it
 *   like any packet. QP1 has its own send PSN; UD has no ordering, so nobody checks it.
 * - Receive (roce-v2.md §1.5 rule 9): the port hands over a parsed UD SEND Only to QP1; the
 *   agent checks the Q_Key is the GSI one and decodes the MAD; anything else is dropped and
 *   counted.
 * - Retries (§10.7, IBA 12.6): REQ, REP and DREQ are resent every `intervalNs` on the cluster's
 *   virtual clock up to `retries` times, until the connection manager cancels them (an answer
 *   came) or they run out (`onExhausted`). RTU, DREP and REJ are sent once: they are only ever
 *   resent as answers to duplicates. Retries are keyed by the sender's Local Comm ID, one
 *   outstanding message per connection, as the CM has.
 */
import { GSI_QKEY, ICRC_BYTES, MAD_BYTES, Opcode, buildCmFrame, decodeCmMad, dethQkey, macForIpv4, packetFields, psnAdd, type CmMessage, type PacketView } from '../wire/index.ts';
import { MAX_FRAME_BYTES, type WirePacket } from './link.ts';
import type { Scheduler } from './scheduler.ts';
import type { WirePort } from './wire-port.ts';

/** The UDP source port of QP1's flow (roce-v2.md §1.3: 0xC000–0xFFFF; fixed for QP1). */
const GSI_UDP_SOURCE_PORT = 0xc001;

export interface CmAgentCounters {
  madsSent: number;
  madsReceived: number;
  madsResent: number;
  /** UD packets to QP1 dropped: wrong Q_Key, or not a CM MAD. */
  madsDropped: number;
}

interface Outstanding {
  dstIp: number;
  msg: CmMessage;
  retriesLeft: number;
  intervalNs: number;
  timer: number;
  onExhausted: () => void;
}

export class CmAgent {
  readonly counters: CmAgentCounters = { madsSent: 0, madsReceived: 0, madsResent: 0, madsDropped: 0 };
  private readonly fields = packetFields();
  private psn = 0;
  private readonly outstanding = new Map<number, Outstanding>();

  constructor(
    private readonly port: WirePort,
    private readonly localIp: () => number,
    private readonly scheduler: () => Scheduler | null,
  ) {}

  /** Send `msg` once to the GSI agent at `dstIp`. */
  send(dstIp: number, msg: CmMessage): void {
    const link = this.port.link;
    if (link === null) return;
    const f = this.fields;
    const src = this.localIp();
    f.srcIp = src;
    f.dstIp = dstIp;
    f.srcMac = macForIpv4(src);
    f.dstMac = macForIpv4(dstIp);
    f.srcPort = GSI_UDP_SOURCE_PORT;
    f.psn = this.psn;
    this.psn = psnAdd(this.psn, 1);
    const p = link.packet();
    p.frame ??= new Uint8Array(MAX_FRAME_BYTES);
    p.frameLength = buildCmFrame(p.frame, f, msg);
    // The head too (the port counts by its opcode; a receiver of a frame reads the frame).
    p.headLength = p.frameLength - MAD_BYTES - ICRC_BYTES;
    p.head.set(p.frame.subarray(0, p.headLength));
    p.payloadInFrame = true;
    p.dstIp = dstIp;
    this.counters.madsSent++;
    this.port.send(p);
  }

  /**
   * Send `msg` and resend it every `intervalNs` up to `retries` times until `cancel(key)`;
   * `onExhausted` runs when the last one went unanswered for another interval.
   */
  sendExpectingAnswer(key: number, dstIp: number, msg: CmMessage, intervalNs: number, retries: number, onExhausted: () => void): void {
    this.cancel(key);
    const o: Outstanding = { dstIp, msg, retriesLeft: retries, intervalNs, timer: 0, onExhausted };
    this.outstanding.set(key, o);
    this.send(dstIp, msg);
    this.arm(key, o);
  }

  /** Stop resending the message outstanding under `key` (its answer came, or it is moot). */
  cancel(key: number): void {
    const o = this.outstanding.get(key);
    if (o === undefined) return;
    this.outstanding.delete(key);
    this.scheduler()?.cancel(o.timer);
  }

  /**
   * The peer sent an MRA for the message outstanding under `key` (IBA 12.6.6; §10.7): the next
   * resend waits `intervalNs` instead, and so do the ones after it.
   */
  stretch(key: number, intervalNs: number): void {
    const o = this.outstanding.get(key);
    if (o === undefined) return;
    this.scheduler()?.cancel(o.timer);
    o.intervalNs = intervalNs;
    this.arm(key, o);
  }

  /** Whether a message is outstanding under `key`. */
  awaiting(key: number): boolean {
    return this.outstanding.has(key);
  }

  /** A UD SEND Only to QP1 passed the port's checks: the CM MAD in it, or null (dropped, counted). */
  receive(p: WirePacket, v: PacketView): CmMessage | null {
    if (p.frameLength === 0 || v.opcode !== Opcode.UD_SEND_ONLY || v.deth < 0 || dethQkey(p.frame!, v.deth) !== GSI_QKEY) {
      this.counters.madsDropped++;
      return null;
    }
    const msg = decodeCmMad(p.frame!, v.payloadOffset, v.payloadLength);
    if (msg.kind === 'invalid') {
      this.counters.madsDropped++;
      return null;
    }
    this.counters.madsReceived++;
    return msg;
  }

  private arm(key: number, o: Outstanding): void {
    const scheduler = this.scheduler();
    if (scheduler === null) return;
    o.timer = scheduler.after(o.intervalNs, () => {
      if (this.outstanding.get(key) !== o) return;
      if (o.retriesLeft === 0) {
        this.outstanding.delete(key);
        o.onExhausted();
        return;
      }
      o.retriesLeft--;
      this.counters.madsResent++;
      this.send(o.dstIp, o.msg);
      this.arm(key, o);
    });
  }
}
