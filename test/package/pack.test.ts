/**
 * The package a user installs: `npm pack` ships only what runs (compiled JavaScript, the bin,
 * README, LICENSE), installs from the tarball with no network, and its `sanproxy` command runs
 * the demo from another directory with no TypeScript at run time.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'sanproxy-pack-'));
let tarball = '';
let files: string[] = [];

// An unreachable registry: any attempt to fetch fails instead of going to the network.
const OFFLINE_ENV = { ...process.env, npm_config_registry: 'http://127.0.0.1:9/', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

beforeAll(() => {
  // `npm test` builds dist/ first (pretest); packing with --ignore-scripts ships that build
  // instead of rebuilding dist/ under the other tests' feet.
  if (!existsSync(join(ROOT, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run npm run build (npm test does it first)');
  const out = execFileSync('npm', ['pack', ROOT, '--json', '--ignore-scripts', '--pack-destination', work], { cwd: work, env: OFFLINE_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const info = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0]!.filename);
  files = info[0]!.files.map((f) => f.path);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm package', () => {
  it('ships the compiled command line and nothing a user does not need', () => {
    expect(files).toContain('bin/sanproxy.mjs');
    expect(files).toContain('dist/src/cli/main.js');
    expect(files).toContain('dist/bench/rdma.js');
    expect(files).toContain('package.json');
    expect(files).toContain('README.md');
    expect(files).toContain('LICENSE');
    // commander is bundled (bundleDependencies), so the install needs no registry.
    const own = files.filter((f) => !f.startsWith('node_modules/commander/'));
    const unwanted = own.filter((f) =>
      /^(test|docs|scripts|src|bench|\.ci|node_modules)\//.test(f) || /\.test\.js$/.test(f) || /\.ts$/.test(f) ||
      /\.tsbuildinfo$/.test(f) || /\.png$/.test(f) || /^\.[^/]+$/.test(f));
    expect(unwanted).toEqual([]);
  });

  it('installs from the tarball with no network and runs the demo from another directory', () => {
    const prefix = join(work, 'prefix');
    execFileSync('npm', ['install', '--offline', '--no-save', '--prefix', prefix, tarball], { cwd: work, env: OFFLINE_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    expect(readdirSync(join(prefix, 'node_modules'))).toContain('sanproxy');
    // No TypeScript toolchain in the installed tree: the command runs compiled JavaScript.
    expect(readdirSync(join(prefix, 'node_modules')).filter((n) => n === 'typescript' || n === 'tsx')).toEqual([]);
    const elsewhere = mkdtempSync(join(work, 'cwd-'));
    const out = execFileSync(join(prefix, 'node_modules', '.bin', 'sanproxy'), ['demo', '--bytes', '16M', '--json'], {
      cwd: elsewhere, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    });
    const doc = JSON.parse(out) as { transfer: { bytes: number; verified: boolean }; leaks: Record<string, number> };
    expect(doc.transfer).toMatchObject({ bytes: 16 * 2 ** 20, verified: true });
    expect(Object.values(doc.leaks).every((n) => n === 0)).toBe(true);
    const version = execFileSync(join(prefix, 'node_modules', '.bin', 'sanproxy'), ['--version'], { cwd: elsewhere, encoding: 'utf8' });
    expect(version.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
