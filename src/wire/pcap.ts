/**
 * libpcap capture files (the-tcpdump-group/libpcap sf-pcap.c, pcap/pcap.h):
 * a writer for the capture tap and a reader for tests and tools.
 *
 * Implementation notes
 * - Format: 24-byte global header (magic 0xA1B2C3D4 for microsecond or 0xA1B23C4D for
 *   nanosecond timestamps, version 2.4, thiszone 0, sigfigs 0, snaplen, link type) and per
 *   packet a 16-byte record header (ts_sec, ts_usec/ts_nsec, incl_len, orig_len) then incl_len
 *   bytes. Written little-endian (readers detect the order from the magic); link type 1
 *   (Ethernet, no FCS) by default, 101 (raw IP) for bare datagrams.
 * - Timestamps come from the caller — the simulation's deterministic clock, in nanoseconds
 *   since the start of the run — plus a fixed epoch second, so the same run writes the same
 *   file byte for byte.
 * - The writer is synchronous (the simulation loop is): records are appended to one buffer,
 *   which goes to the file with writeSync whenever it fills and at close; no stream, no event
 *   loop turn. A memory writer keeps the bytes for `bytes()`.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { WireError } from './errors.ts';
import { putU32LE } from '../bus/little-endian.ts';

export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const PCAP_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;
/** Larger than any frame the model sends (a PMTU-4096 frame is at most 4174 bytes). */
export const DEFAULT_SNAPLEN = 262144;

export interface PcapOptions {
  /** Nanosecond timestamps (magic 0xA1B23C4D); default microseconds. */
  nanoseconds?: boolean;
  /** Bytes kept per record; default 262144. Longer frames are cut (orig_len keeps the length). */
  snaplen?: number;
  /** LINKTYPE_ETHERNET (default) or LINKTYPE_RAW. */
  linkType?: number;
  /** ts_sec of simulation time 0; default 0 (1970), so files do not depend on the wall clock. */
  epochSeconds?: number;
  /** Buffer size before a write to the file; default 1 MiB. */
  bufferBytes?: number;
}

function optionError(field: string, value: unknown, expected: string): never {
  throw new WireError(field, `${field} = ${String(value)}: expected ${expected}`);
}

export class PcapWriter {
  private readonly nanoseconds: boolean;
  private readonly snaplen: number;
  private readonly epochSeconds: number;
  private buffer: Uint8Array;
  private used = 0;
  private fd: number | null;
  private readonly chunks: Uint8Array[] | null;
  private closed = false;
  /** Records written so far. */
  records = 0;

  /** A capture file at `path` (created or truncated now). */
  static toFile(path: string, options: PcapOptions = {}): PcapWriter {
    return new PcapWriter(path, options);
  }

  /** A capture kept in memory (`bytes()`). */
  static toMemory(options: PcapOptions = {}): PcapWriter {
    return new PcapWriter(null, options);
  }

  private constructor(path: string | null, options: PcapOptions) {
    const { nanoseconds = false, snaplen = DEFAULT_SNAPLEN, linkType = LINKTYPE_ETHERNET, epochSeconds = 0, bufferBytes = 1 << 20 } = options;
    if (typeof nanoseconds !== 'boolean') optionError('nanoseconds', nanoseconds, 'a boolean');
    if (!Number.isSafeInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) optionError('snaplen', snaplen, '1..2^31-1');
    if (linkType !== LINKTYPE_ETHERNET && linkType !== LINKTYPE_RAW) optionError('linkType', linkType, `${LINKTYPE_ETHERNET} or ${LINKTYPE_RAW}`);
    if (!Number.isSafeInteger(epochSeconds) || epochSeconds < 0 || epochSeconds > 0xffffffff) optionError('epochSeconds', epochSeconds, '0..2^32-1');
    if (!Number.isSafeInteger(bufferBytes) || bufferBytes < 4096) optionError('bufferBytes', bufferBytes, 'an integer of at least 4096');
    this.nanoseconds = nanoseconds;
    this.snaplen = snaplen;
    this.epochSeconds = epochSeconds;
    this.buffer = new Uint8Array(bufferBytes);
    this.chunks = path === null ? [] : null;
    this.fd = path === null ? null : openSync(path, 'w');
    const h = this.buffer;
    putU32LE(h, 0, nanoseconds ? PCAP_MAGIC_NANOSECONDS : PCAP_MAGIC_MICROSECONDS);
    h[4] = 2; // version 2.4
    h[6] = 4;
    // thiszone 0, sigfigs 0
    putU32LE(h, 16, snaplen);
    putU32LE(h, 20, linkType);
    this.used = PCAP_HEADER_BYTES;
  }

