/**
 * The process manager: process creation and exit, the current process context and
 * KeStackAttachProcess / KeUnstackDetachProcess.
 *
 * Implementation notes
 * - The System process (ProcessId 4) exists from boot and is the context of kernel code that
 *   is not attached anywhere. It has a user address space like any process (ZwAllocate-
 *   VirtualMemory on NtCurrentProcess() from a system thread lands there) but cannot exit.
 * - Exit follows Windows' order: process notify routines (PsSetCreateProcessNotifyRoutine),
 *   then kernel exit handlers (the I/O manager closes the handles there, so drivers get
 *   IRP_MJ_CLEANUP and can unlock), then the memory manager tears the address space down:
 *   secured ranges are unsecured, kernel pages mapped into the process are unmapped, and if
 *   a driver still holds pages of the process locked the host bug-checks
 *   PROCESS_HAS_LOCKED_PAGES (0x76) — or DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS (0xCB), naming
 *   the driver, when lock tracking is on (TrackLockedPages or the verifier).
 *   [bug-check-0x76--process-has-locked-pages, bug-check-0xcb--driver-left-locked-pages-in-process]
 */
import type { Kernel } from '../kernel.ts';
import {
  ExRaiseStatus,
  STATUS_ACCESS_DENIED,
  STATUS_ACCESS_VIOLATION,
  STATUS_INSUFFICIENT_RESOURCES,
  STATUS_INVALID_PARAMETER,
  STATUS_PROCESS_IS_TERMINATING,
  STATUS_SUCCESS,
  type NTSTATUS,
} from '../status.ts';
import {
  DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
  INVALID_PROCESS_ATTACH_ATTEMPT,
  INVALID_PROCESS_DETACH_ATTEMPT,
  PROCESS_HAS_LOCKED_PAGES,
} from '../bugcheck.ts';
import { Process } from './process.ts';
import { miDeletePages } from '../mm/virtual-memory.ts';
import { miUnmapProcessLockedPageMappings } from '../mm/mdl-mapping.ts';
import { mdlAddress, mdlTrackerAddress } from '../mm/mdl.ts';

export const SYSTEM_PROCESS_ID = 4;

/** PCREATE_PROCESS_NOTIFY_ROUTINE(ParentId, ProcessId, Create). */
export type CreateProcessNotifyRoutine = (ParentId: number, ProcessId: number, Create: boolean) => void;

/**
 * KAPC_STATE: caller-allocated (usually on the stack), filled by KeStackAttachProcess with where
 * to return to, handed back to KeUnstackDetachProcess. [ddi/ntifs nf-ntifs-kestackattachprocess]
 */
export class KAPC_STATE {
  attachedTo: Process | null = null;
  previous: Process | null = null;
  active = false;
}

/** PSP_MAX_CREATE_PROCESS_NOTIFY: the process-creation callback slots Windows has. */
export const MAX_CREATE_PROCESS_NOTIFY_ROUTINES = 64;

export class ProcessManager {
  readonly system: Process;
  private readonly table = new Map<number, Process>();
  private nextId = 0x100;
  private currentProcess: Process;
  private readonly attachStack: KAPC_STATE[] = [];
  private readonly notifyRoutines: CreateProcessNotifyRoutine[] = [];
  private readonly exitHandlers: ((p: Process) => void)[] = [];

  constructor(private readonly k: Kernel) {
    this.system = new Process(k, SYSTEM_PROCESS_ID, 'System', true);
    this.table.set(SYSTEM_PROCESS_ID, this.system);
    this.currentProcess = this.system;
  }

  /** PsGetCurrentProcess: the process whose address space user addresses refer to now. */
  get current(): Process {
    return this.currentProcess;
  }

  /** Live processes, System first. */
  get processes(): readonly Process[] {
    return [...this.table.values()];
  }

  /** PsLookupProcessByProcessId, minus the reference: null when no such live process. */
  lookup(ProcessId: number): Process | null {
    return this.table.get(ProcessId) ?? null;
  }

