/**
 * The JSON document `sanproxy bench <suite|all> --json` prints: the machine, and for each suite
 * that ran its options and every run's result (in run order). Ranges are left to the reader
 * (the text tables and the README show min–max over the runs), so nothing is lost.
 *
 *   { "sanproxy": "0.1.0", "machine": {...}, "runs": 3,
 *     "suites": { "rdma": { "options": {}, "elapsedMs": [...], "runs": [ {"suite":"rdma",...}, ... ] } } }
 */
import { cpus, totalmem } from 'node:os';
import type { ChildOptions } from './child.ts';
import type { ContiguousResult } from './contiguous.ts';
import type { FootprintResult } from './footprint.ts';
import type { IoctlResult } from './ioctl.ts';
import type { RdmaResult } from './rdma.ts';
import type { RegisterResult } from './register.ts';
import type { SocketResult } from './socket.ts';
import type { SuiteName } from './suite.ts';

export interface SuiteResults {
  footprint: FootprintResult;
  contiguous: ContiguousResult;
  register: RegisterResult;
  ioctl: IoctlResult;
  rdma: RdmaResult;
  socket: SocketResult;
}

export interface SuiteRuns<S extends SuiteName = SuiteName> {
  options: ChildOptions;
  /** Wall time of each run's child process, start to exit. */
  elapsedMs: number[];
  runs: SuiteResults[S][];
}

export interface Machine {
  /** Logical CPUs (os.cpus().length). */
  cores: number;
  /** os.cpus()[0].model, trimmed. */
  cpu: string;
  node: string;
  platform: string;
  arch: string;
  memoryBytes: number;
  /** When the runs started (ISO 8601, UTC). */
  date: string;
}

export interface BenchDocument {
  sanproxy: string;
  machine: Machine;
  /** Runs of each suite. */
  runs: number;
  suites: { [S in SuiteName]?: SuiteRuns<S> };
}

export function describeMachine(now = new Date()): Machine {
  const list = cpus();
  return {
    cores: list.length,
    cpu: (list[0]?.model ?? 'unknown').replace(/\s+/g, ' ').trim(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    memoryBytes: totalmem(),
    date: now.toISOString(),
  };
}

/** One line: "2 cores (AMD EPYC), Node v20.20.2, linux x64, 2026-11-24". */
export function machineText(m: Machine): string {
  return `${m.cores} ${m.cores === 1 ? 'core' : 'cores'} (${m.cpu}), Node ${m.node}, ${m.platform} ${m.arch}, ${m.date.slice(0, 10)}`;
}
