/**
 * The wire checks of `sanproxy faults` (issue 16 §6):
 * - lossy link: seeded runs of the demo's two-host transfer over an impaired link (loss,
 *   reordering, duplication, corruption), alternating the RDMA path (read on / off); the demo
 *   cluster has one host per low-memory strategy (contiguous, common buffer). Every byte is
 *   verified, nothing leaks (harness.ts snapshots), and every packet is accounted: the NICs
 *   sent what the link carried, the link's frames were delivered or lost, what was delivered
 *   was accepted or dropped by a NIC, corrupted frames were dropped, and loss was repaired by
 *   retransmission.
 * - dead peer: mid-transfer the link starts dropping every frame (the peer stops answering, as
 *   a pulled cable or a dead host). The side with data in flight must fail with a clean socket
 *   error (WSAECONNRESET / WSAECONNABORTED / WSAETIMEDOUT) within the retry budget on the
 *   virtual clock — retry_cnt + 1 local ACK timeouts — never hang or throw anything else, and
 *   neither host may leak.
 *
 * Implementation notes
 * - The clock is the cluster's scheduler (auto-driven: idle time jumps to the next timer), so
 *   a dead-peer run costs no wall time for its half-second of virtual timeouts.
 * - Both checks use `runOnce`: teardown terminates every process and compares the accounting
 *   snapshot with the baseline taken after boot.
 */
import { MIB } from '../../bus/index.ts';
import { ACK_TIMEOUT_CODE, RETRY_COUNT } from '../../nic/completer.ts';
import { WSAECONNABORTED, WSAECONNRESET, WSAETIMEDOUT } from '../../provider/index.ts';
import { SocketError } from '../../switch/index.ts';
import { localAckTimeoutNanoseconds } from '../../wire/index.ts';
import type { Cluster, ClusterSpec } from '../cluster.ts';
import { runTransfer, startApps } from '../demo-scenario.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../kernel/mm/index.ts';
import { formatIpv4 } from '../../kernel/net/ip-addresses.ts';
import { DEMO_HOSTS } from './demo-scenario.ts';
import { bootVerified, runOnce } from './harness.ts';

export const DEFAULT_LOSSY_RUNS = 4;
export const DEFAULT_DEAD_PEER_RUNS = 4;

/** The impairments of the lossy check (issue 16 "Done means" 2). */
export const LOSSY_IMPAIRMENTS = { loss: 0.02, reorder: 0.02, duplicate: 0.01, corrupt: 0.005, delayNs: 0 } as const;

/** Longer than the link holds any frame back (reorderNs defaults to 10 µs; no delay is set). */
const HOLD_BACK_NS = 1_000_000;

export interface LossyLinkReport {
  runs: number;
  /** Runs that were not verified, leaked, stopped a host, or whose counters did not reconcile. */
  failures: number;
  /** Summed over the runs. */
  packetsSent: number;
  retransmitted: number;
  lost: number;
  corrupted: number;
  examples: string[];
}

export interface DeadPeerReport {
  runs: number;
  /** Runs whose surviving side saw a clean socket error within the retry budget. */
  failedCleanly: number;
  /** Runs that leaked, stopped a host, hung, or ended any other way. */
  leaks: number;
  /** The longest virtual time from the link dying to the survivor's error, ns. */
  worstNs: number;
  examples: string[];
}

/** The demo's two hosts with one RDMA path and MTU. */
function wireHosts(rdmaRead: boolean, pathMtu: number): ClusterSpec {
  return {
    ...DEMO_HOSTS,
    hosts: DEMO_HOSTS.hosts.map((h) => ({
      ...h,
      nics: h.nics.map((n) => ({ ...n, rdmaRead, capabilities: { pathMtu } })),
    })),
  };
}

