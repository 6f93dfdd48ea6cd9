/**
 * Several hosts on one SAN fabric in one Node process.
 *
 *   const c = createCluster({ hosts: [
 *     { name: 'a', nolowmem: true, nics: [{ addressBits: 32, ip: '10.0.0.1' }] },
 *     { name: 'b', nolowmem: true, nics: [{ addressBits: 64, ip: '10.0.0.2' }] } ] });
 *   c.hosts[0].loadProxy();
 */
import { Fabric } from '../nic/index.ts';
import { Host, type HostSpec } from './host.ts';

export interface ClusterSpec {
  hosts: HostSpec[];
  /** Drain the fabric from setImmediate (for async socket code); tests usually drive it. */
  autoDrive?: boolean;
}

export class Cluster {
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
    this.fabric = new Fabric();
    this.fabric.autoDrive = spec.autoDrive ?? false;
    this.hosts = spec.hosts.map((h) => new Host(h, this.fabric));
  }

  host(name: string): Host {
    const h = this.hosts.find((x) => x.spec.name === name);
    if (!h) throw new RangeError(`no host named "${name}"`);
    return h;
  }
}

export const createCluster = (spec: ClusterSpec): Cluster => new Cluster(spec);
