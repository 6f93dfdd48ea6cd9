/** The Windows Sockets switch (user mode): public names only. */
export { WindowsSocketsSwitch, type WindowsSocketsSwitchOptions, type SwitchMachine, type SocketAddress, type SocketPath, type SwitchCounters } from './socket-api.ts';
export * from './errors.ts';
export { SAN_SESSION_DEFAULTS, SessionConfigError, verifySessionConfig, type SessionConfig } from './session-config.ts';
export type { TransferStats } from './san-session.ts';
export { TCP_STAND_IN_SESSION_DEFAULTS } from './tcp-stand-in.ts';
export { ApplicationBufferCache, type ApplicationBufferCacheOptions, type CacheStats } from './application-buffer-cache.ts';
export { HostPortTable, EPHEMERAL_FIRST, EPHEMERAL_LAST, type PortBinding } from './port-table.ts';
export { ProtocolErrorReason, SessionProtocolError, protocolErrorReasonName, type ProtocolErrorReasonCode } from './messages.ts';
