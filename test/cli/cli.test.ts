/**
 * The command line's conventions (README "Commands" and "Exit status"): a usage mistake is one
 * line naming the flag, the value and what is accepted, then one line pointing at the command's
 * help, exit status 2, never a stack trace; ranges are the kernel's own; outputs are checked
 * before any work; help and version exist for every command.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { MAX_RAM_BYTES, MIN_RAM_BYTES } from '../../src/kernel/mm/ram-layout.ts';

const ROOT = resolve(import.meta.dirname, '../..');

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (s) => out.push(s), err: (s) => err.push(s), errIsTTY: false });
  return { code, out: out.join('\n'), err: err.join('\n'), errLines: err.join('\n').split('\n') };
}

/** The usage-error contract: exactly two lines on stderr, nothing on stdout, exit 2. */
async function usage(argv: string[], ...mentions: (string | RegExp)[]) {
  const r = await run(argv);
  expect(r.code, argv.join(' ')).toBe(2);
  expect(r.out).toBe('');
  expect(r.errLines, argv.join(' ')).toHaveLength(2);
  const command = argv[0] && !argv[0].startsWith('-') && ['demo', 'map', 'bench', 'faults'].includes(argv[0]) ? ` ${argv[0]}` : '';
  expect(r.errLines[1]).toBe(`run 'sanproxy help${command}' for usage`);
  for (const m of mentions) expect(r.errLines[0]).toMatch(m);
  expect(r.err).not.toMatch(/\n\s+at /);
  return r.errLines[0]!;
}

describe('usage errors: one line, the flag, the value, the accepted range; exit 2', () => {
  it('sizes outside the kernel\'s RAM limits name the limits in human units', async () => {
    expect(MIN_RAM_BYTES).toBe(16 * 2 ** 20);
    expect(MAX_RAM_BYTES).toBe(256 * 2 ** 30);
    await usage(['map', '--ram', '1T'], '--ram 1T', '16M..256G');
    await usage(['map', '--ram', '300G'], '--ram 300G', '16M..256G');
    await usage(['demo', '--ram', '6442450945'], '--ram 6442450945', '16M..256G', /4K pages/);
    await usage(['demo', '--ram', '0'], '--ram 0');
    await usage(['demo', '--bytes', 'lots'], '--bytes lots', '1..16G');
  });

  it('values that are not one of the choices list the choices', async () => {
    await usage(['demo', '--nic-bits', '48,64'], '--nic-bits 48,64', '32 or 64');
    await usage(['demo', '--strategy', 'magic'], '--strategy magic', 'contiguous or common-buffer');
    await usage(['demo', '--iommu', 'maybe'], '--iommu maybe', 'on or off');
  });

  it('seeds are range-checked, never wrapped to 32 bits', async () => {
    await usage(['demo', '--seed', '4294967297'], '--seed 4294967297', '0..4294967295');
    await usage(['demo', '--seed', '-1'], '--seed -1');
    await usage(['demo', '--seed', '1.5'], '--seed 1.5');
    await usage(['faults', '--seed', '99999999999'], '--seed 99999999999');
  });

  it('a flag of another command is refused and its owner named', async () => {
    await usage(['map', '--strategy', 'magic', '--nic-bits', '99'], '--strategy', 'demo');
    await usage(['bench', 'rdma', '--report', 'x.html'], '--report', 'demo');
    await usage(['demo', '--sweep-limit', '3'], '--sweep-limit', 'faults');
  });

  it('unknown flags, stray arguments, missing values and unknown commands', async () => {
    await usage(['demo', '--rma', '8G'], "'--rma'", 'did you mean --ram');
    await usage(['demo', '1M'], 'unexpected argument 1M');
    await usage(['demo', '--ram'], '--ram: missing value');
    await usage(['demo', '--json=yes'], '--json takes no value');
    await usage(['demo', '--loss', '2'], '--loss 2', 'expected a probability 0..1');
    await usage(['demo', '--corrupt', 'lots'], '--corrupt lots', 'expected a probability 0..1');
    await usage(['demo', '--loss', '0.1,0.2,0.3'], '--loss 0.1,0.2,0.3', 'two separated by a comma (host-a→host-b,host-b→host-a)');
    await usage(['demo', '--reorder', '0.1,7'], '--reorder 7', 'expected a probability 0..1');
    await usage(['demo', '--mtu', '1500'], '--mtu 1500', 'expected 256, 512, 1024, 2048 or 4096');
    await usage(['nonsense'], "unknown command 'nonsense'");
    await usage(['bench', 'nosuch'], 'nosuch');
  });

  it('output files are checked before any work starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sanproxy-cli-'));
    mkdirSync(join(dir, 'sub'));
    // --bytes 16G would run for minutes: these return at once because nothing runs.
    const big = ['demo', '--bytes', '16G'];
    await usage([...big, '--report', join(dir, 'missing', 'r.html')], '--report', 'no such directory');
    await usage([...big, '--trace', join(dir, 'sub')], '--trace', 'is a directory');
    await usage([...big, '--report', ''], '--report ""', 'expected a file name');
    await usage([...big, '--report', join(dir, 'x'), '--trace', join(dir, 'sub', '..', 'x')], 'same file as --report');
    await usage([...big, '--report', '--trace', 'x'], '--report --trace', 'not an option');
    await usage([...big, '--pcap', join(dir, 'missing', 'c.pcap')], '--pcap', 'no such directory');
    await usage([...big, '--trace', join(dir, 'y'), '--pcap', join(dir, 'y')], 'same file as --trace');
    writeFileSync(join(dir, 'file'), '');
    await usage([...big, '--report', join(dir, 'file', 'r.html')], '--report', 'not a directory');
    // Nothing was left behind by the checks.
    expect(readdirSync(dir).sort()).toEqual(['file', 'sub']);
  });
});

describe('help and version', () => {
  it('help lists the commands; help <command> and <command> --help give options, defaults and examples', async () => {
    const top = await run(['help']);
    expect(top.code).toBe(0);
    for (const c of ['demo', 'map', 'bench', 'faults', 'host', 'cluster']) expect(top.out).toContain(c);
    for (const argv of [['help', 'demo'], ['demo', '--help'], ['demo', '-h']]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.out).toContain('--ram <size>');
      expect(r.out).toContain('(default: 8G)');
      expect(r.out).toContain('Examples:');
      expect(r.out).toContain('Exit status');
    }
    for (const c of ['map', 'bench', 'faults', 'host', 'cluster']) {
      const r = await run([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.out, c).toContain('Examples:');
    }
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(execFileSync('node', ['-p', 'JSON.stringify(require("./package.json"))'], { cwd: ROOT, encoding: 'utf8' })) as { version: string };
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(pkg.version);
  });

  it('no command at all prints the help on stderr with exit 2', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain('Commands:');
  });
});

describe('the installed command (compiled JavaScript, a real process)', () => {
  it('a usage error is two lines on stderr and exit 2, with no stack trace', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/sanproxy.mjs'), 'map', '--ram', '1T'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual(['sanproxy map: --ram 1T: expected a size 16M..256G', "run 'sanproxy help map' for usage"]);
  });

  it('`npm start --bytes 1M` (a flag npm keeps for itself) is refused, with the npm hint', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/sanproxy.mjs'), 'demo', '1M'], { encoding: 'utf8', env: { ...process.env, npm_lifecycle_event: 'start' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("npm start -- --bytes 1M");
  });
});
