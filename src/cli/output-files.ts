/**
 * Files a command will write (--report, --trace), checked before any work starts: a run of
 * minutes must not end in a stack trace because its output cannot be written. The check
 * creates and removes a scratch file in the target's directory, which proves what access()
 * cannot (root passes access() on /proc, a read-only mount, a full directory).
 */
import { closeSync, openSync, realpathSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError, quote } from './options.ts';

export interface OutputFile {
  flag: string;
  path: string;
}

function reason(e: unknown): string {
  const code = (e as { code?: string }).code;
  switch (code) {
    case 'ENOENT': return 'no such directory';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'EROFS': return 'read-only file system';
    case 'ENOSPC': return 'no space left on the device';
    case 'ENOTDIR': return 'a part of the path is not a directory';
    default: return code ?? (e instanceof Error ? e.message : String(e));
  }
}

/** Where `path` will really be written (symbolic links in its directory resolved). */
function canonical(path: string): string {
  const absolute = resolve(path);
  try {
    return join(realpathSync(dirname(absolute)), basename(absolute));
  } catch {
    return absolute;
  }
}

/** Throws a UsageError naming the flag when a file cannot be written; writes nothing that stays. */
export function checkOutputFiles(files: readonly OutputFile[]): void {
  const seen = new Map<string, string>();
  for (const { flag, path } of files) {
    if (path.trim() === '') throw new UsageError(`--${flag} ${quote(path)}: expected a file name`);
    if (path.startsWith('-')) throw new UsageError(`--${flag} ${path}: expected a file name, not an option (write ./${path} for a file that starts with '-')`);
    const absolute = resolve(path);
    const dir = dirname(absolute);
    let dirStat;
    try {
      dirStat = statSync(dir);
    } catch (e) {
      throw new UsageError(`--${flag} ${path}: cannot write there: ${dir}: ${reason(e)}`);
    }
    if (!dirStat.isDirectory()) throw new UsageError(`--${flag} ${path}: cannot write there: ${dir} is not a directory`);
    try {
      if (statSync(absolute).isDirectory()) throw new UsageError(`--${flag} ${path}: is a directory; expected a file name`);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      // Not there yet: it will be created.
    }
    const probe = join(dir, `.sanproxy-write-check-${process.pid}-${seen.size}`);
    try {
      closeSync(openSync(probe, 'wx'));
      unlinkSync(probe);
    } catch (e) {
      throw new UsageError(`--${flag} ${path}: cannot write there: ${reason(e)}`);
    }
    const key = canonical(path);
    const other = seen.get(key);
    if (other !== undefined) throw new UsageError(`--${flag} ${path}: the same file as --${other}; give each output its own file`);
    seen.set(key, flag);
  }
}

/** One line for a file that could not be written after the run (its result stands). */
export function describeWriteError(flag: string, path: string, e: unknown): string {
  return `--${flag} ${path}: could not write the file: ${reason(e)}`;
}
