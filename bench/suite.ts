/**
 * The benchmark suites: their names, what each measures, which options each takes with their
 * defaults and limits, and how a suite reports progress. Light on purpose (no kernel imports):
 * the command line reads it to check options and print help without loading a suite, and each
 * suite reads its defaults from here so the help can never disagree with the run.
 */
import { GIB, KIB, MIB } from '../src/bus/index.ts';

export const SUITES = ['footprint', 'contiguous', 'register', 'ioctl', 'rdma', 'socket'] as const;
export type SuiteName = (typeof SUITES)[number];

/** Options a suite may take on the command line (each suite takes only the ones listed for it). */
export type SuiteOptionName = 'ram' | 'seed' | 'sizes';

/** One suite's progress: `done` of `total` steps, `detail` says which (a row's size, an op). */
export type ProgressFn = (done: number, total: number, detail: string) => void;

export interface SuiteSpec {
  name: SuiteName;
  /** One line for the help and the README. */
  what: string;
  options: readonly SuiteOptionName[];
}

export const FOOTPRINT_RAM = 64 * GIB;
export const CONTIGUOUS_RAM = 64 * GIB;
export const CONTIGUOUS_SEED = 0x5a9;

/** Buffer sizes of `register` (its host has 4 GiB, so buffers of at most 1 GiB, whole pages). */
export const REGISTER_SIZES: readonly number[] = [4 * KIB, 64 * KIB, MIB, 64 * MIB, GIB];
export const REGISTER_MAX = GIB;

/** perftest's `-a`: every power of two from 2 B to 8 MiB (the size of the registered region). */
export const RDMA_SIZES: readonly number[] = Array.from({ length: 23 }, (_, k) => 2 ** (k + 1));
export const RDMA_MAX = 8 * MIB;

export const SOCKET_SIZES: readonly number[] = [KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB, 8 * MIB];
export const SOCKET_MAX = 8 * MIB;

export const SUITE_SPECS: Readonly<Record<SuiteName, SuiteSpec>> = {
  footprint: {
    name: 'footprint',
    what: 'boot one host: boot time, RSS growth, PFN metadata per page',
    options: ['ram'],
  },
  contiguous: {
    name: 'contiguous',
    what: 'contiguous-memory search on a half-fragmented host vs a linear PFN walk',
    options: ['ram', 'seed'],
  },
  register: {
    name: 'register',
    what: 'MDL + MmProbeAndLockPages + MmUnlockPages of touched user buffers',
    options: ['sizes'],
  },
  ioctl: {
    name: 'ioctl',
    what: 'DeviceIoControl pairs through the I/O manager and the proxy, with and without lookaside lists',
    options: [],
  },
  rdma: {
    name: 'rdma',
    what: 'perftest-style RDMA write/read/send between two hosts vs Buffer copy',
    options: ['sizes'],
  },
  socket: {
    name: 'socket',
    what: 'send/recv through the switch: SAN path vs TCP-like path vs memcpy',
    options: ['sizes'],
  },
};

export const isSuiteName = (s: string): s is SuiteName => (SUITES as readonly string[]).includes(s);
