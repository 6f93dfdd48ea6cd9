/**
 * The tracer: collects spans from every layer (TraceSink, src/bus/trace.ts) and the NIC's work
 * (NicTraceHook), and writes them in the Chrome trace-event format, which Perfetto
 * (ui.perfetto.dev) and chrome://tracing open.
 *
 * Implementation notes
 * - One trace "process" (pid) per emulated host, one "thread" (tid) per emulated process on it
 *   (its ProcessId; 0 = the kernel). Names come from the host's process table the first time
 *   a track is used, so a process that exits later keeps its name in the trace.
 * - Nested spans (IOCTLs, session messages) become complete events (ph 'X'); overlapping ones
 *   (NIC registrations, RDMA operations) become nestable async pairs (ph 'b' / 'e') with a
 *   unique id.
 * - An RDMA operation is a span from its post to its completion. Completions of one endpoint
 *   carry (opcode, context) and come back in posting order per queue (RC), so posts are
 *   paired FIFO per (NIC, endpoint, opcode, context). A request that never completes (its
 *   endpoint was destroyed) stays open and is written closed at write time with
 *   `unfinished: true`.
 * - Counters: after each event on a host the tracer samples that host's free pages below and
 *   above 4 GiB and the SAN proxy's registration counters (all O(1)) and writes a 'C' event
 *   only when they changed. The registration track is the proxy's own counter
 *   (ProxyCounters.nicRegistrations), so the trace shows the number the demo and the report
 *   show; its last value is also in `otherData`.
 * - Registrations a NIC refuses as expected (REGISTER_BUFFER → STATUS_NOT_SUPPORTED: the NIC
 *   cannot reach the buffer; the provider stages it through low memory) are named and
 *   labelled as such, so a failed-looking IOCTL in the viewer explains itself.
 * - Time: `ts` and `dur` are microseconds (the format's unit) of wall time since the tracer
 *   started — performance.now() is in milliseconds, hence the × 1000 — forced strictly
 *   increasing so begin < end always holds and events keep their order.
 * Format: "Trace Event Format" (Google doc linked from chromium.org/developers/how-tos/trace-event-profiling-tool).
 */
import { writeFileSync } from 'node:fs';
import { PAGE_SIZE } from '../bus/index.ts';
import type { TraceArgs, TraceCategory, TraceSink } from '../bus/trace.ts';
import type { Host } from '../host/index.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { Opcode, WcStatus, type NicTraceHook, type SanNic, type WorkRequest } from '../nic/index.ts';
import * as proxyInterface from '../proxy/interface.ts';
import { sanProxyState } from '../proxy/index.ts';
import { STATUS_NOT_SUPPORTED } from '../kernel/status.ts';

export interface ChromeTraceEvent {
  name: string;
  cat?: string;
  ph: 'X' | 'b' | 'e' | 'i' | 'C' | 'M';
  ts: number;
  pid: number;
  tid: number;
  dur?: number;
  id?: string;
  s?: 't' | 'p' | 'g';
  args?: Record<string, string | number | boolean>;
}

export interface ChromeTrace {
  traceEvents: ChromeTraceEvent[];
  displayTimeUnit: 'ms';
  otherData: Record<string, string>;
}

/** A NIC registration's lifetime on the trace clock (microseconds), for the report's timeline. */
export interface RegistrationInterval {
  host: string;
  tid: number;
  process: string;
  start: number;
  /** null while the registration is still alive. */
  end: number | null;
  bytes: number;
  handle: number;
  nic: string;
  /** The IOCTL that made it (IOCTL_SANPROXY_REGISTER_BUFFER or _ALLOCATE_MEMORY), when traced. */
  via: string | null;
}

/** The one registration count, in one sentence (README, report, trace). */
export const NIC_REGISTRATIONS_DEFINITION =
  'NIC registrations: memory regions the SAN proxy driver registered with a NIC (REGISTER_BUFFER and ALLOCATE_MEMORY requests that succeeded).';

interface OpenSpan {
  host: string;
  pid: number;
  tid: number;
  category: string;
  name: string;
  args: Record<string, string | number | boolean>;
  ts: number;
  async: boolean;
}

const IOCTL_NAMES = new Map<number, string>(
  Object.entries(proxyInterface)
    .filter(([key, value]) => key.startsWith('IOCTL_') && typeof value === 'number')
    .map(([key, value]) => [value as number, key]),
);

const OPCODE_NAMES: Record<number, string> = {
  [Opcode.SEND]: 'send',
  [Opcode.RDMA_WRITE]: 'RDMA write',
  [Opcode.RDMA_READ]: 'RDMA read',
  [Opcode.RECV]: 'receive',
};

