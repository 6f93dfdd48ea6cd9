/**
 * Kernel events: KeInitializeEvent, KeSetEvent, KeResetEvent, KeClearEvent, KeReadStateEvent and
 * KeWaitForSingleObject on an event. [ddi/wdm nf-wdm-keinitializeevent, nf-wdm-kesetevent,
 * nf-wdm-keresetevent, nf-wdm-keclearevent, nf-wdm-kereadstateevent, nf-wdm-kewaitforsingleobject;
 * Wine dlls/ntoskrnl.exe/tests/driver.c test_sync records the behaviour on Windows]
 *
 * Implementation notes
 * - A KEVENT is its DISPATCHER_HEADER: Type (EventNotificationObject 0 for a NotificationEvent,
 *   EventSynchronizationObject 1 for a SynchronizationEvent) and SignalState.
 * - A wait on a signaled event succeeds at once (STATUS_SUCCESS) and a synchronization event
 *   resets as it satisfies the wait; a notification event stays signaled. A zero timeout on a
 *   non-signaled event is STATUS_TIMEOUT (the Wine test's wait_single(event, 0)).
 * - The emulator runs one thread of control: a wait that would block (no timeout, or a non-zero
 *   one, on a non-signaled event) can never be satisfied by another thread, so it throws
 *   SynchronousIoWouldBlock, as the I/O manager's synchronous paths do. Drivers that follow the
 *   documented pattern (wait only when IoCallDriver returned STATUS_PENDING, and the IRP was
 *   completed meanwhile) find the event signaled and continue.
 * - IRQL: KeSetEvent / KeResetEvent / KeReadStateEvent <= DISPATCH_LEVEL; KeWaitForSingleObject
 *   <= APC_LEVEL, or <= DISPATCH_LEVEL with a zero timeout. Above: IRQL_NOT_LESS_OR_EQUAL.
 */
import { IRQL_NOT_LESS_OR_EQUAL } from '../bugcheck.ts';
import { APC_LEVEL, DISPATCH_LEVEL } from '../irql.ts';
import type { Kernel } from '../kernel.ts';
import type { Ref } from '../ref.ts';
import { SynchronousIoWouldBlock } from '../io/io-manager.ts';
import { ExRaiseStatus, STATUS_ACCESS_VIOLATION, STATUS_SUCCESS, STATUS_TIMEOUT, type NTSTATUS } from '../status.ts';

/** EVENT_TYPE. */
export const NotificationEvent = 0;
export const SynchronizationEvent = 1;
/** DISPATCHER_HEADER.Type of events (KOBJECTS). */
export const EventNotificationObject = 0;
export const EventSynchronizationObject = 1;
/** KWAIT_REASON values drivers pass. */
export const Executive = 0;

export class KEVENT {
  readonly Header = { Type: EventNotificationObject, SignalState: 0 };
}

function checkEvent(Event: unknown, routine: string): asserts Event is KEVENT {
  if (!(Event instanceof KEVENT)) ExRaiseStatus(STATUS_ACCESS_VIOLATION, `${routine}: not a KEVENT`);
}

function checkIrql(k: Kernel, max: number, routine: string): void {
  if (k.irql > max) {
    k.bugcheck.KeBugCheckEx(IRQL_NOT_LESS_OR_EQUAL, 0, k.irql, 0, 0, `${routine} at IRQL ${k.irql} (max ${max})`);
  }
}

/** KeInitializeEvent(k, Event, Type, State). */
export function KeInitializeEvent(k: Kernel, Event: KEVENT, Type: number, State: boolean): void {
  k.bugcheck.assertRunning();
  checkEvent(Event, 'KeInitializeEvent');
  if (Type !== NotificationEvent && Type !== SynchronizationEvent) {
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, `KeInitializeEvent: Type ${String(Type)} is not an EVENT_TYPE`);
  }
  Event.Header.Type = Type === NotificationEvent ? EventNotificationObject : EventSynchronizationObject;
  Event.Header.SignalState = State ? 1 : 0;
}

/** KeSetEvent(k, Event, Increment, Wait) → the previous state. */
export function KeSetEvent(k: Kernel, Event: KEVENT, Increment: number, Wait: boolean): number {
  void Increment;
  void Wait;
  return setSignalState(k, Event, 1, 'KeSetEvent');
}

/** KeResetEvent(k, Event) → the previous state. */
export function KeResetEvent(k: Kernel, Event: KEVENT): number {
  return setSignalState(k, Event, 0, 'KeResetEvent');
}

/** KeSetEvent / KeResetEvent (IRQL <= DISPATCH_LEVEL): set the state, return the previous one. */
function setSignalState(k: Kernel, Event: KEVENT, state: number, routine: string): number {
  k.bugcheck.assertRunning();
  checkEvent(Event, routine);
  checkIrql(k, DISPATCH_LEVEL, routine);
  const previous = Event.Header.SignalState;
  Event.Header.SignalState = state;
  return previous;
}

/** KeClearEvent(k, Event). */
export function KeClearEvent(k: Kernel, Event: KEVENT): void {
  k.bugcheck.assertRunning();
  checkEvent(Event, 'KeClearEvent');
  Event.Header.SignalState = 0;
}

/** KeReadStateEvent(k, Event) → 1 when signaled, else 0. */
export function KeReadStateEvent(k: Kernel, Event: KEVENT): number {
  k.bugcheck.assertRunning();
  checkEvent(Event, 'KeReadStateEvent');
  checkIrql(k, DISPATCH_LEVEL, 'KeReadStateEvent');
  return Event.Header.SignalState;
}

/**
 * KeWaitForSingleObject(k, Object, WaitReason, WaitMode, Alertable, Timeout) on a KEVENT.
 * Timeout: null = wait forever; a Ref holding the relative (negative) or absolute time in
 * 100 ns units; 0 = test the state.
 */
export function KeWaitForSingleObject(k: Kernel, Object: KEVENT, WaitReason: number, WaitMode: number, Alertable: boolean,
                                      Timeout: Ref<number> | null): NTSTATUS {
  k.bugcheck.assertRunning();
  checkEvent(Object, 'KeWaitForSingleObject');
  void WaitReason;
  void WaitMode;
  void Alertable;
  const zero = Timeout !== null && typeof Timeout === 'object' && Timeout.value === 0;
  checkIrql(k, zero ? DISPATCH_LEVEL : APC_LEVEL, 'KeWaitForSingleObject');
  if (Object.Header.SignalState !== 0) {
    if (Object.Header.Type === EventSynchronizationObject) Object.Header.SignalState = 0;
    return STATUS_SUCCESS;
  }
  if (zero) return STATUS_TIMEOUT;
  throw new SynchronousIoWouldBlock(
    'KeWaitForSingleObject on an event that is not signaled: no other thread can set it in this emulator');
}
