/**
 * The host's unicast IPv4 addresses per interface, with change notifications: what a SAN
 * proxy driver learns from the TCP/IP stack (TDI address notifications in the WSD era,
 * NotifyUnicastIpAddressChange today) to keep the list of its NICs' IP addresses.
 * Interfaces are numbered by the host (the index of the NIC on that host).
 */
export interface UnicastAddress {
  /** IPv4 address as an unsigned 32-bit number. */
  readonly address: number;
  readonly interfaceIndex: number;
}

/** MIB_NOTIFICATION_TYPE. */
export const MibAddInstance = 1;
export const MibDeleteInstance = 2;

export type AddressChangeCallback = (row: UnicastAddress, notificationType: number) => void;

export class IpAddressTable {
  private readonly rows: UnicastAddress[] = [];
  private readonly callbacks = new Map<number, AddressChangeCallback>();
  private nextHandle = 1;

  list(): readonly UnicastAddress[] {
    return this.rows.slice();
  }

  add(address: number, interfaceIndex: number): boolean {
    if (this.rows.some((r) => r.address === address)) return false;
    const row = { address: address >>> 0, interfaceIndex };
    this.rows.push(row);
    for (const cb of [...this.callbacks.values()]) cb(row, MibAddInstance);
    return true;
  }

  remove(address: number): boolean {
    const i = this.rows.findIndex((r) => r.address === address >>> 0);
    if (i < 0) return false;
    const [row] = this.rows.splice(i, 1);
    for (const cb of [...this.callbacks.values()]) cb(row!, MibDeleteInstance);
    return true;
  }

  /** NotifyUnicastIpAddressChange: returns a handle for CancelMibChangeNotify2. */
  notify(callback: AddressChangeCallback): number {
    const h = this.nextHandle++;
    this.callbacks.set(h, callback);
    return h;
  }

  cancel(handle: number): boolean {
    return this.callbacks.delete(handle);
  }

  get notificationCount(): number {
    return this.callbacks.size;
  }
}

/** "10.0.0.1" → 0x0A000001; null when malformed. */
export function parseIpv4(text: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(typeof text === 'string' ? text.trim() : '');
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((s) => (address >>> s) & 0xff).join('.');
}
