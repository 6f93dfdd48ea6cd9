/**
 * Forged RDMA descriptors from a connected peer: random remote keys, keys one off a real one,
 * real keys with offsets or lengths outside the region. Each attempt must move zero bytes on
 * the victim: its NIC's DMA byte counters (the verifier's per-device counters) stay put, the
 * victim's memory keeps its bytes, and the attacker's completion is an error.
 */
import { seededRandom } from '../../kernel/fault-injection.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../kernel/mm/index.ts';
import { WcStatus } from '../../nic/index.ts';
import type { Host } from '../host.ts';
import { bootVerified, runOnce } from './harness.ts';
import { ALL_ACCESS, TWO_HOSTS, connectPeers, expectIoctl, openPeer, pattern, type Peer } from './scenario.ts';

export interface ForgedReport {
  attempts: number;
  /** Attempts that moved a byte on the victim or completed successfully. */
  succeeded: number;
  leaks: number;
  examples: string[];
}

const REGION = 16 * 1024;

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
    const secret = pattern(5, REGION);
    victim.process.writeMemory(userBuf, secret);
    victim.process.writeMemory(low.userAddress, secret);
    victimProcess.writeMemory(victimBuffer, secret);
    const keys = [reg.remoteKey, low.remoteKey];
    const dma = hb.kernel.verifier!.dmaBytes.get(`${hb.kernel.name}:san0`)!;

    let port = 6000;
    let attacker: Peer | null = null;
    for (let i = 0; i < options.attempts; i++) {
      if (attacker === null) {
        attacker = openPeer(ha, `attacker${i}`);
        const fresh = openPeer(hb, `victim${i}`);
        connectPeers(c, attacker, fresh, port++);
      }
      const localLow = attacker.client.allocate(0, ALL_ACCESS, REGION);
      expectIoctl('attacker allocate', localLow);
      const mine = pattern(1000 + i, REGION);
      attacker.process.writeMemory(localLow.userAddress, mine);
      // A forged descriptor: at least one of key, offset, length is not a valid grant.
      const realKey = keys[int(keys.length)]!;
      let remoteKey = realKey;
      let address = 0;
      let length = 1 + int(REGION);
      switch (int(4)) {
        case 0: remoteKey = (r() * 2 ** 32) >>> 0; break;
        case 1: remoteKey = (realKey ^ (1 << int(32))) >>> 0; break;
        case 2: address = REGION - int(8); length = 16 + int(REGION); break;
        default: address = [REGION, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER - 4][int(4)]!; length = 1 + int(64); break;
      }
      if (remoteKey === realKey && address + length <= REGION) address = REGION; // keep it forged
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
      const lowChanged = Buffer.compare(check, secret) !== 0;
      attacker.process.readMemory(localLow.userAddress, check);
      const leakedIn = Buffer.compare(check, mine) !== 0;
      if (completedOk || moved || userChanged || lowChanged || leakedIn) {
        report.succeeded++;
        if (report.examples.length < 10) {
          report.examples.push(`${write ? 'write' : 'read'} key 0x${remoteKey.toString(16)} (real 0x${realKey.toString(16)}) at ${address}+${length}: ` +
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
