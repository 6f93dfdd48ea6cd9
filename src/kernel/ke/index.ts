/** Kernel (Ke) public names beyond IRQL (src/kernel/irql.ts): events. */
export {
  KEVENT,
  KeInitializeEvent,
  KeSetEvent,
  KeResetEvent,
  KeClearEvent,
  KeReadStateEvent,
  KeWaitForSingleObject,
  NotificationEvent,
  SynchronizationEvent,
  EventNotificationObject,
  EventSynchronizationObject,
  Executive,
} from './event.ts';
