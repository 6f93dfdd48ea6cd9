/**
 * The SAN fabric: native SAN addresses and reliable, in-order delivery between NICs of
 * several hosts in one Node process.
 *
 * Implementation notes
 * - Everything a NIC does after a post (executing work requests, delivering packets,
 *   acknowledgements, connection messages) is a task on ONE FIFO queue. Posting returns at
 *   once; completions appear when the queue runs. One FIFO gives in-order delivery and
 *   deterministic runs: the same calls always produce the same completions in the same order.
 * - Tests drive it with `runUntilIdle()`. `autoDrive = true` drains it from setImmediate in
 *   slices (never timers), and `await quiesce()` waits for idle in either mode.
 * - A task that throws is a model bug: `runUntilIdle` rethrows it; in auto-drive mode it
 *   stops the fabric and rejects every `quiesce()`.
 */
import type { SanNic } from './san-nic.ts';
import { NicConfigurationError } from './status.ts';

export type FabricTask = () => void;

const SLICE = 4096;

export class Fabric {
  private readonly nics = new Map<number, SanNic>();
  private queue: FabricTask[] = [];
  private head = 0;
  private nextAddress = 0x10;
  private auto = false;
  private driveScheduled = false;
  private running = false;
  private failure: { error: unknown } | null = null;
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  /** Tasks run since creation (for benchmarks and tests). */
  tasksRun = 0;

  constructor(readonly name = 'san0') {}

  /** Plug `nic` into the fabric; returns its SAN address (given or the next free one). */
  attach(nic: SanNic, sanAddress?: number): number {
    if (nic.fabric !== null) throw new NicConfigurationError(`${nic.name} is already attached to a fabric`);
    let address = sanAddress;
    if (address === undefined) {
      while (this.nics.has(this.nextAddress)) this.nextAddress++;
      address = this.nextAddress++;
    }
    if (!Number.isSafeInteger(address) || address <= 0) {
      throw new NicConfigurationError(`SAN address must be a positive integer, got ${String(address)}`);
    }
    if (this.nics.has(address)) throw new NicConfigurationError(`SAN address ${address} is already in use on ${this.name}`);
    this.nics.set(address, nic);
    nic.attached(this, address);
    return address;
  }

  nicAt(address: number): SanNic | null {
    return this.nics.get(address) ?? null;
  }

  /** Address resolution: the SAN address of the NIC that answers for `ipv4`, or 0. */
  resolveIp(ipv4: number): number {
    for (const [address, nic] of this.nics) if (nic.ipAddresses.includes(ipv4)) return address;
    return 0;
  }

  get pending(): number {
    return this.queue.length - this.head;
  }

  enqueue(task: FabricTask): void {
    this.queue.push(task);
    if (this.auto && !this.driveScheduled && this.failure === null) {
      this.driveScheduled = true;
      setImmediate(this.drive);
    }
  }

  /** Run queued tasks (and those they queue) until none is left or `limit` ran. */
  runUntilIdle(limit = Number.POSITIVE_INFINITY): number {
    if (this.running) throw new Error(`Fabric ${this.name}: runUntilIdle called from inside a fabric task`);
    if (this.failure !== null) throw this.failure.error;
    this.running = true;
    let n = 0;
    try {
      while (this.head < this.queue.length && n < limit) {
        const task = this.queue[this.head]!;
        this.queue[this.head] = undefined as unknown as FabricTask;
        this.head++;
        n++;
        this.tasksRun++;
        task();
      }
    } finally {
      this.running = false;
      this.compact();
    }
    return n;
  }

  get autoDrive(): boolean {
    return this.auto;
  }

  set autoDrive(on: boolean) {
    this.auto = on;
    if (on && this.pending > 0 && !this.driveScheduled) {
      this.driveScheduled = true;
      setImmediate(this.drive);
    }
  }

  /** Resolve when the queue is empty (running it at once when not auto-driven). */
  quiesce(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure.error);
    if (!this.auto) {
      try {
        this.runUntilIdle();
      } catch (e) {
        return Promise.reject(e);
      }
      return Promise.resolve();
    }
    if (this.pending === 0 && !this.running) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private readonly drive = (): void => {
    this.driveScheduled = false;
    if (this.running || this.failure !== null) return;
    try {
      this.runUntilIdle(SLICE);
    } catch (error) {
      this.failure = { error };
      for (const w of this.waiters.splice(0)) w.reject(error);
      return;
    }
    if (this.pending > 0) {
      if (this.auto) {
        this.driveScheduled = true;
        setImmediate(this.drive);
      }
      return;
    }
    for (const w of this.waiters.splice(0)) w.resolve();
  };

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
