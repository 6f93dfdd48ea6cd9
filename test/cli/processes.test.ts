/**
 * Hosts in their own processes (sanproxy host, demo --processes): start-up, teardown and every
 * bad start-up case end with nothing left running or bound — each child's pid is gone and every
 * address binds again. Runs the built command (bin/sanproxy.mjs → dist/, built by `npm test`'s
 * pretest). Waits are on process exits and events, never on time.
 */
import { createSocket, type Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';

async function run(argv: string[], onErr?: (line: string) => void) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => { err.push(s); onErr?.(s); }, errIsTTY: false });
  return { code, out: out.join('\n'), err };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function bind(address: string): Promise<Socket> {
  const s = createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind({ address, port: 4791, exclusive: true }, () => resolve(s));
  });
}

const close = (s: Socket): Promise<void> => new Promise((r) => s.close(() => r()));

/** Every address binds again (nothing of the run holds port 4791 there). */
async function allFree(addresses: string[]): Promise<void> {
  for (const a of addresses) await close(await bind(a));
}

const pidsOf = (lines: string[]): number[] => lines.flatMap((l) => /: up .*pid=(\d+)/.exec(l)?.[1] ?? []).map(Number);

describe('host processes over UDP loopback', () => {
  it('demo --processes: two processes verify every byte, exit 0, leave no process and no bound socket', async () => {
    const r = await run(['demo', '--processes', '--first-address', '127.0.17.50', '--bytes', '1M', '--ram', '1G', '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    const m = JSON.parse(r.out) as { total: { verified: boolean; bytesMoved: number; leaked: boolean }; hosts: { host: string; verified: boolean }[] };
    expect(m.total).toMatchObject({ verified: true, bytesMoved: 1 << 20, leaked: false });
    expect(m.hosts.map((h) => [h.host, h.verified])).toEqual([['host-a', true], ['host-b', true]]);
    const pids = pidsOf(r.err);
    expect(pids).toHaveLength(0); // --json relays no events on stderr
    await allFree(['127.0.17.50', '127.0.17.51']);
  });

  it('cluster --hosts 2: all-to-all between two processes, both directions verified, nothing left running or bound', async () => {
    const r = await run(['cluster', '--hosts', '2', '--first-address', '127.0.17.55', '--bytes', '1M', '--ram', '1G', '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    const m = JSON.parse(r.out) as { total: { verified: boolean; bytesMoved: number }; hosts: { role: string; bytesSent: number; bytesReceived: number }[] };
    expect(m.total).toMatchObject({ verified: true, bytesMoved: 2 << 20 });
    expect(m.hosts.map((h) => [h.role, h.bytesSent, h.bytesReceived])).toEqual([['all-to-all', 1 << 20, 1 << 20], ['all-to-all', 1 << 20, 1 << 20]]);
    await allFree(['127.0.17.55', '127.0.17.56']);
  });

  it('an address in use: one line naming the host, the other child stopped, nothing left running or bound', async () => {
    const squatter = await bind('127.0.17.61');
    try {
      const r = await run(['demo', '--processes', '--first-address', '127.0.17.60', '--bytes', '1M', '--ram', '1G']);
      expect(r.code).toBe(1);
      const errors = r.err.filter((l) => l.startsWith('sanproxy: '));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/^sanproxy: host-b \(127\.0\.17\.61\): failed to start: .*EADDRINUSE/);
      for (const pid of pidsOf(r.err)) expect(alive(pid)).toBe(false);
    } finally {
      await close(squatter);
    }
    await allFree(['127.0.17.60', '127.0.17.61']);
  });

  it('a child that dies: one line naming it, every other child stopped, nothing left running or bound', async () => {
    let killed = 0;
    const r = await run(['demo', '--processes', '--first-address', '127.0.17.65', '--bytes', '64M', '--ram', '1G'], (line) => {
      const m = /^host-a: up .*pid=(\d+)/.exec(line);
      if (m !== null) {
        killed = Number(m[1]);
        process.kill(killed, 'SIGKILL');
      }
    });
    expect(killed).toBeGreaterThan(0);
    expect(r.code).toBe(1);
    expect(r.err.filter((l) => l.startsWith('sanproxy: '))).toEqual(['sanproxy: host-a (127.0.17.65): died (SIGKILL)']);
    for (const pid of pidsOf(r.err)) expect(alive(pid)).toBe(false);
    await allFree(['127.0.17.65', '127.0.17.66']);
  });

  it('a peer that never answers: the host says so after its connect budget, leaks nothing, releases its socket, exits 1', async () => {
    const r = await run(['host', '--address', '127.0.17.70', '--peers', '127.0.17.71', '--role', 'client', '--connect-timeout', '1000', '--ram', '1G', '--json']);
    expect(r.code).toBe(1);
    const lines = r.out.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const summary = lines.at(-1)!;
    expect(summary).toMatchObject({ event: 'summary', verified: false, leaked: false, bugCheck: null });
    expect(String(summary.error)).toMatch(/peer 127\.0\.17\.71 never answered/);
    await allFree(['127.0.17.70']);
  });

  it('host: usage errors name the flag', async () => {
    const r = await run(['host', '--address', '127.0.17.80', '--role', 'client']);
    expect(r.code).toBe(2);
    expect(r.err[0]).toMatch(/--peers is required/);
    const s = await run(['host', '--address', '127.0.17.80', '--peers', '127.0.17.80', '--role', 'client']);
    expect(s.err[0]).toMatch(/own --address/);
    const t = await run(['demo', '--processes', '--loss', '0.1']);
    expect(t.code).toBe(2);
    expect(t.err[0]).toMatch(/--loss: not with --processes/);
  });
});
