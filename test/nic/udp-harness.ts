/**
 * NIC-level hosts on real UDP sockets (src/nic/udp-link.ts), for tests: each host its own
 * scheduler following real time, its own fabric and link, as if in a process of its own.
 * Loopback addresses per test file (127.0.<file>.<host>) so test files running side by side
 * never bind the same address.
 */
import { Fabric, NicStatus, Scheduler, UdpLink, ipv4Number } from '../../src/nic/index.ts';
import { makeHost, type Host } from './harness.ts';

export interface UdpHost extends Host {
  scheduler: Scheduler;
  link: UdpLink;
  fabric: Fabric<UdpLink>;
  ip: number;
}

export const realTime = (): number => Number(process.hrtime.bigint());

export async function udpHost(name: string, address: string, peers: string[]): Promise<UdpHost> {
  const scheduler = new Scheduler(name);
  scheduler.followRealTime(realTime);
  const link = await UdpLink.open(scheduler, { address, peers });
  const fabric = new Fabric<UdpLink>(`${name}-san`, scheduler, link);
  const host = makeHost(name);
  const ip = ipv4Number(address)!;
  fabric.attach(host.nic, ip);
  if (host.nic.setIpAddresses([ip]) !== NicStatus.SUCCESS) throw new Error('setIpAddresses failed');
  return { ...host, scheduler, link, fabric, ip };
}

export async function closeUdpHost(h: UdpHost): Promise<void> {
  await h.link.close();
  h.scheduler.stopRealTime();
}

/** Live UDP socket handles of this process (Node's own count of its resources). */
export const udpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
