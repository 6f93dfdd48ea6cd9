/**
 * Where the browser tests find a Chromium: $CHROMIUM_PATH, else the first of `chromium`,
 * `chromium-browser`, `google-chrome` on $PATH (test/find-executable.ts).
 */
import { findExecutable } from '../find-executable.ts';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome'];

export const findChromium = (env: NodeJS.ProcessEnv = process.env): string | null => findExecutable('CHROMIUM_PATH', NAMES, env);

export const SKIP_MESSAGE = "browser tests skipped: no Chromium found; set CHROMIUM_PATH or install Debian's chromium";