  /**
   * Create a user process with an empty address space. Creating a process allocates (the
   * EPROCESS, its page-table owner), so it passes the fault injector; a refused creation
   * raises STATUS_INSUFFICIENT_RESOURCES.
   */
  createProcess(name: string): Process {
    this.k.bugcheck.assertRunning();
    if (typeof name !== 'string' || name.length === 0) ExRaiseStatus(STATUS_INVALID_PARAMETER, 'createProcess: name must be a non-empty string');
    if (this.k.faults.shouldFail({ site: 'PspCreateProcess', bytes: 0, driver: this.k.currentDriver ?? undefined })) {
      ExRaiseStatus(STATUS_INSUFFICIENT_RESOURCES, `createProcess(${name}): allocation refused`);
    }
    const id = this.nextId;
    const p = new Process(this.k, id, name);
    if (p.pageOwner === 0) ExRaiseStatus(STATUS_INSUFFICIENT_RESOURCES, `createProcess(${name}): owner table full`);
    this.nextId += 4;
    this.table.set(id, p);
    for (const r of [...this.notifyRoutines]) r(this.currentProcess.ProcessId, id, true);
    return p;
  }

  /**
   * Terminate a process (NtTerminateProcess / the last thread exiting). Returns
   * STATUS_PROCESS_IS_TERMINATING when it is already gone, STATUS_ACCESS_DENIED for System.
   * Bug-checks when a driver left pages of the process locked.
   */
  terminateProcess(process: Process, exitStatus: NTSTATUS): NTSTATUS {
    const k = this.k;
    k.bugcheck.assertRunning();
    if (!(process instanceof Process) || this.table.get(process.ProcessId) !== process) {
      return process instanceof Process ? STATUS_PROCESS_IS_TERMINATING : STATUS_INVALID_PARAMETER;
    }
    if (process.isSystem) return STATUS_ACCESS_DENIED;
    if (!Number.isInteger(exitStatus)) return STATUS_INVALID_PARAMETER;
    if (process.state !== 'running') return STATUS_PROCESS_IS_TERMINATING;
    process.state = 'terminating';
    process.exitStatus = exitStatus >>> 0;

    this.runInProcess(process, () => {
      for (const r of [...this.notifyRoutines]) r(this.system.ProcessId, process.ProcessId, false);
      for (const h of [...this.exitHandlers]) h(process);
    });

    // MmCleanProcessAddressSpace: secures go, user mappings of kernel pages go.
    process.secureEntries.clear();
    miUnmapProcessLockedPageMappings(k, process);

    if (process.lockedPages > 0) {
      const tracking = Boolean(k.config.trackLockedPages) || Boolean(k.config.verifier);
      const first = process.lockedMdls.values().next().value;
      if (tracking && first) {
        const pages = first.pfnArray.length;
        k.bugcheck.KeBugCheckEx(DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS, mdlTrackerAddress(first), 0, mdlAddress(first), pages,
          `driver ${first.lockedBy ?? '(unknown)'} left ${pages} page(s) locked by MDL ${hex(mdlAddress(first))} ` +
            `in process ${process.name} (${process.ProcessId}) at exit`);
      }
      k.bugcheck.KeBugCheckEx(PROCESS_HAS_LOCKED_PAGES, 0, process.ProcessId, process.lockedPages, 0,
        `process ${process.name} (${process.ProcessId}) exits with ${process.lockedPages} page(s) still locked` +
          (first ? ` (first: MDL ${hex(mdlAddress(first))} locked by ${first.lockedBy ?? '(unknown)'})` : ''));
    }

    for (const v of [...process.space.regions]) {
      miDeletePages(k, v, 0, v.pageCount);
      process.space.remove(v);
    }
    if (process.hasPageOwner) k.mm.owners.release(process.pageOwner);
    process.secureMemoryCacheCallbacks.length = 0;
    process.state = 'terminated';
    this.table.delete(process.ProcessId);
    return STATUS_SUCCESS;
  }

  /** True for a process object of this model (the memory manager checks handles with it). */
  isProcess(value: unknown): value is Process {
    return value instanceof Process;
  }

  /** Run `fn` attached to `process` (user-mode code, the I/O manager, callbacks). */
  runInProcess<T>(process: Process, fn: () => T): T {
    const state = new KAPC_STATE();
    KeStackAttachProcess(this.k, process, state);
    try {
      return fn();
    } finally {
      KeUnstackDetachProcess(this.k, state);
    }
  }

