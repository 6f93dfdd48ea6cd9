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

/** Completions as one typed array per field (no object per entry): a queue's ring, a poll's batch. */
class CompletionColumns {
  readonly status: Uint8Array;
  readonly syndrome: Uint8Array;
  readonly opcode: Uint8Array;
  readonly bytes: Float64Array;
  readonly context: Float64Array;
  readonly endpoint: Float64Array;

  constructor(entries: number) {
    this.status = new Uint8Array(entries);
    this.syndrome = new Uint8Array(entries);
    this.opcode = new Uint8Array(entries);
    this.bytes = new Float64Array(entries);
    this.context = new Float64Array(entries);
    this.endpoint = new Float64Array(entries);
  }

  /** Entry `at` := entry `from` of `source`. */
  copyEntry(at: number, source: CompletionColumns, from: number): void {
    this.status[at] = source.status[from]!;
    this.syndrome[at] = source.syndrome[from]!;
    this.opcode[at] = source.opcode[from]!;
    this.bytes[at] = source.bytes[from]!;
    this.context[at] = source.context[from]!;
    this.endpoint[at] = source.endpoint[from]!;
  }
}

export class CompletionQueue {
  private readonly ring: CompletionColumns;
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
    this.ring = new CompletionColumns(depth);
  }

  /** Write one entry; false (and `overrun`) when the ring is full. */
  push(status: number, syndrome: number, opcode: number, bytes: number, context: number, endpoint: number): boolean {
    if (this.count === this.depth) {
      this.overrun = true;
      return false;
    }
    const i = (this.head + this.count) % this.depth;
    const r = this.ring;
    r.status[i] = status;
    r.syndrome[i] = syndrome;
    r.opcode[i] = opcode;
    r.bytes[i] = bytes;
    r.context[i] = context;
    r.endpoint[i] = endpoint;
    this.count++;
    return true;
  }

  /** Take up to `into.capacity` entries into `into`, oldest first (no object per entry). */
  pollInto(into: CompletionBatch): number {
    const n = Math.min(into.capacity, this.count);
    for (let k = 0; k < n; k++) {
      into.copyEntry(k, this.ring, this.head);
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
    const r = this.ring;
    for (let k = 0; k < n; k++) {
      const i = this.head;
      out[k] = {
        status: r.status[i] as WcStatusCode,
        syndrome: r.syndrome[i] as SyndromeCode,
        opcode: r.opcode[i] as OpcodeCode,
        bytes: r.bytes[i]!,
        context: r.context[i]!,
        endpoint: r.endpoint[i]!,
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
export class CompletionBatch extends CompletionColumns {
  count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`CompletionBatch: capacity ${String(capacity)} must be an integer >= 1`);
    super(capacity);
  }
}
