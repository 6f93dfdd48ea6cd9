import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildCmFrame, CM_PRIVATE_DATA_BYTES, CmAttribute, decodeCmMad, dethQkey, dethSrcQp, DropReason, encodeCmMad, gidToIpv4, GSI_QKEY,
  ipCmPrivateData, ipv4MappedGid, MAD_BYTES, nodeGuidFromMac, Opcode, PacketView, parseRdmaCmServiceId, RdmaPortSpace,
  rdmaCmServiceId, readIpCmHeader, WireError, type CmMessage, type CmPath, type CmReq,
} from '../../src/wire/index.ts';
import { IP_A, IP_B, MAC_B, V5_MAD, aToB, fromHex, toHex, v5Req } from './reference-vectors.ts';

const u = (bits: number): fc.Arbitrary<number> => fc.integer({ min: 0, max: 2 ** bits - 1 });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const gid = fc.uint8Array({ minLength: 16, maxLength: 16 });
const pd = (kind: keyof typeof CM_PRIVATE_DATA_BYTES): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength: CM_PRIVATE_DATA_BYTES[kind], maxLength: CM_PRIVATE_DATA_BYTES[kind] });
const path: fc.Arbitrary<CmPath> = fc.record({
  localLid: u(16), remoteLid: u(16), localGid: gid, remoteGid: gid, flowLabel: u(20), packetRate: u(6), trafficClass: u(8),
  hopLimit: u(8), sl: u(4), subnetLocal: u(1), localAckTimeout: u(5),
});
const common = { transactionId: u64, localCommId: u(32) };

/** Every CM message with every field random (private data at full capacity, so it reads back equal). */
const messageArb: fc.Arbitrary<CmMessage> = fc.oneof(
  fc.record({
    kind: fc.constant('REQ' as const), ...common, privateData: pd('REQ'), serviceId: u64, localCaGuid: u64, localQkey: u(32), localQpn: u(24),
    responderResources: u(8), localEecn: u(24), initiatorDepth: u(8), remoteEecn: u(24), remoteCmResponseTimeout: u(5),
    transportServiceType: u(2), endToEndFlowControl: u(1), startingPsn: u(24), localCmResponseTimeout: u(5), retryCount: u(3), pkey: u(16),
    pathMtu: u(4), rdcExists: u(1), rnrRetryCount: u(3), maxCmRetries: u(4), srq: u(1), extendedTransportType: u(3),
    primaryPath: path, alternatePath: fc.option(path.filter((p) => p.localLid !== 0), { nil: null }),
  }),
  fc.record({
    kind: fc.constant('REP' as const), ...common, privateData: pd('REP'), remoteCommId: u(32), localQkey: u(32), localQpn: u(24), localEecn: u(24),
    startingPsn: u(24), responderResources: u(8), initiatorDepth: u(8), targetAckDelay: u(5), failoverAccepted: u(2), endToEndFlowControl: u(1),
    rnrRetryCount: u(3), srq: u(1), localCaGuid: u64,
  }),
  fc.record({ kind: fc.constant('RTU' as const), ...common, privateData: pd('RTU'), remoteCommId: u(32) }),
  fc.record({ kind: fc.constant('DREP' as const), ...common, privateData: pd('DREP'), remoteCommId: u(32) }),
  fc.record({ kind: fc.constant('DREQ' as const), ...common, privateData: pd('DREQ'), remoteCommId: u(32), remoteQpn: u(24) }),
  fc.record({
    kind: fc.constant('REJ' as const), ...common, privateData: pd('REJ'), remoteCommId: u(32), messageRejected: u(2), rejectInfoLength: u(7),
    reason: u(16), ari: fc.uint8Array({ minLength: 72, maxLength: 72 }),
  }),
  fc.record({ kind: fc.constant('MRA' as const), ...common, privateData: pd('MRA'), remoteCommId: u(32), messageMraed: u(2), serviceTimeout: u(5) }),
);

