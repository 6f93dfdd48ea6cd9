import { describe, expect, it } from 'vitest';
import { NS_PER_MS, Scheduler } from './scheduler.ts';

/** One turn of the event loop: every continuation that can run has run (ordering, not time). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Scheduler', () => {
  it('runs tasks in FIFO order, the tasks they queue after them, and never moves the clock in runUntilIdle', () => {
    const s = new Scheduler();
    const order: string[] = [];
    s.enqueue(() => {
      order.push('a');
      s.enqueue(() => order.push('c'));
    });
    s.enqueue(() => order.push('b'));
    expect(s.runUntilIdle()).toBe(3);
    expect(order).toEqual(['a', 'b', 'c']);
    expect(s.now).toBe(0);
    expect(s.pending).toBe(0);
  });

  it('keeps FIFO order across the run queue\'s growth and wrap-around (thousands queued, some from inside tasks, some by a limited run)', () => {
    const s = new Scheduler();
    const order: number[] = [];
    let next = 0;
    const task = (id: number) => () => {
      order.push(id);
      // Every third task queues one more behind everything already queued.
      if (id % 3 === 0 && next < 5000) {
        const more = next++;
        s.enqueue(task(more));
      }
    };
    for (let i = 0; i < 300; i++) s.enqueue(task(next++));
    expect(s.runUntilIdle(250)).toBe(250); // stop with the ring partly drained, then wrap
    for (let i = 0; i < 700; i++) s.enqueue(task(next++));
    expect(s.pending).toBe(next - 250);
    s.runUntilIdle();
    expect(s.pending).toBe(0);
    expect(order).toEqual(Array.from({ length: next }, (_, i) => i));
  });

  it('timers fire when the clock reaches them, in (time, arming) order; advance moves the clock exactly; cancel disarms', () => {
    const s = new Scheduler();
    const fired: string[] = [];
    s.after(3 * NS_PER_MS, () => fired.push('3ms'));
    const dropped = s.after(2 * NS_PER_MS, () => fired.push('2ms cancelled'));
    s.after(2 * NS_PER_MS, () => fired.push('2ms'));
    s.after(2 * NS_PER_MS, () => {
      fired.push('2ms later');
      s.enqueue(() => fired.push('queued by a timer'));
    });
    expect(s.cancel(dropped)).toBe(true);
    expect(s.cancel(dropped)).toBe(false);
    s.runUntilIdle();
    expect(fired).toEqual([]);
    s.advance(2 * NS_PER_MS - 1);
    expect(fired).toEqual([]);
    s.advance(1);
    expect(fired).toEqual(['2ms', '2ms later', 'queued by a timer']);
    expect(s.now).toBe(2 * NS_PER_MS);
    s.advance(NS_PER_MS);
    expect(fired.at(-1)).toBe('3ms');
    expect(s.timersArmed).toBe(0);
    expect(() => s.after(-1, () => {})).toThrow(/>= 0 ns/);
  });

  it('not auto-driven, nothing runs until a thread blocks on the machine or the owner drives it', async () => {
    const s = new Scheduler();
    let ran = 0;
    s.enqueue(() => ran++);
    await turn();
    expect(ran).toBe(0);
    // A blocked thread lets the machine run, and resumes once its condition holds.
    await s.block(() => ran === 1);
    expect(ran).toBe(1);
    expect(s.blocked).toBe(0);
  });

  it('a blocked condition is checked again after every run and after wake()', async () => {
    const s = new Scheduler();
    let flag = false;
    let resumed = false;
    const waiting = s.block(() => flag).then(() => (resumed = true));
    await turn();
    expect(resumed).toBe(false);
    flag = true;
    await turn();
    expect(resumed).toBe(false); // nobody said anything changed
    s.wake();
    await waiting;
    expect(resumed).toBe(true);
  });

  it('auto-driven and idle, the clock jumps to the next timer (idle time costs nothing)', async () => {
    const s = new Scheduler();
    s.autoDrive = true;
    let fired = false;
    s.after(20_000 * NS_PER_MS, () => (fired = true));
    await s.block(() => fired);
    expect(s.now).toBe(20_000 * NS_PER_MS);
  });

  it('by hand, not auto-driven, the clock never jumps: a timer waits for advance()', async () => {
    const s = new Scheduler();
    let fired = false;
    s.after(NS_PER_MS, () => (fired = true));
    const waiting = s.block(() => fired);
    await turn();
    await turn();
    expect(fired).toBe(false);
    s.advance(NS_PER_MS);
    await waiting;
    expect(s.now).toBe(NS_PER_MS);
  });

  it('a task that throws is a model bug: by hand it is rethrown and the machine goes on; auto-driven it stops and rejects the waiters', async () => {
    const manual = new Scheduler();
    let after = 0;
    manual.enqueue(() => {
      throw new Error('boom');
    });
    manual.enqueue(() => after++);
    expect(() => manual.runUntilIdle()).toThrow('boom');
    manual.runUntilIdle();
    expect(after).toBe(1);

    const auto = new Scheduler();
    auto.autoDrive = true;
    auto.enqueue(() => {
      throw new Error('bang');
    });
    await expect(auto.block(() => false)).rejects.toThrow('bang');
    await expect(auto.quiesce()).rejects.toThrow('bang');
    expect(() => auto.runUntilIdle()).toThrow('bang');
  });

  it('running the machine from inside one of its own tasks is refused', () => {
    const s = new Scheduler();
    s.enqueue(() => s.runUntilIdle());
    expect(() => s.runUntilIdle()).toThrow(/inside one of its own tasks/);
  });
  it('following real time: the clock moves only with the source, an idle machine waits for its next timer instead of jumping, advance is refused', async () => {
    const s = new Scheduler();
    let source = 1_000; // a source the test moves: what the clock follows, no real clock read
    s.followRealTime(() => source);
    expect(s.realTime).toBe(true);
    expect(s.autoDrive).toBe(true);
    let fired = false;
    s.after(2 * NS_PER_MS, () => (fired = true));
    await turn();
    await turn();
    expect(fired).toBe(false); // idle with a timer armed: no jump (the auto-driven default would fire it)
    expect(s.now).toBe(0);
    expect(s.wakeTimerArmed).toBe(true);
    expect(() => s.advance(1)).toThrow(/real time/);
    source += 2 * NS_PER_MS;
    expect(s.now).toBe(2 * NS_PER_MS);
    await s.block(() => fired);
    expect(s.timersArmed).toBe(0);
    expect(s.wakeTimerArmed).toBe(false);
    s.after(NS_PER_MS, () => {});
    expect(s.wakeTimerArmed).toBe(true);
    s.stopRealTime();
    expect(s.wakeTimerArmed).toBe(false);
    expect(s.realTime).toBe(false);
    expect(() => s.followRealTime(() => Number.NaN)).toThrow(/real-time source/);
  });
});
