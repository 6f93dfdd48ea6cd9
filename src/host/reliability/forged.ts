/**
 * Forged RDMA descriptors from a connected peer: random remote keys, keys one off a real one,
 * real keys with offsets or lengths outside the grant. Each attempt must move zero bytes on
 * the victim: its NIC's DMA byte counters (the verifier's per-device counters) stay put, the
 * victim's memory keeps its bytes, and the attacker's completion is an error.
 *
 * The victim's grants are bound to the very connection the attacker uses — a registered
 * buffer, low memory from ALLOCATE_MEMORY (both re-bound with REVALIDATE at every new
 * connection) and a memory window over the middle of a third buffer (bound from user mode) — so
 * the connection binding never helps: only the key, offset and length checks stand between
 * the attacker and the bytes.
 */
import { PAGE_SIZE, testPattern } from '../../bus/index.ts';
import { seededRandom } from '../../kernel/fault-injection.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../kernel/mm/index.ts';
import { NicAccess, NicStatus, WcStatus } from '../../nic/index.ts';
import { SANPROXY_LOCAL_READ, SANPROXY_LOCAL_WRITE, SANPROXY_WINDOW_BIND } from '../../proxy/interface.ts';
import type { Host } from '../host.ts';
import { bootVerified, runOnce } from './harness.ts';
import { ALL_ACCESS, TWO_HOSTS, connectPeers, expectIoctl, openPeer, type Peer } from './scenario.ts';

export interface ForgedReport {
  attempts: number;
  /** Attempts that moved a byte on the victim or completed successfully. */
  succeeded: number;
  leaks: number;
  examples: string[];
}

const REGION = 16 * 1024;
/** The window exposes [WINDOW_OFFSET, +WINDOW_BYTES) of its buffer. */
const WINDOW_OFFSET = PAGE_SIZE;
const WINDOW_BYTES = PAGE_SIZE;

interface Grant {
  remoteKey: number;
  /** Bytes the key reaches (offsets 0..bytes-1 are a valid request). */
  bytes: number;
}

