/**
 * `sanproxy bench`: strict options per suite, each run in a child process of its own (the
 * compiled dist/bench/child.js, which `npm test` builds first), one JSON document with --json,
 * headings on stderr, and a failed child reported in one line. Nothing here compares a timed
 * figure with a number.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BenchDocument } from '../../bench/document.ts';
import { childEntry, runChild } from '../../src/cli/bench.ts';
import { main } from '../../src/cli/main.ts';

const MIB = 2 ** 20;

async function cli(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['bench', ...argv], { out: (s) => out.push(s), err: (s) => err.push(s), errIsTTY: false });
  return { code, out, err };
}

describe('sanproxy bench: usage errors (exit status 2, one line naming the flag, nothing runs)', () => {
  const cases: [string[], RegExp][] = [
    [['register', '--ram', '1G'], /^sanproxy bench: --ram: does not apply to bench register; it applies to bench footprint and bench contiguous$/],
    [['rdma', '--seed', '3'], /--seed: does not apply to bench rdma/],
    [['footprint', '--sizes', '4K'], /--sizes: does not apply to bench footprint/],
    [['all', '--ram', '16G'], /--ram: does not apply to bench all/],
    [['nosuch'], /nosuch: unknown suite; expected footprint, contiguous, register, ioctl, rdma, socket or all/],
    [['rdma', 'extra'], /unexpected argument extra/],
    [['rdma', '--runs', '0'], /--runs 0: expected an integer 1\.\.100/],
    [['footprint', '--ram', '1T'], /--ram 1T: expected a size 16M\.\.256G/],
    [['register', '--sizes', '6K'], /--sizes 6K: .*whole 4K pages/],
    [['socket', '--sizes', '1K,,4K'], /--sizes 1K,,4K: expected sizes separated by commas/],
    [['rdma', '--sizes', '16M'], /--sizes 16M: expected a size 1\.\.8M/],
    [[], /missing required argument 'suite'/],
  ];
  for (const [argv, message] of cases) {
    it(`bench ${argv.join(' ')}`, async () => {
      const r = await cli(...argv);
      expect(r.code).toBe(2);
      expect(r.out).toEqual([]);
      expect(r.err[0]).toMatch(message);
      expect(r.err[1]).toBe("run 'sanproxy help bench' for usage");
      expect(r.err).toHaveLength(2);
    });
  }
});

describe('sanproxy bench: runs in child processes', () => {
  it('finds the compiled child beside the compiled command line', () => {
    expect(childEntry()).toMatch(/dist[/\\]bench[/\\]child\.js$/);
  });

  it('bench footprint --ram 16M --runs 2 --json: one document, the machine, two runs of a 16 MiB host, headings on stderr', async () => {
    const r = await cli('footprint', '--ram', '16M', '--runs', '2', '--json');
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(1);
    const doc = JSON.parse(r.out[0]!) as BenchDocument;
    expect(doc.runs).toBe(2);
    expect(doc.machine.cores).toBe(cpus().length);
    expect(doc.machine.node).toBe(process.version);
    expect(typeof doc.machine.cpu).toBe('string');
    expect(Number.isNaN(Date.parse(doc.machine.date))).toBe(false);
    expect(Object.keys(doc.suites)).toEqual(['footprint']);
    const footprint = doc.suites.footprint!;
    expect(footprint.options).toEqual({ ramBytes: 16 * MIB });
    expect(footprint.runs).toHaveLength(2);
    expect(footprint.elapsedMs).toHaveLength(2);
    for (const run of footprint.runs) {
      expect(run.suite).toBe('footprint');
      expect(run.ramBytes).toBe(16 * MIB);
      expect(run.gc).toBe(true); // the child was started with --expose-gc
    }
    expect(r.err).toContain('bench: footprint (1/1), run 1/2…');
    expect(r.err).toContain('bench: footprint (1/1), run 2/2…');
  });

  it('bench register --sizes 4K,1M prints a table with headers and units, sizes as KiB and MiB', async () => {
    const r = await cli('register', '--sizes', '4K,1M');
    expect(r.code).toBe(0);
    const text = r.out.join('\n');
    expect(text).toMatch(/^machine: \d+ cores? \(/);
    const lines = text.split('\n');
    const header = lines.findIndex((l) => l.startsWith('buffer'));
    expect(lines[header]).toMatch(/^buffer\s+GB\/s\s+ns\/page\s+M pages\/s\s+iterations$/);
    expect(lines[header + 1]).toMatch(/^4 KiB\s/);
    expect(lines[header + 2]).toMatch(/^1 MiB\s/);
  });

  it('bench rdma --sizes 64K --json: a 64 KiB row for each operation, bytes checked', async () => {
    const r = await cli('rdma', '--sizes', '64K', '--json');
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out[0]!) as BenchDocument;
    const rows = doc.suites.rdma!.runs[0]!.rows;
    expect(rows.map((x) => `${x.op} ${x.bytes}`)).toEqual(['write 65536', 'read 65536', 'send 65536']);
    expect(rows.every((x) => x.verified)).toBe(true);
  });
});

describe('runChild: a child that fails', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sanproxy-bench-'));
  const script = (name: string, body: string) => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return path;
  };

  it('is reported as the suite and the child\'s last stderr line', async () => {
    const entry = script('fails.mjs', "process.stderr.write('warming up\\nbench rdma: NicStatus 7 on post write\\n'); process.exitCode = 1;\n");
    await expect(runChild(entry, 'rdma', {})).rejects.toThrow(/^rdma: bench rdma: NicStatus 7 on post write \(exit status 1\)$/);
  });

  it('that prints no result is an error too', async () => {
    const entry = script('silent.mjs', "process.stdout.write('not json\\n');\n");
    await expect(runChild(entry, 'socket', {})).rejects.toThrow(/^socket: the child process printed no JSON result$/);
  });

  it('that prints another suite\'s result is an error', async () => {
    const entry = script('other.mjs', "process.stdout.write(JSON.stringify({ suite: 'rdma' }) + '\\n');\n");
    await expect(runChild(entry, 'socket', {})).rejects.toThrow(/another suite/);
  });
});
