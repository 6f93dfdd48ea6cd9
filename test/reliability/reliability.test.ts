/**
 * The bounded CI version of `sanproxy faults`: the full systematic sweep of the proxy scenario,
 * a fixed-seed IOCTL fuzz, forged RDMA descriptors and kills mid-transfer.
 */
import { describe, expect, it } from 'vitest';
import { BugCheck } from '../../src/kernel/bugcheck.ts';
import { ExAllocatePool2, POOL_FLAG_NON_PAGED, poolTag } from '../../src/kernel/mm/index.ts';
import {
  RawProxyClient, TWO_HOSTS, bootVerified, demoScenario, forgeDescriptors, fuzzIoctls, killMidTransfer, proxyScenario, runFaults, sweep,
} from '../../src/host/reliability/index.ts';

describe('systematic low resources sweep of the proxy scenario', () => {
  it('every allocation k failing ends in a clean error, no bug check, nothing leaked', async () => {
    const r = await sweep(proxyScenario);
    expect(r.sites).toEqual(expect.arrayContaining(['ExAllocatePool2', 'IoAllocateMdl', 'MmProbeAndLockPages',
      'MmAllocateContiguousMemorySpecifyCache', 'AllocateCommonBuffer', 'MmMapLockedPagesSpecifyCache', 'IoAllocateIrp']));
    expect(r.runs).toBe(Object.values(r.allocations).reduce((a, b) => a + b, 0));
    expect(r.unfired).toBe(0);
    expect(r.failures).toEqual([]);
    expect(r.cleanErrors + r.completed).toBe(r.runs);
  });

  it('a scenario that leaks kernel pool is caught by the teardown accounting (the detector can fail)', async () => {
    const r = await sweep({
      name: 'leaky', cluster: TWO_HOSTS,
      async run(c) {
        ExAllocatePool2(c.hosts[0]!.kernel, POOL_FLAG_NON_PAGED, 64, poolTag('Leak'));
      },
    }, { limit: 0 }).catch((e: Error) => e);
    expect(r).toBeInstanceOf(Error);
    expect((r as Error).message).toMatch(/poolBytes \+64/);
  });
});

describe('IOCTL fuzzing', () => {
  it('IRP_MJ_DEVICE_CONTROL: a METHOD_NEITHER code with input never makes the driver read a NULL SystemBuffer (no 0x50)', () => {
    const c = bootVerified(TWO_HOSTS);
    const h = c.hosts[1]!;
    const client = new RawProxyClient(h, h.createProcess('app'));
    const neither = ((0x8053 << 16) | (3 << 14) | (0x802 << 2) | 3) >>> 0; // ALLOCATE_MEMORY's function, METHOD_NEITHER
    let stop: BugCheck | null = null;
    try {
      const r = client.ioctl(neither, new Uint8Array(24), 32);
      expect(r.ok).toBe(false);
    } catch (e) {
      if (!(e instanceof BugCheck)) throw e;
      stop = e;
    }
    expect(stop?.message ?? null).toBeNull();
  });

  it('a fixed-seed fuzz run crashes no host and leaks nothing', async () => {
    const r = await fuzzIoctls({ cases: 1000, seed: 42 });
    expect(r.cases).toBe(1000);
    expect(r.leakingBatches).toBe(0);
    expect(r.examples).toEqual([]);
    expect(r.crashes).toBe(0);
  });
});

describe('systematic low resources sweep of the demo scenario (switch, provider, proxy)', () => {
  it('allocations spread over the whole transfer, each failing in turn: clean errors, no bug check, nothing leaked', async () => {
    const r = await sweep(demoScenario(), { limit: 48 });
    expect(r.sites.length).toBeGreaterThan(8);
    expect(r.runs).toBe(48);
    expect(r.failures.map((f) => `${f.host}#${f.nth} ${f.site}: ${f.result.outcome} ${f.result.error ?? ''} ${f.result.leaks.join(',')}`)).toEqual([]);
    expect(r.bugChecks).toBe(0);
    expect(r.leaks).toBe(0);
  });
});

describe('adversarial peers and processes', () => {
  it('forged RDMA descriptors move zero bytes', async () => {
    const r = await forgeDescriptors({ attempts: 120, seed: 9 });
    expect(r.attempts).toBe(120);
    expect(r.examples).toEqual([]);
    expect(r.succeeded).toBe(0);
    expect(r.leaks).toBe(0);
  });

  it('killing a process mid-transfer releases everything and fails the peer cleanly', async () => {
    const r = await killMidTransfer({ runs: 8 });
    expect(r.examples).toEqual([]);
    expect(r.leaks).toBe(0);
    expect(r.peerFailedCleanly).toBe(8);
  });

  it('runFaults reports the summary fields the CLI prints', async () => {
    const s = await runFaults({ json: true, sweepLimit: 5, fuzzCases: 50, forgedAttempts: 10, killRuns: 2, lossyRuns: 1, deadPeerRuns: 1, seed: 3 });
    expect(Object.keys(s)).toEqual(['sites', 'runs', 'recovered', 'cleanErrors', 'unclean', 'unfired', 'bugChecks', 'leaks',
      'fuzzCases', 'fuzzCrashes', 'forgedAttempts', 'forgedSucceeded', 'forgedLeaks', 'killRuns', 'killLeaks',
      'killPeerFailedCleanly', 'lossyRuns', 'lossyFailures', 'deadPeerRuns', 'deadPeerLeaks', 'passed']);
    expect(s.passed).toBe(true);
    // The limit applies to each swept scenario: the proxy scenario and the demo's.
    expect(s.runs).toBe(10);
    expect(s.fuzzCases).toBe(50);
  });
});
