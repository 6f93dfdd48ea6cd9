/**
 * The NIC side of a region the proxy hands out (low memory from ALLOCATE_MEMORY and user
 * buffers from REGISTER_BUFFER): registration in the caller's protection domain, the memory
 * window SANPROXY_WINDOW_BIND asks for, the binding to a connection, and the release of all
 * that, in one place for both kinds.
 */
import { NicAccess, NicStatus, type RegionSpec } from '../nic/index.ts';
import { STATUS_SUCCESS, type NTSTATUS } from '../kernel/status.ts';
import { SANPROXY_ACCESS_MASK, SANPROXY_WINDOW_BIND } from './interface.ts';
import type { ProxyNic } from './nic-adapter.ts';
import { ntStatusFromNic } from './nic-status.ts';

/** What the NIC gave so far: filled step by step, so after a failure it says what to undo. */
export interface NicRegion {
  handle: number;
  remoteKey: number;
  /** The memory window that came with the region, 0 when none. */
  window: number;
}

export const noNicRegion = (): NicRegion => ({ handle: 0, remoteKey: 0, window: 0 });

/**
 * Register `spec` (its `access` in SANPROXY_* rights) for process `owner`, allocate the window
 * when the rights ask for one, and bind the region to `bindEndpoint` (0: none yet).
 */
export function registerWithNic(
  pnic: ProxyNic, owner: number, spec: RegionSpec, bindEndpoint: number, region: NicRegion,
): NTSTATUS {
  const bind = (spec.access & SANPROXY_WINDOW_BIND) !== 0;
  const registered = pnic.nic.registerRegion({
    owner,
    ...spec,
    access: (spec.access & SANPROXY_ACCESS_MASK) | (bind ? NicAccess.MW_BIND : 0),
  });
  if (registered.status !== NicStatus.SUCCESS) return ntStatusFromNic(registered.status);
  region.handle = registered.handle;
  region.remoteKey = registered.remoteKey;
  if (bind) {
    // Windows are a protection-domain resource: allocated by the driver for the process, so
    // they go with the region (and with the handle at cleanup), never outlive it.
    const w = pnic.nic.allocateWindow(owner);
    if (w.status !== NicStatus.SUCCESS) return ntStatusFromNic(w.status);
    region.window = w.handle;
  }
  if (bindEndpoint !== 0) {
    const bound = pnic.nic.bindRegion(region.handle, bindEndpoint);
    if (bound !== NicStatus.SUCCESS) return ntStatusFromNic(bound);
  }
  return STATUS_SUCCESS;
}

/** The NIC forgets the window and the region (whichever it has), before the pages go. */
export function forgetNicRegion(pnic: ProxyNic, region: Readonly<NicRegion>): void {
  if (region.window !== 0 && pnic.nic.freeWindow(region.window) !== NicStatus.SUCCESS) {
    throw new Error(`SanProxy invariant: NIC window ${region.window} was not allocated`);
  }
  if (region.handle !== 0 && pnic.nic.deregisterRegion(region.handle) !== NicStatus.SUCCESS) {
    throw new Error(`SanProxy invariant: NIC handle ${region.handle} was not registered`);
  }
}
