/**
 * The SAN proxy driver's contracts, one rule per test, through the real user-mode path.
 */
import { describe, expect, it } from 'vitest';
import { GIB, PAGE_SIZE } from '../../src/bus/index.ts';
import { createCluster, leakedCounters, snapshot, type Host } from '../../src/host/index.ts';
import {
  DO_DEVICE_INITIALIZING,
  DO_DIRECT_IO,
  ERROR_ACCESS_DENIED,
  ERROR_INSUFFICIENT_BUFFER,
  ERROR_INVALID_FUNCTION,
  ERROR_INVALID_HANDLE,
  ERROR_INVALID_PARAMETER,
  ERROR_MORE_DATA,
  ERROR_NOACCESS,
  ERROR_NOT_ENOUGH_MEMORY,
  ERROR_NO_SYSTEM_RESOURCES,
  ERROR_WORKING_SET_QUOTA,
  GENERIC_READ,
} from '../../src/kernel/io/index.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, MM_SYSTEM_RANGE_START, PAGE_READWRITE } from '../../src/kernel/mm/index.ts';
import { parseIpv4 } from '../../src/kernel/net/ip-addresses.ts';
import {
  IOCTL_SANPROXY_ALLOCATE_MEMORY,
  SANPROXY_LOCAL_READ,
  SANPROXY_LOCAL_WRITE,
  SANPROXY_REMOTE_WRITE,
  SANPROXY_SERVICE,
  TAG_ALLOCATION,
  TAG_OPEN,
  TAG_REGISTRATION,
  TRANSLATE_IP_TO_SAN,
  TRANSLATE_SAN_TO_IP,
  sanProxyState,
} from '../../src/proxy/index.ts';
import { RawProxyClient as ProxyClient } from '../../src/host/reliability/index.ts';

const RW = SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE;

function oneHost(opts: { bits?: 32 | 64; nolowmem?: boolean; strategy?: 'contiguous' | 'common-buffer'; verifier?: boolean } = {}) {
  const cluster = createCluster({
    hosts: [
      {
        name: 'h',
        ramBytes: 6 * GIB,
        nolowmem: opts.nolowmem ?? true,
        strategy: opts.strategy ?? 'contiguous',
        verifier: opts.verifier ?? false,
        nics: [{ addressBits: opts.bits ?? 64, ip: '10.1.0.1' }, { addressBits: 32, ip: '10.1.1.1' }],
      },
      { name: 'peer', ramBytes: 6 * GIB, nolowmem: true, nics: [{ addressBits: 64, ip: '10.1.0.2' }] },
    ],
  });
  const host = cluster.hosts[0]!;
  expect(host.loadProxy()).toBe(0);
  expect(cluster.hosts[1]!.loadProxy()).toBe(0);
  return { cluster, host, peer: cluster.hosts[1]! };
}

const driverPool = (h: Host) =>
  h.kernel.mm.pool.tags().filter((t) => [TAG_OPEN, TAG_ALLOCATION, TAG_REGISTRATION].includes(t.tag)).reduce((s, t) => s + t.bytes, 0);

