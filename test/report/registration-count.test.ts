/**
 * One registration count: NIC registrations — memory regions the SAN proxy driver
 * registered with a NIC (REGISTER_BUFFER and ALLOCATE_MEMORY requests that succeeded) — is the
 * same number in the demo's JSON and text, the report and the trace; REGISTER_BUFFER requests
 * a 32-bit NIC cannot take are counted and labelled apart as expected refusals; the switch's
 * cache hits are a third, separate figure.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GIB, MIB } from '../../src/bus/index.ts';
import { formatDemoSummary, runDemoDetailed, type DemoOptions } from '../../src/cli/demo.ts';
import {
  NIC_REGISTRATIONS_DEFINITION, REFUSED_EXPECTED_NAME, REFUSED_EXPECTED_TEXT, REGISTRATION_COUNTER_NAME, type ChromeTrace,
} from '../../src/report/index.ts';

const options = (dir: string, o: Partial<DemoOptions> = {}): DemoOptions => ({
  ramBytes: 8 * GIB,
  nolowmem: true,
  nicBits: [32, 64],
  strategy: 'contiguous',
  iommu: false,
  bytes: 4 * MIB,
  seed: 5,
  verifier: true,
  report: join(dir, 'report.html'),
  trace: join(dir, 'trace.json'),
  ...o,
});

const dataCount = (html: string, id: string): number => {
  const m = new RegExp(`id="${id}" data-count="(\\d+)"`).exec(html);
  if (m === null) throw new Error(`report has no #${id}`);
  return Number(m[1]);
};

describe('one registration count across the demo, the report and the trace', () => {
  for (const o of [{}, { strategy: 'common-buffer' as const, nicBits: [64, 32] as [64, 32] }, { iommu: true }]) {
    it(`JSON count = text = report = trace, refusals labelled as expected: ${JSON.stringify(o)}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sanproxy-count-'));
      const opts = options(dir, o);
      const { result } = await runDemoDetailed(opts);
      expect(result.transfer.verified).toBe(true);
      const { count, refusedExpected, cacheHits, cacheMisses } = result.registrations;
      expect(count).toBeGreaterThan(0);

      // The demo's text.
      const text = formatDemoSummary(result, opts);
      expect(text).toContain(`registrations ${count} NIC registrations`);
      expect(text).toContain(`refused     ${refusedExpected} as expected`);
      expect(text).toContain(`${cacheHits} hits, ${cacheMisses} misses`);

      // The report: the Run panel and the timeline's figure.
      const html = readFileSync(opts.report!, 'utf8');
      expect(dataCount(html, 'nic-registrations')).toBe(count);
      expect(dataCount(html, 'refused-expected')).toBe(refusedExpected);
      expect(html).toContain(`data-key="nicRegistrations" data-value="${count}"`);
      expect(html).toContain(`data-key="refusedExpected" data-value="${refusedExpected}"`);
      expect(html).toContain(`data-key="cacheHits" data-value="${cacheHits}"`);
      expect(html).toContain(NIC_REGISTRATIONS_DEFINITION);

      // The trace: registration spans, successful REGISTER_BUFFER/ALLOCATE_MEMORY IOCTLs, the
      // proxy's counter track and otherData all say the same.
      const trace = JSON.parse(readFileSync(opts.trace!, 'utf8')) as ChromeTrace;
      const ev = trace.traceEvents;
      expect(ev.filter((e) => e.cat === 'registration' && e.ph === 'b').length).toBe(count);
      const made = ev.filter((e) => e.cat === 'ioctl' && e.ph === 'X' && e.args?.['status'] === '0x00000000' &&
        (e.name === 'IOCTL_SANPROXY_REGISTER_BUFFER' || e.name === 'IOCTL_SANPROXY_ALLOCATE_MEMORY'));
      expect(made.length).toBe(count);
      const lastPerHost = new Map<number, { registered: number; refused: number }>();
      for (const e of ev) {
        if (e.ph === 'C' && e.name === REGISTRATION_COUNTER_NAME) {
          lastPerHost.set(e.pid, { registered: Number(e.args!['registered']), refused: Number(e.args!['refused (expected)']) });
        }
      }
      expect([...lastPerHost.values()].reduce((n, v) => n + v.registered, 0)).toBe(count);
      expect([...lastPerHost.values()].reduce((n, v) => n + v.refused, 0)).toBe(refusedExpected);
      expect(trace.otherData['NIC registrations']).toBe(String(count));
      expect(trace.otherData['registrations refused (expected)']).toBe(String(refusedExpected));

      // Every refusal is named and labelled; no REGISTER_BUFFER fails unexplained.
      const refused = ev.filter((e) => e.cat === 'ioctl' && e.name === REFUSED_EXPECTED_NAME);
      expect(refused.length).toBe(refusedExpected);
      for (const e of refused) expect(e.args).toMatchObject({ status: '0xC00000BB', expected: REFUSED_EXPECTED_TEXT });
      expect(ev.filter((e) => e.name === 'IOCTL_SANPROXY_REGISTER_BUFFER' && e.args?.['status'] !== '0x00000000')).toEqual([]);

      // A 32-bit NIC without DMA remapping on NOLOWMEM refuses every user buffer; otherwise none is refused.
      if (opts.iommu) expect(refusedExpected).toBe(0);
      else expect(refusedExpected).toBeGreaterThan(0);
    });
  }
});
