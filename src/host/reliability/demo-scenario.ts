/**
 * The demo's workload as a reliability scenario: the switch transfer of `sanproxy demo`
 * (control messages and RDMA, a 32-bit NOLOWMEM host staging through proxy low memory and a
 * 64-bit host registering in place), shortened so a sweep over every allocation it makes fits
 * in CI. What the application sees of a failure — a SocketError, a failed VirtualAlloc or
 * process creation — is the clean error the sweep requires.
 */
import { GIB } from '../../bus/index.ts';
import { NtStatusError } from '../../kernel/status.ts';
import { SocketError } from '../../switch/index.ts';
import type { ClusterSpec } from '../cluster.ts';
import { runTransfer, startApps } from '../demo-scenario.ts';
import { ScenarioError, type ReliabilityScenario } from './scenario.ts';

export const DEMO_HOSTS: ClusterSpec = {
  autoDrive: true,
  hosts: [
    { name: 'a', ramBytes: 6 * GIB, nolowmem: true, strategy: 'contiguous', nics: [{ addressBits: 32, ip: '10.0.0.1' }] },
    { name: 'b', ramBytes: 6 * GIB, nolowmem: true, strategy: 'common-buffer', nics: [{ addressBits: 64, ip: '10.0.0.2' }] },
  ],
};

export function demoScenario(bytes = 192 * 1024, seed = 11): ReliabilityScenario {
  return {
    name: `demo: switch transfer of ${bytes} bytes, close, cleanup`,
    cluster: DEMO_HOSTS,
    async run(cluster) {
      try {
        const apps = startApps(cluster);
        const r = await runTransfer(apps, { bytes, seed });
        if (!r.verified) throw new Error(`demo transfer corrupted: ${r.error ?? 'short'}`);
      } catch (e) {
        if (e instanceof SocketError) throw new ScenarioError(`socket call (${e.message})`, e.code, 'wsa');
        if (e instanceof NtStatusError) throw new ScenarioError(`process creation (${e.message})`, e.status, 'ntstatus');
        if (e instanceof Error && e.message.startsWith('VirtualAlloc(')) throw new ScenarioError(e.message, 8, 'win32');
        throw e;
      }
    },
  };
}
