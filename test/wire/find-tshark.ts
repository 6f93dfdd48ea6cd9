/** Where the wire tests find tshark: $TSHARK_PATH, else `tshark` on $PATH (test/find-executable.ts). */
import { findExecutable } from '../find-executable.ts';

export const findTshark = (env: NodeJS.ProcessEnv = process.env): string | null => findExecutable('TSHARK_PATH', ['tshark'], env);

export const SKIP_MESSAGE = "tshark tests skipped: no tshark found; set TSHARK_PATH or install Debian's tshark (scripts/ensure-tshark.sh does when root)";
