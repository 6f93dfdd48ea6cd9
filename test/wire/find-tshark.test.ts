import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findChromium } from '../report/find-chromium.ts';
import { findTshark } from './find-tshark.ts';

const scratch = mkdtempSync(join(tmpdir(), 'sanproxy-find-tshark-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function fakeTshark(dir: string, mode: number): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'tshark');
  writeFileSync(path, '#!/bin/sh\nexit 0\n');
  chmodSync(path, mode);
  return path;
}

describe('findTshark (like findChromium: $TSHARK_PATH, then PATH)', () => {
  it('TSHARK_PATH wins when it is an executable file, and is the only answer when set', () => {
    const exe = fakeTshark(join(scratch, 'explicit'), 0o755);
    const onPath = fakeTshark(join(scratch, 'path'), 0o755);
    expect(findTshark({ TSHARK_PATH: exe, PATH: join(scratch, 'path') })).toBe(exe);
    expect(findTshark({ TSHARK_PATH: join(scratch, 'missing'), PATH: join(scratch, 'path') })).toBeNull();
    expect(findTshark({ PATH: join(scratch, 'path') })).toBe(onPath);
  });

  it('skips non-executable files, directories and relative PATH entries', () => {
    fakeTshark(join(scratch, 'noexec'), 0o644);
    mkdirSync(join(scratch, 'dir', 'tshark'), { recursive: true });
    const good = fakeTshark(join(scratch, 'good'), 0o755);
    const PATH = ['relative/bin', '', join(scratch, 'noexec'), join(scratch, 'dir'), join(scratch, 'good')].join(':');
    expect(findTshark({ PATH })).toBe(good);
    expect(findTshark({ PATH: join(scratch, 'noexec') })).toBeNull();
    expect(findTshark({})).toBeNull();
  });
});

describe('findChromium (the same search over several names)', () => {
  it('takes the first name found in any PATH directory before a later name, whatever the directory order', () => {
    const late = join(scratch, 'late');
    const early = join(scratch, 'early');
    for (const [dir, name] of [[early, 'google-chrome'], [late, 'chromium-browser']] as const) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, name), '#!/bin/sh\nexit 0\n');
      chmodSync(join(dir, name), 0o755);
    }
    expect(findChromium({ PATH: [early, late].join(':') })).toBe(join(late, 'chromium-browser'));
    expect(findChromium({ PATH: early })).toBe(join(early, 'google-chrome'));
    expect(findChromium({ CHROMIUM_PATH: join(scratch, 'missing'), PATH: early })).toBeNull();
  });
});

describe('scripts/ensure-tshark.sh', () => {
  const script = resolve(import.meta.dirname, '../../scripts/ensure-tshark.sh');

  it('is valid bash', () => {
    execFileSync('bash', ['-n', script]);
  });

  it('does nothing and succeeds when a tshark is already there', () => {
    const dir = join(scratch, 'ensure');
    fakeTshark(dir, 0o755);
    const out = execFileSync('bash', [script], { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBe('');
  });
});