/** Why the NICs' counters and the link's record disagree, or null when they reconcile. */
export function reconcileWire(cluster: Cluster): string | null {
  const link = cluster.fabric.link;
  const f = link.faults;
  const c = cluster.wireCounters();
  const sent = c.packetsSent;
  const received = c.packetsReceived;
  const dropped = c.packetsDropped;
  const inFlight = link.sent + f.duplicated - f.lost - link.delivered - link.unroutable;
  if (sent !== link.sent) return `NICs sent ${sent} packets, the link carried ${link.sent}`;
  if (inFlight !== 0) return `${inFlight} frames unaccounted (sent ${link.sent} + duplicated ${f.duplicated} ≠ lost ${f.lost} + delivered ${link.delivered} + unroutable ${link.unroutable})`;
  if (received + dropped !== link.delivered) return `NICs received ${received} + dropped ${dropped} ≠ ${link.delivered} delivered`;
  if (dropped < f.corrupted) return `${f.corrupted} frames corrupted but only ${dropped} dropped`;
  if (f.lost > 0 && c.retransmitted === 0) return `${f.lost} frames lost and none retransmitted`;
  return null;
}

export async function lossyLink(options: { runs: number; seed?: number; bytes?: number; mtu?: number }): Promise<LossyLinkReport> {
  const report: LossyLinkReport = { runs: 0, failures: 0, packetsSent: 0, retransmitted: 0, lost: 0, corrupted: 0, examples: [] };
  const seed = options.seed ?? 5;
  const bytes = options.bytes ?? 1 * MIB;
  for (let i = 0; i < options.runs; i++) {
    const rdmaRead = i % 2 === 0;
    const cluster = bootVerified(wireHosts(rdmaRead, options.mtu ?? 1024));
    cluster.fabric.link.impair({ seed: (seed + i) | 0, ...LOSSY_IMPAIRMENTS });
    let problem: string | null = null;
    const result = await runOnce(cluster, async (c) => {
      const r = await runTransfer(startApps(c), { bytes, seed: seed + i });
      if (!r.verified) problem = `not verified: ${r.error ?? 'short'}`;
      else if ((rdmaRead ? r.client.rdmaReadBytes + r.server.rdmaReadBytes : r.client.rdmaWriteBytes + r.server.rdmaWriteBytes) === 0) {
        problem = `no RDMA ${rdmaRead ? 'read' : 'write'} bytes: the path under test was not taken`;
      }
    });
    // Frames the link still holds back (reordered ones, 10 µs on the virtual clock) land now,
    // at NICs whose connections are gone (dropped, counted): then every frame is accounted.
    cluster.fabric.scheduler.advance(HOLD_BACK_NS);
    problem ??= reconcileWire(cluster);
    const t = cluster.wireCounters();
    report.runs++;
    report.packetsSent += t.packetsSent;
    report.retransmitted += t.retransmitted;
    report.lost += cluster.fabric.link.faults.lost;
    report.corrupted += cluster.fabric.link.faults.corrupted;
    if (result.outcome !== 'ok') problem = `${result.outcome} ${result.error ?? ''} ${result.stops.join('; ')}`;
    if (result.leaks.length > 0) problem = `${problem ?? ''} leaked ${result.leaks.join('; ')}`;
    if (problem !== null) {
      report.failures++;
      if (report.examples.length < 10) report.examples.push(`run ${i} (seed ${seed + i}, RDMA read ${rdmaRead ? 'on' : 'off'}): ${problem}`);
    }
  }
  return report;
}

/** Virtual time within which a peer that stopped answering must be declared gone, ns. */
export function deadPeerBudgetNs(): number {
  // retry_cnt retransmissions, each after a local ACK timeout, then the last timeout fails it;
  // one more timeout of slack for a timer armed just before the link died.
  return (RETRY_COUNT + 2) * localAckTimeoutNanoseconds(ACK_TIMEOUT_CODE);
}

