/** The SAN proxy driver: its entry point, service names and the state reports read. */
export { SanProxyDriverEntry } from './driver.ts';
export {
  SANPROXY_SERVICE,
  SANPROXY_PARAMETERS_KEY,
  LOW_MEMORY_STRATEGY_CONTIGUOUS,
  LOW_MEMORY_STRATEGY_COMMON_BUFFER,
  LOOKASIDE_LISTS_OFF,
  LOOKASIDE_LISTS_ON,
  TAG_OPEN,
  TAG_ALLOCATION,
  TAG_REGISTRATION,
} from './constants.ts';
export { sanProxyState, ProxyDriverState, type ProxyCounters } from './state.ts';
export { ProxyRecords, RECORD_BYTES, type RecordKind } from './records.ts';
export type { LowMemoryCounters, LowMemoryStrategy } from './low-memory.ts';
export * from './interface.ts';
