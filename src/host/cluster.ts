/**
 * Several hosts on one SAN fabric in one Node process, driven by ONE scheduler
 * (src/nic/scheduler.ts): the cluster owns it, every NIC's work and every blocked
 * application call goes through it, and nothing in the switch or the provider runs it.
 *
 *   const c = createCluster({ hosts: [
 *     { name: 'a', nolowmem: true, nics: [{ addressBits: 32, ip: '10.0.0.1' }] },
 *     { name: 'b', nolowmem: true, nics: [{ addressBits: 64, ip: '10.0.0.2' }] } ] });
 *   c.hosts[0].loadProxy();
 */
import { Fabric, Scheduler, WireCounters } from '../nic/index.ts';
import { Host, type HostSpec } from './host.ts';

export interface ClusterSpec {
  hosts: HostSpec[];
  /**
   * Run the machine from the event loop whenever it has work, and let its clock jump to the
   * next timer when it is idle (tools, the demo). Off (the default), it runs when an
   * application call blocks on it or when the owner drives it by hand (runUntilIdle,
   * advance), and its clock moves only by hand: what tests use to stop between any two tasks.
   */
  autoDrive?: boolean;
}

export class Cluster {
  /** The cluster's one scheduler: the run queue, the clock, blocked calls. */
  readonly scheduler: Scheduler;
  readonly fabric: Fabric;
  readonly hosts: Host[];

  constructor(spec: ClusterSpec) {
    if (spec === null || typeof spec !== 'object' || !Array.isArray(spec.hosts) || spec.hosts.length === 0) {
      throw new RangeError('createCluster: hosts must be a non-empty array');
    }
    const names = new Set<string>();
    for (const h of spec.hosts) {
      if (names.has(h.name)) throw new RangeError(`createCluster: host name "${h.name}" used twice`);
      names.add(h.name);
    }
    this.scheduler = new Scheduler('cluster');
    this.scheduler.autoDrive = spec.autoDrive ?? false;
    this.fabric = new Fabric('san0', this.scheduler);
    this.hosts = spec.hosts.map((h) => new Host(h, this.fabric));
  }

  /** Every NIC's wire counters added up (each NIC keeps its own; wire-port.ts). */
  wireCounters(): WireCounters {
    const sum = new WireCounters();
    for (const h of this.hosts) for (const { nic } of h.nics) sum.add(nic.wire.counters);
    return sum;
  }

  host(name: string): Host {
    const h = this.hosts.find((x) => x.spec.name === name);
    if (!h) throw new RangeError(`no host named "${name}"`);
    return h;
  }
}

export const createCluster = (spec: ClusterSpec): Cluster => new Cluster(spec);
