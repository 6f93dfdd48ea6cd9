/**
 * The machine's scheduler: ONE per cluster. It owns the run queue every NIC's work goes
 * through, the virtual clock and its timers, and the waits of emulated threads (application
 * calls blocked until something happens). Nothing else runs the machine: the switch and the
 * provider only block on conditions (`ThreadWaits`); tests, tools and benchmarks that own a
 * cluster may drive it by hand.
 *
 * Implementation notes
 * - Work is tasks on ONE FIFO queue: the same calls always give the same tasks in the same
 *   order, so every run is deterministic. A task that throws is a model bug. Run by hand,
 *   `runUntilIdle` rethrows it (the caller decides; a host that bug-checked inside a task
 *   does not stop the other hosts' teardown). Run for a blocked thread, every blocked thread
 *   is rejected with it. Auto-driven, the scheduler stops: `runUntilIdle` rethrows it from
 *   then on, and every waiter and every `quiesce()` is rejected with it.
 * - Time is virtual, in nanoseconds (`now`). Tasks take no time; timers (`after`) fire when
 *   the clock reaches them, in (time, order of arming). The clock moves only when it is told
 *   (`advance`) or, when auto-driven, when the machine is idle: no task queued and a turn of
 *   the event loop passed with nothing new, at which point it jumps to the next timer (idle
 *   time costs nothing). So a timeout is a number of virtual nanoseconds, never wall time,
 *   and a test that advances the clock by hand sees exactly the same run every time.
 * - Who runs the queue (the drive policy, all of it here):
 *   · by hand: `runUntilIdle()` (tasks and due timers) and `advance(ns)`;
 *   · `autoDrive` on: whenever tasks are queued, from the event loop (setImmediate slices),
 *     as a device runs while the CPU does other work;
 *   · a blocked thread (`block`) lets the machine run in either mode: an application waiting
 *     on the hardware sleeps while the hardware works. Such a drive runs at once, inside
 *     `block` (the thread is off the CPU from then on: nothing of its code runs until it is
 *     resumed), or from a microtask when work comes in while threads are already blocked —
 *     no event-loop turn either way; every MICROTASK_DRIVES-th one goes through setImmediate
 *     so that timers, I/O and other event-loop work are never starved.
 *   With autoDrive off and nobody blocked, nothing runs until the owner says so: that is what
 *   lets a test stop the machine between any two tasks (`runUntilIdle(limit)`).
 * - Blocked threads are conditions. After every drive, and after `wake()` (state changed
 *   outside a task: a socket closed, a process exited), every blocked condition is checked and
 *   the true ones resume. A condition must be a pure test of state; the code that resumes
 *   must check again before it acts (another thread may have run in between).
 * - Link delays and retransmission timers are `after(ns, …)` on this clock; packets on a link
 *   are tasks.
 * - Real time (`followRealTime`): a host in a process of its own talks to other processes
 *   over real UDP (udp-link.ts), where a peer's answer takes real time and an idle jump of the
 *   clock would fire every retransmit timer at once. The clock then follows a real clock
 *   source (process.hrtime: monotonic), the machine is auto-driven, and an idle machine with
 *   timers armed waits for the earliest on ONE event-loop timer (setTimeout) instead of
 *   jumping; a datagram that arrives is a task like any other. Timers still fire in (time,
 *   order of arming), tasks still run FIFO: only the moves of the clock come from outside.
 *   `advance` is refused then (time is not the owner's to move). The in-process default is
 *   untouched: no real clock is read unless a real-time source is set.
 */
import { NicConfigurationError } from './status.ts';

export type Task = () => void;

/** Nanoseconds per millisecond (virtual time is counted in nanoseconds). */
export const NS_PER_MS = 1_000_000;

/**
 * What user-mode code gets of the scheduler: the clock, blocking and waking. It cannot run
 * the machine (no runUntilIdle, no advance): the provider and the switch hold only this.
 */
export interface ThreadWaits {
  /** Virtual time now, in nanoseconds. */
  readonly now: number;
  /** True when no task is queued: everything in flight has been delivered. */
  readonly idle: boolean;
  /**
   * Resolve once `done()` holds (at once when it already does). Checked after every run of
   * the machine and after `wake()`; rejected when the machine stops on a model bug.
   */
  block(done: () => boolean): Promise<void>;
  /** Something a blocked condition may test changed outside a task: check them again. */
  wake(): void;
  /** Run `task` once the clock reaches now + `delayNs` (a user-mode wait with a timeout). */
  after(delayNs: number, task: Task): number;
  /** Disarm a timer; false when it already fired or was never armed. */
  cancel(timer: number): boolean;
}

