/**
 * The SAN fabric: native SAN addresses and reliable, in-order delivery between the NICs of
 * several hosts in one Node process.
 *
 * Implementation notes
 * - Delivery is a task on the cluster's scheduler (scheduler.ts): a NIC hands the fabric what
 *   it sends and the scheduler runs it in FIFO order, which is what makes delivery reliable,
 *   in order and deterministic. The fabric never runs anything itself.
 * - Address resolution (ARP over the SAN): each NIC answers for the IPv4 addresses its driver
 *   configured (`SanNic.setIpAddresses`).
 * - Over a link that reaches NICs in other processes (`link.remote`, udp-link.ts) the fabric
 *   holds only this process's NICs; a SAN address is then an IPv4 address (`addressesAreIps`),
 *   and what is not here is resolved by the link.
 * - `runUntilIdle`, `quiesce`, `autoDrive`, `pending` and `tasksRun` are the scheduler's, here
 *   for callers that hold the fabric (tests and tools that drive the machine by hand).
 */
import type { SanNic } from './san-nic.ts';
import type { PcapWriter } from '../wire/index.ts';
import { InProcessLink, type Link } from './link.ts';
import { Scheduler, type Task } from './scheduler.ts';
import { NicConfigurationError } from './status.ts';

export type FabricTask = Task;

export class Fabric<L extends Link = InProcessLink> {
  readonly scheduler: Scheduler;
  /** The link every attached NIC's port is on (link.ts): packets, not calls, between NICs. */
  readonly link: L;
  private readonly nics = new Map<number, SanNic>();
  private nextAddress = 0x10;

  /**
   * `scheduler`: the cluster's; a fabric made alone (unit tests, benchmarks) makes its own.
   * `link`: an in-process link by default; give one on the same scheduler for another kind.
   */
  constructor(
    readonly name = 'san0',
    scheduler?: Scheduler,
    link?: L,
  ) {
    this.scheduler = scheduler ?? new Scheduler(name);
    this.link = link ?? (new InProcessLink(this.scheduler) as Link as L);
  }

  /** SAN addresses are IPv4 addresses: the link reaches NICs of other processes. */
  get addressesAreIps(): boolean {
    return this.link.remote !== null;
  }

  /**
   * Address and route resolution for the CM's active side (rdma_resolve_addr/route): the IPv4
   * address and port MTU of the NIC at a SAN address, or null when no NIC is there. The
   * connection itself is made by CM MADs over the link (cm-agent.ts, connection-manager.ts).
   */
  pathTo(address: number): { ip: number; mtu: number } | null {
    const nic = this.nics.get(address);
    if (nic !== undefined) return { ip: nic.wireIp, mtu: nic.capabilities.pathMtu };
    return this.link.remote?.pathTo(address) ?? null;
  }

  /** Plug `nic` into the fabric; returns its SAN address (given or the next free one). */
  attach(nic: SanNic, sanAddress?: number): number {
    if (nic.fabric !== null) throw new NicConfigurationError(`${nic.name} is already attached to a fabric`);
    let address = sanAddress;
    if (address === undefined) {
      if (this.addressesAreIps) throw new NicConfigurationError(`${nic.name}: on ${this.name} a NIC's SAN address is its IPv4 address; give it`);
      while (this.nics.has(this.nextAddress)) this.nextAddress++;
      address = this.nextAddress++;
    }
    if (!Number.isSafeInteger(address) || address <= 0) {
      throw new NicConfigurationError(`SAN address must be a positive integer, got ${String(address)}`);
    }
    if (this.nics.has(address)) throw new NicConfigurationError(`SAN address ${address} is already in use on ${this.name}`);
    this.nics.set(address, nic);
    nic.attached(this, address);
    return address;
  }

  nicAt(address: number): SanNic | null {
    return this.nics.get(address) ?? null;
  }

  /** Address resolution: the SAN address of the NIC that answers for `ipv4`, or 0. */
  resolveIp(ipv4: number): number {
    for (const [address, nic] of this.nics) if (nic.answersFor(ipv4)) return address;
    return this.link.remote?.pathTo(ipv4) != null ? ipv4 : 0;
  }

  /** The IPv4 address of the NIC at a SAN address (its first configured one), or null. */
  ipOf(address: number): number | null {
    const nic = this.nics.get(address);
    if (nic !== undefined) return nic.ipAddresses[0] ?? null;
    return this.link.remote?.pathTo(address)?.ip ?? null;
  }

  /**
   * The capture tap (issue 16 §5): from now on every packet of the link is built in bytes,
   * ICRC included, and written to `writer` as an Ethernet frame stamped with the virtual clock.
   * `stopCapture` detaches it (the caller closes the writer).
   */
  startCapture(writer: PcapWriter): void {
    // (A UDP link writes its own capture, both ways, with full frames: udp-link.ts.)
    this.link.tap = { frame: (bytes, length, timeNs) => writer.write(bytes.subarray(0, length), timeNs) };
  }

  stopCapture(): void {
    this.link.tap = null;
  }

  /** Hand a delivery to the scheduler. */
  enqueue(task: FabricTask): void {
    this.scheduler.enqueue(task);
  }

  get pending(): number {
    return this.scheduler.pending;
  }

  get tasksRun(): number {
    return this.scheduler.tasksRun;
  }

  runUntilIdle(limit?: number): number {
    return this.scheduler.runUntilIdle(limit);
  }

  quiesce(): Promise<void> {
    return this.scheduler.quiesce();
  }

  get autoDrive(): boolean {
    return this.scheduler.autoDrive;
  }

  set autoDrive(on: boolean) {
    this.scheduler.autoDrive = on;
  }
}