const WC_NAMES = new Map<number, string>(Object.entries(WcStatus).map(([k, v]) => [v as number, k]));

const hex32 = (v: number) => `0x${(v >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;

const REGISTER_BUFFER = ioctlNameOf(proxyInterface.IOCTL_SANPROXY_REGISTER_BUFFER);
const NOT_SUPPORTED = hex32(STATUS_NOT_SUPPORTED);

/** The name and label of a REGISTER_BUFFER the NIC could not take (interface.ts). */
export const REFUSED_EXPECTED_NAME = `${REGISTER_BUFFER} refused (expected)`;
export const REFUSED_EXPECTED_TEXT =
  'NIC cannot reach a page of the buffer (32-bit DMA, buffer above 4 GiB, no DMA remapping); the provider stages through low memory from ALLOCATE_MEMORY';

/** Name of the proxy's registration counter track (ProxyCounters.nicRegistrations, summed per host). */
export const REGISTRATION_COUNTER_NAME = 'SAN proxy NIC registrations';

function ioctlNameOf(code: number): string {
  return IOCTL_NAMES.get(code) ?? `IOCTL ${hex32(code)}`;
}

/** The name an IOCTL span gets from its control code (IOCTL_SANPROXY_…), or its hex code. */
export function ioctlName(code: number): string {
  return ioctlNameOf(code);
}

function checkTrack(host: unknown, tid: unknown, category: unknown, name: unknown): void {
  if (typeof host !== 'string' || host === '') throw new TypeError(`Tracer: host must be a non-empty string, got ${String(host)}`);
  if (typeof tid !== 'number' || !Number.isSafeInteger(tid) || tid < 0) throw new TypeError(`Tracer: tid must be a process id >= 0, got ${String(tid)}`);
  if (typeof category !== 'string' || category === '') throw new TypeError(`Tracer: category must be a non-empty string`);
  if (typeof name !== 'string' || name === '') throw new TypeError(`Tracer: name must be a non-empty string`);
}

function copyArgs(args: TraceArgs | undefined, into: Record<string, string | number | boolean> = {}) {
  if (args === undefined || args === null) return into;
  for (const [key, value] of Object.entries(args)) {
    if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') {
      into[key] = key === 'status' && typeof value === 'number' ? hex32(value) : value;
    }
  }
  return into;
}

export class Tracer implements TraceSink, NicTraceHook {
  private readonly events: ChromeTraceEvent[] = [];
  private readonly pids = new Map<string, number>();
  private readonly threads = new Map<string, string>();
  private readonly spans = new Map<number, OpenSpan>();
  private readonly kernels = new Map<string, Kernel>();
  private readonly nicHosts = new Map<SanNic, string>();
  private readonly lastFree = new Map<string, string>();
  /** Last sampled proxy counters per host: [NIC registrations, refused as expected]. */
  private readonly lastProxy = new Map<string, [number, number]>();
  private readonly rdmaPending = new Map<string, number[]>();
  private readonly regions = new Map<string, number>();
  private readonly attached: Host[] = [];
  private readonly origin: number;
  private lastTs = 0;
  private nextToken = 1;

  /** `clockMs`: the wall clock in milliseconds (performance.now); a test passes a clock it steps. */
  constructor(private readonly clockMs: () => number = () => performance.now()) {
    this.origin = clockMs();
  }

  /** Route every attached host's kernel and NIC events here; call before the run. */
  attach(target: { readonly hosts: readonly Host[] }): this {
    if (target === null || typeof target !== 'object' || !Array.isArray(target.hosts)) {
      throw new TypeError('Tracer.attach: expected a cluster (an object with hosts)');
    }
    for (const h of target.hosts) {
      const name = h.kernel.name;
      this.kernels.set(name, h.kernel);
      h.kernel.trace = this;
      for (const n of h.nics) {
        this.nicHosts.set(n.nic, name);
        n.nic.trace = this;
      }
      this.attached.push(h);
      this.pidOf(name);
      this.sampleCounters(name);
    }
    return this;
  }

  /** Stop receiving events (the collected ones stay). */
  detach(): void {
    for (const h of this.attached) {
      if (h.kernel.trace === this) h.kernel.trace = null;
      for (const n of h.nics) if (n.nic.trace === this) n.nic.trace = null;
    }
    this.attached.length = 0;
  }

  // ── TraceSink ──

  begin(host: string, tid: number, category: TraceCategory, name: string, args?: TraceArgs): number {
    return this.open(host, tid, category, name, args, false);
  }

  end(token: number, args?: TraceArgs): void {
    this.close(token, args, false);
  }

  asyncBegin(host: string, tid: number, category: TraceCategory, name: string, args?: TraceArgs): number {
    return this.open(host, tid, category, name, args, true);
  }

  asyncEnd(token: number, args?: TraceArgs): void {
    this.close(token, args, true);
  }

  instant(host: string, tid: number, category: TraceCategory, name: string, args?: TraceArgs): void {
    checkTrack(host, tid, category, name);
    const pid = this.pidOf(host);
    this.nameThread(host, pid, tid);
    this.events.push({ name, cat: category, ph: 'i', s: 't', ts: this.now(), pid, tid, args: copyArgs(args) });
    this.sampleCounters(host);
  }

  // ── NicTraceHook ──

  posted(nic: SanNic, owner: number, endpoint: number, opcode: number, wr: WorkRequest): void {
    const host = this.nicHosts.get(nic);
    if (host === undefined) return;
    let bytes = 0;
    for (const e of wr.elements) bytes += e.length;
    const rdma = opcode === Opcode.RDMA_WRITE || opcode === Opcode.RDMA_READ;
    const token = this.asyncBegin(host, owner, rdma ? 'rdma' : 'nic', OPCODE_NAMES[opcode] ?? `opcode ${opcode}`,
      { nic: nic.name, endpoint, context: wr.context, bytes });
    const key = `${nic.name}:${endpoint}:${opcode}:${wr.context}`;
    const q = this.rdmaPending.get(key);
    if (q === undefined) this.rdmaPending.set(key, [token]);
    else q.push(token);
  }

  completed(nic: SanNic, _owner: number, endpoint: number, status: number, opcode: number, bytes: number, context: number): void {
    const key = `${nic.name}:${endpoint}:${opcode}:${context}`;
    const q = this.rdmaPending.get(key);
    const token = q?.shift();
    if (q !== undefined && q.length === 0) this.rdmaPending.delete(key);
    if (token === undefined) return;
    this.asyncEnd(token, { completion: WC_NAMES.get(status) ?? String(status), completedBytes: bytes });
  }

  registered(nic: SanNic, owner: number, handle: number, pages: number, length: number): void {
    const host = this.nicHosts.get(nic);
    if (host === undefined) return;
    // The request that made it: the innermost IOCTL open on the owner's track.
    const via = this.innermostIoctl(host, owner);
    const token = this.asyncBegin(host, owner, 'registration', 'NIC registration',
      { nic: nic.name, handle, pages, bytes: length, ...(via !== null ? { via } : {}) });
    this.regions.set(`${nic.name}:${handle}`, token);
  }

  deregistered(nic: SanNic, handle: number): void {
    const key = `${nic.name}:${handle}`;
    const token = this.regions.get(key);
    if (token === undefined) return;
    this.regions.delete(key);
    this.asyncEnd(token);
  }

  // ── counters and output ──

  /** Write counter samples for `host` (free memory, proxy registrations) if they changed since the last ones. */
  sampleCounters(host: string): void {
    const k = this.kernels.get(host);
    if (k === undefined) return;
    const proxy = sanProxyState(k);
    if (proxy !== null) {
      const registered = proxy.counters.nicRegistrations;
      const refused = proxy.counters.registrationsRefusedUnreachable;
      const last = this.lastProxy.get(host);
      if (last === undefined || last[0] !== registered || last[1] !== refused) {
        this.lastProxy.set(host, [registered, refused]);
        this.events.push({
          name: REGISTRATION_COUNTER_NAME, ph: 'C', ts: this.now(), pid: this.pidOf(host), tid: 0,
          args: { registered, 'refused (expected)': refused },
        });
      }
    }
    const c = k.mm.counters();
    const low = c.freeLowPages * PAGE_SIZE;
    const high = c.freeHighPages * PAGE_SIZE;
    const key = `${low}:${high}`;
    if (this.lastFree.get(host) === key) return;
    this.lastFree.set(host, key);
    this.events.push({
      name: 'free memory (MiB)', ph: 'C', ts: this.now(), pid: this.pidOf(host), tid: 0,
      args: { 'below 4 GiB': low / 2 ** 20, 'above 4 GiB': high / 2 ** 20 },
    });
  }

  /**
   * The proxy's registration counters as last sampled, summed over hosts: NIC registrations
   * (ProxyCounters.nicRegistrations) and REGISTER_BUFFER requests refused as expected.
   */
  get proxyRegistrations(): { nicRegistrations: number; refusedExpected: number } {
    let nicRegistrations = 0;
    let refusedExpected = 0;
    for (const [registered, refused] of this.lastProxy.values()) {
      nicRegistrations += registered;
      refusedExpected += refused;
    }
    return { nicRegistrations, refusedExpected };
  }

  /** Trace time of the latest event, in microseconds since the tracer started. */
  get elapsedUs(): number {
    return this.lastTs;
  }

  /** Spans still open (RDMA posts never completed, registrations still alive). */
  get openSpans(): number {
    return this.spans.size;
  }

  /** Spans and events of a category so far (open ones included), for checks and summaries. */
  count(category: string): number {
    let n = 0;
    for (const e of this.events) if (e.cat === category && (e.ph === 'X' || e.ph === 'b' || e.ph === 'i')) n++;
    for (const s of this.spans.values()) if (s.category === category && !s.async) n++;
    return n;
  }

  /**
   * Registration lifetimes per host (from the NIC's register/deregister), in microseconds of
   * trace time; `end` is null while the registration is still alive. For the report's timeline.
   */
  registrationIntervals(): RegistrationInterval[] {
    const out: RegistrationInterval[] = [];
    const hostOf = new Map<number, string>();
    for (const [h, pid] of this.pids) hostOf.set(pid, h);
    const begun = new Map<string, ChromeTraceEvent>();
    const push = (b: ChromeTraceEvent, end: number | null) => {
      out.push({
        host: hostOf.get(b.pid)!, tid: b.tid, process: this.threads.get(`${b.pid}:${b.tid}`) ?? String(b.tid), start: b.ts, end,
        bytes: Number(b.args?.['bytes'] ?? 0), handle: Number(b.args?.['handle'] ?? 0), nic: String(b.args?.['nic'] ?? ''),
        via: typeof b.args?.['via'] === 'string' ? b.args['via'] : null,
      });
    };
    for (const e of this.events) {
      if (e.cat !== 'registration') continue;
      if (e.ph === 'b') begun.set(e.id!, e);
      else if (e.ph === 'e') {
        const b = begun.get(e.id!);
        if (b !== undefined) push(b, e.ts);
        begun.delete(e.id!);
      }
    }
    for (const b of begun.values()) push(b, null);
    return out.sort((a, b) => a.start - b.start);
  }

  /** REGISTER_BUFFER requests refused as expected (the NIC cannot reach the buffer), in time order. */
  refusedRegistrations(): { host: string; tid: number; process: string; ts: number }[] {
    const hostOf = new Map<number, string>();
    for (const [h, pid] of this.pids) hostOf.set(pid, h);
    const out: { host: string; tid: number; process: string; ts: number }[] = [];
    for (const e of this.events) {
      if (e.ph === 'X' && e.cat === 'ioctl' && e.name === REFUSED_EXPECTED_NAME) {
        out.push({ host: hostOf.get(e.pid)!, tid: e.tid, process: this.threads.get(`${e.pid}:${e.tid}`) ?? String(e.tid), ts: e.ts });
      }
    }
    return out.sort((a, b) => a.ts - b.ts);
  }

  /** The trace as Chrome trace-event JSON: open spans are closed now with `unfinished: true`. */
  toJSON(): ChromeTrace {
    // End on the hosts' true state: work after the last span (process exit) moved memory too.
    for (const h of this.attached) this.sampleCounters(h.kernel.name);
    const at = this.now();
    const closing: ChromeTraceEvent[] = [];
    for (const [token, s] of this.spans) {
      if (s.async) closing.push({ name: s.name, cat: s.category, ph: 'e', id: String(token), ts: at, pid: s.pid, tid: s.tid, args: { unfinished: true } });
      else closing.push({ name: s.name, cat: s.category, ph: 'X', ts: s.ts, dur: at - s.ts, pid: s.pid, tid: s.tid, args: { ...s.args, unfinished: true } });
    }
    const meta: ChromeTraceEvent[] = [];
    for (const [host, pid] of this.pids) {
      const k = this.kernels.get(host);
      const ram = k ? ` (${k.mm.layout.totalRamBytes / 2 ** 30} GiB${k.mm.layout.nolowmemActive ? ', NOLOWMEM' : ''})` : '';
      meta.push({ name: 'process_name', ph: 'M', ts: 0, pid, tid: 0, args: { name: `host ${host}${ram}` } });
      meta.push({ name: 'process_sort_index', ph: 'M', ts: 0, pid, tid: 0, args: { sort_index: pid } });
    }
    for (const [key, name] of this.threads) {
      const [pid, tid] = key.split(':').map(Number) as [number, number];
      meta.push({ name: 'thread_name', ph: 'M', ts: 0, pid, tid, args: { name } });
    }
    const events = [...this.events, ...closing].sort((a, b) => a.ts - b.ts);
    const regs = this.proxyRegistrations;
    return {
      traceEvents: [...meta, ...events],
      displayTimeUnit: 'ms',
      otherData: {
        producer: 'sanproxy',
        clock: 'wall time of the emulator, microseconds since the tracer started',
        'NIC registrations': String(regs.nicRegistrations),
        'NIC registrations (definition)': NIC_REGISTRATIONS_DEFINITION,
        'registrations refused (expected)': String(regs.refusedExpected),
      },
    };
  }

  /** Microseconds since the tracer started, to the nanosecond, strictly increasing. */
  private now(): number {
    let t = Math.round((this.clockMs() - this.origin) * 1e6) / 1000;
    if (t <= this.lastTs) t = Math.round((this.lastTs + 0.001) * 1000) / 1000;
    this.lastTs = t;
    return t;
  }

  private innermostIoctl(host: string, tid: number): string | null {
    let found: OpenSpan | null = null;
    let latest = -1;
    for (const [token, s] of this.spans) {
      if (!s.async && s.category === 'ioctl' && s.host === host && s.tid === tid && token > latest) {
        found = s;
        latest = token;
      }
    }
    return found === null ? null : found.name;
  }

  private pidOf(host: string): number {
    let pid = this.pids.get(host);
    if (pid === undefined) {
      pid = this.pids.size + 1;
      this.pids.set(host, pid);
      this.nameThread(host, pid, 0);
    }
    return pid;
  }

  private nameThread(host: string, pid: number, tid: number): void {
    const key = `${pid}:${tid}`;
    if (this.threads.has(key)) return;
    const k = this.kernels.get(host);
    const p = tid === 0 ? null : k?.ps.lookup(tid) ?? null;
    this.threads.set(key, tid === 0 ? 'kernel' : p !== null ? `${p.name} (pid ${tid})` : `pid ${tid}`);
  }

  private open(host: string, tid: number, category: string, name: string, args: TraceArgs | undefined, async: boolean): number {
    checkTrack(host, tid, category, name);
    const pid = this.pidOf(host);
    this.nameThread(host, pid, tid);
    const a = copyArgs(args);
    let spanName = name;
    if (category === 'ioctl' && typeof a['IoControlCode'] === 'number') {
      const code = a['IoControlCode'];
      spanName = ioctlName(code);
      a['IoControlCode'] = hex32(code);
    }
    const token = this.nextToken++;
    const ts = this.now();
    this.spans.set(token, { host, pid, tid, category, name: spanName, args: a, ts, async });
    if (async) this.events.push({ name: spanName, cat: category, ph: 'b', id: String(token), ts, pid, tid, args: a });
    return token;
  }

  private close(token: number, args: TraceArgs | undefined, async: boolean): void {
    const s = this.spans.get(token);
    if (s === undefined || s.async !== async) {
      throw new TypeError(`Tracer: ${async ? 'asyncEnd' : 'end'}(${String(token)}) does not name an open ${async ? 'async ' : ''}span`);
    }
    this.spans.delete(token);
    const ts = this.now();
    let name = s.name;
    const endArgs = copyArgs(args);
    if (!async && s.category === 'ioctl' && name === REGISTER_BUFFER && endArgs['status'] === NOT_SUPPORTED) {
      name = REFUSED_EXPECTED_NAME;
      endArgs['expected'] = REFUSED_EXPECTED_TEXT;
    }
    if (async) {
      this.events.push({ name, cat: s.category, ph: 'e', id: String(token), ts, pid: s.pid, tid: s.tid, args: endArgs });
    } else {
      this.events.push({ name, cat: s.category, ph: 'X', ts: s.ts, dur: Math.round((ts - s.ts) * 1000) / 1000, pid: s.pid, tid: s.tid, args: { ...s.args, ...endArgs } });
    }
    this.sampleCounters(s.host);
  }
}

/** Write `tracer`'s events to `path` as Chrome trace-event JSON; returns the number of events. */
export function writeTrace(path: string, tracer: Tracer): number {
  if (typeof path !== 'string' || path === '') throw new TypeError(`writeTrace: path must be a non-empty string, got ${String(path)}`);
  if (!(tracer instanceof Tracer)) throw new TypeError('writeTrace: tracer must be a Tracer');
  const trace = tracer.toJSON();
  writeFileSync(path, JSON.stringify(trace));
  return trace.traceEvents.length;
}
