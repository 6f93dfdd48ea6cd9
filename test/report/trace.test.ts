import { mkdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { traceSpan } from '../../src/bus/trace.ts';
import {
  NIC_REGISTRATIONS_DEFINITION, REGISTRATION_COUNTER_NAME, Tracer, writeTrace, type ChromeTrace, type ChromeTraceEvent,
} from '../../src/report/index.ts';
import { syntheticRun } from './fixture.ts';

function load(path: string): ChromeTrace {
  return JSON.parse(readFileSync(path, 'utf8')) as ChromeTrace;
}

describe('trace: Chrome trace-event JSON checked against the run', () => {
  const s = syntheticRun();
  mkdirSync('test-artifacts', { recursive: true });
  const path = 'test-artifacts/trace.json';
  const written = writeTrace(path, s.tracer);
  const trace = load(path);
  const ev = trace.traceEvents;
  const pidOf = (host: string) =>
    ev.find((e) => e.ph === 'M' && e.name === 'process_name' && String(e.args?.['name']).startsWith(`host ${host} `))!.pid;

  it('the file parses and holds every event writeTrace counted', () => {
    expect(ev.length).toBe(written);
    expect(trace.displayTimeUnit).toBe('ms');
  });

  it('IOCTL spans per host = IOCTLs the proxy dispatched on that host, named by control code', () => {
    for (const host of ['a', 'b']) {
      const spans = ev.filter((e) => e.cat === 'ioctl' && e.ph === 'X' && e.pid === pidOf(host));
      expect(spans.length).toBe(s.ioctls.get(host));
      expect(spans.length).toBeGreaterThanOrEqual(3);
      for (const e of spans) {
        expect(e.name).toMatch(/^IOCTL_SANPROXY_/);
        expect(e.dur).toBeGreaterThan(0);
        expect(e.args?.['status']).toMatch(/^0x[0-9A-F]{8}$/);
      }
    }
    const a = ev.filter((e) => e.cat === 'ioctl' && e.pid === pidOf('a')).map((e) => e.name);
    expect(a).toContain('IOCTL_SANPROXY_ALLOCATE_MEMORY');
    expect(a).toContain('IOCTL_SANPROXY_RELEASE_MEMORY');
  });

  it('IOCTL spans sit on the calling process thread, which is named after it', () => {
    const tid = ev.find((e) => e.cat === 'ioctl' && e.pid === pidOf('a'))!.tid;
    const name = ev.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.pid === pidOf('a') && e.tid === tid);
    expect(name?.args?.['name']).toMatch(/^client\.exe \(pid \d+\)$/);
  });

  it('RDMA operations: one async span per post, each closed by its completion', () => {
    for (const host of ['a', 'b']) {
      const begins = ev.filter((e) => e.cat === 'rdma' && e.ph === 'b' && e.pid === pidOf(host));
      expect(begins.length).toBe(s.rdmaPosted.get(host));
      for (const b of begins) {
        const e = ev.find((x) => x.ph === 'e' && x.id === b.id && x.cat === 'rdma')!;
        expect(e.ts).toBeGreaterThan(b.ts);
        expect(e.args?.['completion']).toBe('SUCCESS');
      }
    }
    expect(ev.filter((e) => e.cat === 'rdma' && e.ph === 'b').map((e) => e.name).sort()).toEqual(['RDMA read', 'RDMA write']);
  });

  it('registrations: one span per NIC registration, ended at deregistration (teardown released all)', () => {
    for (const host of ['a', 'b']) {
      const begins = ev.filter((e) => e.cat === 'registration' && e.ph === 'b' && e.pid === pidOf(host));
      expect(begins.length).toBe(s.registrations.get(host));
      for (const b of begins) {
        const e = ev.find((x) => x.ph === 'e' && x.id === b.id)!;
        expect(e.args?.['unfinished']).toBeUndefined();
      }
    }
    expect(s.tracer.registrationIntervals().every((r) => r.end !== null)).toBe(true);
  });

  it('free-memory counters per host, below and above 4 GiB, end on the host\'s true free memory', () => {
    const mib = (pages: number) => (pages * 4096) / 2 ** 20;
    for (const [i, host] of ['a', 'b'].entries()) {
      const c = ev.filter((e) => e.ph === 'C' && e.name === 'free memory (MiB)' && e.pid === pidOf(host));
      expect(c.length).toBeGreaterThan(2);
      const first = c[0]!.args!;
      const last = c[c.length - 1]!.args!;
      expect(Object.keys(first).sort()).toEqual(['above 4 GiB', 'below 4 GiB']);
      const after = s.snapshots.after[i]!.counters;
      const boot = s.snapshots.boot[i]!.counters;
      expect(last).toEqual({ 'below 4 GiB': mib(after.freeLowPages), 'above 4 GiB': mib(after.freeHighPages) });
      // Teardown gave everything back: the same free memory as right after the proxy loaded, once
      // the pages that only lookaside-cached IRPs/MDLs hold (the lists', not a leak) count as free.
      const available = (m: typeof after) => [
        m.freeLowPages + m.lookasideReclaimableLowPages,
        m.freeHighPages + m.lookasideReclaimablePages - m.lookasideReclaimableLowPages,
      ];
      expect(available(after)).toEqual(available(boot));
      expect(c.some((e) => e.args!['below 4 GiB'] !== first['below 4 GiB'] || e.args!['above 4 GiB'] !== first['above 4 GiB'])).toBe(true);
    }
  });

  it('the proxy\'s registration counter track ends on the proxy\'s NIC registrations, which equal the registration spans', () => {
    for (const host of ['a', 'b']) {
      const c = ev.filter((e) => e.ph === 'C' && e.name === REGISTRATION_COUNTER_NAME && e.pid === pidOf(host));
      expect(c.length).toBeGreaterThan(0);
      expect(c[c.length - 1]!.args).toEqual({ registered: s.registrations.get(host), 'refused (expected)': 0 });
    }
    expect(trace.otherData['NIC registrations']).toBe('3');
    expect(trace.otherData['NIC registrations (definition)']).toBe(NIC_REGISTRATIONS_DEFINITION);
  });

  it('each NIC registration span names the IOCTL that made it', () => {
    const via = ev.filter((e) => e.cat === 'registration' && e.ph === 'b').map((e) => `${e.pid === pidOf('a') ? 'a' : 'b'} ${String(e.args?.['via'])}`).sort();
    expect(via).toEqual(['a IOCTL_SANPROXY_ALLOCATE_MEMORY', 'b IOCTL_SANPROXY_ALLOCATE_MEMORY', 'b IOCTL_SANPROXY_REGISTER_BUFFER']);
  });

  it('events are in time order and every async begin has exactly one end', () => {
    const timed = ev.filter((e) => e.ph !== 'M');
    for (let i = 1; i < timed.length; i++) expect(timed[i]!.ts).toBeGreaterThanOrEqual(timed[i - 1]!.ts);
    const ids = new Map<string, number>();
    for (const e of ev) if (e.ph === 'b' || e.ph === 'e') ids.set(e.id!, (ids.get(e.id!) ?? 0) + (e.ph === 'b' ? 1 : -1));
    expect([...ids.values()].every((v) => v === 0)).toBe(true);
  });
});