  /**
   * Append one record: `frame` (its whole length) at `timeNs` nanoseconds of simulation time.
   * `originalLength` is the length on the wire when `frame` is already cut (default its length).
   */
  write(frame: Uint8Array, timeNs: number, originalLength: number = frame?.length): void {
    if (this.closed) throw new WireError('writer', 'writer: the capture is closed');
    if (!(frame instanceof Uint8Array)) optionError('frame', frame, 'a Uint8Array');
    if (!Number.isSafeInteger(timeNs) || timeNs < 0) optionError('timeNs', timeNs, 'a non-negative integer number of nanoseconds');
    if (!Number.isSafeInteger(originalLength) || originalLength < frame.length || originalLength > 0xffffffff) optionError('originalLength', originalLength, `${frame.length}..2^32-1`);
    const seconds = this.epochSeconds + Math.floor(timeNs / 1e9);
    if (seconds > 0xffffffff) optionError('timeNs', timeNs, 'a time before 2106 (ts_sec is 32 bits)');
    const fraction = this.nanoseconds ? timeNs % 1e9 : Math.floor((timeNs % 1e9) / 1000);
    const included = Math.min(frame.length, this.snaplen);
    const need = PCAP_RECORD_HEADER_BYTES + included;
    if (this.used + need > this.buffer.length) {
      this.flush();
      if (need > this.buffer.length) this.buffer = new Uint8Array(need);
    }
    const b = this.buffer;
    const at = this.used;
    putU32LE(b, at, seconds);
    putU32LE(b, at + 4, fraction);
    putU32LE(b, at + 8, included);
    putU32LE(b, at + 12, originalLength);
    b.set(included === frame.length ? frame : frame.subarray(0, included), at + PCAP_RECORD_HEADER_BYTES);
    this.used = at + need;
    this.records++;
  }

  /** Hand the buffered records to the file (or the memory chunks). */
  flush(): void {
    if (this.used === 0) return;
    if (this.fd !== null) {
      let done = 0;
      while (done < this.used) done += writeSync(this.fd, this.buffer, done, this.used - done);
    } else {
      this.chunks!.push(this.buffer.slice(0, this.used));
    }
    this.used = 0;
  }

  /** Flush and close the file. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  /** The capture so far (memory writer only). */
  bytes(): Uint8Array {
    if (this.chunks === null) throw new WireError('writer', 'writer: bytes() is for a memory capture; this one writes a file');
    this.flush();
    let total = 0;
    for (const c of this.chunks) total += c.length;
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

export interface PcapRecord {
  seconds: number;
  /** Microseconds or nanoseconds, as the file says. */
  fraction: number;
  originalLength: number;
  /** The stored bytes (a view of the input). */
  data: Uint8Array;
}

export interface PcapFile {
  nanoseconds: boolean;
  littleEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linkType: number;
  records: PcapRecord[];
}

/**
 * Parse a whole capture (either byte order, µs or ns magic). Returns null when the bytes are not
 * a pcap file or a record is cut short — a test tool, so it gives up rather than guesses.
 */
export function readPcap(bytes: Uint8Array): PcapFile | null {
  if (!(bytes instanceof Uint8Array) || bytes.length < PCAP_HEADER_BYTES) return null;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLE = v.getUint32(0, true);
  const magicBE = v.getUint32(0, false);
  let le: boolean;
  let ns: boolean;
  if (magicLE === PCAP_MAGIC_MICROSECONDS || magicLE === PCAP_MAGIC_NANOSECONDS) {
    le = true;
    ns = magicLE === PCAP_MAGIC_NANOSECONDS;
  } else if (magicBE === PCAP_MAGIC_MICROSECONDS || magicBE === PCAP_MAGIC_NANOSECONDS) {
    le = false;
    ns = magicBE === PCAP_MAGIC_NANOSECONDS;
  } else {
    return null;
  }
  const file: PcapFile = {
    nanoseconds: ns,
    littleEndian: le,
    versionMajor: v.getUint16(4, le),
    versionMinor: v.getUint16(6, le),
    snaplen: v.getUint32(16, le),
    linkType: v.getUint32(20, le) & 0x03ff_ffff,
    records: [],
  };
  let at = PCAP_HEADER_BYTES;
  while (at < bytes.length) {
    if (at + PCAP_RECORD_HEADER_BYTES > bytes.length) return null;
    const included = v.getUint32(at + 8, le);
    if (at + PCAP_RECORD_HEADER_BYTES + included > bytes.length) return null;
    file.records.push({
      seconds: v.getUint32(at, le),
      fraction: v.getUint32(at + 4, le),
      originalLength: v.getUint32(at + 12, le),
      data: bytes.subarray(at + PCAP_RECORD_HEADER_BYTES, at + PCAP_RECORD_HEADER_BYTES + included),
    });
    at += PCAP_RECORD_HEADER_BYTES + included;
  }
  return file;
}
