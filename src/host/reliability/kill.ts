/**
 * Kill a process mid-transfer: with registrations, low memory, a secured range, endpoints and
 * locked pages live and an RDMA transfer posted but not finished, terminate it. Everything it
 * held must be released (the accounting snapshot returns to its baseline), no host may stop,
 * and the peer's connection must fail cleanly (an error completion or an error state — never a
 * success into freed memory).
 */
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../kernel/mm/index.ts';
import { NicStatus, WcStatus } from '../../nic/index.ts';
import type { Host } from '../host.ts';
import { bootVerified, runOnce } from './harness.ts';
import { ALL_ACCESS, TWO_HOSTS, connectPeers, expectIoctl, expectNic, openPeer } from './scenario.ts';

export interface KillReport {
  runs: number;
  /** Runs that leaked, stopped a host, or ended with an unexpected error. */
  leaks: number;
  /** Runs where the surviving peer saw a clean failure. */
  peerFailedCleanly: number;
  examples: string[];
}

export async function killMidTransfer(options: { runs: number }): Promise<KillReport> {
  const report: KillReport = { runs: 0, leaks: 0, peerFailedCleanly: 0, examples: [] };
  for (let i = 0; i < options.runs; i++) {
    const killInitiator = i % 2 === 0;
    const steps = i >> 1; // fabric tasks run before the kill
    const bytes = (64 + 16 * i) * 1024;
    let clean = false;
    const cluster = bootVerified(TWO_HOSTS);
    const result = await runOnce(cluster, async (c) => {
      const [ha, hb] = c.hosts as [Host, Host];
      const a = openPeer(ha, 'initiator');
      const b = openPeer(hb, 'target');
      connectPeers(c, a, b, 7000);
      const low = a.client.allocate(0, ALL_ACCESS, bytes);
      expectIoctl('allocate', low);
      const userA = a.process.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
      expectIoctl('secure', a.client.secure(userA, bytes, PAGE_READWRITE));
      const userB = b.process.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
      const reg = b.client.register(0, ALL_ACCESS, userB, bytes);
      expectIoctl('register', reg);
      const lowB = b.client.allocate(0, ALL_ACCESS, 8192);
      expectIoctl('allocate b', lowB);
      expectNic('post', a.nic.postRdmaWrite(a.owner, a.endpoint, {
        context: 1, elements: [{ localHandle: low.handle, offset: 0, length: bytes }], remote: { remoteKey: reg.remoteKey, address: 0, length: bytes },
      }));
      c.fabric.runUntilIdle(steps);
      const victim = killInitiator ? a : b;
      const survivor = killInitiator ? b : a;
      const status = victim.host.kernel.ps.terminateProcess(victim.process, 0xc000013a);
      if (status !== 0) throw new Error(`terminateProcess returned 0x${status.toString(16)}`);
      c.fabric.runUntilIdle();
      // The survivor: its connection must be failed or fail its next operation.
      const polled = survivor.nic.pollCompletionQueue(survivor.owner, survivor.cq, 16);
      const errors = polled.completions.filter((x) => x.status !== WcStatus.SUCCESS).length;
      const info = survivor.nic.endpointInfo(survivor.owner, survivor.endpoint);
      const state = typeof info === 'object' ? info.state : 'gone';
      let next: number = NicStatus.SUCCESS;
      if (errors === 0) {
        next = survivor.nic.postSend(survivor.owner, survivor.endpoint, { context: 9, elements: [] });
        c.fabric.runUntilIdle();
        const after = survivor.nic.pollCompletionQueue(survivor.owner, survivor.cq, 16);
        if (after.completions.some((x) => x.status !== WcStatus.SUCCESS)) next = -1;
      }
      clean = errors > 0 || next !== NicStatus.SUCCESS || state !== 'connected';
      if (!clean && report.examples.length < 10) report.examples.push(`run ${i}: peer still connected (${state}) after the kill`);
    });
    report.runs++;
    if (clean) report.peerFailedCleanly++;
    if (result.leaks.length || result.outcome === 'bugcheck' || result.outcome === 'unclean') {
      report.leaks++;
      if (report.examples.length < 10) report.examples.push(`run ${i}: ${result.outcome} ${result.error ?? ''} ${result.leaks.join('; ')} ${result.stops.join('; ')}`);
    }
  }
  return report;
}
