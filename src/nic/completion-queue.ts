/**
 * Completion queue: a ring of completion entries in typed arrays, written by the NIC and
 * polled by the owning process (kernel bypass). A full ring overruns as on real hardware
 * (IBV_EVENT_CQ_ERR): the entry is lost, `overrun` is set, and the NIC moves the endpoint
 * whose completion was lost to the error state.
 */
import type { OpcodeCode, SyndromeCode, WcStatusCode } from './status.ts';

export interface Completion {
  status: WcStatusCode;
  /** Which check failed (vendor error); Syndrome.NONE on success and for flushes. */
  syndrome: SyndromeCode;
  opcode: OpcodeCode;
  bytes: number;
  /** The work request's context (wr_id). */
  context: number;
  /** The endpoint the work request was posted on. */
  endpoint: number;
}

export class CompletionQueue {
  private readonly status: Uint8Array;
  private readonly syndrome: Uint8Array;
  private readonly opcode: Uint8Array;
  private readonly bytes: Float64Array;
  private readonly context: Float64Array;
  private readonly endpoint: Float64Array;
  private head = 0;
  count = 0;
  overrun = false;
  /** Endpoints using this queue; it cannot be destroyed while any remain. */
  attached = 0;

  constructor(
    readonly handle: number,
    readonly owner: number,
    readonly depth: number,
  ) {
    this.status = new Uint8Array(depth);
    this.syndrome = new Uint8Array(depth);
    this.opcode = new Uint8Array(depth);
    this.bytes = new Float64Array(depth);
    this.context = new Float64Array(depth);
    this.endpoint = new Float64Array(depth);
  }

  /** Write one entry; false (and `overrun`) when the ring is full. */
  push(status: number, syndrome: number, opcode: number, bytes: number, context: number, endpoint: number): boolean {
    if (this.count === this.depth) {
      this.overrun = true;
      return false;
    }
    const i = (this.head + this.count) % this.depth;
    this.status[i] = status;
    this.syndrome[i] = syndrome;
    this.opcode[i] = opcode;
    this.bytes[i] = bytes;
    this.context[i] = context;
    this.endpoint[i] = endpoint;
    this.count++;
    return true;
  }

  /** Take up to `max` entries, oldest first. */
  poll(max: number): Completion[] {
    const n = Math.min(max, this.count);
    const out: Completion[] = new Array(n);
    for (let k = 0; k < n; k++) {
      const i = this.head;
      out[k] = {
        status: this.status[i] as WcStatusCode,
        syndrome: this.syndrome[i] as SyndromeCode,
        opcode: this.opcode[i] as OpcodeCode,
        bytes: this.bytes[i]!,
        context: this.context[i]!,
        endpoint: this.endpoint[i]!,
      };
      this.head = (this.head + 1) % this.depth;
    }
    this.count -= n;
    return out;
  }
}