describe('SAN proxy driver', () => {
  it('DriverEntry sets DO_DIRECT_IO on its device and clears DO_DEVICE_INITIALIZING', () => {
    const { host } = oneHost();
    const device = sanProxyState(host.kernel)!.control!;
    expect(device.Flags & DO_DIRECT_IO).toBe(DO_DIRECT_IO);
    expect(device.Flags & DO_DEVICE_INITIALIZING).toBe(0);
  });

  it('AddDevice gets a DMA adapter per NIC from a zero-initialized DEVICE_DESCRIPTION (the HAL finds no garbage)', () => {
    const { host } = oneHost();
    const state = sanProxyState(host.kernel)!;
    expect(state.nics.map((n) => n.addressBits)).toEqual([64, 32]);
    expect(state.nics.every((n) => n.adapter.Version === 1)).toBe(true);
    expect(host.kernel.hal.findings).toEqual([]);
    expect(host.kernel.hal.counters().adapters).toBe(2);
  });

  it('keeps its NICs\' IP addresses, following address add and remove notifications', () => {
    const { host } = oneHost();
    const c = new ProxyClient(host, host.createProcess('app'));
    expect(c.queryAddresses().entries.map((e) => [e.ip, e.nicIndex])).toEqual([
      [parseIpv4('10.1.0.1'), 0],
      [parseIpv4('10.1.1.1'), 1],
    ]);
    const pciId = host.nics[1]!.pci.id;
    host.kernel.net.add(parseIpv4('10.1.1.9')!, pciId);
    host.kernel.net.remove(parseIpv4('10.1.0.1')!);
    expect(c.queryAddresses().entries.map((e) => e.ip)).toEqual([parseIpv4('10.1.1.1'), parseIpv4('10.1.1.9')]);
  });

  it('QUERY_ADDRESSES with room for fewer entries returns those and the total (ERROR_MORE_DATA)', () => {
    const { host } = oneHost();
    const c = new ProxyClient(host, host.createProcess('app'));
    const r = c.queryAddresses(4 + 16);
    expect(r.ok).toBe(false);
    expect(r.lastError).toBe(ERROR_MORE_DATA);
    expect(r.count).toBe(2);
    expect(r.entries.length).toBe(1);
  });

  it('TRANSLATE_ADDRESS resolves a peer IP to its SAN address and back; an unknown IP is unreachable', () => {
    const { host, peer } = oneHost();
    const c = new ProxyClient(host, host.createProcess('app'));
    const san = c.translate(TRANSLATE_IP_TO_SAN, 0, parseIpv4('10.1.0.2')!);
    expect(san.value).toBe(peer.nics[0]!.nic.sanAddress);
    expect(c.translate(TRANSLATE_SAN_TO_IP, 0, san.value).value).toBe(parseIpv4('10.1.0.2'));
    expect(c.translate(TRANSLATE_IP_TO_SAN, 0, parseIpv4('10.9.9.9')!).ok).toBe(false);
    expect(c.translate(7, 0, 1).lastError).toBe(ERROR_INVALID_PARAMETER);
  });

  it('allocated low memory reaches a 32-bit NIC on NOLOWMEM and is zeroed even when the pages held data before', () => {
    const { host } = oneHost({ nolowmem: true });
    const c = new ProxyClient(host, host.createProcess('app'));
    const first = c.allocate(1, RW, 3 * PAGE_SIZE);
    expect(first.ok).toBe(true);
    c.process.writeMemory(first.userAddress, new Uint8Array(3 * PAGE_SIZE).fill(0xa5));
    expect(c.release(first.id).ok).toBe(true);
    const second = c.allocate(1, RW, 3 * PAGE_SIZE);
    expect(second.ok).toBe(true);
    const seen = new Uint8Array(3 * PAGE_SIZE);
    c.process.readMemory(second.userAddress, seen);
    expect(seen.every((x) => x === 0)).toBe(true);
    expect(host.nics[1]!.nic.handedAddresses().every((a) => a < 2 ** 32)).toBe(true);
  });

  it('IOCTL bad input gets the documented Win32 error and allocates nothing', () => {
    const { host } = oneHost();
    const c = new ProxyClient(host, host.createProcess('app'));
    c.queryAddresses(); // faults in the client's scratch pages before the baseline
    c.release(0);
    const before = snapshot(host);
    expect(c.ioctl(0x8053_2000 | 3, new Uint8Array(0), 0).lastError).toBe(ERROR_INVALID_FUNCTION); // unknown code
    expect(c.ioctl(IOCTL_SANPROXY_ALLOCATE_MEMORY, new Uint8Array(8), 32).lastError).toBe(ERROR_INSUFFICIENT_BUFFER);
    expect(c.allocate(0, RW, 0).lastError).toBe(ERROR_INVALID_PARAMETER); // zero bytes
    expect(c.allocate(9, RW, 4096).lastError).toBe(ERROR_INVALID_PARAMETER); // no such NIC
    expect(c.allocate(0, 0x20, 4096).lastError).toBe(ERROR_INVALID_PARAMETER); // unknown access bit
    expect(c.allocate(0, 0x10, 4096).lastError).toBe(ERROR_INVALID_PARAMETER); // a window but no rights
    expect(c.allocate(0, SANPROXY_REMOTE_WRITE, 4096).lastError).toBe(ERROR_INVALID_PARAMETER); // remote write without local write
    expect(c.allocate(0, RW, 2 ** 60).lastError).toBe(ERROR_INVALID_PARAMETER); // huge
    expect(c.register(0, RW, MM_SYSTEM_RANGE_START, 4096).lastError).toBe(ERROR_NOACCESS); // kernel address
    expect(c.register(0, RW, 0x7fff_ffff_0000 - 100, 4096).lastError).toBe(ERROR_NOACCESS); // wraps past user space
    expect(c.register(0, RW, 0x7000_0000_0000, 4096).lastError).toBe(ERROR_NOACCESS); // not allocated
    expect(c.register(0, RW, 0x7000_0000_0000, 0).lastError).toBe(ERROR_INVALID_PARAMETER);
    expect(c.release(12345).lastError).toBe(ERROR_INVALID_HANDLE);
    expect(c.deregister(2 ** 53 + 10).lastError).toBe(ERROR_INVALID_HANDLE);
    expect(c.unsecure(0xdead).lastError).toBe(ERROR_INVALID_HANDLE); // never reaches MmUnsecureVirtualMemory
    expect(c.destroyEndpoint(0, 77).lastError).toBe(ERROR_INVALID_HANDLE);
    expect(host.kernel.bugcheck.crashed).toBeNull();
    expect(leakedCounters(before, snapshot(host))).toEqual([]);
  });

  it('a handle opened without write access cannot allocate (FILE_WRITE_ACCESS in the IOCTL code)', () => {
    const { host } = oneHost();
    const p = host.createProcess('reader');
    const c = new ProxyClient(host, p, GENERIC_READ);
    expect(c.usable).toBe(true);
    expect(c.allocate(0, RW, 4096).lastError).toBe(ERROR_ACCESS_DENIED);
    expect(c.close()).toBe(true);
  });

  it('ids are per handle: another process cannot release, deregister or unsecure what it did not create', () => {
    const { host } = oneHost();
    const owner = new ProxyClient(host, host.createProcess('owner'));
    const intruder = new ProxyClient(host, host.createProcess('intruder'));
    const a = owner.allocate(0, RW, 8192);
    const buf = owner.process.VirtualAlloc(0, 8192, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const r = owner.register(0, RW, buf, 8192);
    const s = owner.secure(buf, 8192, PAGE_READWRITE);
    expect(a.ok && r.ok && s.ok).toBe(true);
    expect(intruder.release(a.id).lastError).toBe(ERROR_INVALID_HANDLE);
    expect(intruder.deregister(r.id).lastError).toBe(ERROR_INVALID_HANDLE);
    expect(intruder.unsecure(s.secureHandle).lastError).toBe(ERROR_INVALID_HANDLE);
    expect(owner.release(a.id).ok).toBe(true);
    expect(owner.deregister(r.id).ok).toBe(true);
    expect(owner.unsecure(s.secureHandle).ok).toBe(true);
  });

  it('SECURE_MEMORY makes a range unreleasable until UNSECURE_MEMORY (MmSecureVirtualMemory)', () => {
    const { host } = oneHost();
    const c = new ProxyClient(host, host.createProcess('app'));
    const buf = c.process.VirtualAlloc(0, 8192, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const s = c.secure(buf, 8192, PAGE_READWRITE);
    expect(s.ok).toBe(true);
    expect(host.kernel.ps.runInProcess(c.process, () => c.process.VirtualFree(buf, 0, MEM_RELEASE))).toBe(false);
    expect(c.unsecure(s.secureHandle).ok).toBe(true);
    expect(host.kernel.ps.runInProcess(c.process, () => c.process.VirtualFree(buf, 0, MEM_RELEASE))).toBe(true);
  });

  it('a process that exits without closing its handle loses everything through IRP_MJ_CLEANUP: no 0x76, nothing leaked', () => {
    const { host } = oneHost({ verifier: true, bits: 64 });
    const before = snapshot(host);
    const c = new ProxyClient(host, host.createProcess('crashy'));
    const buf = c.process.VirtualAlloc(0, 64 * 1024, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    const ep = c.createEndpoint(0);
    expect(ep.ok).toBe(true);
    expect(c.allocate(0, RW, 20000, ep.endpoint).ok).toBe(true);
    expect(c.register(0, RW, buf, 64 * 1024).ok).toBe(true);
    expect(c.secure(buf, 4096, PAGE_READWRITE).ok).toBe(true);
    expect(host.kernel.mm.counters().lockedPages).toBeGreaterThan(0);
    expect(host.kernel.ps.terminateProcess(c.process, 1)).toBe(0);
    expect(host.kernel.bugcheck.crashed).toBeNull();
    expect(leakedCounters(before, snapshot(host))).toEqual([]);
    expect(driverPool(host)).toBe(0);
  });

  it('unload after every handle closed leaves no pool, adapter or device behind', () => {
    const { host } = oneHost();
    const c = new ProxyClient(host, host.createProcess('app'));
    expect(c.allocate(0, RW, 4096).ok).toBe(true);
    expect(c.close()).toBe(true);
    expect(host.unloadProxy()).toBe(0);
    expect(sanProxyState(host.kernel)).toBeNull();
    expect(driverPool(host)).toBe(0);
    expect(host.kernel.hal.counters().adapters).toBe(0);
    expect(host.kernel.io.driver(SANPROXY_SERVICE)).toBeNull();
  });

  it('every allocation the allocate and register paths make can fail: a clean error, nothing leaked (systematic)', () => {
    for (const strategy of ['contiguous', 'common-buffer'] as const) {
      const { host } = oneHost({ strategy, bits: 32, nolowmem: false });
      const c = new ProxyClient(host, host.createProcess('app'));
      const buf = c.process.VirtualAlloc(0, 3 * PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
      c.process.writeMemory(buf, new Uint8Array(3 * PAGE_SIZE).fill(1));
      const k = host.kernel;
      // A first round faults in the client's scratch pages and leaves the lookaside lists (the
      // I/O manager's, the driver's) holding what one round uses, as on a running system; the
      // second counts the allocations one allocate + register makes, and the baseline is taken
      // after both. A lookaside hit takes nothing from the system, so it is no fault point (it
      // cannot fail in Windows); the verifier's runs (test/reliability) turn the caches off.
      k.faults.setPolicy({ kind: 'none' });
      const warm = c.allocate(0, RW, 5000);
      const warmRegistration = c.register(0, RW, buf + 100, 2 * PAGE_SIZE);
      expect(warm.ok && warmRegistration.ok && c.release(warm.id).ok && c.deregister(warmRegistration.id).ok).toBe(true);
      const seen = () => [...k.faults.sitesSeen.values()].reduce((s, n) => s + n, 0);
      const start = seen();
      const a = c.allocate(0, RW, 5000);
      const r = c.register(0, RW, buf + 100, 2 * PAGE_SIZE);
      expect(a.ok && r.ok).toBe(true);
      const total = seen() - start;
      expect(c.release(a.id).ok && c.deregister(r.id).ok).toBe(true);
      expect(total).toBeGreaterThan(4);
      const before = snapshot(host);
      for (let n = 1; n <= total; n++) {
        k.faults.setPolicy({ kind: 'nth', n });
        const a2 = c.allocate(0, RW, 5000);
        const r2 = c.register(0, RW, buf + 100, 2 * PAGE_SIZE);
        k.faults.setPolicy({ kind: 'none' });
        expect(a2.ok && r2.ok, `failing allocation ${n} of ${total}`).toBe(false);
        for (const e of [a2, r2].filter((x) => !x.ok)) {
          // MmProbeAndLockPages raises STATUS_WORKING_SET_QUOTA when it cannot take the lock.
          expect([ERROR_NO_SYSTEM_RESOURCES, ERROR_NOT_ENOUGH_MEMORY, ERROR_NOACCESS, ERROR_WORKING_SET_QUOTA]).toContain(e.lastError);
        }
        if (a2.ok) expect(c.release(a2.id).ok).toBe(true);
        if (r2.ok) expect(c.deregister(r2.id).ok).toBe(true);
        expect(leakedCounters(before, snapshot(host)), `after failing allocation ${n}`).toEqual([]);
      }
      expect(k.bugcheck.crashed).toBeNull();
    }
  });
});

describe('SAN proxy driver: codes it does not own', () => {
  it('a METHOD_NEITHER code with input bytes is refused before any buffer is touched (no 0x50)', () => {
    const { host } = oneHost();
    const c = new ProxyClient(host, host.createProcess('app'));
    // Function 0x802 (ALLOCATE_MEMORY's) but METHOD_NEITHER: there is no SystemBuffer.
    const neither = ((0x8053 << 16) | (3 << 14) | (0x802 << 2) | 3) >>> 0;
    expect(c.ioctl(neither, new Uint8Array(24).fill(7), 32).lastError).toBe(ERROR_INVALID_FUNCTION);
    expect(host.kernel.bugcheck.crashed).toBeNull();
  });
});