describe('CM MADs (roce-v2.md §10)', () => {
  it('V5: the REQ decodes to the §10.10 parameters, and encodes back to the same 256 bytes', () => {
    const mad = fromHex(V5_MAD);
    const msg = decodeCmMad(mad);
    expect(msg).toEqual(v5Req());
    const out = new Uint8Array(MAD_BYTES);
    encodeCmMad(msg as CmReq, out);
    expect(toHex(out)).toBe(V5_MAD);
  });

  it('every message, every field: encode → decode is the identity (property)', () => {
    fc.assert(fc.property(messageArb, (msg) => {
      const out = new Uint8Array(MAD_BYTES + 10);
      encodeCmMad(msg, out, 10);
      expect(out[11]).toBe(0x07);
      expect((out[26]! << 8) | out[27]!).toBe(CmAttribute[msg.kind]);
      expect(decodeCmMad(out, 10, MAD_BYTES)).toEqual(msg);
    }), { numRuns: 300 });
  });

  it('short private data is zero-filled; the decoder returns the whole field', () => {
    const out = new Uint8Array(MAD_BYTES).fill(0xee);
    encodeCmMad({ kind: 'RTU', transactionId: 1n, localCommId: 2, remoteCommId: 3, privateData: Uint8Array.of(1, 2, 3) }, out);
    const rtu = decodeCmMad(out);
    expect(rtu.kind).toBe('RTU');
    if (rtu.kind !== 'RTU') return;
    expect(rtu.privateData.length).toBe(224);
    expect(Array.from(rtu.privateData.subarray(0, 4))).toEqual([1, 2, 3, 0]);
    expect(out.subarray(4, 8).every((b) => b === 0)).toBe(true); // Status, ClassSpecific
  });

  it('bad fields are refused with a WireError naming them, and the output is untouched', () => {
    const cases: [string, CmMessage][] = [
      ['localCommId', { kind: 'RTU', transactionId: 1n, localCommId: 2 ** 32, remoteCommId: 0, privateData: new Uint8Array(0) }],
      ['transactionId', { kind: 'DREP', transactionId: -1n, localCommId: 1, remoteCommId: 0, privateData: new Uint8Array(0) }],
      ['privateData', { kind: 'DREQ', transactionId: 1n, localCommId: 1, remoteCommId: 0, remoteQpn: 1, privateData: new Uint8Array(221) }],
      ['remoteQpn', { kind: 'DREQ', transactionId: 1n, localCommId: 1, remoteCommId: 0, remoteQpn: 0x1000000, privateData: new Uint8Array(0) }],
      ['startingPsn', { ...v5Req(), startingPsn: 0x1000000 }],
      ['primaryPath.localGid', { ...v5Req(), primaryPath: { ...v5Req().primaryPath, localGid: new Uint8Array(4) } }],
      ['retryCount', { ...v5Req(), retryCount: 8 }],
      ['kind', { kind: 'LAP' } as unknown as CmMessage],
    ];
    for (const [field, msg] of cases) {
      const out = new Uint8Array(MAD_BYTES);
      expect(() => encodeCmMad(msg, out), field).toThrow(WireError);
      try {
        encodeCmMad(msg, out);
      } catch (e) {
        expect((e as WireError).field).toBe(field);
      }
      expect(out.every((b) => b === 0)).toBe(true);
    }
    expect(() => encodeCmMad(v5Req(), new Uint8Array(255))).toThrow(WireError);
  });

  it('bytes that are not a CM MAD decode as invalid with a reason, never a throw', () => {
    const good = fromHex(V5_MAD);
    const variant = (i: number, v: number): Uint8Array => {
      const b = good.slice();
      b[i] = v;
      return b;
    };
    expect(decodeCmMad(good.subarray(0, 255))).toEqual({ kind: 'invalid', reason: '255 bytes, a MAD has 256' });
    expect(decodeCmMad(variant(0, 2)).kind).toBe('invalid');
    expect(decodeCmMad(variant(1, 0x04))).toEqual({ kind: 'invalid', reason: 'MgmtClass 0x04 is not CM (0x07)' });
    expect(decodeCmMad(variant(2, 1)).kind).toBe('invalid');
    expect(decodeCmMad(variant(3, 0x81)).kind).toBe('invalid');
    expect(decodeCmMad(variant(17, 0x19))).toEqual({ kind: 'invalid', reason: 'AttributeID 0x0019 is not a CM message the model handles' });
    expect(decodeCmMad(good, 10, 300).kind).toBe('invalid');
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.boolean(), (bytes, asCm) => {
      if (asCm && bytes.length >= 20) bytes.set([1, 7, 2, 3], 0);
      const r = decodeCmMad(bytes);
      expect(typeof r.kind).toBe('string');
    }), { numRuns: 500 });
  });

  it('buildCmFrame: UD SEND Only to QP1, DETH Q_Key 0x80010000, Source QP 1, the MAD as the 256-byte payload', () => {
    const out = new Uint8Array(400);
    const msg = v5Req();
    const n = buildCmFrame(out, aToB({ psn: 77 }), msg);
    expect(n).toBe(322);
    const v = new PacketView({ localIp: IP_B, localMac: MAC_B });
    expect(v.parseFrame(out, n)).toBe(DropReason.NONE);
    expect(v.opcode).toBe(Opcode.UD_SEND_ONLY);
    expect(v.destQp).toBe(1);
    expect(v.psn).toBe(77);
    expect(v.padCount).toBe(0);
    expect(dethQkey(v.buf, v.deth)).toBe(GSI_QKEY);
    expect(dethSrcQp(v.buf, v.deth)).toBe(1);
    expect(v.payloadLength).toBe(MAD_BYTES);
    expect(decodeCmMad(v.payloadBuf, v.payloadOffset, v.payloadLength)).toEqual(msg);
  });
});

