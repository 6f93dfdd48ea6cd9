/**
 * Two host processes over real UDP (sanproxy host, src/nic/udp-link.ts), each capturing what
 * its link sends and receives (--pcap: full Ethernet/IPv4/UDP frames): tshark decodes every
 * frame of both captures as RoCEv2 (RRoCE/InfiniBand) with zero malformed packets and no
 * error-level expert item, the frame counts equal the links' datagram counts, and every frame
 * passes our own receive checks, ICRC included. Runs the built command (dist/, built by
 * `npm test`'s pretest); waits on process exits, never on time.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DropReason, PacketView, readPcap } from '../../src/wire/index.ts';
import { findTshark, SKIP_MESSAGE } from './find-tshark.ts';

const tshark = findTshark();
if (tshark === null) console.warn(SKIP_MESSAGE);
const PI_ERROR = 0x00800000;
const ROOT = resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'sanproxy-udp-capture-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function host(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [join(ROOT, 'bin/sanproxy.mjs'), 'host', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    p.once('close', (code) => done({ code, out, err }));
  });
}

function decode(file: string): { frames: number; malformed: number; errors: number; notRoce: number } {
  const out = execFileSync(tshark!, [
    '-r', file, '--disable-protocol', 'rpcordma', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=;',
    '-e', 'frame.protocols', '-e', '_ws.malformed', '-e', '_ws.expert.severity',
  ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C' } });
  let frames = 0;
  let malformed = 0;
  let errors = 0;
  let notRoce = 0;
  for (const line of out.split('\n')) {
    if (line === '') continue;
    frames++;
    const [protocols = '', bad = '', severity = ''] = line.split('\t');
    if (!/^eth:ethertype:ip:udp:infiniband/.test(protocols)) notRoce++;
    if (bad !== '') malformed++;
    if (severity.split(';').some((s) => s !== '' && Number(s) >= PI_ERROR)) errors++;
  }
  return { frames, malformed, errors, notRoce };
}

describe.skipIf(tshark === null)('two host processes over UDP, captured', () => {
  it('tshark decodes both hosts\' captures as RoCEv2 with zero malformed packets; counts match the links; every frame passes our checks', async () => {
    const common = ['--ram', '1G', '--bytes', '300K', '--mtu', '1024', '--seed', '5'];
    const pa = join(scratch, 'a.pcap');
    const pb = join(scratch, 'b.pcap');
    const [server, client] = await Promise.all([
      host(['--name', 'host-b', '--address', '127.0.17.91', '--peers', '127.0.17.90', '--role', 'server', '--pcap', pb, ...common]),
      host(['--name', 'host-a', '--address', '127.0.17.90', '--peers', '127.0.17.91', '--role', 'client', '--pcap', pa, ...common]),
    ]);
    expect(server.code, server.err + server.out).toBe(0);
    expect(client.code, client.err + client.out).toBe(0);
    for (const [file, run] of [[pa, client], [pb, server]] as const) {
      const summary = JSON.parse(run.out.trim().split('\n').at(-1)!) as { verified: boolean; link: { datagramsSent: number; datagramsReceived: number; dropped: number } };
      expect(summary.verified).toBe(true);
      const d = decode(file);
      expect(d).toEqual({ frames: summary.link.datagramsSent + summary.link.datagramsReceived - summary.link.dropped, malformed: 0, errors: 0, notRoce: 0 });
      expect(d.frames).toBeGreaterThan(300 * 1024 / 1024);
      const pcap = readPcap(new Uint8Array(readFileSync(file)))!;
      const view = new PacketView();
      expect(pcap.records.filter((r) => view.parseFrame(r.data) !== DropReason.NONE)).toEqual([]);
    }
  });
});
