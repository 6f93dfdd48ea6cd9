/**
 * The registration handles of one provider (one process): the HANDLEs WSPRegisterMemory
 * returns and the registrations behind WSPRegisterRdmaMemory's descriptors, with their
 * reference and in-use counts.
 *
 * Implementation notes
 * - A registration is scoped to (socket, kind, buffer, flags). Registering the same buffer
 *   with the same flags on the same socket again returns the same handle and counts a
 *   reference; the NIC and driver registration goes only when the count reaches zero
 *   [WSPRegisterMemory, WSPDeregisterMemory: "reference count"].
 * - Handles are provider numbers, never NIC keys: they come from a counter that never repeats
 *   (2^53 values), so a stale handle, or one taken from another socket or process, matches
 *   nothing. Indexes: by handle, by scope key, by (socket, remote key), by socket.
 * - `inUse` counts pending transfers naming the registration; WSPDeregisterMemory refuses
 *   (WSAEINVAL) while it is non-zero, so the NIC never DMAs into released memory.
 * - The table does no I/O: the provider asks the driver first and inserts only a registration
 *   that exists, so a failure never leaves a half entry.
 */
import type { CachedRegion } from './nic-region-cache.ts';
import type { Shadow } from './shadow.ts';

export type RegistrationKind = 'local' | 'rdma';

export interface Registration {
  /** The HANDLE the application holds (WSPRegisterMemory) — 0 never. */
  readonly handle: number;
  readonly socket: number;
  readonly kind: RegistrationKind;
  readonly address: number;
  readonly length: number;
  /** MEM_READ | MEM_WRITE. */
  readonly flags: number;
  readonly nicIndex: number;
  /** NIC local handle the scatter elements name (the shadow's when shadowed). */
  readonly nicHandle: number;
  /** NIC remote key the descriptor carries (rdma). */
  readonly remoteKey: number;
  /** Driver id to release: REGISTER_BUFFER's, or the shadow's ALLOCATE_MEMORY id. */
  readonly driverId: number;
  /** Low staging copy when the NIC cannot reach the user pages. */
  readonly shadow: Shadow | null;
  /** The cached region behind the registration (caching on), else null. */
  readonly region: CachedRegion | null;
  /**
   * Offset of `address` inside the NIC registration (and the shadow): non-zero when a cached
   * region larger than the buffer serves it. Scatter elements and descriptors add it.
   */
  readonly regionOffset: number;
  /** Offset of the buffer's first byte in the NIC region its handle and key name (what the
   *  peer's descriptor and local work requests use): regionOffset for a shared local region,
   *  0 for RDMA memory re-exposed as exactly the buffer. */
  readonly nicOffset: number;
  refCount: number;
  inUse: number;
}

export type NewRegistration = Omit<Registration, 'handle' | 'refCount' | 'inUse' | 'region' | 'regionOffset' | 'nicOffset'> &
  Partial<Pick<Registration, 'region' | 'regionOffset' | 'nicOffset'>>;

// Keys are numbers, not strings, so a lookup on the transfer path allocates nothing. A scope is
// found in two steps: (socket, kind, flags) → (address, length) → registration. Flags are
// MEM_READ/MEM_WRITE (1..3) and socket handles far below 2^48, so the scope is one safe integer.
const scopeOf = (socket: number, kind: RegistrationKind, flags: number) => (socket * 8 + flags) * 2 + (kind === 'rdma' ? 1 : 0);

/** Emptied per-address maps a scope keeps for reuse, at most (see remove). */
const KEPT_ADDRESS_MAPS = 64;

export class RegistrationHandles {
  private readonly byHandle = new Map<number, Registration>();
  /** scope → address → length → registration. */
  private readonly byScope = new Map<number, Map<number, Map<number, Registration>>>();
  /** socket → remote key → registration. */
  private readonly byRemote = new Map<number, Map<number, Registration>>();
  private readonly bySocket = new Map<number, Set<Registration>>();
  private nextHandle: number;

  constructor(firstHandle = 0x1000) {
    this.nextHandle = firstHandle;
  }

  get size(): number {
    return this.byHandle.size;
  }