  /** PsSetCreateProcessNotifyRoutine(NotifyRoutine, Remove). */
  setCreateProcessNotifyRoutine(routine: CreateProcessNotifyRoutine, remove: boolean): NTSTATUS {
    if (typeof routine !== 'function') return STATUS_INVALID_PARAMETER;
    // The WDK page: STATUS_INVALID_PARAMETER when registering a routine already registered or
    // past the system's limit (64 slots), or removing one that is not registered.
    if (!remove && this.notifyRoutines.length >= MAX_CREATE_PROCESS_NOTIFY_ROUTINES) return STATUS_INVALID_PARAMETER;
    const i = this.notifyRoutines.indexOf(routine);
    if (remove) {
      if (i < 0) return STATUS_INVALID_PARAMETER;
      this.notifyRoutines.splice(i, 1);
      return STATUS_SUCCESS;
    }
    if (i >= 0) return STATUS_INVALID_PARAMETER;
    this.notifyRoutines.push(routine);
    return STATUS_SUCCESS;
  }

  /** Kernel subsystems (the I/O manager's handle rundown) hook process exit here. */
  addExitHandler(handler: (p: Process) => void): void {
    this.exitHandlers.push(handler);
  }

  /** @internal KeStackAttachProcess / KeUnstackDetachProcess bookkeeping. */
  attach(process: Process, state: KAPC_STATE): void {
    state.attachedTo = process;
    state.previous = this.currentProcess;
    state.active = true;
    this.attachStack.push(state);
    this.currentProcess = process;
  }

  /** @internal */
  detach(state: KAPC_STATE): boolean {
    if (this.attachStack[this.attachStack.length - 1] !== state || !state.active) return false;
    this.attachStack.pop();
    state.active = false;
    this.currentProcess = state.previous!;
    return true;
  }
}

const hex = (v: number) => `0x${v.toString(16)}`;

/** PsSetCreateProcessNotifyRoutine(k, NotifyRoutine, Remove). */
export function PsSetCreateProcessNotifyRoutine(k: Kernel, NotifyRoutine: CreateProcessNotifyRoutine, Remove: boolean): NTSTATUS {
  k.bugcheck.assertRunning();
  return k.ps.setCreateProcessNotifyRoutine(NotifyRoutine, Remove);
}

/** PsGetCurrentProcess(k). */
export function PsGetCurrentProcess(k: Kernel): Process {
  return k.ps.current;
}

/**
 * KeStackAttachProcess(k, Process, ApcState): attach to Process, filling the caller's KAPC_STATE
 * (WDK order: PROCESS, then the out structure). Attaching to a process that has exited is a bug
 * (the caller should hold a reference and check): INVALID_PROCESS_ATTACH_ATTEMPT. An ApcState
 * that is not a KAPC_STATE is the access violation of writing through a bad pointer; one still
 * active (attached and not yet detached) is INVALID_PROCESS_ATTACH_ATTEMPT too.
 */
export function KeStackAttachProcess(k: Kernel, Process_: Process, ApcState: KAPC_STATE): void {
  k.bugcheck.assertRunning();
  if (!(Process_ instanceof Process) || Process_.state === 'terminated') {
    k.bugcheck.KeBugCheckEx(INVALID_PROCESS_ATTACH_ATTEMPT, Process_ instanceof Process ? Process_.ProcessId : 0, 0, 0, 0,
      'KeStackAttachProcess: not a live process');
  }
  if (!(ApcState instanceof KAPC_STATE)) ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'KeStackAttachProcess: ApcState is not a KAPC_STATE');
  if (ApcState.active) {
    k.bugcheck.KeBugCheckEx(INVALID_PROCESS_ATTACH_ATTEMPT, Process_.ProcessId, 0, 0, 0,
      'KeStackAttachProcess: ApcState is already in use by an attach that was not undone');
  }
  k.ps.attach(Process_, ApcState);
}

/** KeUnstackDetachProcess(k, ApcState): detaches must unwind attaches in LIFO order. */
export function KeUnstackDetachProcess(k: Kernel, ApcState: KAPC_STATE): void {
  k.bugcheck.assertRunning();
  if (!k.ps.detach(ApcState)) {
    k.bugcheck.KeBugCheckEx(INVALID_PROCESS_DETACH_ATTEMPT, ApcState instanceof KAPC_STATE ? ApcState.attachedTo?.ProcessId ?? 0 : 0, 0, 0, 0,
      'KeUnstackDetachProcess: ApcState is not the most recent attach');
  }
}
