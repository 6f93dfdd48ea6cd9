/**
 * The report as a person sees it: opened in a real headless Chromium (found by
 * find-chromium.ts, driven by playwright-core, which downloads no browser). Reports of a real
 * demo run (runDemoDetailed), of the synthetic fixture, and of single 64 GiB and 256 GiB hosts.
 * Checks: no console errors and no network; zoom strips where the allocations are, each
 * allocation at least 3 px wide in some strip at its strip's own scale; every label inside its
 * SVG; the timeline's axis, legend and unstretched text, its times in ms agreeing with the
 * trace; the Run panel's values; owners adding up to installed RAM. Screenshots go to
 * test-artifacts/. Without a Chromium the whole file is skipped with one line saying how to
 * enable it.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GIB, MIB } from '../../src/bus/index.ts';
import { runDemoDetailed, type DemoOptions, type DemoResult } from '../../src/cli/demo.ts';
import { createCluster } from '../../src/host/index.ts';
import { RawProxyClient } from '../../src/host/reliability/index.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/index.ts';
import { SANPROXY_LOCAL_READ, SANPROXY_LOCAL_WRITE } from '../../src/proxy/index.ts';
import { CATEGORIES, FOCUS_CATEGORIES, captureSnapshot, writeReport, type ChromeTrace } from '../../src/report/index.ts';
import { syntheticRun } from './fixture.ts';
import { SKIP_MESSAGE, findChromium } from './find-chromium.ts';

// The functions given to page.evaluate run in the page; the project's lib has no DOM types.
declare const document: any;
declare const window: any;

const chromiumPath = findChromium();
if (chromiumPath === null) console.warn(SKIP_MESSAGE);

const ARTIFACTS = resolve('test-artifacts');
const path = (name: string) => join(ARTIFACTS, name);
const DEMO_DATE = new Date('2026-03-14T15:09:26.000Z');
const demoOptions: DemoOptions = {
  ramBytes: 8 * GIB, nolowmem: true, nicBits: [32, 64], strategy: 'contiguous', iommu: false, bytes: 16 * MIB, seed: 1, verifier: true,
  report: path('demo-report.html'), trace: path('demo-trace.json'), date: DEMO_DATE,
};

/** One host of `ramBytes` with a process buffer (high, NOLOWMEM) and proxy low memory: a report with strips far apart. */
function bigHostReport(ramBytes: number, file: string): void {
  const c = createCluster({ hosts: [{ name: `big-${ramBytes / GIB}g`, ramBytes, nolowmem: true, nics: [{ addressBits: 32, ip: '10.0.0.9' }] }] });
  const h = c.hosts[0]!;
  expect(h.loadProxy()).toBe(0);
  const p = h.createProcess('app.exe');
  const va = p.VirtualAlloc(0, MIB, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  p.writeMemory(va, new Uint8Array(MIB).fill(1));
  const low = new RawProxyClient(h, p).allocate(0, SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE, 256 * 1024);
  expect(low.ok).toBe(true);
  writeReport(file, { title: `one ${ramBytes / GIB} GiB host`, snapshots: [captureSnapshot(h, 'peak')] });
}

let context: BrowserContext;
let userDataDir: string;
let demo: DemoResult;

async function open(file: string, errors: string[] = []): Promise<Page> {
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-ready="1"]');
  return page;
}

