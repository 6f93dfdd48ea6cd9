/**
 * Bug checks. A bug check stops one emulated host (its kernel refuses further work), never the
 * Node process: it is thrown as a typed exception carrying the real stop code and parameters.
 * Codes and parameter meanings: the WDK's "Bug Check Code Reference" and each code's own page
 * (debugger/bug-check-0x...).
 */
export const INVALID_PROCESS_ATTACH_ATTEMPT = 0x05;
export const INVALID_PROCESS_DETACH_ATTEMPT = 0x06;
export const IRQL_NOT_GREATER_OR_EQUAL = 0x09;
export const IRQL_NOT_LESS_OR_EQUAL = 0x0a;
export const MEMORY_MANAGEMENT = 0x1a;
export const PAGE_FAULT_IN_NONPAGED_AREA = 0x50;
export const PROCESS_HAS_LOCKED_PAGES = 0x76;
export const BAD_POOL_CALLER = 0xc2;
export const DRIVER_VERIFIER_DETECTED_VIOLATION = 0xc4;
export const DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS = 0xcb;
export const DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS = 0xce;
export const LOCKED_PAGES_TRACKER_CORRUPTION = 0xd9;
export const DRIVER_VERIFIER_DMA_VIOLATION = 0xe6;
export const DRIVER_CORRUPTED_MMPOOL = 0xd0;
export const MULTIPLE_IRP_COMPLETE_REQUESTS = 0x44;
export const NO_MORE_IRP_STACK_LOCATIONS = 0x35;
export const NO_MORE_SYSTEM_PTES = 0x3f;
export const SPIN_LOCK_ALREADY_OWNED = 0x0f;
export const SPIN_LOCK_NOT_OWNED = 0x10;
export const KMODE_EXCEPTION_NOT_HANDLED = 0x1e;
export const IRQL_GT_ZERO_AT_SYSTEM_SERVICE = 0x4a;
export const DRIVER_VERIFIER_IOMANAGER_VIOLATION = 0xc9;
export const DRIVER_RETURNED_HOLDING_CANCEL_LOCK = 0x11b;

const NAMES: Record<number, string> = {
  [INVALID_PROCESS_ATTACH_ATTEMPT]: 'INVALID_PROCESS_ATTACH_ATTEMPT',
  [INVALID_PROCESS_DETACH_ATTEMPT]: 'INVALID_PROCESS_DETACH_ATTEMPT',
  [IRQL_NOT_GREATER_OR_EQUAL]: 'IRQL_NOT_GREATER_OR_EQUAL',
  [IRQL_NOT_LESS_OR_EQUAL]: 'IRQL_NOT_LESS_OR_EQUAL',
  [MEMORY_MANAGEMENT]: 'MEMORY_MANAGEMENT',
  [PAGE_FAULT_IN_NONPAGED_AREA]: 'PAGE_FAULT_IN_NONPAGED_AREA',
  [PROCESS_HAS_LOCKED_PAGES]: 'PROCESS_HAS_LOCKED_PAGES',
  [BAD_POOL_CALLER]: 'BAD_POOL_CALLER',
  [DRIVER_VERIFIER_DETECTED_VIOLATION]: 'DRIVER_VERIFIER_DETECTED_VIOLATION',
  [DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS]: 'DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS',
  [DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS]: 'DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS',
  [LOCKED_PAGES_TRACKER_CORRUPTION]: 'LOCKED_PAGES_TRACKER_CORRUPTION',
  [DRIVER_VERIFIER_DMA_VIOLATION]: 'DRIVER_VERIFIER_DMA_VIOLATION',
  [DRIVER_CORRUPTED_MMPOOL]: 'DRIVER_CORRUPTED_MMPOOL',
  [MULTIPLE_IRP_COMPLETE_REQUESTS]: 'MULTIPLE_IRP_COMPLETE_REQUESTS',
  [NO_MORE_IRP_STACK_LOCATIONS]: 'NO_MORE_IRP_STACK_LOCATIONS',
  [NO_MORE_SYSTEM_PTES]: 'NO_MORE_SYSTEM_PTES',
  [SPIN_LOCK_ALREADY_OWNED]: 'SPIN_LOCK_ALREADY_OWNED',
  [SPIN_LOCK_NOT_OWNED]: 'SPIN_LOCK_NOT_OWNED',
  [KMODE_EXCEPTION_NOT_HANDLED]: 'KMODE_EXCEPTION_NOT_HANDLED',
  [IRQL_GT_ZERO_AT_SYSTEM_SERVICE]: 'IRQL_GT_ZERO_AT_SYSTEM_SERVICE',
  [DRIVER_VERIFIER_IOMANAGER_VIOLATION]: 'DRIVER_VERIFIER_IOMANAGER_VIOLATION',
  [DRIVER_RETURNED_HOLDING_CANCEL_LOCK]: 'DRIVER_RETURNED_HOLDING_CANCEL_LOCK',
};

export function bugCheckName(code: number): string {
  return NAMES[code] ?? 'UNKNOWN_BUGCHECK';
}

const hex = (v: number) => `0x${Math.trunc(v).toString(16).toUpperCase()}`;

/** The exception a bug check throws. `parameters` are P1..P4 as the debugger shows them. */
export class BugCheck extends Error {
  override readonly name = 'BugCheck';
  readonly parameters: readonly [number, number, number, number];
  constructor(
    readonly code: number,
    p1 = 0,
    p2 = 0,
    p3 = 0,
    p4 = 0,
    readonly detail = '',
  ) {
    super(
      `*** STOP ${hex(code)} ${bugCheckName(code)} (${[p1, p2, p3, p4].map(hex).join(', ')})` +
        (detail ? `: ${detail}` : ''),
    );
    this.parameters = [p1, p2, p3, p4];
  }
}

/**
 * The per-host bug-check sink. After the first bug check the host is down: `crashed` holds the
 * stop, and kernel entry points call `assertRunning()` so nothing more happens on that host.
 */
export class BugCheckState {
  crashed: BugCheck | null = null;
  /** The verifier records every stop as a finding before it is thrown. */
  onBugCheck: ((stop: BugCheck) => void) | null = null;

  /** KeBugCheckEx: record the stop and throw it. */
  KeBugCheckEx(code: number, p1 = 0, p2 = 0, p3 = 0, p4 = 0, detail = ''): never {
    const stop = new BugCheck(code, p1, p2, p3, p4, detail);
    if (!this.crashed) {
      this.crashed = stop;
      this.onBugCheck?.(stop);
    }
    throw stop;
  }

  /** Throw the recorded stop again if this host has already crashed. */
  assertRunning(): void {
    if (this.crashed) throw this.crashed;
  }
}