/** Tasks one event-loop drive runs before it yields to the event loop. */
const SLICE = 4096;
/** Consecutive microtask drives before one goes through setImmediate. */
const MICROTASK_DRIVES = 64;

interface Timer {
  time: number;
  seq: number;
  id: number;
  task: Task;
}

interface Waiter {
  done: () => boolean;
  resolve: () => void;
  reject: (e: unknown) => void;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** First size of the run queue's ring (a power of two). */
const RING_START = 256;

function noop(): void {}

export class Scheduler implements ThreadWaits {
  /** The run queue: a ring of tasks (its length a power of two, doubled when full, never
   *  shrunk), so queueing a task allocates nothing once the machine has run a while. Free
   *  slots hold `noop`, never a finished task. */
  private ring: Task[] = new Array<Task>(RING_START).fill(noop);
  private head = 0;
  private count = 0;
  private clock = 0;
  /** Binary heap of armed timers by (time, seq); cancelled ones leave `live` at once and the
   *  heap when they reach its top. */
  private readonly heap: Timer[] = [];
  private readonly live = new Map<number, Timer>();
  private nextTimer = 1;
  private running = false;
  private auto = false;
  private failure: { error: unknown } | null = null;
  private waiters: Waiter[] = [];
  private idleWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  /** A drive is queued (on a microtask or on setImmediate). */
  private driveQueued = false;
  private checkQueued = false;
  private idleProbeQueued = false;
  private microDrives = 0;
  /** Real-time mode (see the file comment): the clock source, and the one event-loop timer. */
  private realClock: (() => number) | null = null;
  private wakeTimer: ReturnType<typeof setTimeout> | null = null;
  private wakeAt = 0;
  /** Tasks run since creation (progress detection, benchmarks). */
  tasksRun = 0;
  /**
   * The scheduler as user-mode code gets it: only the ThreadWaits members, on an object of
   * their own, so holding it gives no way to run the machine.
   */
  readonly waits: ThreadWaits;

  constructor(readonly name = 'scheduler') {
    const self = this;
    this.waits = Object.freeze({
      get now() {
        return self.now;
      },
      get idle() {
        return self.idle;
      },
      block: (done: () => boolean) => self.block(done),
      wake: () => self.wake(),
      after: (delayNs: number, task: Task) => self.after(delayNs, task),
      cancel: (timer: number) => self.cancel(timer),
    });
  }

  // ───────────────────────────── time ─────────────────────────────

  get now(): number {
    if (this.realClock !== null) this.syncClock();
    return this.clock;
  }

  /**
   * Follow `source` (nanoseconds, monotonic; e.g. process.hrtime) from now on, auto-driven:
   * see the file comment. The clock never goes back: it continues from where it is.
   */
  followRealTime(source: () => number): void {
    if (typeof source !== 'function') throw new NicConfigurationError(`Scheduler ${this.name}: a real-time source is a function`);
    const start = source();
    if (!Number.isFinite(start)) throw new NicConfigurationError(`Scheduler ${this.name}: the real-time source gave ${String(start)}`);
    const base = this.clock;
    this.realClock = () => base + (source() - start);
    this.auto = true;
    this.kick();
  }

  /** Stop following real time: the event-loop timer is cleared, the clock stays where it is. */
  stopRealTime(): void {
    this.realClock = null;
    this.clearWakeTimer();
  }

  get realTime(): boolean {
    return this.realClock !== null;
  }

  /** Whether an event-loop timer is armed for the next timer (real time; diagnostics, tests). */
  get wakeTimerArmed(): boolean {
    return this.wakeTimer !== null;
  }

  /** Armed timers (not yet fired or cancelled). */
  get timersArmed(): number {
    return this.live.size;
  }

  after(delayNs: number, task: Task): number {
    if (!Number.isSafeInteger(delayNs) || delayNs < 0) {
      throw new NicConfigurationError(`Scheduler ${this.name}: a timer delay is an integer >= 0 ns, got ${String(delayNs)}`);
    }
    if (typeof task !== 'function') throw new NicConfigurationError(`Scheduler ${this.name}: a timer needs a task`);
    const t: Timer = { time: this.now + delayNs, seq: this.nextTimer, id: this.nextTimer, task };
    this.nextTimer++;
    this.live.set(t.id, t);
    this.heapPush(t);
    this.kick();
    return t.id;
  }

  cancel(timer: number): boolean {
    if (!this.live.delete(timer)) return false;
    // A cancelled timer stays in the heap until it reaches the top, and the clock may not move
    // for a long time (a lossless link's traffic takes no virtual time while every message
    // arms and cancels its retransmit timer): rebuild the heap once it is mostly dead.
    if (this.heap.length > 64 && this.heap.length > 4 * this.live.size) {
      const kept = this.heap.filter((t) => this.live.has(t.id));
      this.heap.length = 0;
      for (const t of kept) this.heapPush(t);
    }
    return true;
  }

