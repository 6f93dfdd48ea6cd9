/**
 * IoCreateSymbolicLink / IoDeleteSymbolicLink: the DOS device name ("\DosDevices\San0",
 * i.e. "\??\San0") that lets user mode open "\\.\San0". [ddi/wdm nf-wdm-iocreatesymboliclink,
 * nf-wdm-iodeletesymboliclink; kernel: "MS-DOS Device Names"]
 * The target is not checked: a link may name a device that does not exist (yet); opening
 * through it then fails with STATUS_OBJECT_NAME_NOT_FOUND.
 */
import type { Kernel } from '../kernel.ts';
import { PASSIVE_LEVEL } from '../irql.ts';
import { STATUS_OBJECT_NAME_INVALID, type NTSTATUS } from '../status.ts';

/** IRQL = PASSIVE_LEVEL. STATUS_OBJECT_NAME_COLLISION when the link exists. */
export function IoCreateSymbolicLink(k: Kernel, SymbolicLinkName: string, DeviceName: string): NTSTATUS {
  k.io.checkIrql(PASSIVE_LEVEL, 'IoCreateSymbolicLink');
  if (typeof DeviceName !== 'string' || DeviceName.length === 0 || DeviceName[0] !== '\\') return STATUS_OBJECT_NAME_INVALID;
  return k.io.namespace.insertLink(SymbolicLinkName, DeviceName);
}

/** IRQL = PASSIVE_LEVEL. STATUS_OBJECT_NAME_NOT_FOUND when there is no such link. */
export function IoDeleteSymbolicLink(k: Kernel, SymbolicLinkName: string): NTSTATUS {
  k.io.checkIrql(PASSIVE_LEVEL, 'IoDeleteSymbolicLink');
  return k.io.namespace.removeLink(SymbolicLinkName);
}
