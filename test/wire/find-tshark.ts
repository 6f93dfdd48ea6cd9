/**
 * Where the wire tests find tshark: $TSHARK_PATH when set, else the first `tshark` on $PATH
 * that is an executable file (as find-chromium.ts does for the browser test). No shell is
 * spawned and no path is hard-coded; null when there is none (the tshark test then skips with
 * one line saying how to enable it).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

function executable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findTshark(env: NodeJS.ProcessEnv = process.env): string | null {
  const explicit = env['TSHARK_PATH'];
  if (explicit !== undefined && explicit !== '') return executable(explicit) ? explicit : null;
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, 'tshark');
    if (executable(candidate)) return candidate;
  }
  return null;
}

export const SKIP_MESSAGE = "tshark tests skipped: no tshark found; set TSHARK_PATH or install Debian's tshark (scripts/ensure-tshark.sh does when root)";
