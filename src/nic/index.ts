/** The SAN NIC hardware model, its user ports and the fabric between NICs (device layer: imports only src/bus). */
export { SanNic } from './san-nic.ts';
export type { SanNicOptions, RegisterRegionRequest, RegisterResult, NicCounters, NicTraceHook } from './san-nic.ts';
export { UserPort } from './user-port.ts';
export type {
  ScatterElement,
  RemoteDescriptor,
  WorkRequest,
  RdmaWorkRequest,
  EndpointInfo,
  EndpointOptions,
} from './user-port.ts';
export type { ConnectionEvent, ConnectionEventType, ConnectionHandler } from './connection-manager.ts';
export { Fabric } from './fabric.ts';
export { WireCounters } from './wire-port.ts';
export { NO_IMPAIRMENTS, type LinkImpairments, type LinkDirection, type DirectionImpairments } from './link-faults.ts';
export type { Link, LinkPort, RemoteNics, CaptureTap } from './link.ts';
export { UdpLink, UdpLinkCounters, UdpLinkError, DEFAULT_SOCKET_BUFFER_BYTES, ipv4Number, type UdpLinkOptions } from './udp-link.ts';
export { Scheduler, NS_PER_MS, type ThreadWaits, type Task } from './scheduler.ts';
export { DEFAULT_NIC_CAPABILITIES, type NicCapabilities } from './capabilities.ts';
export { NicAccess, type RegionSpec, type RegionInfo, type RegionState, type WindowInfo, type WindowState } from './tpt.ts';
export { CompletionBatch, type Completion } from './completion-queue.ts';
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