/** Every text element of every report SVG whose box is not inside its SVG's box, as descriptions. */
async function labelsOutside(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const bad: string[] = [];
    for (const svg of Array.from(document.querySelectorAll('svg.map, svg.timeline')) as any[]) {
      const box = svg.getBoundingClientRect();
      for (const t of Array.from(svg.querySelectorAll('text')) as any[]) {
        const r = t.getBoundingClientRect();
        if (r.width === 0) continue;
        if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) {
          bad.push(`${svg.id}: "${t.textContent}" at ${r.left.toFixed(1)}..${r.right.toFixed(1)} x ${r.top.toFixed(1)}..${r.bottom.toFixed(1)} outside ${box.left.toFixed(1)}..${box.right.toFixed(1)} x ${box.top.toFixed(1)}..${box.bottom.toFixed(1)}`);
        }
      }
      // Lane labels (4 GiB line, a narrow MMIO hole) never overlap each other.
      const lane = (Array.from(svg.querySelectorAll('text.lane')) as any[]).map((t) => ({ s: t.textContent, r: t.getBoundingClientRect() }));
      for (let i = 0; i < lane.length; i++) {
        for (let j = i + 1; j < lane.length; j++) {
          const a = lane[i]!.r;
          const b = lane[j]!.r;
          if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) bad.push(`${svg.id}: "${lane[i]!.s}" overlaps "${lane[j]!.s}"`);
        }
      }
    }
    return bad;
  });
}

async function resize(page: Page, width: number): Promise<void> {
  await page.setViewportSize({ width, height: 1000 });
  await page.waitForFunction((w) => {
    const svg = document.querySelector('svg.map');
    return svg !== null && Math.abs(Number(svg.getAttribute('width')) - (svg.parentElement!.clientWidth)) < 1 && window.innerWidth === w;
  }, width);
}

