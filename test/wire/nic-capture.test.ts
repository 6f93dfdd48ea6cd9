/**
 * The NICs' own traffic as tshark sees it (issue 16 "Done means" 1): a capture of real RC
 * traffic — SEND, RDMA WRITE and RDMA READ segmented at a small path MTU, ACKs, and a demo run
 * of the whole stack — decodes as RRoCE/InfiniBand with no malformed packet and no error-level
 * expert item, and tshark's per-opcode packet counts equal the NICs' own counters. Every frame
 * also passes our receive checks (ICRC included), and the same run gives the same bytes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDemoDetailed } from '../../src/cli/demo.ts';
import { Fabric, NicAccess, NicStatus, WcStatus, type SanNic } from '../../src/nic/index.ts';
import { DropReason, PacketView, PcapWriter, readPcap } from '../../src/wire/index.ts';
import { PA, PB, PORT, connectHosts, fillPattern, makeHost, pagesOf, snapshot } from '../nic/harness.ts';
import { findTshark, SKIP_MESSAGE } from './find-tshark.ts';

const tshark = findTshark();
if (tshark === null) console.warn(SKIP_MESSAGE);
const PI_ERROR = 0x00800000;

const scratch = mkdtempSync(join(tmpdir(), 'sanproxy-nic-capture-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const ALL = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;

/**
 * Two NICs at `mtu`, captured from before they connect (CM MADs on QP1: REQ, MRA, REP, RTU) to
 * after A disconnects (DREQ, DREP): a 9000-byte SEND, a 10000-byte WRITE, a 7000-byte READ and
 * a 100-byte SEND each way.
 */
function traffic(mtu: number, capture: PcapWriter | null) {
  const fabric = new Fabric();
  if (capture !== null) fabric.startCapture(capture);
  const a = makeHost('nicA', undefined, { pathMtu: mtu });
  const b = makeHost('nicB', undefined, { pathMtu: mtu });
  const p = { fabric, a, b, ...connectHosts(fabric, a, b) };
  fillPattern(p.a.memory, 0, 0x40000, 1);
  fillPattern(p.b.memory, 0, 0x40000, 2);
  const ra = p.a.nic.registerRegion({ owner: PA, pages: pagesOf(0x10000, 8), firstByteOffset: 0, length: 8 * 4096, access: ALL });
  const rb = p.b.nic.registerRegion({ owner: PB, pages: pagesOf(0x20000, 8), firstByteOffset: 0, length: 8 * 4096, access: ALL });
  p.a.nic.bindRegion(ra.handle, p.epA);
  p.b.nic.bindRegion(rb.handle, p.epB);
  const el = (handle: number, offset: number, length: number) => [{ localHandle: handle, offset, length }];
  p.b.nic.postRecv(PB, p.epB, { context: 1, elements: el(rb.handle, 0, 9000) });
  p.a.nic.postRecv(PA, p.epA, { context: 2, elements: el(ra.handle, 30000, 200) });
  p.a.nic.postSend(PA, p.epA, { context: 3, elements: el(ra.handle, 100, 9000) });
  p.a.nic.postRdmaWrite(PA, p.epA, { context: 4, elements: el(ra.handle, 50, 10000), remote: { remoteKey: rb.remoteKey, address: 12000, length: 10000 } });
  p.a.nic.postRdmaRead(PA, p.epA, { context: 5, elements: el(ra.handle, 20000, 7000), remote: { remoteKey: rb.remoteKey, address: 1, length: 7000 } });
  // No buffer is touched by two outstanding requests (IBA: a buffer under an outstanding
  // request must not change): then a run is the same with the capture on or off.
  p.b.nic.postSend(PB, p.epB, { context: 6, elements: el(rb.handle, 30000, 100) });
  p.fabric.runUntilIdle();
  const ca = p.a.nic.pollCompletionQueue(PA, p.cqA, 99).completions;
  const cb = p.b.nic.pollCompletionQueue(PB, p.cqB, 99).completions;
  expect(p.a.nic.disconnect(PA, p.epA)).toBe(NicStatus.SUCCESS);
  p.fabric.runUntilIdle();
  if (capture !== null) p.fabric.stopCapture();
  return { p, ca, cb, memA: snapshot(p.a.memory), memB: snapshot(p.b.memory) };
}

