/**
 * Import rules (.dependency-cruiser.cjs, CONTRIBUTING.md "Layers", docs/architecture.md): a lower layer never imports a
 * higher one, and no cycle of value imports exists. `npm test` runs dependency-cruiser over
 * src/ and bench/ before the tests; this file runs the same rules through its API, and checks
 * on a small tree of its own that the rules really catch what they are for.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { cruise, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');

async function violations(baseDir: string, paths: string[]): Promise<string[]> {
  const options = await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.cjs'));
  const result = await cruise(paths, { ...options, baseDir, validate: true, tsConfig: undefined }, {}, {});
  if (typeof result.output === 'string') throw new Error('dependency-cruiser returned text, expected a result object');
  return result.output.summary.violations.map((v: IViolation) =>
    `${v.rule.name}: ${v.from} → ${v.cycle ? v.cycle.map((c) => c.name).join(' → ') : v.to}`);
}

const scratch = mkdtempSync(join(tmpdir(), 'sanproxy-layers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(scratch, 'tree-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('import rules', () => {
  it('src/ and bench/ keep every layer rule and have no runtime cycle', async () => {
    expect(await violations(ROOT, ['src', 'bench'])).toEqual([]);
  });

  it('the rules catch an upward import, a cycle of value imports and a socket outside the UDP link, and allow type-only cycles and the proxy header', async () => {
    const dir = tree({
      'src/kernel/a.ts': "import { b } from '../proxy/b.ts';\nexport const a = b;\n",
      'src/proxy/b.ts': 'export const b = 1;\n',
      'src/proxy/interface.ts': 'export const IOCTL = 1;\n',
      'src/provider/header.ts': "import { IOCTL } from '../proxy/interface.ts';\nexport const h = IOCTL;\n",
      'src/nic/x.ts': "import { y } from './y.ts';\nexport const x = () => y();\n",
      'src/nic/y.ts': "import { x } from './x.ts';\nexport const y = () => x();\n",
      'src/nic/t1.ts': "import type { T2 } from './t2.ts';\nexport interface T1 { other?: T2 }\nexport const one = 1;\n",
      'src/nic/t2.ts': "import { one } from './t1.ts';\nexport interface T2 { n: typeof one }\n",
      'src/host/socket.ts': "import { createSocket } from 'node:dgram';\nexport const s = createSocket;\n",
      'src/nic/udp-link.ts': "import { createSocket } from 'node:dgram';\nexport const s = createSocket;\n",
    });
    const found = await violations(dir, ['src']);
    expect(found.filter((v) => v.startsWith('layer-'))).toEqual(['layer-kernel: src/kernel/a.ts → src/proxy/b.ts']);
    const cycles = found.filter((v) => v.startsWith('no-runtime-cycle'));
    expect(cycles.length).toBeGreaterThan(0);
    expect(cycles.every((c) => c.includes('src/nic/x.ts') && c.includes('src/nic/y.ts'))).toBe(true);
    expect(found.some((v) => v.includes('t1.ts') || v.includes('t2.ts'))).toBe(false);
    expect(found.some((v) => v.includes('interface.ts'))).toBe(false);
    // Sockets only in the UDP link.
    expect(found.filter((v) => v.startsWith('sockets-'))).toEqual(['sockets-in-the-link: src/host/socket.ts → dgram']);
  });
});
