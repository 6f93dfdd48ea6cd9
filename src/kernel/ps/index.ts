/** Processes: public names only. */
export {
  ProcessManager,
  PsSetCreateProcessNotifyRoutine,
  PsGetCurrentProcess,
  KeStackAttachProcess,
  KeUnstackDetachProcess,
  SYSTEM_PROCESS_ID,
  KAPC_STATE,
  MAX_CREATE_PROCESS_NOTIFY_ROUTINES,
  type CreateProcessNotifyRoutine,
} from './process-manager.ts';
export {
  Process,
  type SecureMemoryCacheCallback,
  type SecureEntry,
  ERROR_SUCCESS,
  ERROR_ACCESS_DENIED,
  ERROR_NOT_ENOUGH_MEMORY,
  ERROR_INVALID_PARAMETER,
  ERROR_INVALID_ADDRESS,
} from './process.ts';
export { PAGE_NOACCESS, PAGE_READONLY, PAGE_READWRITE, ALLOCATION_GRANULARITY } from './address-space.ts';
