/**
 * One host in an operating-system process of its own (`sanproxy host`): its kernel, one SAN NIC
 * on a UDP link bound to the host's IPv4 address and port 4791 (src/nic/udp-link.ts), the SAN
 * proxy driver loaded, and a scheduler that follows real time. Hosts in other processes (or on
 * other machines) are reached only by RoCEv2 datagrams: there is no broker, no shared memory.
 *
 * Implementation notes
 * - Start-up order: the socket first (an address in use fails before anything boots), then the
 *   kernel, the NIC on the fabric at its IPv4 address (a UDP fabric's SAN address), the proxy.
 * - `stop()` is the teardown a process does on exit or SIGTERM: the work has already ended
 *   (roles close their sockets and end their processes), the machine is drained, the resources
 *   are compared with the snapshot taken after the proxy loaded (the leak table), the proxy is
 *   unloaded, the socket closed and the real-time timer cleared — nothing stays bound or armed.
 */
import { Fabric, Scheduler, UdpLink, type UdpLinkCounters } from '../nic/index.ts';
import type { PcapWriter } from '../wire/index.ts';
import { difference, snapshot, type ResourceSnapshot } from './accounting.ts';
import { Host, type LowMemoryStrategy } from './host.ts';

export interface HostNodeSpec {
  name: string;
  /** The host's IPv4 address, dotted (a loopback address on one machine, 127.0.0.2 …). */
  address: string;
  /** The other hosts' addresses. */
  peers: readonly string[];
  ramBytes: number;
  nolowmem: boolean;
  nicBits: 32 | 64;
  strategy: LowMemoryStrategy;
  iommu: boolean;
  verifier: boolean;
  rdmaRead?: boolean;
  mtu?: number;
  /** Capture every frame the link sends and receives (full Ethernet frames, libpcap). */
  capture?: PcapWriter;
}

export interface HostNodeTeardown {
  /** Resources that did not come back, by counter (all zero when nothing leaked). */
  leaks: ResourceSnapshot;
  leaked: string[];
  /** The bug check that took the host down, if one did. */
  bugCheck: string | null;
  link: UdpLinkCounters;
  kernelDrops: number | null;
}

/** Nanoseconds of the process's monotonic clock (what the scheduler follows). */
export const monotonicNs = (): number => Number(process.hrtime.bigint());

export class HostNode {
  private baseline: ResourceSnapshot | null = null;
  private stopped: Promise<HostNodeTeardown> | null = null;

  private constructor(
    readonly spec: HostNodeSpec,
    readonly scheduler: Scheduler,
    readonly link: UdpLink,
    readonly fabric: Fabric<UdpLink>,
    readonly host: Host,
  ) {}

  /** Bind, boot, load the proxy. Rejects (UdpLinkError, or the proxy's status) with nothing left bound. */
  static async start(spec: HostNodeSpec): Promise<HostNode> {
    const scheduler = new Scheduler(spec.name);
    const link = await UdpLink.open(scheduler, { address: spec.address, peers: spec.peers, pathMtu: spec.mtu ?? 4096 });
    try {
      scheduler.followRealTime(monotonicNs);
      const fabric = new Fabric<UdpLink>(`${spec.name}-san`, scheduler, link);
      const host = new Host({
        name: spec.name, ramBytes: spec.ramBytes, nolowmem: spec.nolowmem, iommu: spec.iommu, verifier: spec.verifier,
        strategy: spec.strategy,
        nics: [{ addressBits: spec.nicBits, ip: spec.address, rdmaRead: spec.rdmaRead ?? true, capabilities: { pathMtu: spec.mtu ?? 4096 } }],
      }, fabric);
      if (spec.capture !== undefined) {
        const writer = spec.capture;
        link.tap = { frame: (bytes, length, timeNs) => writer.write(bytes.subarray(0, length), timeNs) };
      }
      const status = host.loadProxy();
      if (status !== 0) throw new Error(`${spec.name}: loading the SAN proxy driver failed (0x${(status >>> 0).toString(16)})`);
      const node = new HostNode(spec, scheduler, link, fabric, host);
      node.baseline = snapshot(host);
      return node;
    } catch (error) {
      scheduler.stopRealTime();
      await link.close();
      throw error;
    }
  }

  /** Tear down (idempotent): drain, leak table, unload the proxy, close the socket. */
  stop(): Promise<HostNodeTeardown> {
    this.stopped ??= this.teardown();
    return this.stopped;
  }

  private async teardown(): Promise<HostNodeTeardown> {
    const k = this.host.kernel;
    const crashed = k.bugcheck.crashed;
    if (crashed === null) {
      try {
        await this.scheduler.quiesce();
      } catch {
        // The machine stopped on a model bug: the leak table still says what is left.
      }
    }
    const leaks = difference(this.baseline!, snapshot(this.host));
    const leaked = Object.entries(leaks).filter(([, v]) => v !== 0).map(([key, v]) => `${key} ${v > 0 ? '+' : ''}${v}`);
    if (k.bugcheck.crashed === null && this.host.proxyIsLoaded) {
      this.host.unloadProxy();
      // What the unload sent (the DREQs of endpoints it destroyed) leaves before the socket closes.
      await this.scheduler.quiesce().catch(() => {});
    }
    this.link.tap = null;
    const kernelDrops = this.link.kernelDrops();
    this.scheduler.stopRealTime();
    await this.link.close();
    const bug = k.bugcheck.crashed;
    return {
      leaks, leaked,
      bugCheck: bug === null ? null : `0x${bug.code.toString(16)} ${bug.detail}`,
      link: this.link.counters,
      kernelDrops,
    };
  }
}