describe('Tracer and traceSpan', () => {
  it('traceSpan with no sink runs the function and emits nothing', () => {
    expect(traceSpan(null, 'h', 1, 'session', 'x', undefined, () => 41 + 1)).toBe(42);
  });

  it('traceSpan closes its span when the function throws (a bug check unwinds through it)', () => {
    const t = new Tracer();
    expect(() => traceSpan(t, 'h', 3, 'session', 'SESSION_REQUEST', { bytes: 10 }, () => { throw new Error('boom'); })).toThrow('boom');
    expect(t.openSpans).toBe(0);
    const x = t.toJSON().traceEvents.find((e: ChromeTraceEvent) => e.ph === 'X')!;
    expect(x.args).toMatchObject({ bytes: 10, thrown: true, error: 'boom' });
  });

  it('session-protocol spans nest on their thread and are counted per category', () => {
    const t = new Tracer();
    traceSpan(t, 'h', 3, 'session', 'outer', undefined, () => traceSpan(t, 'h', 3, 'session', 'inner', undefined, () => 0));
    t.instant('h', 3, 'session', 'credit update', { credits: 4 });
    expect(t.count('session')).toBe(3);
    const xs = t.toJSON().traceEvents.filter((e) => e.ph === 'X');
    const outer = xs.find((e) => e.name === 'outer')!;
    const inner = xs.find((e) => e.name === 'inner')!;
    expect(inner.ts).toBeGreaterThan(outer.ts);
    expect(inner.ts + inner.dur!).toBeLessThan(outer.ts + outer.dur!);
  });

  it('a span left open is written closed with unfinished: true', () => {
    const t = new Tracer();
    t.asyncBegin('h', 1, 'rdma', 'RDMA write');
    const e = t.toJSON().traceEvents.find((x) => x.ph === 'e')!;
    expect(e.args).toEqual({ unfinished: true });
  });

  it('bad calls throw a TypeError quoting the value, and change nothing', () => {
    const t = new Tracer();
    expect(() => t.end(99)).toThrow(TypeError);
    expect(() => t.begin('', 1, 'ioctl', 'x')).toThrow(/host/);
    expect(() => t.begin('h', -1, 'ioctl', 'x')).toThrow(/-1/);
    const tok = t.begin('h', 1, 'ioctl', 'x');
    expect(() => t.asyncEnd(tok)).toThrow(TypeError);
    expect(t.openSpans).toBe(1);
    t.end(tok);
    expect(() => writeTrace('', t)).toThrow(TypeError);
    expect(() => writeTrace('x.json', {} as Tracer)).toThrow(TypeError);
    expect(() => t.attach({} as never)).toThrow(TypeError);
  });
});

