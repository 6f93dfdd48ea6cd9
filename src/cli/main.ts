/**
 * The `sanproxy` command line. Node's own util.parseArgs is the parser (no dependency).
 *
 *   sanproxy demo  [options]              the main job (what `npm start` runs)
 *   sanproxy map   [--ram 8G] [--nolowmem on|off] [--json]
 *   sanproxy bench <suite|all> [--json]
 *   sanproxy faults [--json] [--seed N] [--fuzz N] [--sweep-limit N]
 */
import { parseArgs } from 'node:util';
import { GIB, parseSize } from '../bus/index.ts';
import { formatDemoSummary, runDemoDetailed, type DemoOptions } from './demo.ts';
import { runFaultsReport } from '../host/reliability/index.ts';
import { Kernel } from '../kernel/kernel.ts';
import { formatMemoryMap, memoryMapJson } from '../report/memory-map-text.ts';
import { ProgressBar } from './progress.ts';

export const BENCH_SUITES = ['contiguous', 'footprint', 'register', 'rdma', 'socket'] as const;

const USAGE = `usage: sanproxy <command> [options]

commands:
  demo                 two hosts, the SAN proxy driver on each, a verified client/server transfer
                       through the Windows Sockets switch, teardown, and a summary (npm start)
  map                  boot one host and print its physical memory map
  bench <suite|all>    benchmarks: ${BENCH_SUITES.join(', ')}
  faults               systematic fault sweep, IOCTL fuzz, forged descriptors, kill mid-transfer

options (demo, map):
  --ram <size>             RAM per host, e.g. 8G (default 8G)
  --nolowmem on|off        bcdedit /set nolowmem (default on)
options (demo):
  --nic-bits <a>,<b>       NIC DMA width per host, 32 or 64 (default 32,64)
  --strategy <s>           low memory: contiguous | common-buffer (default contiguous)
  --iommu on|off           DMA remapping (default off)
  --rdma-read on|off       NICs serve RDMA read (default on); off shows the RDMA write path
  --bytes <size>           bytes to transfer (default 256M)
  --seed <n>               message sizes and contents (default 1)
  --verifier on|off        Driver Verifier checks (default on)
  --report <file.html>     write the memory-map report
  --trace <file.json>      write a Chrome trace (open in Perfetto or chrome://tracing)
options (faults):
  --seed <n>  --fuzz <cases>  --sweep-limit <runs>
common:
  --json                   one JSON document on stdout and nothing else
  -h, --help               this text
`;

export class UsageError extends Error {}

function onOff(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  const v = value.toLowerCase();
  if (v === 'on' || v === 'true') return true;
  if (v === 'off' || v === 'false') return false;
  throw new UsageError(`--${name} ${value}: expected on or off`);
}

function size(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = parseSize(value);
  if (n === null || n < min || n > max) throw new UsageError(`--${name} ${value}: expected a size from ${min} to ${max} bytes, such as 8G or 256M`);
  return n;
}

