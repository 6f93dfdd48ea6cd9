/**
 * Layer rules (DESIGN.md "Layers"): a lower layer never imports a higher one. Like VS Code's
 * layer checks, the rule lives in one table and CI enforces it on every import in src/ and
 * bench/.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

/** Which layers each layer may import (itself always allowed). */
const ALLOWED: Record<string, string[]> = {
  bus: [],
  kernel: ['bus'],
  nic: ['bus'],
  proxy: ['bus', 'kernel', 'nic'],
  provider: ['bus', 'kernel', 'nic'],
  switch: ['bus', 'kernel', 'nic', 'provider'],
  host: ['bus', 'kernel', 'nic', 'proxy', 'provider', 'switch'],
  report: ['bus', 'kernel', 'nic', 'proxy', 'provider', 'switch', 'host'],
  cli: ['bus', 'kernel', 'nic', 'proxy', 'provider', 'switch', 'host', 'report', 'bench'],
  bench: ['bus', 'kernel', 'nic', 'proxy', 'provider', 'switch', 'host', 'report'],
};

/**
 * Single files a higher layer may import although its layer is off limits: the proxy's IOCTL
 * interface is the header a driver ships to its user-mode provider.
 */
const SHARED_HEADERS = new Set(['src/proxy/interface.ts']);

function layerOf(file: string): string | null {
  const rel = relative(root, file).split('/');
  if (rel[0] === 'bench') return 'bench';
  if (rel[0] === 'src' && rel[1] && rel[1] in ALLOWED) return rel[1];
  return null;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

describe('layering', () => {
  it('no module imports a layer above its own (DESIGN.md layer table)', () => {
    const violations: string[] = [];
    const files = [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'bench'))];
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const from = layerOf(file);
      if (!from) continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
        const targetFile = resolve(dirname(file), m[1]!);
        const target = layerOf(targetFile);
        if (SHARED_HEADERS.has(relative(root, targetFile))) continue;
        if (target && target !== from && !ALLOWED[from]!.includes(target)) {
          violations.push(`${relative(root, file)} (${from}) imports ${m[1]} (${target})`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it('the checker itself catches an upward import', () => {
    // Guard against a regex that silently matches nothing.
    const sample = "import { X } from '../../proxy/driver.ts';";
    const m = [...sample.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)];
    const target = layerOf(resolve(join(root, 'src/kernel/mm'), m[0]![1]!));
    expect(target).toBe('proxy');
    expect(ALLOWED.kernel!.includes(target!)).toBe(false);
  });
});
