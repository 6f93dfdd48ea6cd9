/**
 * What every command of the command line shares: where its output goes and the exit status
 * it leaves. Exit statuses (README, "Exit status"): 0 the run did what it claims; 1 a run that
 * did not verify, leaked, found an unclean fault run, or failed; 2 the command was called wrong.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export interface CliIo {
  /** One line (or block) of the command's result on stdout. */
  out(text: string): void;
  /** Diagnostics, headings and progress on stderr. */
  err(text: string): void;
  /** Whether stderr is a terminal (progress bars redraw only there). */
  readonly errIsTTY: boolean;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  get errIsTTY() {
    return Boolean(process.stderr.isTTY);
  },
};

export interface CliContext {
  io: CliIo;
  exitCode: number;
}

let cachedVersion: string | null = null;

/** This package's version, from its package.json (found from this file, source or dist). */
export function packageVersion(): string {
  if (cachedVersion !== null) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'sanproxy' && typeof pkg.version === 'string') return (cachedVersion = pkg.version);
    } catch {
      // not here: keep climbing
    }
    dir = dirname(dir);
  }
  throw new Error('sanproxy: package.json not found above the command line module');
}