  /**
   * Move the clock forward by `ns`, running every task and every timer due on the way in
   * order (manual driving: tests and tools). Returns the tasks run.
   */
  advance(ns: number): number {
    if (!Number.isSafeInteger(ns) || ns < 0) {
      throw new NicConfigurationError(`Scheduler ${this.name}: advance takes an integer >= 0 ns, got ${String(ns)}`);
    }
    if (this.realClock !== null) throw new NicConfigurationError(`Scheduler ${this.name}: the clock follows real time; it cannot be advanced`);
    const target = this.clock + ns;
    let n = this.runUntilIdle();
    for (let next = this.nextTimerTime(); next !== null && next <= target; next = this.nextTimerTime()) {
      this.clock = next;
      n += this.runUntilIdle();
    }
    this.clock = target;
    return n + this.runUntilIdle();
  }

  // ───────────────────────────── tasks ─────────────────────────────

  get pending(): number {
    return this.count;
  }

  get idle(): boolean {
    return this.pending === 0;
  }

  enqueue(task: Task): void {
    this.push(task);
    // (Inside a task the running loop takes it: no policy to consult.)
    if (!this.driveQueued && !this.running) this.kick();
  }

  /**
   * Run queued tasks, the tasks they queue and the timers already due, until none is left or
   * `limit` ran; then let blocked threads whose condition now holds resume. Never moves the
   * clock. Not from inside a task.
   */
  runUntilIdle(limit = Number.POSITIVE_INFINITY): number {
    const n = this.runTasks(limit);
    this.checkWaiters();
    this.kick();
    return n;
  }

  get autoDrive(): boolean {
    return this.auto;
  }

  set autoDrive(on: boolean) {
    this.auto = on === true;
    this.kick();
  }

  /**
   * Resolve when no task is queued. Not auto-driven: runs the queue at once (the caller drives).
   * Future timers are not waited for.
   */
  quiesce(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure.error);
    if (!this.auto) {
      try {
        this.runUntilIdle();
      } catch (e) {
        return Promise.reject(e);
      }
      return RESOLVED;
    }
    if (this.pending === 0 && !this.running) return RESOLVED;
    return new Promise((resolve, reject) => {
      this.idleWaiters.push({ resolve, reject });
      this.kick();
    });
  }

  // ───────────────────────────── blocked threads ─────────────────────────────

