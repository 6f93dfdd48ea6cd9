/**
 * The demo: every flag combination transfers verified bytes and leaks nothing; the
 * JSON has exactly the documented shape; the CLI prints only JSON with --json.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GIB, MIB } from '../../src/bus/index.ts';
import { runDemo, type DemoOptions } from '../../src/cli/demo.ts';
import { main } from '../../src/cli/main.ts';

const base: DemoOptions = {
  ramBytes: 8 * GIB,
  nolowmem: true,
  nicBits: [32, 64],
  strategy: 'contiguous',
  iommu: false,
  bytes: 6 * MIB,
  seed: 3,
  verifier: true,
};

const ZERO_LEAKS = { pages: 0, poolBytes: 0, commonBuffers: 0, lockedPages: 0, mappings: 0, registrations: 0 };

describe('sanproxy demo', () => {
  const combos: Partial<DemoOptions>[] = [];
  for (const nicBits of [[32, 64], [64, 32], [32, 32], [64, 64]] as const) {
    for (const strategy of ['contiguous', 'common-buffer'] as const) combos.push({ nicBits: [...nicBits], strategy });
  }
  combos.push({ nolowmem: false }, { iommu: true }, { iommu: true, nicBits: [32, 32], strategy: 'common-buffer' }, { rdmaRead: false });
  for (const combo of combos) {
    it(`transfers verified bytes and leaks nothing: ${JSON.stringify(combo)}`, async () => {
      const r = await runDemo({ ...base, ...combo });
      expect(r.transfer.verified).toBe(true);
      expect(r.transfer.bytes).toBe(base.bytes);
      expect(r.transfer.controlBytes + r.transfer.rdmaReadBytes + r.transfer.rdmaWriteBytes).toBe(base.bytes);
      expect(r.leaks).toEqual(ZERO_LEAKS);
      expect(r.chklowmem.violations).toBe(0);
      expect(r.verifier.findings).toEqual([]);
      const nolowmem = combo.nolowmem ?? true;
      const low = r.lowMemory.contiguousBytes + r.lowMemory.commonBufferBytes;
      // A 32-bit NIC on NOLOWMEM without an IOMMU can only be served through proxy low memory.
      if (nolowmem && !combo.iommu && (combo.nicBits ?? base.nicBits).includes(32)) expect(low).toBeGreaterThan(0);
      // Large messages go by RDMA read when the NICs offer it, else by RDMA write.
      if (combo.rdmaRead === false) expect(r.transfer.rdmaReadBytes).toBe(0);
      expect(combo.rdmaRead === false ? r.transfer.rdmaWriteBytes : r.transfer.rdmaReadBytes).toBeGreaterThan(base.bytes / 2);
      if ((combo.strategy ?? 'contiguous') === 'contiguous') expect(r.lowMemory.commonBufferBytes).toBe(0);
      else expect(r.lowMemory.contiguousBytes).toBe(0);
    });
  }

  it('--json prints exactly the documented document and nothing else', async () => {
    const lines: string[] = [];
    const code = await main(['demo', '--bytes', '2M', '--json'], (s) => lines.push(s));
    expect(code).toBe(0);
    expect(lines.length).toBe(1);
    const doc = JSON.parse(lines[0]!);
    expect(Object.keys(doc)).toEqual(['transfer', 'registrations', 'lowMemory', 'chklowmem', 'verifier', 'leaks', 'wire']);
    expect(Object.keys(doc.transfer)).toEqual(['bytes', 'verified', 'controlBytes', 'rdmaReadBytes', 'rdmaWriteBytes']);
    expect(Object.keys(doc.registrations)).toEqual(['count', 'refusedExpected', 'cacheHits', 'cacheMisses']);
    expect(Object.keys(doc.lowMemory)).toEqual(['contiguousBytes', 'commonBufferBytes']);
    expect(doc.leaks).toEqual(ZERO_LEAKS);
    expect(doc.verifier).toEqual({ status: 'on', findings: [] });
  });

  it('--report and --trace write a self-contained report and a Chrome trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sanproxy-demo-'));
    const report = join(dir, 'report.html');
    const trace = join(dir, 'trace.json');
    const code = await main(['demo', '--bytes', '2M', '--report', report, '--trace', trace], () => {});
    expect(code).toBe(0);
    const html = readFileSync(report, 'utf8');
    expect(html.startsWith('<!doctype html>') || html.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=["']https?:/i);
    const events = JSON.parse(readFileSync(trace, 'utf8'));
    const list = Array.isArray(events) ? events : events.traceEvents;
    expect(list.some((e: { name: string }) => e.name.startsWith('IOCTL_SANPROXY_'))).toBe(true);
  });

  it('--verifier off says so in the text and the JSON instead of "no findings"', async () => {
    const text: string[] = [];
    expect(await main(['demo', '--bytes', '1M', '--verifier', 'off'], (s) => text.push(s))).toBe(0);
    expect(text.join('\n')).toMatch(/^verifier\s+off\b/m);
    expect(text.join('\n')).not.toContain('no findings');
    const json: string[] = [];
    expect(await main(['demo', '--bytes', '1M', '--verifier', 'off', '--json'], (s) => json.push(s))).toBe(0);
    expect(JSON.parse(json[0]!).verifier).toEqual({ status: 'off', findings: [] });
  });
});
