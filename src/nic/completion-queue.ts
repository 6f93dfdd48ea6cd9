/**
 * Completion queue: a ring of completion entries in typed arrays, written by the NIC and
 * polled by the owning process (kernel bypass). A full ring overruns as on real hardware
 * (IBV_EVENT_CQ_ERR): the entry is lost, `overrun` is set, and the NIC moves the endpoint
 * whose completion was lost to the error state.
 *
 * Completion events (the completion channel: ibv_req_notify_cq + ibv_get_cq_event, re-armed
 * after every event): when the owner set a handler, a completion written while no event is
 * outstanding queues one event task on the scheduler; the task calls the handler, which polls.
 * One event covers every completion written before it runs, so a burst costs one task.
 */
import type { Task } from './scheduler.ts';
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
  /** The owner's completion handler (null: the owner polls without events). */
  handler: (() => void) | null = null;
  /** An event task is queued and has not run yet. */
  eventQueued = false;
  /** The event task (one per queue, so an event allocates nothing). */
  readonly event: Task = () => {
    this.eventQueued = false;
    this.handler?.();
  };

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

  /** Take up to `into.capacity` entries into `into`, oldest first (no object per entry). */
  pollInto(into: CompletionBatch): number {
    const n = Math.min(into.capacity, this.count);
    for (let k = 0; k < n; k++) {
      const i = this.head;
      into.status[k] = this.status[i]!;
      into.syndrome[k] = this.syndrome[i]!;
      into.opcode[k] = this.opcode[i]!;
      into.bytes[k] = this.bytes[i]!;
      into.context[k] = this.context[i]!;
      into.endpoint[k] = this.endpoint[i]!;
      this.head = (this.head + 1) % this.depth;
    }
    this.count -= n;
    into.count = n;
    return n;
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

/**
 * Completions taken in one poll, in typed arrays the caller reuses (the data path's form of
 * `Completion[]`): entry k is status[k], syndrome[k], … for k < count.
 */
export class CompletionBatch {
  readonly status: Uint8Array;
  readonly syndrome: Uint8Array;
  readonly opcode: Uint8Array;
  readonly bytes: Float64Array;
  readonly context: Float64Array;
  readonly endpoint: Float64Array;
  count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`CompletionBatch: capacity ${String(capacity)} must be an integer >= 1`);
    this.status = new Uint8Array(capacity);
    this.syndrome = new Uint8Array(capacity);
    this.opcode = new Uint8Array(capacity);
    this.bytes = new Float64Array(capacity);
    this.context = new Float64Array(capacity);
    this.endpoint = new Float64Array(capacity);
  }
}
