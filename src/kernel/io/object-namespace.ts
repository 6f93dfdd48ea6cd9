/**
 * The part of the object manager namespace the I/O manager needs: the \Device directory
 * (named device objects) and the \?? directory of DOS device names (symbolic links).
 * [kernel: "Named Device Objects", "MS-DOS Device Names", "Introduction to MS-DOS Device Names"]
 *
 * Implementation notes
 * - Names are case-insensitive (OBJ_CASE_INSENSITIVE, how the I/O manager opens them); keys
 *   are upper-cased, the name as created is kept for display.
 * - \DosDevices and \GLOBAL?? are aliases of \?? (one session, so local = global).
 * - Only two directories exist: \Device and \??. A name in any other directory fails with
 *   STATUS_OBJECT_PATH_NOT_FOUND, as the object manager does for a missing directory.
 * - A symbolic link may point at a name that does not exist yet; it is resolved at open time,
 *   with a bounded number of reparses so a link cycle fails instead of looping.
 */
import type { NTSTATUS } from '../status.ts';
import {
  STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SUCCESS,
} from '../status.ts';
import type { DEVICE_OBJECT } from './device-object.ts';

/** ntstatus.h values the namespace returns that status.ts does not list. */
export const STATUS_OBJECT_PATH_NOT_FOUND = 0xc000003a;
export const STATUS_OBJECT_PATH_SYNTAX_BAD = 0xc000003b;

/** UNICODE_STRING.Length is a USHORT of bytes: at most 32767 UTF-16 units. */
const MAX_NAME_CHARS = 32767;
/** The object manager gives up after this many symbolic link reparses (Windows uses 32). */
const MAX_REPARSE = 32;

type Directory = 'DEVICE' | '??';

export interface ParsedName {
  directory: Directory;
  /** Leaf as written and its case-folded key. */
  leaf: string;
  key: string;
}

/** Split "\Dir\Leaf" into a known directory and a leaf; a status when it cannot be. */
export function parseObjectName(name: unknown): ParsedName | NTSTATUS {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_CHARS) return STATUS_OBJECT_NAME_INVALID;
  if (name[0] !== '\\') return STATUS_OBJECT_PATH_SYNTAX_BAD;
  const parts = name.slice(1).split('\\');
  if (parts.some((p) => p.length === 0) || /[\u0000]/.test(name)) return STATUS_OBJECT_NAME_INVALID;
  if (parts.length !== 2) return STATUS_OBJECT_PATH_NOT_FOUND;
  const directory = directoryOf(parts[0]!);
  if (directory === null) return STATUS_OBJECT_PATH_NOT_FOUND;
  return { directory, leaf: parts[1]!, key: parts[1]!.toUpperCase() };
}

function directoryOf(component: string): Directory | null {
  const c = component.toUpperCase();
  if (c === 'DEVICE') return 'DEVICE';
  if (c === '??' || c === 'DOSDEVICES' || c === 'GLOBAL??') return '??';
  return null;
}

export interface ResolvedDevice {
  device: DEVICE_OBJECT;
  /** What follows the device name ("\sub\path"), handed to IRP_MJ_CREATE as FileName. */
  remainder: string;
}

export class ObjectNamespace {
  private readonly devices = new Map<string, DEVICE_OBJECT>();
  private readonly links = new Map<string, { name: string; target: string }>();

  insertDevice(name: string, device: DEVICE_OBJECT): NTSTATUS {
    const parsed = parseObjectName(name);
    if (typeof parsed === 'number') return parsed;
    if (parsed.directory !== 'DEVICE') return STATUS_OBJECT_PATH_NOT_FOUND;
    if (this.devices.has(parsed.key)) return STATUS_OBJECT_NAME_COLLISION;
    this.devices.set(parsed.key, device);
    return STATUS_SUCCESS;
  }

  hasDevice(name: string): boolean {
    const parsed = parseObjectName(name);
    return typeof parsed !== 'number' && parsed.directory === 'DEVICE' && this.devices.has(parsed.key);
  }

  removeDevice(name: string, device: DEVICE_OBJECT): void {
    const parsed = parseObjectName(name);
    if (typeof parsed === 'number') return;
    if (this.devices.get(parsed.key) === device) this.devices.delete(parsed.key);
  }

  insertLink(name: string, target: string): NTSTATUS {
    const parsed = parseObjectName(name);
    if (typeof parsed === 'number') return parsed;
    if (parsed.directory !== '??') return STATUS_OBJECT_PATH_NOT_FOUND;
    if (this.links.has(parsed.key)) return STATUS_OBJECT_NAME_COLLISION;
    this.links.set(parsed.key, { name, target });
    return STATUS_SUCCESS;
  }

  removeLink(name: string): NTSTATUS {
    const parsed = parseObjectName(name);
    if (typeof parsed === 'number') return parsed;
    if (parsed.directory !== '??') return STATUS_OBJECT_NAME_NOT_FOUND;
    return this.links.delete(parsed.key) ? STATUS_SUCCESS : STATUS_OBJECT_NAME_NOT_FOUND;
  }

  get linkCount(): number {
    return this.links.size;
  }

  get deviceCount(): number {
    return this.devices.size;
  }

  /**
   * Resolve a full object name ("\??\San0", "\Device\San0\x") to a device, following
   * symbolic links; the unparsed rest of the path is returned as `remainder`.
   */
  resolve(name: string): ResolvedDevice | NTSTATUS {
    let path = name;
    for (let reparse = 0; reparse <= MAX_REPARSE; reparse++) {
      if (path.length === 0 || path.length > MAX_NAME_CHARS) return STATUS_OBJECT_NAME_INVALID;
      if (path[0] !== '\\') return STATUS_OBJECT_PATH_SYNTAX_BAD;
      const parts = path.slice(1).split('\\');
      if (parts.length < 2) return STATUS_OBJECT_NAME_INVALID;
      const directory = directoryOf(parts[0]!);
      if (directory === null) return STATUS_OBJECT_PATH_NOT_FOUND;
      const key = parts[1]!.toUpperCase();
      if (key.length === 0) return STATUS_OBJECT_NAME_INVALID;
      const rest = parts.length > 2 ? '\\' + parts.slice(2).join('\\') : '';
      if (directory === 'DEVICE') {
        const device = this.devices.get(key);
        return device ? { device, remainder: rest } : STATUS_OBJECT_NAME_NOT_FOUND;
      }
      const link = this.links.get(key);
      if (!link) return STATUS_OBJECT_NAME_NOT_FOUND;
      path = link.target + rest;
    }
    // A cycle of links: the object manager reports the name as not found after the limit.
    return STATUS_OBJECT_NAME_NOT_FOUND;
  }
}
