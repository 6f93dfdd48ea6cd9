/**
 * What every concern of one SAN service provider shares: the process it serves, its user
 * ports on the NICs, its channel to the proxy driver and its tables. One object per provider,
 * made by SanServiceProvider (provider.ts) and handed to the concerns (connections.ts,
 * memory-registration.ts, transfers.ts), so none of them reaches into another's fields.
 */
import type { Kernel } from '../kernel/kernel.ts';
import type { Process } from '../kernel/ps/process.ts';
import type { UserPort } from '../nic/index.ts';
import type { AddressEntry, ProxyChannel } from './channel.ts';
import type { RegistrationHandles } from './registration-handles.ts';
import type { ShadowCopier } from './shadow.ts';
import type { SocketTable } from './socket.ts';

export interface ProviderState {
  readonly kernel: Kernel;
  readonly process: Process;
  /** The process's user ports; index = the nicIndex the proxy's IOCTLs use. */
  readonly ports: readonly UserPort[];
  readonly channel: ProxyChannel;
  readonly sockets: SocketTable;
  readonly handles: RegistrationHandles;
  readonly copier: ShadowCopier;
  /** Keep deregistered memory registered and secured for reuse (the switch's policy). */
  readonly cacheRegistrations: boolean;
  /** WSPConnect's wait for the listener, in virtual nanoseconds (the scheduler's clock). */
  readonly connectTimeoutNs: number;
  /** WSPStartup succeeded and the last WSPCleanup has not run. */
  started: boolean;
  /**
   * Open WSPStartup calls: each successful WSPStartup counts one, each WSPCleanup takes one, and
   * only the last does the clean-up (WSPCleanup page of the Windows Sockets Direct reference).
   */
  startCount: number;
  /** The NICs' addresses the driver reported at WSPStartup. */
  addresses: AddressEntry[];
}
