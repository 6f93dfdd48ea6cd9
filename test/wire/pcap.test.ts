import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LINKTYPE_RAW, PcapWriter, readPcap, WireError } from '../../src/wire/index.ts';
import { fromHex, toHex, V1, V2 } from './reference-vectors.ts';

const scratch = mkdtempSync(join(tmpdir(), 'sanproxy-pcap-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('pcap writer (roce-v2.md §12)', () => {
  it('global header: little-endian µs magic, version 2.4, thiszone 0, sigfigs 0, snaplen 262144, LINKTYPE_ETHERNET', () => {
    const w = PcapWriter.toMemory();
    expect(toHex(w.bytes())).toBe('d4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + '00000400' + '01000000');
    expect(toHex(PcapWriter.toMemory({ nanoseconds: true, snaplen: 65535, linkType: LINKTYPE_RAW }).bytes()))
      .toBe('4d3cb2a1020004000000000000000000ffff000065000000');
  });

  it('a record: ts_sec, ts_usec from simulation nanoseconds + epoch, incl_len, orig_len, then the frame', () => {
    const w = PcapWriter.toMemory({ epochSeconds: 1000 });
    const frame = fromHex(V1.frame);
    w.write(frame, 2_500_123_999);
    const b = w.bytes();
    expect(toHex(b.subarray(24, 40))).toBe('ea030000' + '9ba10700' + '42000000' + '42000000'); // 1002 s, 500123 µs, 66, 66
    expect(toHex(b.subarray(40))).toBe(V1.frame);
  });

  it('records read back with their timestamps, lengths and bytes, both resolutions (property)', () => {
    fc.assert(fc.property(fc.boolean(), fc.array(fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 2 ** 50 })), { maxLength: 20 }),
      (ns, records) => {
        const w = PcapWriter.toMemory({ nanoseconds: ns, epochSeconds: 7 });
        for (const [frame, t] of records) w.write(frame, t);
        const file = readPcap(w.bytes());
        expect(file).not.toBeNull();
        expect(file!.nanoseconds).toBe(ns);
        expect(file!.littleEndian).toBe(true);
        expect(file!.records.length).toBe(records.length);
        file!.records.forEach((r, i) => {
          const [frame, t] = records[i]!;
          expect(r.seconds).toBe(7 + Math.floor(t / 1e9));
          expect(r.fraction).toBe(ns ? t % 1e9 : Math.floor((t % 1e9) / 1000));
          expect(r.originalLength).toBe(frame.length);
          expect(toHex(r.data)).toBe(toHex(frame));
        });
        expect(w.records).toBe(records.length);
      }), { numRuns: 100 });
  });

  it('frames longer than the snaplen are cut; orig_len keeps the wire length', () => {
    const w = PcapWriter.toMemory({ snaplen: 40 });
    w.write(fromHex(V1.frame), 0);
    w.write(fromHex(V2.frame), 0, 100);
    const file = readPcap(w.bytes())!;
    expect(file.records.map((r) => [r.data.length, r.originalLength])).toEqual([[40, 66], [40, 100]]);
    expect(toHex(file.records[0]!.data)).toBe(V1.frame.slice(0, 80));
  });

  it('a file written through a small buffer equals the memory capture byte for byte, with a record larger than the buffer', () => {
    const path = join(scratch, 'small-buffer.pcap');
    const file = PcapWriter.toFile(path, { bufferBytes: 4096 });
    const memory = PcapWriter.toMemory();
    const big = new Uint8Array(9000).fill(0x5a);
    for (let i = 0; i < 300; i++) {
      const frame = i === 150 ? big : fromHex(i % 2 ? V1.frame : V2.frame);
      file.write(frame, i * 1000);
      memory.write(frame, i * 1000);
    }
    file.close();
    file.close(); // idempotent
    expect(Buffer.compare(readFileSync(path), memory.bytes())).toBe(0);
    expect(readPcap(readFileSync(path))!.records.length).toBe(300);
  });

  it('reads a big-endian capture; refuses what is not pcap or is cut short', () => {
    const be = fromHex('a1b2c3d4' + '0002' + '0004' + '00000000' + '00000000' + '0000ffff' + '00000001'
      + '00000005' + '00000006' + '00000003' + '00000040' + 'aabbcc');
    const file = readPcap(be)!;
    expect(file.littleEndian).toBe(false);
    expect(file.versionMajor).toBe(2);
    expect(file.linkType).toBe(1);
    expect(file.records).toEqual([{ seconds: 5, fraction: 6, originalLength: 64, data: Uint8Array.of(0xaa, 0xbb, 0xcc) }]);
    expect(readPcap(be.subarray(0, be.length - 1))).toBeNull();
    expect(readPcap(new Uint8Array(24))).toBeNull();
    expect(readPcap(new Uint8Array(3))).toBeNull();
  });

  it('refuses bad options and records (WireError), and writing after close', () => {
    expect(() => PcapWriter.toMemory({ linkType: 228 })).toThrow(WireError);
    expect(() => PcapWriter.toMemory({ snaplen: 0 })).toThrow(WireError);
    expect(() => PcapWriter.toMemory({ bufferBytes: 10 })).toThrow(WireError);
    const w = PcapWriter.toMemory();
    expect(() => w.write(new Uint8Array(4), -1)).toThrow(WireError);
    expect(() => w.write(new Uint8Array(4), 1.5)).toThrow(WireError);
    expect(() => w.write(new Uint8Array(4), 0, 3)).toThrow(WireError);
    expect(() => w.write('frame' as unknown as Uint8Array, 0)).toThrow(WireError);
    w.close();
    expect(() => w.write(new Uint8Array(4), 0)).toThrow(WireError);
    const f = PcapWriter.toFile(join(scratch, 'x.pcap'));
    expect(() => f.bytes()).toThrow(WireError);
    f.close();
  });
});
