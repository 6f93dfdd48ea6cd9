/**
 * What a SAN NIC model can do (its "device attributes", ibv_query_device). Fixed at
 * construction. The DMA address width is the width of the DeviceDmaView the host gives the
 * NIC: a 32-bit NIC handed an address at or above 4 GiB truncates it on the bus; it never
 * refuses (the proxy driver must prevent it, the verifier and !chklowmem must catch it).
 */
import { PAGE_SIZE } from '../bus/index.ts';
import { MAX_TABLE_ENTRIES } from './keys.ts';
import { NicConfigurationError } from './status.ts';

export interface NicCapabilities {
  addressBits: 32 | 64;
  maxRegistrations: number;
  maxRegionBytes: number;
  /** Whether the NIC serves (and issues) RDMA read; WSPRdmaRead is optional in WSD. */
  rdmaRead: boolean;
  sendQueueDepth: number;
  recvQueueDepth: number;
  completionQueueDepth: number;
  maxMessageBytes: number;
  /** Scatter/gather elements per work request. */
  maxScatterElements: number;
  maxEndpoints: number;
  maxCompletionQueues: number;
  /** Path MTU of the NIC's RoCEv2 port in bytes: 256, 512, 1024, 2048 or 4096 (IB MTU codes
   *  1–5). A connection uses the smaller of the two ends'. */
  pathMtu: number;
}

export const DEFAULT_NIC_CAPABILITIES: Readonly<Omit<NicCapabilities, 'addressBits'>> = Object.freeze({
  maxRegistrations: 4096,
  maxRegionBytes: 1024 * 1024 * 1024,
  rdmaRead: true,
  sendQueueDepth: 256,
  recvQueueDepth: 256,
  completionQueueDepth: 1024,
  maxMessageBytes: 16 * 1024 * 1024,
  maxScatterElements: 4,
  maxEndpoints: 1024,
  maxCompletionQueues: 1024,
  pathMtu: 4096,
});

const LIMITS: Record<Exclude<keyof NicCapabilities, 'addressBits' | 'rdmaRead' | 'pathMtu'>, [number, number]> = {
  maxRegistrations: [1, MAX_TABLE_ENTRIES - 1],
  maxRegionBytes: [PAGE_SIZE, 2 ** 52],
  sendQueueDepth: [1, 65536],
  recvQueueDepth: [1, 65536],
  completionQueueDepth: [1, 1 << 22],
  maxMessageBytes: [1, 2 ** 31],
  maxScatterElements: [1, 64],
  maxEndpoints: [1, MAX_TABLE_ENTRIES - 1],
  maxCompletionQueues: [1, MAX_TABLE_ENTRIES - 1],
};

/** Fill defaults and check every field; throws NicConfigurationError quoting the bad value. */
export function resolveCapabilities(
  name: string,
  dmaAddressBits: number,
  given: Partial<NicCapabilities> | undefined,
): NicCapabilities {
  if (given !== undefined && (given === null || typeof given !== 'object')) {
    throw new NicConfigurationError(`SanNic ${name}: capabilities must be an object, got ${String(given)}`);
  }
  const bits = given?.addressBits ?? dmaAddressBits;
  if (bits !== 32 && bits !== 64) {
    throw new NicConfigurationError(`SanNic ${name}: addressBits must be 32 or 64, got ${String(bits)}`);
  }
  if (bits !== dmaAddressBits) {
    throw new NicConfigurationError(
      `SanNic ${name}: capabilities.addressBits ${bits} differs from its DMA view's width ${dmaAddressBits}`,
    );
  }
  const caps = { ...DEFAULT_NIC_CAPABILITIES, ...given, addressBits: bits } as NicCapabilities;
  if (typeof caps.rdmaRead !== 'boolean') {
    throw new NicConfigurationError(`SanNic ${name}: rdmaRead must be a boolean, got ${String(caps.rdmaRead)}`);
  }
  if (![256, 512, 1024, 2048, 4096].includes(caps.pathMtu)) {
    throw new NicConfigurationError(`SanNic ${name}: pathMtu must be 256, 512, 1024, 2048 or 4096, got ${String(caps.pathMtu)}`);
  }
  for (const [key, [lo, hi]] of Object.entries(LIMITS)) {
    const v = (caps as unknown as Record<string, unknown>)[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo || v > hi) {
      throw new NicConfigurationError(`SanNic ${name}: ${key} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
    }
  }
  return Object.freeze(caps);
}
