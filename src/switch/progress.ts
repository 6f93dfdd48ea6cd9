/**
 * Progress for blocking socket calls. An application thread blocked in recv() sleeps until
 * the hardware or another thread changes something; here every switch on a fabric shares one
 * Waker, and a blocked call runs: poll its provider → run the fabric if it has work → sleep
 * on the waker. Whoever posts work or sees completions wakes the others, so two processes
 * (two switches) in one Node process advance each other without timers or busy spinning.
 */
import type { Fabric } from '../nic/index.ts';

export class Waker {
  private waiters: (() => void)[] = [];
  /** Times a waiter was woken (diagnostics). */
  wakes = 0;
  /**
   * Listening sockets of every switch on the fabric: each takes the connection requests
   * pending on its port into its backlog (the handshake completes before accept(), as TCP's).
   */
  readonly listeners = new Set<() => void>();

  /** Run every listener's backlog intake (after a connection request reached a NIC). */
  acceptPending(): void {
    for (const l of [...this.listeners]) l();
  }

  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  wake(): void {
    if (this.waiters.length === 0) return;
    const w = this.waiters;
    this.waiters = [];
    this.wakes += w.length;
    for (const resolve of w) resolve();
  }
}

const wakers = new WeakMap<Fabric, Waker>();

/** The waker shared by every switch on `fabric`. */
export function wakerOf(fabric: Fabric): Waker {
  let w = wakers.get(fabric);
  if (w === undefined) {
    w = new Waker();
    wakers.set(fabric, w);
  }
  return w;
}

/** Yields between turns of the event loop (see yieldTurn). */
const MICROTASK_YIELDS = 64;
let yieldsSinceMacrotask = 0;

/**
 * Let other promise chains (the peer's switch) run once. The peer woken by `wake()` is already
 * queued as a microtask, so a microtask yield gives it its turn at a fraction of the cost of an
 * event-loop turn; every MICROTASK_YIELDS-th yield goes through setImmediate so that timers,
 * I/O and an auto-driven fabric are never starved.
 */
export const yieldTurn = (): Promise<void> => {
  if (++yieldsSinceMacrotask < MICROTASK_YIELDS) return Promise.resolve();
  yieldsSinceMacrotask = 0;
  return new Promise((resolve) => setImmediate(resolve));
};

/**
 * Wait until `done()` holds. `pump()` polls the caller's provider and returns true when it
 * changed anything. The fabric runs here when it is not auto-driven.
 */
export async function waitUntil(fabric: Fabric, waker: Waker, pump: () => boolean, done: () => boolean): Promise<void> {
  for (;;) {
    if (done()) return;
    const moved = pump();
    if (done()) {
      if (moved) waker.wake();
      return;
    }
    if (fabric.pending > 0) {
      // Not auto-driven: the hardware's work runs right here, with no promise hop.
      if (fabric.autoDrive) await fabric.quiesce();
      else fabric.runUntilIdle();
      waker.wake();
      continue;
    }
    if (moved) {
      waker.wake();
      await yieldTurn();
      continue;
    }
    await waker.wait();
  }
}