describe.skipIf(chromiumPath === null)('report in headless Chromium', () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    writeReport(path('report.html'), syntheticRun().run);
    demo = (await runDemoDetailed(demoOptions)).result;
    bigHostReport(64 * GIB, path('report-64g.html'));
    bigHostReport(256 * GIB, path('report-256g.html'));
    userDataDir = mkdtempSync(join(tmpdir(), 'sanproxy-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath!,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run'],
      viewport: { width: 1400, height: 1000 },
    });
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  it('the synthetic report opens offline with no console error, draws every map and strip, and shows hover details', async () => {
    const errors: string[] = [];
    const requests: string[] = [];
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
    await page.goto(pathToFileURL(path('report.html')).href);
    await page.waitForSelector('body[data-ready="1"]');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);

    for (const id of ['map-0', 'focus-0', 'map-1', 'focus-1']) {
      expect(await page.locator(`#${id} rect.blk`).count(), id).toBeGreaterThan(5);
      const box = await page.locator(`#${id}`).boundingBox();
      expect(box!.width).toBeGreaterThan(600);
      expect(box!.height).toBeGreaterThan(60);
    }
    expect(await page.locator('#map-0 line.four-gib').count()).toBe(1);
    expect(await page.locator('#map-0 text.holelbl').count()).toBe(1);

    // Hover the proxy's contiguous block on host A, in its zoom strip.
    const block = page.locator('#focus-0 rect.blk[fill="#2f9e44"]').first();
    await block.hover();
    const tip = page.locator('#tip');
    await expect.poll(() => tip.isVisible()).toBe(true);
    const text = await tip.innerText();
    expect(text).toMatch(/contiguous memory/);
    expect(text).toMatch(/range 0x[0-9A-F]+ – 0x[0-9A-F]+/);
    expect(text).toMatch(/driver: SanProxy/i);
    expect(text).toMatch(/cache: Mm/);
    expect(text).toMatch(/SanProxy allocation #\d+ \(contiguous\)/);

    // Host B's registered user pages show as locked, with the registration named.
    await page.locator('#focus-1 rect.blk[fill="#e15759"]').first().hover();
    await expect.poll(() => tip.innerText()).toMatch(/locked \/ registered user pages[\s\S]*registration #\d+/);

    // Switching to the boot snapshot redraws without the proxy's blocks (the strips stay put).
    await page.locator('button[data-host="0"]', { hasText: 'boot' }).click();
    expect(await page.locator('#focus-0 rect.blk[fill="#2f9e44"]').count()).toBe(0);
    expect(await page.locator('#focus-0 g.strip').count()).toBeGreaterThan(0);
    await page.locator('button[data-host="0"]', { hasText: 'peak' }).click();

    for (const h of ['Run', 'Registration timeline', 'Low-memory allocations by strategy', 'Verifier findings', 'Leak table']) {
      await expect.poll(() => page.getByRole('heading', { name: h, exact: true }).count()).toBe(1);
    }
    expect(await page.locator('svg.timeline rect.tlbar').count()).toBe(3);
    expect(await page.locator('text=nothing leaked').count()).toBe(2);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a real demo run: every allocation is at least 3 px wide in some zoom strip, at the strip\'s own scale', async () => {
    const errors: string[] = [];
    const page = await open(demoOptions.report!, errors);
    const focusKeys = FOCUS_CATEGORIES;
    const result = await page.evaluate((keys) => {
      const DATA = JSON.parse(document.getElementById('sanproxy-data')!.textContent!);
      const focus = new Set(keys.map((k: string) => DATA.categories.findIndex((c: { key: string }) => c.key === k)));
      const out: { host: string; allocation: string; bytes: number; bestPx: number; drawn: boolean }[] = [];
      DATA.hosts.forEach((host: any, h: number) => {
        const snap = host.snapshots[host.initial];
        const R = snap.runs;
        // An allocation: the pages of one owner in one category (a proxy block, a process's
        // registered pages, a process's other pages), wherever its runs lie.
        const groups = new Map<string, number[]>();
        for (let i = 0; i < R.start.length; i++) {
          if (!focus.has(R.cat[i])) continue;
          const key = `${R.owner[i]}:${R.cat[i]}`;
          if (!groups.has(key)) groups.set(key, []);
          groups.get(key)!.push(i);
        }
        const strips = Array.from(document.querySelectorAll(`#focus-${h} g.strip`)) as any[];
        for (const [key, runs] of groups) {
          let bestPx = 0;
          let drawn = false;
          for (const g of strips) {
            const base = Number(g.getAttribute('data-base'));
            const end = Number(g.getAttribute('data-end'));
            const bpp = Number(g.getAttribute('data-bpp'));
            let px = 0;
            for (const i of runs) {
              const s = Math.max(R.start[i] * 4096, base);
              const e = Math.min((R.start[i] + R.length[i]) * 4096, end);
              if (e > s) px += (e - s) / bpp;
            }
            if (px > bestPx) {
              bestPx = px;
              drawn = runs.some((i) => g.querySelector(`rect.blk[data-run="${i}"]`) !== null);
            }
          }
          const owner = snap.owners[R.owner[runs[0]!]];
          out.push({
            host: host.name, allocation: `${owner ? owner.label : key} (${DATA.categories[R.cat[runs[0]!]].key})`,
            bytes: runs.reduce((n, i) => n + R.length[i] * 4096, 0), bestPx, drawn,
          });
        }
      });
      return out;
    }, [...focusKeys]);
    // The demo makes proxy low memory on A (32-bit NIC) and registers user pages on B (64-bit NIC).
    expect(result.some((a) => a.host === 'host-a' && /contiguous/.test(a.allocation))).toBe(true);
    expect(result.some((a) => a.host === 'host-b' && /locked/.test(a.allocation))).toBe(true);
    for (const a of result) {
      expect(a.bestPx, `${a.host} ${a.allocation} ${a.bytes} bytes`).toBeGreaterThanOrEqual(3);
      expect(a.drawn, `${a.host} ${a.allocation} drawn as its own block`).toBe(true);
    }
    expect(errors).toEqual([]);
    await page.close();
  });

  for (const [name, file] of [['8 GiB (demo)', demoOptions.report!], ['64 GiB', path('report-64g.html')], ['256 GiB', path('report-256g.html')]] as const) {
    it(`labels lie inside their SVG and lane labels never overlap: ${name}, at 1400 and 800 px`, async () => {
      const errors: string[] = [];
      const page = await open(file, errors);
      expect(await labelsOutside(page)).toEqual([]);
      expect(await page.locator('svg.map text.fourlbl').count()).toBeGreaterThan(0);
      await resize(page, 800);
      expect(await labelsOutside(page)).toEqual([]);
      // Strips exist on the big hosts too: one below 4 GiB (proxy low memory), one above (the process).
      if (!file.includes('demo')) {
        const titles = await page.locator('#focus-0 text.striptitle').allTextContents();
        expect(titles.some((t) => /below 4 GiB/.test(t))).toBe(true);
        expect(titles.some((t) => /above 4 GiB/.test(t))).toBe(true);
      }
      expect(errors).toEqual([]);
      await page.close();
    });
  }

  it('the timeline has a time axis in ms, a legend with its own host colours, unstretched text, and times that agree with the trace', async () => {
    const page = await open(demoOptions.report!);
    expect(await page.locator('[preserveAspectRatio="none"]').count()).toBe(0);
    const tl = await page.evaluate(() => {
      const svg = document.getElementById('timeline');
      const ctm = svg.getScreenCTM()!;
      const vb = svg.viewBox.baseVal;
      const ticks = (Array.from(svg.querySelectorAll('text.tl-tick')) as any[]).map((t) => {
        const r = t.getBoundingClientRect();
        return { v: Number(t.textContent), x: r.left + r.width / 2 };
      });
      const bars = (Array.from(svg.querySelectorAll('rect.tlbar')) as any[]).map((b) => {
        const r = b.getBoundingClientRect();
        return { left: r.left, fill: b.getAttribute('fill')!, stroke: b.getAttribute('stroke')!, tip: b.getAttribute('data-tip')! };
      });
      const heights = (Array.from(svg.querySelectorAll('text')) as any[]).map((t) => t.getBoundingClientRect().height);
      return {
        scaleX: ctm.a, scaleY: ctm.d, vbWidth: vb.width, width: svg.getBoundingClientRect().width, ticks, bars, maxTextHeight: Math.max(...heights),
        axis: svg.querySelectorAll('line.tl-axis').length, unit: svg.querySelector('text.tl-unit')?.textContent ?? '',
        legend: (Array.from(document.querySelectorAll('#timeline-legend [data-host-color]')) as any[]).map((e) => ({ color: e.getAttribute('data-host-color')!, text: e.innerText })),
      };
    });
    // Drawn in real pixels: one user unit is one CSS pixel, so text keeps its shape.
    expect(tl.scaleX).toBeCloseTo(1, 5);
    expect(tl.scaleY).toBeCloseTo(1, 5);
    expect(tl.vbWidth).toBeCloseTo(tl.width, 0);
    expect(tl.maxTextHeight).toBeLessThan(20);
    // The axis: a line, increasing numeric ticks, and its unit.
    expect(tl.axis).toBe(1);
    expect(tl.ticks.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < tl.ticks.length; i++) {
      expect(tl.ticks[i]!.v).toBeGreaterThan(tl.ticks[i - 1]!.v);
      expect(tl.ticks[i]!.x).toBeGreaterThan(tl.ticks[i - 1]!.x);
    }
    expect(tl.unit).toMatch(/\bms\b/);
    // The legend names each host with a colour of the timeline's own.
    expect(tl.legend.map((l) => l.text)).toEqual(['host host-a', 'host host-b']);
    const ownerColours = new Set(CATEGORIES.map((c) => c.color.toLowerCase()));
    for (const l of tl.legend) expect(ownerColours.has(l.color.toLowerCase())).toBe(false);
    for (const b of tl.bars) expect(tl.legend.map((l) => l.color)).toContain(b.stroke);
    // Times: each bar starts where the axis puts its "registered at … ms", and those ms are the trace's µs / 1000.
    const trace = JSON.parse(readFileSync(demoOptions.trace!, 'utf8')) as ChromeTrace;
    const startsMs = trace.traceEvents.filter((e) => e.cat === 'registration' && e.ph === 'b').map((e) => (e.ts / 1000).toFixed(3));
    const first = tl.ticks[0]!;
    const last = tl.ticks[tl.ticks.length - 1]!;
    const pxPerMs = (last.x - first.x) / (last.v - first.v);
    expect(tl.bars.length).toBe(demo.registrations.count);
    for (const b of tl.bars) {
      const at = /registered at ([\d.]+) ms/.exec(b.tip)![1]!;
      expect(startsMs).toContain(at);
      expect(Math.abs(first.x + (Number(at) - first.v) * pxPerMs - b.left)).toBeLessThan(2);
    }
    // The run took on the order of its wall time, not a thousandth of it.
    expect(last.v).toBeGreaterThan(10);
    await page.close();
  });

  it('the Run panel shows the run\'s settings and results', async () => {
    const page = await open(demoOptions.report!);
    const kv = await page.evaluate(() => Object.fromEntries((Array.from(document.querySelectorAll('#run-panel [data-key]')) as any[])
      .map((e) => [e.getAttribute('data-key'), { value: e.getAttribute('data-value'), text: e.querySelector('dd').innerText }])));
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    expect(kv['bytes']).toEqual({ value: String(16 * MIB), text: '16 MiB' });
    expect(kv['bytesTransferred']!.value).toBe(String(16 * MIB));
    expect(kv['verified']).toMatchObject({ value: 'true', text: 'yes' });
    expect(kv['seed']).toEqual({ value: '1', text: '1' });
    expect(kv['nics']).toEqual({ value: 'host-a=32,host-b=64', text: 'host-a 32-bit, host-b 64-bit' });
    expect(kv['strategy']).toMatchObject({ value: 'contiguous' });
    expect(kv['iommu']).toEqual({ value: 'false', text: 'off' });
    expect(kv['verifier']).toEqual({ value: 'true', text: 'on' });
    expect(kv['nolowmem']).toEqual({ value: 'true', text: 'on' });
    expect(kv['ram']).toEqual({ value: String(8 * GIB), text: '8 GiB' });
    expect(kv['version']).toEqual({ value: version, text: version });
    expect(kv['date']!.value).toBe(DEMO_DATE.toISOString());
    expect(kv['date']!.text).toBe('2026-03-14 15:09:26 UTC');
    expect(kv['nicRegistrations']!.value).toBe(String(demo.registrations.count));
    expect(kv['refusedExpected']!.value).toBe(String(demo.registrations.refusedExpected));
    expect(kv['cacheHits']!.value).toBe(String(demo.registrations.cacheHits));
    await page.close();
  });

  it('memory by owner adds up to installed RAM exactly, with the MMIO hole apart', async () => {
    for (const [file, ram] of [[demoOptions.report!, 8 * GIB], [path('report-64g.html'), 64 * GIB], [path('report.html'), 6 * GIB]] as const) {
      const page = await open(file);
      const tables = await page.evaluate(() => (Array.from(document.querySelectorAll('table.owners')) as any[]).map((t) => {
        const cols = t.querySelectorAll('thead th').length - 1;
        const sums: number[] = new Array(cols).fill(0);
        for (const tr of Array.from(t.querySelectorAll('tr.owner')) as any[]) {
          (Array.from(tr.querySelectorAll('td[data-bytes]')) as any[]).forEach((td, i) => { sums[i]! += Number(td.getAttribute('data-bytes')); });
        }
        const hole = (Array.from(t.querySelectorAll('tr.hole td[data-bytes]')) as any[]).map((td) => Number(td.getAttribute('data-bytes')));
        const owners = (Array.from(t.querySelectorAll('tr.owner')) as any[]).map((tr) => tr.getAttribute('data-owner'));
        return { sums, hole, owners };
      }));
      expect(tables.length).toBeGreaterThan(0);
      for (const t of tables) {
        for (const s of t.sums) expect(s).toBe(ram);
        for (const h of t.hole) expect(h).toBe(GIB);
        expect(t.owners).not.toContain('hole');
      }
      await page.close();
    }
  });

  it('screenshots of the real demo report (full page, and hovering the proxy\'s low memory)', async () => {
    const page = await open(demoOptions.report!);
    await page.mouse.move(700, 10);
    await page.screenshot({ path: path('report.png'), fullPage: true });
    await page.locator('#focus-0 rect.blk[fill="#2f9e44"]').first().hover();
    await expect.poll(() => page.locator('#tip').isVisible()).toBe(true);
    await page.screenshot({ path: path('report-hover.png') });
    await page.close();
  });
});
