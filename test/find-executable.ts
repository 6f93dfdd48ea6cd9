/**
 * Where a test finds a tool it runs (tshark, Chromium): $<variable> when set, else the first
 * of `names` on $PATH that is an executable file (every PATH directory for one name before the
 * next name). No shell is spawned and no path is hard-coded; null when there is none (the test
 * then skips with one line saying how to enable it).
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

export function findExecutable(variable: string, names: readonly string[], env: NodeJS.ProcessEnv): string | null {
  const explicit = env[variable];
  if (explicit !== undefined && explicit !== '') return executable(explicit) ? explicit : null;
  for (const name of names) {
    for (const dir of (env['PATH'] ?? '').split(delimiter)) {
      if (dir === '' || !isAbsolute(dir)) continue;
      const candidate = join(dir, name);
      if (executable(candidate)) return candidate;
    }
  }
  return null;
}