function integer(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} ${value}: expected an integer >= ${min}`);
  return n;
}

type Values = Record<string, string | boolean | undefined>;

function demoOptions(v: Values): DemoOptions {
  const bits = String(v['nic-bits'] ?? '32,64').split(',').map((s) => Number(s.trim()));
  if (bits.length !== 2 || !bits.every((b) => b === 32 || b === 64)) {
    throw new UsageError(`--nic-bits ${v['nic-bits']}: expected two widths, 32 or 64, such as 32,64`);
  }
  const strategy = String(v.strategy ?? 'contiguous');
  if (strategy !== 'contiguous' && strategy !== 'common-buffer') {
    throw new UsageError(`--strategy ${strategy}: expected contiguous or common-buffer`);
  }
  return {
    ramBytes: size('ram', v.ram as string | undefined, 8 * GIB, 6 * GIB, 256 * GIB),
    nolowmem: onOff('nolowmem', v.nolowmem as string | undefined, true),
    nicBits: [bits[0] as 32 | 64, bits[1] as 32 | 64],
    strategy,
    iommu: onOff('iommu', v.iommu as string | undefined, false),
    rdmaRead: onOff('rdma-read', v['rdma-read'] as string | undefined, true),
    bytes: size('bytes', v.bytes as string | undefined, 256 * 1024 * 1024, 1, 16 * GIB),
    seed: integer('seed', v.seed as string | undefined, 1),
    verifier: onOff('verifier', v.verifier as string | undefined, true),
    ...(typeof v.report === 'string' ? { report: v.report } : {}),
    ...(typeof v.trace === 'string' ? { trace: v.trace } : {}),
  };
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
        'nic-bits': { type: 'string' },
        strategy: { type: 'string' },
        iommu: { type: 'string' },
        'rdma-read': { type: 'string' },
        bytes: { type: 'string' },
        seed: { type: 'string' },
        verifier: { type: 'string' },
        report: { type: 'string' },
        trace: { type: 'string' },
        fuzz: { type: 'string' },
        'sweep-limit': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    const [command, ...rest] = positionals;
    if (values.help || !command) {
      out(USAGE);
      return command || values.help ? 0 : 2;
    }
    const json = values.json === true;
    switch (command) {
      case 'demo': {
        const options = demoOptions(values);
        const bar = json ? null : new ProgressBar('transfer');
        const details = await runDemoDetailed({ ...options, ...(bar ? { onProgress: (d: number, t: number) => bar.update(d, t) } : {}) });
        bar?.finish();
        const result = details.result;
        out(json ? JSON.stringify(result) : formatDemoSummary(result, options, { path: details.transfer.path, messages: details.transfer.messages, wallMs: details.wallMs }));
        return result.transfer.verified && Object.values(result.leaks).every((n) => n === 0) ? 0 : 1;
      }
      case 'map': {
        const ramBytes = size('ram', values.ram, 8 * GIB, 64 * 1024 * 1024, 1024 * GIB);
        const k = Kernel.boot({ ramBytes, nolowmem: onOff('nolowmem', values.nolowmem, true), name: 'host-a' });
        out(json ? JSON.stringify(memoryMapJson(k)) : formatMemoryMap(k));
        return 0;
      }
      case 'bench': {
        if (rest.length !== 1) throw new UsageError('bench: name one suite or "all"');
        await runBench(rest[0]!, json, out);
        return 0;
      }
      case 'faults': {
        const bar = json ? null : new ProgressBar('faults');
        const report = await runFaultsReport({
          json,
          seed: integer('seed', values.seed, 0x5a17),
          ...(values.fuzz !== undefined ? { fuzzCases: integer('fuzz', values.fuzz, 0) } : {}),
          ...(values['sweep-limit'] !== undefined ? { sweepLimit: integer('sweep-limit', values['sweep-limit'], 1, 1) } : {}),
          ...(bar ? { onProgress: (d: number, t: number) => bar.update(d, t) } : {}),
        });
        bar?.finish();
        const summary = report.summary;
        // A sweep run ends clean (an error the application saw), or completed: the failed
        // allocation was recovered from (cache flushed and retried, TCP path when the SAN
        // provider could not start) with every byte verified and nothing leaked. Anything
        // else — a bug check, a leak, an exception that escaped — is a defect.
        const completed = report.sweeps.reduce((n, x) => n + x.completed, 0);
        const unclean = report.sweeps.reduce((n, x) => n + x.unclean, 0);
        if (json) out(JSON.stringify(summary));
        else {
          out(Object.entries(summary).map(([k, v]) => `${k.padEnd(16)} ${v}`).join('\n'));
          out(`${'recovered'.padEnd(16)} ${completed} (sweep runs that completed, verified, after recovering from the failed allocation)`);
          out(`${'unclean'.padEnd(16)} ${unclean}`);
          for (const x of report.sweeps) for (const f of x.failures.slice(0, 5)) out(`  ${x.scenario}: ${f.host} allocation ${f.nth} (${f.site}): ${f.result.outcome} ${f.result.error ?? ''} ${f.result.leaks.join(', ')}`);
        }
        const clean = unclean === 0 && summary.bugChecks === 0 && summary.leaks === 0 && summary.fuzzCrashes === 0 &&
          summary.forgedSucceeded === 0 && summary.killLeaks === 0 && summary.cleanErrors + completed === summary.runs;
        return clean ? 0 : 1;
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
