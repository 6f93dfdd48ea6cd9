/** The SAN NIC hardware model and the fabric between NICs (device layer: imports only src/bus). */
export { SanNic } from './san-nic.ts';
export type {
  SanNicOptions,
  RegisterRegionRequest,
  RegisterResult,
  ScatterElement,
  RemoteDescriptor,
  WorkRequest,
  RdmaWorkRequest,
  NicCounters,
  EndpointInfo,
  NicTraceHook,
} from './san-nic.ts';
export { Fabric } from './fabric.ts';
export { DEFAULT_NIC_CAPABILITIES, type NicCapabilities } from './capabilities.ts';
export { NicAccess, type RegionSpec, type RegionInfo, type RegionState, type WindowInfo, type WindowState } from './tpt.ts';
export type { Completion } from './completion-queue.ts';
export type { EndpointState } from './endpoint.ts';
export {
  NicStatus,
  WcStatus,
  Syndrome,
  Opcode,
  NicConfigurationError,
  nicStatusName,
  wcStatusName,
  syndromeName,
  opcodeName,
  type NicStatusCode,
  type WcStatusCode,
  type SyndromeCode,
  type OpcodeCode,
} from './status.ts';
