import { describe, expect, it } from 'vitest';
import { FOUR_GIB, GIB, PAGE_SIZE } from '../../src/bus/index.ts';
import { createCluster } from '../../src/host/index.ts';
import { CATEGORIES, captureSnapshot, categoryOf, registrationTotals, renderReport, writeReport, type HostSnapshot } from '../../src/report/index.ts';
import { syntheticRun } from './fixture.ts';

const cat = (key: string) => CATEGORIES.findIndex((c) => c.key === key);
function pagesOf(s: HostSnapshot, key: string): { pages: number; firstPfn: number; lastPfn: number } {
  let pages = 0;
  let firstPfn = Infinity;
  let lastPfn = -1;
  for (let i = 0; i < s.runs.count; i++) {
    if (categoryOf(s.runs.state[i]!, s.owners[s.runs.owner[i]!]?.kind, s.runs.locked[i] === 1) !== cat(key)) continue;
    pages += s.runs.length[i]!;
    firstPfn = Math.min(firstPfn, s.runs.start[i]!);
    lastPfn = Math.max(lastPfn, s.runs.start[i]! + s.runs.length[i]! - 1);
  }
  return { pages, firstPfn, lastPfn };
}

describe('captureSnapshot', () => {
  const s = syntheticRun();
  const [bootA, bootB] = s.snapshots.boot as [HostSnapshot, HostSnapshot];
  const [peakA, peakB] = s.snapshots.peak as [HostSnapshot, HostSnapshot];
  const [afterA, afterB] = s.snapshots.after as [HostSnapshot, HostSnapshot];

  it('peak: the proxy\'s contiguous memory lies below 4 GiB although NOLOWMEM keeps the rest high', () => {
    const c = pagesOf(peakA, 'contiguous');
    expect(c.pages).toBe(Math.ceil((256 * 1024 + 100) / PAGE_SIZE));
    expect((c.lastPfn + 1) * PAGE_SIZE).toBeLessThanOrEqual(FOUR_GIB);
    const pool = pagesOf(peakA, 'pool');
    expect(pool.firstPfn * PAGE_SIZE).toBeGreaterThanOrEqual(FOUR_GIB);
    expect(peakA.allocations).toHaveLength(1);
    expect(peakA.allocations[0]).toMatchObject({ strategy: 'contiguous', belowFourGiB: true });
  });

  it('peak: registered user pages are locked and named by their registration in the hover notes', () => {
    const locked = pagesOf(peakB, 'locked');
    expect(locked.pages).toBe(peakB.registrations[0]!.pages);
    expect(peakB.counters.lockedPages).toBeGreaterThanOrEqual(locked.pages);
    const notes = Object.values(peakB.runNotes).flat();
    expect(notes.some((n) => /registered: SanProxy registration #\d+ of server\.exe/.test(n))).toBe(true);
    expect(notes.some((n) => /SanProxy allocation #\d+ \(common-buffer\)/.test(n))).toBe(true);
    expect(notes.some((n) => /^pool tag '/.test(n))).toBe(true);
    expect(pagesOf(peakB, 'common').pages).toBe(16);
  });

  it('after teardown every category holds what it held at boot (memory returned)', () => {
    for (const [boot, after] of [[bootA, afterA], [bootB, afterB]] as const) {
      // Pool pages that only lookaside-cached blocks hold stay pool (the lists give them back on a
      // flush, not at teardown); the pool counts them exactly, so pool = boot + that change, free the reverse.
      const cached = after.counters.lookasideReclaimablePages - boot.counters.lookasideReclaimablePages;
      const expected = (key: string) => pagesOf(boot, key).pages + (key === 'pool' ? cached : key === 'free' ? -cached : 0);
      for (const c of CATEGORIES) expect(pagesOf(after, c.key).pages, `${boot.host} ${c.key}`).toBe(expected(c.key));
      expect(after.resources).toEqual(boot.resources);
    }
  });

  it('a snapshot is frozen: later allocations and recycled owner ids do not change it', () => {
    const h = s.cluster.hosts[0]!;
    const runs = peakA.runs.start.slice();
    const owners = JSON.stringify(peakA.owners);
    const p = h.createProcess('later.exe');
    p.writeMemory(p.VirtualAlloc(0, 1 << 20, 0x3000, 4), new Uint8Array(1 << 20).fill(1));
    expect(peakA.runs.start).toEqual(runs);
    expect(JSON.stringify(peakA.owners)).toBe(owners);
    expect(h.kernel.ps.terminateProcess(p, 0)).toBe(0);
  });

  it('rejects what is not a host or a label with a TypeError', () => {
    expect(() => captureSnapshot({} as never, 'x')).toThrow(TypeError);
    expect(() => captureSnapshot(s.cluster.hosts[0]!, '  ')).toThrow(/label/);
    expect(() => writeReport('', s.run)).toThrow(TypeError);
    expect(() => renderReport({ snapshots: [] })).toThrow(/non-empty/);
    expect(() => renderReport({ snapshots: [{} as HostSnapshot] })).toThrow(/captureSnapshot/);
  });

  it('the report is self-contained: no external URL, script or font', () => {
    const html = renderReport(s.run);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|@import|url\(https?:|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).toContain("default-src 'none'");
  });

  it('memory by owner adds up to installed RAM exactly in every snapshot; the MMIO hole is shown apart, not as an owner', () => {
    const html = renderReport(s.run);
    const tables = [...html.matchAll(/<table class="num owners">([\s\S]*?)<\/table>/g)].map((m) => m[1]!);
    expect(tables).toHaveLength(2);
    for (const t of tables) {
      const sums = [0, 0, 0];
      for (const row of t.match(/<tr class="owner"[\s\S]*?<\/tr>/g)!) {
        expect(row).not.toMatch(/data-owner="hole"/);
        [...row.matchAll(/data-bytes="(\d+)"/g)].forEach((m, i) => (sums[i]! += Number(m[1])));
      }
      expect(sums).toEqual([6 * GIB, 6 * GIB, 6 * GIB]);
      const hole = /<tr class="apart hole"[\s\S]*?<\/tr>/.exec(t)![0];
      expect([...hole.matchAll(/data-bytes="(\d+)"/g)].map((m) => Number(m[1]))).toEqual([GIB, GIB, GIB]);
    }
  });

  it('the snapshot keeps the proxy\'s counters; the Run panel sums NIC registrations over hosts from them', () => {
    expect(afterA.proxyCounters).toMatchObject({ nicRegistrations: 1, registrationsRefusedUnreachable: 0 });
    expect(afterB.proxyCounters).toMatchObject({ nicRegistrations: 2, registrationsRefusedUnreachable: 0 });
    expect(registrationTotals(s.run.snapshots)).toEqual({
      nicRegistrations: 3, refusedExpected: 0,
      perHost: [{ host: 'a', nicRegistrations: 1, refusedExpected: 0 }, { host: 'b', nicRegistrations: 2, refusedExpected: 0 }],
    });
    const html = renderReport(s.run);
    expect(html).toContain('id="nic-registrations" data-count="3"');
    expect(html).toContain('data-key="nicRegistrations" data-value="3"');
  });

  it('a leak shows in the leak table', () => {
    const leaky = syntheticRun({ leak: true });
    const html = renderReport(leaky.run);
    expect(html).toMatch(/b: boot → after teardown <span class="bad">\d+ counter\(s\) differ<\/span>/);
    expect(html).toMatch(/a: boot → after teardown <span class="ok">nothing leaked/);
  });
});

describe('a 64 GiB host', () => {
  it('is captured as runs, not pages, and the report stays small', () => {
    const c = createCluster({ hosts: [{ name: 'big', ramBytes: 64 * GIB, nolowmem: true, nics: [{ addressBits: 64, ip: '10.0.0.9' }] }] });
    const h = c.hosts[0]!;
    expect(h.loadProxy()).toBe(0);
    const ps = [0, 1, 2, 3].map((i) => h.createProcess(`p${i}.exe`));
    // Interleave process pages so the map is fragmented.
    for (let round = 0; round < 50; round++) for (const p of ps) p.writeMemory(p.VirtualAlloc(0, 8 * PAGE_SIZE, 0x3000, 4), new Uint8Array(8 * PAGE_SIZE).fill(1));
    const snap = captureSnapshot(h, 'fragmented');
    expect(snap.layout.topOfMemory).toBe(65 * GIB);
    let pages = 0;
    for (let i = 0; i < snap.runs.count; i++) pages += snap.runs.length[i]!;
    expect(pages).toBe(65 * GIB / PAGE_SIZE);
    expect(snap.runs.count).toBeGreaterThan(200);
    expect(snap.runs.count).toBeLessThan(2000);
    expect(renderReport({ snapshots: [snap] }).length).toBeLessThan(400_000);
  });
});