describe('rdma_cm addressing (roce-v2.md §10.9) and GIDs (§1.4)', () => {
  it('service ID: TCP port 18515 is 0x0000000001064853, and parses back; a non-IP service ID is not one', () => {
    expect(rdmaCmServiceId(RdmaPortSpace.TCP, 18515)).toBe(0x0000_0000_0106_4853n);
    expect(rdmaCmServiceId(RdmaPortSpace.UDP, 1)).toBe(0x0000_0000_0111_0001n);
    expect(rdmaCmServiceId(RdmaPortSpace.IB, 7)).toBe(0x0000_0000_013f_0007n);
    expect(parseRdmaCmServiceId(0x0000_0000_0106_4853n)).toEqual({ portSpace: 0x0106, port: 18515 });
    expect(parseRdmaCmServiceId(0x1000_0000_0106_4853n)).toBeNull();
    expect(parseRdmaCmServiceId(0x0000_0000_0206_4853n)).toBeNull();
    expect(() => rdmaCmServiceId(RdmaPortSpace.TCP, 65536)).toThrow(WireError);
  });

  it('IP CM private data: header then consumer bytes, read back; V5\'s is byte-exact', () => {
    const pd = ipCmPrivateData(IP_A, 40000, IP_B, Uint8Array.of(9, 8, 7));
    expect(pd.length).toBe(92);
    expect(toHex(pd.subarray(0, 36))).toBe(`00409c40${'00'.repeat(12)}7f000002${'00'.repeat(12)}7f000003`);
    const h = readIpCmHeader(pd);
    expect(h).not.toBeNull();
    expect({ ...h, consumerData: Array.from(h!.consumerData.subarray(0, 4)) }).toEqual({
      majorVersion: 0, minorVersion: 0, ipVersion: 4, srcPort: 40000, srcIp: IP_A, dstIp: IP_B, consumerData: [9, 8, 7, 0],
    });
    expect(readIpCmHeader(new Uint8Array(36))).toBeNull(); // IP version 0
    expect(readIpCmHeader(new Uint8Array(10))).toBeNull();
    expect(() => ipCmPrivateData(IP_A, 1, IP_B, new Uint8Array(57))).toThrow(WireError);
  });

  it('IPv4-mapped GIDs (::ffff:a.b.c.d) and back; anything else is not IPv4', () => {
    fc.assert(fc.property(u(32), (ip) => {
      const g = ipv4MappedGid(ip);
      expect(toHex(g.subarray(0, 12))).toBe('00000000000000000000ffff');
      expect(gidToIpv4(g)).toBe(ip);
    }));
    const g = ipv4MappedGid(IP_A);
    g[0] = 0xfe;
    expect(gidToIpv4(g)).toBe(-1);
    expect(gidToIpv4(new Uint8Array(4))).toBe(-1);
  });

  it('node GUID from a MAC as rxe makes it (EUI-64, FF:FE inserted, U/L bit flipped)', () => {
    expect(nodeGuidFromMac(0x000000000002)).toBe(0x020000fffe000002n);
    expect(nodeGuidFromMac(0x02000a000001)).toBe(0x00000afffe000001n);
    expect(() => nodeGuidFromMac(2 ** 48)).toThrow(WireError);
  });
});
