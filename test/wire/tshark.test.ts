/**
 * Wireshark's InfiniBand dissector as the judge of our bytes (DESIGN.md "The wire"; roce-v2.md
 * §11): a capture with one frame of every opcode the codec builds and every CM message is read
 * by tshark, which must decode each frame as RRoCE/InfiniBand with no malformed packet and no
 * error-level expert item, report per opcode exactly the frames written, and show the header
 * values we put in. A negative control proves the malformed check is not vacuous. Without a
 * tshark (find-tshark.ts) the file is skipped with one line saying how to enable it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  bthDestQp, bthPsn, buildFrame, frameLength, LINKTYPE_RAW, Opcode, opcodeName, PcapWriter, FRAME_BTH,
} from '../../src/wire/index.ts';
import { captureEntries, capturePcap, type CaptureEntry } from './capture-fixture.ts';
import { findTshark, SKIP_MESSAGE } from './find-tshark.ts';
import { aToB, V1 } from './reference-vectors.ts';

const tshark = findTshark();
if (tshark === null) console.warn(SKIP_MESSAGE);

/** Wireshark's PI_ERROR (epan/proto.h): expert items at this severity or above are errors. */
const PI_ERROR = 0x00800000;

const FIELDS = [
  'frame.number', 'frame.protocols', '_ws.col.Protocol', '_ws.col.Info', '_ws.malformed', '_ws.expert.severity',
  'infiniband.bth.opcode', 'infiniband.bth.psn', 'infiniband.bth.destqp', 'infiniband.aeth.syndrome',
  'infiniband.mad.mgmtclass', 'infiniband.mad.attributeid',
  'infiniband.cm.req.ip_cm.sip4', 'infiniband.cm.req.ip_cm.dip4', 'infiniband.cm.req.ip_cm.sport', 'infiniband.cm.req.serviceid.dport',
  'frame.time_epoch',
] as const;
type Row = Record<(typeof FIELDS)[number], string>;

