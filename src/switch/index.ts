/** The Windows Sockets switch (user mode): public names only. */
export { WindowsSocketsSwitch, type WindowsSocketsSwitchOptions, type SocketAddress, type SocketPath, type SwitchCounters } from './socket-api.ts';
export * from './errors.ts';
export { SAN_SESSION_DEFAULTS, type SessionConfig, type TransferStats } from './san-session.ts';
export { TCP_SESSION_DEFAULTS } from './tcp-provider.ts';
export { RegistrationCache, type RegistrationCacheOptions, type CacheStats } from './registration-cache.ts';
export { ControlBufferPool } from './control-buffers.ts';