function sentByOpcode(nics: SanNic[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const nic of nics) {
    nic.wire.counters.txByOpcode.forEach((n, op) => {
      if (n > 0) m.set(op, (m.get(op) ?? 0) + n);
    });
  }
  return m;
}

/** tshark's opcode per frame, plus malformed and error-level expert counts. */
function decode(file: string): { opcodes: Map<number, number>; frames: number; malformed: number; errors: number } {
  const out = execFileSync(tshark!, [
    '-r', file, '--disable-protocol', 'rpcordma', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=;',
    '-e', 'frame.protocols', '-e', 'infiniband.bth.opcode', '-e', '_ws.malformed', '-e', '_ws.expert.severity',
  ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C' } });
  const opcodes = new Map<number, number>();
  let frames = 0;
  let malformed = 0;
  let errors = 0;
  for (const line of out.split('\n')) {
    if (line === '') continue;
    frames++;
    const [protocols = '', opcode = '', bad = '', severity = ''] = line.split('\t');
    expect(protocols).toMatch(/^eth:ethertype:ip:udp:infiniband/);
    if (bad !== '') malformed++;
    if (severity.split(';').some((s) => s !== '' && Number(s) >= PI_ERROR)) errors++;
    const op = Number(opcode);
    opcodes.set(op, (opcodes.get(op) ?? 0) + 1);
  }
  return { opcodes, frames, malformed, errors };
}

describe('the NICs on the wire: capture', () => {
  it('with a capture on, the run is the same (completions, memory, counters) and gives the same bytes twice', () => {
    const off = traffic(1024, null);
    const w1 = PcapWriter.toMemory({ nanoseconds: true });
    const on = traffic(1024, w1);
    const w2 = PcapWriter.toMemory({ nanoseconds: true });
    traffic(1024, w2);
    expect(on.ca).toEqual(off.ca);
    expect(on.cb).toEqual(off.cb);
    expect(on.ca.every((c) => c.status === WcStatus.SUCCESS)).toBe(true);
    expect(on.cb.map((c) => c.status)).toEqual([WcStatus.SUCCESS, WcStatus.SUCCESS]);
    expect(Buffer.compare(on.memA, off.memA)).toBe(0);
    expect(Buffer.compare(on.memB, off.memB)).toBe(0);
    expect([...sentByOpcode([on.p.a.nic, on.p.b.nic])]).toEqual([...sentByOpcode([off.p.a.nic, off.p.b.nic])]);
    expect(Buffer.compare(w1.bytes(), w2.bytes())).toBe(0);
    // Every captured frame passes the receive checks, ICRC included (src/wire PacketView).
    const file = readPcap(w1.bytes())!;
    const view = new PacketView();
    for (const r of file.records) expect(view.parseFrame(r.data)).toBe(DropReason.NONE);
    expect(file.records.length).toBe(on.p.a.nic.wire.counters.packetsSent + on.p.b.nic.wire.counters.packetsSent);
  });

  it('the bytes placed are the bytes sent: SEND, WRITE and READ at MTU 256 and 4096', () => {
    for (const mtu of [256, 4096]) {
      const { p, ca, memA, memB } = traffic(mtu, null);
      expect(ca.map((c) => c.status)).toEqual([WcStatus.SUCCESS, WcStatus.SUCCESS, WcStatus.SUCCESS, WcStatus.SUCCESS]);
      const srcA = memA.subarray(0x10000);
      const dstB = memB.subarray(0x20000);
      expect(Buffer.compare(dstB.subarray(0, 9000), srcA.subarray(100, 9100))).toBe(0); // SEND
      expect(Buffer.compare(dstB.subarray(12000, 22000), srcA.subarray(50, 10050))).toBe(0); // WRITE
      expect(Buffer.compare(srcA.subarray(20000, 27000), dstB.subarray(1, 7001))).toBe(0); // READ
      const sent = p.a.nic.wire.counters.txByOpcode;
      if (mtu === 256) {
        expect(sent[0x00]).toBe(1); // SEND First, Middle × 34, Last: 9000 = 35 × 256 + 40
        expect(sent[0x01]).toBe(34);
        expect(sent[0x02]).toBe(1);
        expect(p.b.nic.wire.counters.txByOpcode[0x0e]).toBe(Math.ceil(7000 / 256) - 2); // READ Response Middle
      }
    }
  });

  describe.skipIf(tshark === null)('tshark', () => {
    it('decodes a NIC capture (MTU 1024) with no malformed packet, and counts opcodes as the NICs do', () => {
      const path = join(scratch, 'nic.pcap');
      const w = PcapWriter.toFile(path, { nanoseconds: true });
      const { p } = traffic(1024, w);
      w.close();
      const d = decode(path);
      expect(d.malformed).toBe(0);
      expect(d.errors).toBe(0);
      expect([...d.opcodes].sort((x, y) => x[0] - y[0])).toEqual([...sentByOpcode([p.a.nic, p.b.nic])].sort((x, y) => x[0] - y[0]));
      for (const op of [0x00, 0x01, 0x02, 0x04, 0x06, 0x07, 0x08, 0x0c, 0x0d, 0x0e, 0x0f, 0x11]) expect(d.opcodes.get(op)).toBeGreaterThan(0);
    });

    it('decodes the connect and the close as CM MADs on QP1: REQ, MRA, REP, RTU, DREQ, DREP, none malformed', () => {
      const path = join(scratch, 'cm.pcap');
      const w = PcapWriter.toFile(path, { nanoseconds: true });
      traffic(4096, w);
      w.close();
      expect(decode(path).malformed).toBe(0);
      const out = execFileSync(tshark!, [
        '-r', path, '-Y', 'infiniband.mad.mgmtclass == 0x07', '-T', 'fields', '-E', 'separator=\t',
        '-e', 'infiniband.bth.opcode', '-e', 'infiniband.bth.destqp', '-e', 'infiniband.deth.q_key', '-e', 'infiniband.mad.attributeid',
        '-e', 'infiniband.cm.req.serviceid', '-e', 'infiniband.cm.req.ip_cm.dip4', '-e', '_ws.malformed',
      ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C' } });
      const rows = out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
      // REQ (A→B), MRA and REP (B→A), RTU (A→B), DREQ (A→B), DREP (B→A), in that order.
      expect(rows.map((r) => Number(r[3]))).toEqual([0x10, 0x11, 0x13, 0x14, 0x15, 0x16]);
      for (const [opcode, destQp, qkey, , , , bad] of rows) {
        expect(Number(opcode)).toBe(0x64); // UD SEND Only
        expect(Number(destQp)).toBe(1);
        expect(BigInt(qkey!)).toBe(0x80010000n);
        expect(bad).toBe('');
      }
      expect(BigInt(rows[0]![4]!)).toBe(0x0000000001060000n + BigInt(PORT)); // rdma_cm TCP port space
      expect(rows[0]![5]).toMatch(/^10\.0\.0\./);
    });

    it('decodes `demo --pcap` with no malformed packet, and counts opcodes as the NICs do', async () => {
      const path = join(scratch, 'demo.pcap');
      const details = await runDemoDetailed({
        ramBytes: 256 * 1024 * 1024, nolowmem: false, nicBits: [64, 64], strategy: 'contiguous', iommu: false, bytes: 256 * 1024, seed: 7,
        verifier: false, pcap: path, date: new Date(0),
      });
      expect(details.outputErrors).toEqual([]);
      expect(details.result.transfer.verified).toBe(true);
      const d = decode(path);
      expect(d.malformed).toBe(0);
      expect(d.errors).toBe(0);
      const nics = details.cluster.hosts.flatMap((h) => h.nics.map((n) => n.nic));
      expect([...d.opcodes].sort((x, y) => x[0] - y[0])).toEqual([...sentByOpcode(nics)].sort((x, y) => x[0] - y[0]));
      expect(d.frames).toBe(details.result.wire.packetsSent);
      expect(readFileSync(path).length).toBeGreaterThan(24);
    });
  });
});
