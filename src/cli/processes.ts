/**
 * `sanproxy demo --processes` and `sanproxy cluster`: every host a child process
 * (`sanproxy host --json`) on its own loopback address, meeting the others over UDP port 4791
 * only. The parent starts them, relays their events, waits for them and prints one merged
 * summary; it is never on the data path.
 *
 * Implementation notes
 * - Start-up: every child must report "up" (socket bound, kernel booted, proxy loaded). A
 *   child that exits first (an address in use, a bad option) is a start-up failure named by
 *   host; every other child is stopped (SIGTERM, then SIGKILL if it has not exited after a
 *   grace period) and waited for, so nothing is left running or bound when the error is
 *   printed.
 * - Run: a child that ends without a verified, clean summary (a peer that never answered, a
 *   leak, a death by signal) ends the run the same way: the others are stopped, the first
 *   failure is the one-line error.
 * - The children run the built command (bin/sanproxy.mjs → dist/), found from this file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ipv4Number } from '../nic/index.ts';
import type { HostSummary } from './host.ts';

export interface ProcessHostSpec {
  name: string;
  address: string;
  peers: string[];
  role: 'server' | 'client' | 'all-to-all';
  /** Flags of this host only (--nic-bits …). */
  flags?: string[];
}

export interface ProcessRunOptions {
  hosts: ProcessHostSpec[];
  /** `sanproxy host` flags every child gets (--ram, --bytes, --seed, …). */
  flags: string[];
  /** Each child's events, one line each (the parent's stderr). */
  onEvent?: (host: string, line: string, event: Record<string, unknown>) => void;
  /** Milliseconds a child has to exit after SIGTERM before SIGKILL. */
  graceMs?: number;
  /** Children started (pids), for tests. */
  onSpawn?: (host: string, pid: number) => void;
}

export interface ProcessRunResult {
  hosts: HostSummary[];
  /** Null when every host verified and nothing leaked; otherwise the first failure, naming its host. */
  error: string | null;
  wallMs: number;
  pids: number[];
}

export class ProcessStartError extends Error {
  override readonly name = 'ProcessStartError';
}

/** Loopback addresses from `first` on: 127.0.0.2, 127.0.0.3, … */
export function loopbackAddresses(first: string, count: number): string[] {
  const base = ipv4Number(first);
  if (base === null) throw new ProcessStartError(`${first} is not a dotted IPv4 address`);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const v = base + i;
    out.push([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff].join('.'));
  }
  return out;
}

/** host-a, host-b, … (then host-27 …). */
export const hostName = (i: number): string => (i < 26 ? `host-${String.fromCharCode(97 + i)}` : `host-${i + 1}`);

function commandPath(): string {
  const bin = fileURLToPath(new URL('../../bin/sanproxy.mjs', import.meta.url));
  if (existsSync(bin)) return bin;
  const fromDist = fileURLToPath(new URL('../../../bin/sanproxy.mjs', import.meta.url));
  if (existsSync(fromDist)) return fromDist;
  throw new ProcessStartError('bin/sanproxy.mjs not found beside the command line module');
}

interface Child {
  spec: ProcessHostSpec;
  proc: ChildProcess;
  up: boolean;
  summary: HostSummary | null;
  lastError: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
}

export async function runHostProcesses(o: ProcessRunOptions): Promise<ProcessRunResult> {
  const started = performance.now();
  const bin = commandPath();
  const graceMs = o.graceMs ?? 5000;
  const children: Child[] = [];
  let failure: string | null = null;
  let settle: () => void = () => {};
  const changed = (): void => settle();
  const next = (): Promise<void> => new Promise((resolve) => (settle = resolve));

  for (const spec of o.hosts) {
    const args = [bin, 'host', '--json', '--name', spec.name, '--address', spec.address, '--peers', spec.peers.join(','), '--role', spec.role, ...o.flags, ...(spec.flags ?? [])];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const child: Child = { spec, proc, up: false, summary: null, lastError: '', exited: null as never, exit: null };
    child.exited = new Promise((resolve) => proc.once('exit', (code, signal) => {
      child.exit = { code, signal };
      resolve(child.exit);
      changed();
    }));
    proc.once('error', (e) => {
      child.lastError = e.message;
      changed();
    });
    lines(proc.stdout!, (line) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        child.lastError = line;
        return;
      }
      if (event.event === 'up') child.up = true;
      if (event.event === 'summary') child.summary = event as unknown as HostSummary;
      else o.onEvent?.(spec.name, line, event);
      if (event.event === 'failed' && typeof event.error === 'string') child.lastError = event.error;
      changed();
    });
    lines(proc.stderr!, (line) => {
      // One line for the error: ours ("sanproxy host: …"), or the message line of an uncaught
      // exception's report (never Node's trailing version line).
      if (line.startsWith('sanproxy host: ')) child.lastError = line.slice('sanproxy host: '.length);
      else if (/^[A-Za-z]*(Error|Exception|BugCheck)\b.*: /.test(line) && !child.lastError.startsWith('uncaught ')) child.lastError = `uncaught ${line}`;
    });
    if (proc.pid !== undefined) o.onSpawn?.(spec.name, proc.pid);
    children.push(child);
  }

  const describe = (c: Child): string => `${c.spec.name} (${c.spec.address})`;
  const failureOf = (c: Child): string | null => {
    if (c.exit === null) return null;
    if (c.exit.signal !== null && c.summary === null) return `${describe(c)}: died (${c.exit.signal})`;
    if (c.summary === null) return `${describe(c)}: ${c.up ? '' : 'failed to start: '}${c.lastError || `exited with status ${c.exit.code}`}`;
    const s = c.summary;
    if (s.bugCheck !== null) return `${describe(c)}: bug check ${s.bugCheck}`;
    if (s.leaked) return `${describe(c)}: leaked (${Object.entries(s.leaks).filter(([, v]) => v !== 0).map(([k, v]) => `${k} ${v}`).join(', ')})`;
    if (!s.verified) return `${describe(c)}: ${s.error ?? 'not verified'}`;
    return null;
  };

  // A signal to the parent stops every child (none is left behind by Ctrl-C).
  let signalled: string | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalled = signal;
    changed();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // Until every child has exited, or one failed.
    for (;;) {
      const wait = next();
      if (signalled !== null) {
        failure = `interrupted (${signalled}): every host stopped`;
        break;
      }
      for (const c of children) {
        const f = failureOf(c);
        if (f !== null) {
          failure = f;
          break;
        }
      }
      if (failure !== null || children.every((c) => c.exit !== null)) break;
      await wait;
    }
  } finally {
    await stopAll(children, graceMs);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return {
    hosts: children.map((c) => c.summary).filter((s): s is HostSummary => s !== null),
    error: failure,
    wallMs: performance.now() - started,
    pids: children.map((c) => c.proc.pid ?? 0),
  };
}

