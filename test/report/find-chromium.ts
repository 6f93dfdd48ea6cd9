/**
 * Where the browser tests find a Chromium: $CHROMIUM_PATH when set, else the first of
 * `chromium`, `chromium-browser`, `google-chrome` on $PATH that is an executable file. No shell
 * is spawned and no path is hard-coded; null when there is none (the browser tests then skip
 * with one line saying how to enable them).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome'];

function executable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  const explicit = env['CHROMIUM_PATH'];
  if (explicit !== undefined && explicit !== '') return executable(explicit) ? explicit : null;
  for (const name of NAMES) {
    for (const dir of (env['PATH'] ?? '').split(delimiter)) {
      if (dir === '' || !isAbsolute(dir)) continue;
      const candidate = join(dir, name);
      if (executable(candidate)) return candidate;
    }
  }
  return null;
}

export const SKIP_MESSAGE = "browser tests skipped: no Chromium found; set CHROMIUM_PATH or install Debian's chromium";