  get(handle: unknown): Registration | null {
    return typeof handle === 'number' ? (this.byHandle.get(handle) ?? null) : null;
  }

  find(socket: number, kind: RegistrationKind, address: number, length: number, flags: number): Registration | null {
    return this.byScope.get(scopeOf(socket, kind, flags))?.get(address)?.get(length) ?? null;
  }

  /** Maps kept for sockets and buffers (tests: they go with a socket's last registration). */
  get indexMaps(): number {
    let n = this.byScope.size + this.byRemote.size;
    for (const byAddress of this.byScope.values()) n += byAddress.size;
    return n;
  }

  findRemote(socket: number, remoteKey: number): Registration | null {
    return this.byRemote.get(socket)?.get(remoteKey) ?? null;
  }

  /** Registrations of one socket (a copy, safe to iterate while releasing). */
  ofSocket(socket: number): Registration[] {
    const set = this.bySocket.get(socket);
    return set ? [...set] : [];
  }

  all(): Registration[] {
    return [...this.byHandle.values()];
  }

  /** Insert a registration the driver has made; it starts with one reference. */
  insert(r: NewRegistration): Registration {
    if (this.find(r.socket, r.kind, r.address, r.length, r.flags) !== null) {
      throw new Error(`registration table invariant: ${r.kind} ${r.address}+${r.length} flags ${r.flags} on socket ${r.socket} inserted twice`);
    }
    // Every field written out (no spread): one object shape for all registrations.
    const regionOffset = r.regionOffset ?? 0;
    const reg: Registration = {
      handle: this.nextHandle++, socket: r.socket, kind: r.kind, address: r.address, length: r.length, flags: r.flags,
      nicIndex: r.nicIndex, nicHandle: r.nicHandle, remoteKey: r.remoteKey, driverId: r.driverId, shadow: r.shadow,
      region: r.region ?? null, regionOffset, nicOffset: r.nicOffset ?? regionOffset, refCount: 1, inUse: 0,
    };
    this.byHandle.set(reg.handle, reg);
    const scope = scopeOf(reg.socket, reg.kind, reg.flags);
    let byAddress = this.byScope.get(scope);
    if (byAddress === undefined) this.byScope.set(scope, (byAddress = new Map()));
    let byLength = byAddress.get(reg.address);
    if (byLength === undefined) byAddress.set(reg.address, (byLength = new Map()));
    byLength.set(reg.length, reg);
    if (reg.kind === 'rdma') {
      let keys = this.byRemote.get(reg.socket);
      if (keys === undefined) this.byRemote.set(reg.socket, (keys = new Map()));
      keys.set(reg.remoteKey, reg);
    }
    let set = this.bySocket.get(reg.socket);
    if (!set) this.bySocket.set(reg.socket, (set = new Set()));
    set.add(reg);
    return reg;
  }

  /**
   * Forget a registration (its count reached zero, or its socket closed). An emptied
   * per-address map stays while its scope has few addresses (a buffer registered again and
   * again reuses it: no Map made and dropped per send), so what is kept stays bounded; all of a
   * socket's maps go with its last registration.
   */
  remove(reg: Registration): void {
    if (this.byHandle.get(reg.handle) !== reg) throw new Error(`registration table invariant: unknown handle ${reg.handle}`);
    this.byHandle.delete(reg.handle);
    const byAddress = this.byScope.get(scopeOf(reg.socket, reg.kind, reg.flags))!;
    const byLength = byAddress.get(reg.address)!;
    byLength.delete(reg.length);
    if (byLength.size === 0 && byAddress.size > KEPT_ADDRESS_MAPS) byAddress.delete(reg.address);
    if (reg.kind === 'rdma') this.byRemote.get(reg.socket)!.delete(reg.remoteKey);
    const set = this.bySocket.get(reg.socket)!;
    set.delete(reg);
    if (set.size === 0) {
      this.bySocket.delete(reg.socket);
      this.byRemote.delete(reg.socket);
      for (const kind of ['local', 'rdma'] as const) for (let flags = 0; flags <= 3; flags++) this.byScope.delete(scopeOf(reg.socket, kind, flags));
    }
  }
}