/** SIGTERM every child still running, SIGKILL after `graceMs`; resolves once all have exited. */
async function stopAll(children: Child[], graceMs: number): Promise<void> {
  const running = children.filter((c) => c.exit === null);
  for (const c of running) c.proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of running) if (c.exit === null) c.proc.kill('SIGKILL');
  }, graceMs);
  await Promise.all(running.map((c) => c.exited));
  clearTimeout(timer);
}

function lines(stream: NodeJS.ReadableStream, each: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let at: number;
    while ((at = pending.indexOf('\n')) >= 0) {
      each(pending.slice(0, at));
      pending = pending.slice(at + 1);
    }
  });
  stream.on('end', () => {
    if (pending !== '') each(pending);
  });
}

export interface MergedSummary {
  hosts: HostSummary[];
  total: {
    hosts: number; verified: boolean; bytesMoved: number; leaked: boolean; bugChecks: number;
    datagramsSent: number; retransmitted: number; linkDrops: number; kernelDrops: number; wallMs: number; bytesPerSecond: number;
  };
  error: string | null;
}

export function mergeSummaries(r: ProcessRunResult, expectedHosts: number): MergedSummary {
  const h = r.hosts;
  const bytesMoved = h.reduce((n, s) => n + s.bytesReceived, 0);
  const roleMs = Math.max(0, ...h.map((s) => s.roleMs));
  return {
    hosts: h,
    total: {
      hosts: expectedHosts,
      verified: r.error === null && h.length === expectedHosts && h.every((s) => s.verified),
      bytesMoved,
      leaked: h.some((s) => s.leaked),
      bugChecks: h.filter((s) => s.bugCheck !== null).length,
      datagramsSent: h.reduce((n, s) => n + s.link.datagramsSent, 0),
      retransmitted: h.reduce((n, s) => n + s.wire.retransmitted, 0),
      linkDrops: h.reduce((n, s) => n + s.link.dropped, 0),
      kernelDrops: h.reduce((n, s) => n + (s.link.kernelDrops ?? 0), 0),
      wallMs: r.wallMs,
      bytesPerSecond: roleMs > 0 ? Math.round(bytesMoved / (roleMs / 1000)) : 0,
    },
    error: r.error,
  };
}

export function formatMerged(m: MergedSummary, title: string): string {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const lines = [title, ''];
  for (const s of m.hosts) {
    lines.push(`${s.host.padEnd(8)} ${s.address.padEnd(15)} ${s.role.padEnd(10)} sent ${mib(s.bytesSent).padStart(10)}  received ${mib(s.bytesReceived).padStart(10)}  ` +
      `${s.verified ? 'verified' : 'NOT VERIFIED'}  retransmitted ${s.wire.retransmitted}  drops ${s.link.dropped}/${s.link.kernelDrops ?? 'n/a'}  ${s.leaked ? 'LEAKED' : 'no leaks'}`);
  }
  const t = m.total;
  lines.push('');
  lines.push(`total    ${t.hosts} host processes, ${mib(t.bytesMoved)} moved ${t.verified ? 'and verified byte for byte' : '— NOT VERIFIED'}, ` +
    `${t.datagramsSent} datagrams, ${t.retransmitted} retransmitted, ${t.linkDrops} dropped by links, ${t.kernelDrops} by the kernel; ` +
    `${t.leaked ? 'LEAKED' : 'nothing leaked'}, ${t.bugChecks} bug checks; ${(t.wallMs / 1000).toFixed(1)} s, ${mib(t.bytesPerSecond)}/s`);
  return lines.join('\n');
}