const CLEAN_DEAD_PEER = new Set([WSAECONNRESET, WSAECONNABORTED, WSAETIMEDOUT]);
const CHUNK = 64 * 1024;
/** The survivor keeps sending until it fails; past this many bytes it has not noticed: a defect. */
const SEND_CAP = 256 * MIB;

export async function deadPeer(options: { runs: number; seed?: number }): Promise<DeadPeerReport> {
  const report: DeadPeerReport = { runs: 0, failedCleanly: 0, leaks: 0, worstNs: 0, examples: [] };
  const seed = options.seed ?? 7;
  const budget = deadPeerBudgetNs();
  for (let i = 0; i < options.runs; i++) {
    const rdmaRead = i % 2 === 0;
    const survivorIsClient = (i >> 1) % 2 === 0;
    const dieAfter = (1 + i) * 48 * 1024; // bytes the survivor sends before the link dies
    let outcome: string | null = 'the survivor never failed';
    let clean = false;
    const cluster = bootVerified(wireHosts(rdmaRead, 4096));
    const result = await runOnce(cluster, async (c) => {
      const apps = startApps(c);
      const ip = formatIpv4(apps.server.host.nics[0]!.ip);
      const listener = apps.server.sw.socket();
      apps.server.sw.bind(listener, { ip, port: 6001 });
      apps.server.sw.listen(listener);
      const accepting = apps.server.sw.accept(listener);
      accepting.catch(() => {});
      const cs = apps.client.sw.socket();
      await apps.client.sw.connect(cs, { ip, port: 6001 });
      const ss = await accepting;
      const survivor = survivorIsClient ? { ...apps.client, socket: cs } : { ...apps.server, socket: ss };
      const victim = survivorIsClient ? { ...apps.server, socket: ss } : { ...apps.client, socket: cs };
      const sendVa = survivor.process.VirtualAlloc(0, CHUNK, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
      const recvVa = victim.process.VirtualAlloc(0, CHUNK, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
      survivor.process.writeMemory(sendVa, new Uint8Array(CHUNK).fill(0x5a));
      // The victim reads until its link dies; what becomes of it then is not awaited (it is cut
      // off; teardown terminates its process).
      const reading = (async () => {
        for (;;) if ((await victim.sw.recv(victim.socket, recvVa, CHUNK)) === 0) return;
      })();
      reading.catch(() => {});
      const scheduler = c.fabric.scheduler;
      let sent = 0;
      let diedAt = -1;
      try {
        while (sent < SEND_CAP) {
          if (diedAt < 0 && sent >= dieAfter) {
            c.fabric.link.impair({ seed: (seed + i) | 0, loss: 1, reorder: 0, duplicate: 0, corrupt: 0, delayNs: 0 });
            diedAt = scheduler.now;
          }
          sent += await survivor.sw.send(survivor.socket, sendVa, CHUNK);
        }
      } catch (e) {
        const took = diedAt < 0 ? -1 : scheduler.now - diedAt;
        if (!(e instanceof SocketError)) outcome = `raw error: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
        else if (!CLEAN_DEAD_PEER.has(e.code)) outcome = `socket error ${e.code}, not a dead-peer error`;
        else if (took < 0) outcome = `failed before the link died (${e.message})`;
        else if (took > budget) outcome = `failed after ${took} ns, over the ${budget} ns retry budget`;
        else {
          clean = true;
          outcome = null;
          report.worstNs = Math.max(report.worstNs, took);
        }
      }
      await survivor.sw.closesocket(survivor.socket).catch(() => {});
    });
    report.runs++;
    if (clean) report.failedCleanly++;
    else if (report.examples.length < 10) report.examples.push(`run ${i}: ${outcome ?? ''}`);
    if (result.outcome !== 'ok' || result.leaks.length > 0) {
      report.leaks++;
      if (report.examples.length < 10) report.examples.push(`run ${i}: ${result.outcome} ${result.error ?? ''} ${result.leaks.join('; ')} ${result.stops.join('; ')}`);
    }
  }
  return report;
}