export async function forgeDescriptors(options: { attempts: number; seed: number }): Promise<ForgedReport> {
  const r = seededRandom(options.seed);
  const int = (n: number) => Math.floor(r() * n);
  const report: ForgedReport = { attempts: 0, succeeded: 0, leaks: 0, examples: [] };
  const cluster = bootVerified(TWO_HOSTS);
  const result = await runOnce(cluster, async (c) => {
    const [ha, hb] = c.hosts as [Host, Host];
    const victimProcess = hb.createProcess('victim');
    const victim = openPeer(hb, 'victim-endpoints');
    const victimBuffer = victimProcess.VirtualAlloc(0, REGION, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    // The victim's registrations are made by the endpoint's own process so keys are real.
    const userBuf = victim.process.VirtualAlloc(0, REGION, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const reg = victim.client.register(0, ALL_ACCESS, userBuf, REGION);
    expectIoctl('victim register', reg);
    const low = victim.client.allocate(0, ALL_ACCESS, REGION);
    expectIoctl('victim allocate', low);
    const windowBuf = victim.process.VirtualAlloc(0, REGION, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const wreg = victim.client.register(0, SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE | SANPROXY_WINDOW_BIND, windowBuf, REGION);
    expectIoctl('victim register with a window', wreg);
    const secret = testPattern(REGION, 5);
    for (const va of [userBuf, low.userAddress, windowBuf]) victim.process.writeMemory(va, secret);
    victimProcess.writeMemory(victimBuffer, secret);
    const dma = hb.kernel.verifier!.dmaBytes.get(`${hb.kernel.name}:san0`)!;

    let port = 6000;
    let attacker: Peer | null = null;
    let victimEndpoint: Peer | null = null;
    let grants: Grant[] = [];
    let windowBound = false;
    for (let i = 0; i < options.attempts; i++) {
      if (attacker === null) {
        attacker = openPeer(ha, `attacker${i}`);
        // A fresh endpoint of the victim's own process, so its grants can be bound to it.
        if (victimEndpoint !== null) expectIoctl('victim destroy endpoint', victim.client.destroyEndpoint(0, victimEndpoint.endpoint));
        const ep = victim.client.createEndpoint(0);
        expectIoctl('victim create endpoint', ep);
        victimEndpoint = { ...victim, endpoint: ep.endpoint, cq: ep.completionQueue };
        connectPeers(c, attacker, victimEndpoint, port++);
        const again = victim.client.revalidate(reg.id, ALL_ACCESS, ep.endpoint);
        expectIoctl('victim re-bind registration', again);
        const lowAgain = victim.client.revalidate(low.id, ALL_ACCESS, ep.endpoint);
        expectIoctl('victim re-bind low memory', lowAgain);
        if (windowBound && victim.nic.invalidateWindow(victim.owner, wreg.window) !== NicStatus.SUCCESS) {
          throw new Error('victim: cannot invalidate its window');
        }
        const bound = victim.nic.bindWindow(victim.owner, ep.endpoint, wreg.window, wreg.handle, WINDOW_OFFSET, WINDOW_BYTES,
          NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE);
        if (bound.status !== NicStatus.SUCCESS) throw new Error(`victim: bindWindow failed with ${bound.status}`);
        windowBound = true;
        grants = [
          { remoteKey: again.remoteKey, bytes: REGION },
          { remoteKey: lowAgain.remoteKey, bytes: REGION },
          { remoteKey: bound.remoteKey, bytes: WINDOW_BYTES },
        ];
      }
      const localLow = attacker.client.allocate(0, ALL_ACCESS, REGION);
      expectIoctl('attacker allocate', localLow);
      const mine = testPattern(REGION, 1000 + i);
      attacker.process.writeMemory(localLow.userAddress, mine);
      // A forged descriptor: at least one of key, offset, length is not a valid grant.
      const grant = grants[int(grants.length)]!;
      const realKey = grant.remoteKey;
      const size = grant.bytes;
      let remoteKey = realKey;
      let address = 0;
      let length = 1 + int(size);
      switch (int(4)) {
        case 0: remoteKey = (r() * 2 ** 32) >>> 0; break;
        case 1: remoteKey = (realKey ^ (1 << int(32))) >>> 0; break;
        case 2: address = size - int(8); length = 16 + int(REGION); break;
        default: address = [size, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER - 4][int(4)]!; length = 1 + int(64); break;
      }
      // Keep it forged: a real key must overrun its grant.
      if (remoteKey === realKey && address + length <= size) address = size;
      // Another real key is a valid grant too: change it.
      if (remoteKey !== realKey && grants.some((g) => g.remoteKey === remoteKey)) remoteKey = (remoteKey ^ 0x80000000) >>> 0;
      const localLength = Math.min(length, REGION);
      const before = { read: dma.read, write: dma.write };
      const write = r() < 0.5;
      const post = write ? attacker.nic.postRdmaWrite.bind(attacker.nic) : attacker.nic.postRdmaRead.bind(attacker.nic);
      const status = post(attacker.owner, attacker.endpoint, {
        context: i, elements: [{ localHandle: localLow.handle, offset: 0, length: localLength }], remote: { remoteKey, address, length },
      });
      report.attempts++;
      c.fabric.runUntilIdle();
      const polled = attacker.nic.pollCompletionQueue(attacker.owner, attacker.cq, 16);
      const completedOk = polled.completions.some((x) => x.status === WcStatus.SUCCESS);
      const moved = dma.read !== before.read || dma.write !== before.write;
      const check = new Uint8Array(REGION);
      victim.process.readMemory(userBuf, check);
      const userChanged = Buffer.compare(check, secret) !== 0;
      victim.process.readMemory(low.userAddress, check);
      let lowChanged = Buffer.compare(check, secret) !== 0;
      victim.process.readMemory(windowBuf, check);
      lowChanged ||= Buffer.compare(check, secret) !== 0;
      attacker.process.readMemory(localLow.userAddress, check);
      const leakedIn = Buffer.compare(check, mine) !== 0;
      if (completedOk || moved || userChanged || lowChanged || leakedIn) {
        report.succeeded++;
        if (report.examples.length < 10) {
          report.examples.push(`${write ? 'write' : 'read'} key 0x${remoteKey.toString(16)} (real 0x${realKey.toString(16)}, ${size} bytes) at ${address}+${length}: ` +
            `post ${status}, ok ${completedOk}, dma ${moved}, victim ${userChanged || lowChanged}, local ${leakedIn}`);
        }
      }
      expectIoctl('attacker release', attacker.client.release(localLow.id));
      // A failed RDMA puts the connection in error; start a new one.
      if (!completedOk) {
        attacker.client.close();
        attacker = null;
      }
    }
  });
  if (result.leaks.length || result.outcome !== 'ok') {
    report.leaks++;
    report.examples.push(`teardown: ${result.outcome} ${result.error ?? ''} ${result.leaks.join('; ')} ${result.stops.join('; ')}`);
  }
  return report;
}
