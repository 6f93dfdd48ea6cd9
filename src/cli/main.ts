/**
 * The `sanproxy` command line. Node's own util.parseArgs is the parser (no dependency).
 *
 *   sanproxy demo  [--ram 8G] [--nolowmem on|off] [--json]   the main job (npm start)
 *   sanproxy map   [--ram 8G] [--nolowmem on|off] [--json]   boot a host, print its physical memory map
 *   sanproxy bench <suite|all> [--json]                      benchmarks (bench/*.ts)
 */
import { parseArgs } from 'node:util';
import { GIB, parseSize } from '../bus/index.ts';
import { Kernel } from '../kernel/kernel.ts';
import { formatMemoryMap, memoryMapJson } from '../report/memory-map-text.ts';

export const BENCH_SUITES = ['contiguous', 'footprint', 'register', 'rdma'] as const;

const USAGE = `usage: sanproxy <command> [options]

commands:
  demo                 boot a host and show its memory (grows into the full two-host demo)
  map                  boot a host and print its physical memory map
  bench <suite|all>    run benchmarks: ${BENCH_SUITES.join(', ')}

options:
  --ram <size>         RAM per host, e.g. 8G, 16G, 64G (default 8G)
  --nolowmem on|off    bcdedit /set nolowmem (default on)
  --json               machine-readable output only
  -h, --help           this text
`;

export class UsageError extends Error {}

interface HostOptions {
  ramBytes: number;
  nolowmem: boolean;
}

function hostOptions(values: { ram?: string; nolowmem?: string }): HostOptions {
  const ramBytes = parseSize(values.ram ?? '8G');
  if (ramBytes === null || ramBytes < 64 * 1024 * 1024 || ramBytes > 1024 * GIB) {
    throw new UsageError(`--ram ${values.ram}: expected a size from 64M to 1T, such as 8G`);
  }
  const nl = (values.nolowmem ?? 'on').toLowerCase();
  if (nl !== 'on' && nl !== 'off') throw new UsageError(`--nolowmem ${values.nolowmem}: expected on or off`);
  return { ramBytes, nolowmem: nl === 'on' };
}

async function runBench(suite: string, json: boolean, out: (s: string) => void): Promise<void> {
  const suites = suite === 'all' ? [...BENCH_SUITES] : [suite];
  for (const s of suites) {
    if (!(BENCH_SUITES as readonly string[]).includes(s)) {
      throw new UsageError(`bench ${s}: unknown suite; expected one of ${BENCH_SUITES.join(', ')}, all`);
    }
  }
  const results: unknown[] = [];
  for (const s of suites) {
    const mod = (await import(`../../bench/${s}.ts`)) as {
      run(opts: { json: boolean }): Promise<unknown>;
      formatTable?(result: unknown): string;
    };
    const result = await mod.run({ json });
    results.push(result);
    if (!json) out(mod.formatTable ? mod.formatTable(result) : JSON.stringify(result, null, 2));
  }
  if (json) out(JSON.stringify(suites.length === 1 ? results[0] : results));
}

export async function main(argv: string[], out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ram: { type: 'string' },
        nolowmem: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    const [command, ...rest] = positionals;
    if (values.help || !command) {
      out(USAGE);
      return command || values.help ? 0 : 2;
    }
    switch (command) {
      case 'demo':
      case 'map': {
        const opts = hostOptions(values);
        const k = Kernel.boot({ ramBytes: opts.ramBytes, nolowmem: opts.nolowmem, name: 'host-a' });
        out(values.json ? JSON.stringify(memoryMapJson(k)) : formatMemoryMap(k));
        return 0;
      }
      case 'bench': {
        if (rest.length !== 1) throw new UsageError('bench: name one suite or "all"');
        await runBench(rest[0]!, values.json!, out);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`sanproxy: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}