const scratch = mkdtempSync(join(tmpdir(), 'sanproxy-tshark-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** tshark's view of a capture: one row per frame, every field's occurrences joined by ';'. */
function decode(pcap: Uint8Array, name: string, extra: string[] = []): Row[] {
  const file = join(scratch, name);
  writeFileSync(file, pcap);
  const args = ['-r', file, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=;', ...extra];
  for (const f of FIELDS) args.push('-e', f);
  const out = execFileSync(tshark!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C' } });
  return out.split('\n').filter((l) => l !== '').map((line) => {
    const cols = line.split('\t');
    return Object.fromEntries(FIELDS.map((f, i) => [f, cols[i] ?? ''])) as Row;
  });
}

const errorLevel = (r: Row): boolean => r['_ws.expert.severity'].split(';').some((s) => s !== '' && Number(s) >= PI_ERROR);
const hex = (v: number, width: number): string => `0x${v.toString(16).padStart(width, '0')}`;

describe.skipIf(tshark === null)('tshark decodes every frame we build', () => {
  const entries: CaptureEntry[] = captureEntries();
  const rows = tshark === null ? [] : decode(capturePcap(entries), 'all.pcap');

  it('one row per frame written', () => {
    expect(rows.length).toBe(entries.length);
  });

  it('every frame is RRoCE: eth:ethertype:ip:udp:infiniband, protocol column RRoCE', () => {
    for (const r of rows) {
      expect(r['frame.protocols'], `frame ${r['frame.number']}`).toMatch(/^eth:ethertype:ip:udp:infiniband(:data)?$/);
      expect(r['_ws.col.Protocol']).toBe('RRoCE');
    }
  });

  it('no malformed packet and no error-level expert item', () => {
    const bad = rows.filter((r) => r['_ws.malformed'] !== '' || errorLevel(r)).map((r) => `${r['frame.number']}: ${r['_ws.col.Info']}`);
    expect(bad).toEqual([]);
  });

  it('per opcode, tshark counts exactly the frames written; names, PSNs and QPs as built', () => {
    const written = new Map<number, number>();
    const seen = new Map<number, number>();
    entries.forEach((e, i) => {
      const r = rows[i]!;
      written.set(e.opcode, (written.get(e.opcode) ?? 0) + 1);
      const op = Number(r['infiniband.bth.opcode']);
      seen.set(op, (seen.get(op) ?? 0) + 1);
      expect(op, e.label).toBe(e.opcode);
      expect(Number(r['infiniband.bth.psn']), e.label).toBe(bthPsn(e.frame, FRAME_BTH));
      expect(Number(r['infiniband.bth.destqp']), e.label).toBe(bthDestQp(e.frame, FRAME_BTH));
      if (e.cmAttribute < 0) expect(r['_ws.col.Info'], e.label).toContain(`${opcodeName(e.opcode)} QP=${hex(bthDestQp(e.frame, FRAME_BTH), 6)}`);
    });
    expect([...seen].sort()).toEqual([...written].sort());
    // every opcode of the table is in the capture
    expect(written.size).toBe(25);
  });

  it('AETH syndromes as built: ACK 31, RNR NAK, and each NAK code with its name', () => {
    const names: Record<number, string> = { 0x60: 'PSN Sequence Error', 0x61: 'Invalid Request', 0x62: 'Remote Access Error', 0x63: 'Remote Operational Error', 0x64: 'Invalid RD Request' };
    entries.forEach((e, i) => {
      const r = rows[i]!;
      expect(r['infiniband.aeth.syndrome'], e.label).toBe(e.syndrome < 0 ? '' : String(e.syndrome));
      if (names[e.syndrome] !== undefined) expect(r['_ws.col.Info']).toContain(`[${names[e.syndrome]}]`);
    });
    expect(entries.filter((e) => e.opcode === Opcode.RC_ACKNOWLEDGE).map((e) => e.syndrome).sort((a, b) => a - b)).toEqual([0x1f, 0x2e, 0x60, 0x61, 0x62, 0x63, 0x64]);
  });

  it('CM messages decode as CM (class 0x07) with the right attribute; the REQ carries the IP CM addresses and port', () => {
    const cm = entries.map((e, i) => [e, rows[i]!] as const).filter(([e]) => e.cmAttribute >= 0);
    expect(cm.map(([e]) => e.cmAttribute).sort((a, b) => a - b)).toEqual([0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16]);
    const info: Record<number, string> = { 0x10: 'ConnectRequest', 0x11: 'MsgRcptAck', 0x12: 'ConnectReject', 0x13: 'ConnectReply', 0x14: 'ReadyToUse', 0x15: 'DisconnectRequest', 0x16: 'DisconnectReply' };
    for (const [e, r] of cm) {
      expect(r['infiniband.mad.mgmtclass'], e.label).toBe('0x07');
      expect(r['infiniband.mad.attributeid'], e.label).toBe(hex(e.cmAttribute, 4));
      expect(r['_ws.col.Info'], e.label).toBe(`CM: ${info[e.cmAttribute]}`);
    }
    const [, req] = cm.find(([e]) => e.cmAttribute === 0x10)!;
    expect(req['infiniband.cm.req.ip_cm.sip4']).toBe('127.0.0.2');
    expect(req['infiniband.cm.req.ip_cm.dip4']).toBe('127.0.0.3');
    expect(Number(req['infiniband.cm.req.ip_cm.sport'])).toBe(40000);
    expect(Number(req['infiniband.cm.req.serviceid.dport'])).toBe(18515);
  });

  it('the same frames as raw IPv4 datagrams (LINKTYPE_RAW) with nanosecond timestamps decode the same way', () => {
    const w = PcapWriter.toMemory({ nanoseconds: true, linkType: LINKTYPE_RAW, epochSeconds: 1_700_000_000 });
    entries.forEach((e, i) => w.write(e.frame.subarray(14), i * 1_000_123));
    const raw = decode(w.bytes(), 'raw-ns.pcap');
    expect(raw.length).toBe(entries.length);
    raw.forEach((r, i) => {
      expect(r['frame.protocols']).toMatch(/^raw:ip:udp:infiniband(:data)?$/);
      expect(r['_ws.malformed']).toBe('');
      expect(Number(r['infiniband.bth.opcode'])).toBe(entries[i]!.opcode);
      const ns = i * 1_000_123;
      expect(r['frame.time_epoch']).toBe(`${1_700_000_000 + Math.floor(ns / 1e9)}.${String(ns % 1e9).padStart(9, '0')}`);
    });
  });

  it('negative control: the check sees malformed packets (a 5-byte SEND Only trips RPCoRDMA, a READ Request cut in its RETH is malformed IB)', () => {
    const out = new Uint8Array(128);
    const w = PcapWriter.toMemory();
    w.write(out.subarray(0, buildFrame(out, V1.fields, V1.payload)), 0);
    const n = buildFrame(out, aToB({ opcode: Opcode.RC_RDMA_READ_REQUEST, ackReq: 1, va: 0x1000, rkey: 1, dmaLength: 8 }), new Uint8Array(0));
    expect(n).toBe(frameLength(Opcode.RC_RDMA_READ_REQUEST, 0));
    const cut = out.slice(0, 50); // BTH + 4 bytes of the RETH
    cut[17] = 36; // IP Total Length and UDP Length say so
    cut[39] = 16;
    w.write(cut, 1000);
    const pcap = w.bytes();
    const r = decode(pcap, 'malformed.pcap');
    expect(r.map((x) => x['_ws.malformed'] !== '' && errorLevel(x))).toEqual([true, true]);
    expect(r[0]!['frame.protocols']).toContain('rpcordma');
    // §11.4: without the RPC-over-RDMA heuristic the short SEND Only is clean, the cut one is not
    const quiet = decode(pcap, 'malformed.pcap', ['--disable-protocol', 'rpcordma']);
    expect(quiet.map((x) => x['_ws.malformed'] !== '')).toEqual([false, true]);
  });
});