/**
 * The trace clock is microseconds, the format's unit. The tracer reads a clock it is given, so
 * these checks step a clock of their own: exact, and blind to how loaded the machine is.
 */
describe('trace time: ts and dur are microseconds of wall time', () => {
  const steppedClock = () => {
    let ms = 1000;
    return { now: () => ms, advance: (d: number) => { ms += d; } };
  };

  it('a span around 50 ms of clock has dur 50 000 µs (milliseconds written as µs would be 50)', () => {
    const c = steppedClock();
    const t = new Tracer(c.now);
    const token = t.begin('h', 1, 'session', 'wait');
    c.advance(50);
    t.end(token);
    const span = t.toJSON().traceEvents.find((e) => e.ph === 'X' && e.name === 'wait')!;
    // Within the 1 ns the tracer adds to keep timestamps strictly increasing.
    expect(span.dur!).toBeCloseTo(50_000, 2);
  });

  it('the whole trace spans the clock time between its first and last event', () => {
    const c = steppedClock();
    const t = new Tracer(c.now);
    t.instant('h', 1, 'session', 'first');
    for (let i = 0; i < 3; i++) {
      const tok = t.begin('h', 1, 'session', `step ${i}`);
      c.advance(20);
      t.end(tok);
    }
    c.advance(0.5);
    t.instant('h', 1, 'session', 'last');
    const timed = t.toJSON().traceEvents.filter((e) => e.ph !== 'M');
    const first = Math.min(...timed.map((e) => e.ts));
    const last = Math.max(...timed.map((e) => e.ts + (e.dur ?? 0)));
    expect(last - first).toBeCloseTo(60_500, 2);
  });
});