  block(done: () => boolean): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure.error);
    if (done()) return RESOLVED;
    return new Promise((resolve, reject) => {
      this.waiters.push({ done, resolve, reject });
      // The thread sleeps while the hardware works: with work queued, run it now (no event-loop
      // hop), every MICROTASK_DRIVES-th time through the event loop instead (see kick).
      if (!this.driveQueued && !this.running && this.pending > 0 && this.failure === null && ++this.microDrives < MICROTASK_DRIVES) {
        this.drive();
      } else this.kick();
    });
  }

  wake(): void {
    // Inside a task: every run ends by checking the blocked conditions anyway.
    if (this.running || this.checkQueued || this.waiters.length === 0) return;
    this.checkQueued = true;
    queueMicrotask(this.check);
  }

  /** Threads blocked now (diagnostics). */
  get blocked(): number {
    return this.waiters.length;
  }

  // ───────────────────────────── internals ─────────────────────────────

  private runTasks(limit: number): number {
    if (this.running) throw new Error(`Scheduler ${this.name}: the machine was run from inside one of its own tasks`);
    if (this.failure !== null) throw this.failure.error;
    this.running = true;
    let n = 0;
    try {
      while (n < limit) {
        if (this.count === 0 && !this.releaseDueTimers()) break;
        const ring = this.ring;
        const task = ring[this.head]!;
        ring[this.head] = noop;
        this.head = (this.head + 1) & (ring.length - 1);
        this.count--;
        n++;
        this.tasksRun++;
        task();
      }
    } finally {
      this.running = false;
    }
    return n;
  }

  /** Move the timers due now into the queue, in order; false when none is due. */
  private releaseDueTimers(): boolean {
    if (this.realClock !== null) this.syncClock();
    let released = false;
    for (let t = this.heap[0]; t !== undefined && t.time <= this.clock; t = this.heap[0]) {
      this.heapPop();
      if (!this.live.delete(t.id)) continue; // cancelled
      this.push(t.task);
      released = true;
    }
    return released;
  }

  private nextTimerTime(): number | null {
    while (this.heap.length > 0 && !this.live.has(this.heap[0]!.id)) this.heapPop();
    return this.heap.length > 0 ? this.heap[0]!.time : null;
  }

  private stop(error: unknown): void {
    if (this.failure !== null) return;
    this.failure = { error };
    this.clearWakeTimer();
    for (const w of this.waiters.splice(0)) w.reject(error);
    for (const w of this.idleWaiters.splice(0)) w.reject(error);
  }

  private checkWaiters(): void {
    if (this.waiters.length === 0) return;
    let kept = 0;
    const list = this.waiters;
    for (let i = 0; i < list.length; i++) {
      const w = list[i]!;
      let done: boolean;
      try {
        done = w.done();
      } catch (e) {
        w.reject(e);
        continue;
      }
      if (done) w.resolve();
      else list[kept++] = w;
    }
    list.length = kept;
  }

  private readonly check = (): void => {
    this.checkQueued = false;
    if (this.failure !== null) return;
    this.checkWaiters();
    this.kick();
  };

  /** Queue a drive when the policy says the machine should run now. */
  private kick(): void {
    if (this.driveQueued || this.running || this.failure !== null) return;
    if (this.realClock !== null) this.syncClock();
    const work = this.pending > 0 || (this.heap.length > 0 && this.heap[0]!.time <= this.clock && this.live.size > 0);
    if (!work) {
      this.maybeIdleProbe();
      return;
    }
    const blocked = this.waiters.length > 0;
    if (!this.auto && !blocked) return;
    this.driveQueued = true;
    if (blocked && ++this.microDrives < MICROTASK_DRIVES) queueMicrotask(this.drive);
    else {
      this.microDrives = 0;
      setImmediate(this.drive);
    }
  }

  private readonly drive = (): void => {
    this.driveQueued = false;
    if (this.running || this.failure !== null) return;
    try {
      this.runTasks(SLICE);
    } catch (error) {
      if (this.auto) this.stop(error);
      else for (const w of this.waiters.splice(0)) w.reject(error);
      return;
    }
    this.checkWaiters();
    if (this.pending === 0) for (const w of this.idleWaiters.splice(0)) w.resolve();
    this.kick();
  };

  /**
   * Auto-driven and idle with timers armed: after a turn of the event loop with nothing new
   * (every microtask done, no task queued), jump the clock to the next timer.
   */
  private maybeIdleProbe(): void {
    if (this.realClock !== null) {
      this.armWakeTimer();
      return;
    }
    if (!this.auto || this.idleProbeQueued || this.live.size === 0) return;
    this.idleProbeQueued = true;
    setImmediate(this.idleProbe);
  }

  private readonly idleProbe = (): void => {
    this.idleProbeQueued = false;
    if (!this.auto || this.running || this.failure !== null || this.pending > 0 || this.driveQueued) return;
    const next = this.nextTimerTime();
    if (next === null) return;
    if (next > this.clock) this.clock = next;
    this.kick();
  };

  private syncClock(): void {
    const t = Math.floor(this.realClock!());
    if (t > this.clock) this.clock = t;
  }

  /** Real time, idle: one event-loop timer for the earliest armed timer (re-armed when an earlier one comes). */
  private armWakeTimer(): void {
    const next = this.nextTimerTime();
    if (next === null) {
      this.clearWakeTimer();
      return;
    }
    if (this.wakeTimer !== null && this.wakeAt <= next) return;
    this.clearWakeTimer();
    this.wakeAt = next;
    // setTimeout counts whole milliseconds and may fire a little early: the wake re-checks.
    this.wakeTimer = setTimeout(this.onWakeTimer, Math.max(0, Math.ceil((next - this.clock) / NS_PER_MS)));
  }

  private clearWakeTimer(): void {
    if (this.wakeTimer === null) return;
    clearTimeout(this.wakeTimer);
    this.wakeTimer = null;
  }

  private readonly onWakeTimer = (): void => {
    this.wakeTimer = null;
    if (this.realClock === null || this.failure !== null) return;
    this.kick();
  };

  /** Append a task to the ring, doubling it (oldest first at 0) when it is full. */
  private push(task: Task): void {
    let ring = this.ring;
    if (this.count === ring.length) {
      const next = new Array<Task>(2 * ring.length).fill(noop);
      for (let i = 0; i < this.count; i++) next[i] = ring[(this.head + i) & (ring.length - 1)]!;
      this.ring = ring = next;
      this.head = 0;
    }
    ring[(this.head + this.count) & (ring.length - 1)] = task;
    this.count++;
  }

  private heapPush(t: Timer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private heapPop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && earlier(h[l]!, h[m]!)) m = l;
      if (r < h.length && earlier(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

const earlier = (a: Timer, b: Timer): boolean => a.time < b.time || (a.time === b.time && a.seq < b.seq);
