/** Names and parameters of the SAN proxy driver service. */
import { poolTag } from '../kernel/mm/index.ts';

export const SANPROXY_SERVICE = 'SanProxy';
export const SANPROXY_PARAMETERS_KEY = '\\Registry\\Machine\\System\\CurrentControlSet\\Services\\SanProxy\\Parameters';

/** Parameters\LowMemoryStrategy (DWORD): how the driver obtains low memory for RDMA. */
export const LOW_MEMORY_STRATEGY_CONTIGUOUS = 0;
export const LOW_MEMORY_STRATEGY_COMMON_BUFFER = 1;

/**
 * Parameters\LookasideLists (DWORD): the driver's per-request records (registrations, low-memory
 * allocations) come from its lookaside lists (1, the default) or straight from pool (0).
 */
export const LOOKASIDE_LISTS_OFF = 0;
export const LOOKASIDE_LISTS_ON = 1;

/** Pool tags: per-open context, per-allocation record, per-registration record. */
export const TAG_OPEN = poolTag('SpOp');
export const TAG_ALLOCATION = poolTag('SpAl');
export const TAG_REGISTRATION = poolTag('SpRg');
