/**
 * The report as a person sees it: opened in a real headless Chromium (Debian's chromium driven
 * by playwright-core; .ci/run installs it). No console errors, maps drawn, hover shows details,
 * a screenshot saved under test-artifacts/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeReport } from '../../src/report/index.ts';
import { syntheticRun } from './fixture.ts';

const ARTIFACTS = resolve('test-artifacts');
let context: BrowserContext;
let userDataDir: string;
const reportPath = join(ARTIFACTS, 'report.html');

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeReport(reportPath, syntheticRun().run);
  userDataDir = mkdtempSync(join(tmpdir(), 'sanproxy-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
    viewport: { width: 1400, height: 1000 },
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

describe('report in headless Chromium', () => {
  it('opens offline with no console error, draws every map, shows hover details, and is screenshotted', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
    await page.goto(pathToFileURL(reportPath).href);
    await page.waitForSelector('body[data-ready="1"]');
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);

    // Two hosts, each with a full map and a zoom below 4 GiB, drawn with many blocks.
    for (const id of ['map-0', 'zoom-0', 'map-1', 'zoom-1']) {
      const blocks = await page.locator(`#${id} rect.blk`).count();
      expect(blocks, id).toBeGreaterThan(5);
      const box = await page.locator(`#${id}`).boundingBox();
      expect(box!.width).toBeGreaterThan(600);
      expect(box!.height).toBeGreaterThan(100);
    }
    expect(await page.locator('#map-0 line.four-gib').count()).toBe(1);
    expect(await page.locator('#zoom-0 text.holelbl').count()).toBe(1);

    // Hover the proxy's contiguous block on host A (drawn in the contiguous colour below 4 GiB).
    const block = page.locator('#zoom-0 rect.blk[fill="#2f9e44"]').first();
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
    await page.locator('#map-1 rect.blk[fill="#e15759"]').first().hover();
    await expect.poll(() => tip.innerText()).toMatch(/locked \/ registered user pages[\s\S]*registration #\d+/);

    // Switching to the boot snapshot redraws without the proxy's blocks.
    await page.locator('button[data-host="0"]', { hasText: 'boot' }).click();
    expect(await page.locator('#zoom-0 rect.blk[fill="#2f9e44"]').count()).toBe(0);
    await page.locator('button[data-host="0"]', { hasText: 'peak' }).click();

    // Sections below the maps.
    for (const h of ['Registration timeline', 'Low-memory allocations by strategy', 'Verifier findings', 'Leak table']) {
      await expect.poll(() => page.getByRole('heading', { name: h }).count()).toBe(1);
    }
    expect(await page.locator('svg.timeline rect').count()).toBe(3);
    expect(await page.locator('text=nothing leaked').count()).toBe(2);

    await page.mouse.move(700, 10);
    await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    await block.hover();
    await page.screenshot({ path: join(ARTIFACTS, 'report-hover.png') });
    expect(errors).toEqual([]);
    await page.close();
  }, 60_000);
});
