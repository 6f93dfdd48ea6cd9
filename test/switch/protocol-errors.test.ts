/**
 * Errors contained ("Using the Session Protocol"; yamux's GoAway as the model): a malformed,
 * truncated or out-of-order control message from the peer on one connection aborts that
 * connection only — its calls reject with a SocketError carrying WSAECONNABORTED — and every
 * other socket of the same switches keeps working and delivers every byte. The configuration
 * is verified once, when the switch is built, with an error that names the field.
 *
 * The corrupt messages are real wire traffic: the server's process posts a raw send on its
 * own endpoint (a peer with a broken or hostile library), which lands in one of the client
 * session's posted control receives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { leakedCounters, snapshot } from '../../src/host/index.ts';
import { ref } from '../../src/kernel/ref.ts';
import { NicStatus } from '../../src/nic/index.ts';
import { MEM_READ, RDMA_DESCRIPTOR_BYTES } from '../../src/provider/index.ts';
import { SocketError, WSAECONNABORTED, WSAEINVAL, WindowsSocketsSwitch } from '../../src/switch/index.ts';
import {
  HEADER_BYTES, MSG_CREDIT, MSG_DATA, MSG_LARGE_WRITE, MSG_NEGOTIATE, MSG_RDMA_READ_OFFER, MSG_READ_DONE, MSG_SHUTDOWN, MSG_WRITE_DONE,
  MSG_WRITE_TARGET, MessageCodec,
} from '../../src/switch/messages.ts';
import { connect, firstDifference, pattern, readUser, recvAll, switchPair, teardownWithoutLeaks, userBuffer, type SwitchPair } from './harness.ts';

const BUFFER_BYTES = 1024;
const SESSION = { rdmaThreshold: 4096, maxRdmaSize: 16384, recvBuffers: 8, sendBuffers: 4, bufferBytes: BUFFER_BYTES };
/** A work-request context the provider never uses (its contexts are small slot numbers). */
const ROGUE_CONTEXT = 2 ** 40;

/** The server's process sends `bytes` on the connection of its socket `s`, around its switch and provider. */
function injectFromServer(p: SwitchPair, s: number, bytes: Uint8Array): void {
  const carrier = p.b.sw.providerSocketOf(s)!;
  const info = carrier.provider.socketInfo(carrier.socket)!;
  const va = userBuffer(p.b.process, bytes.length);
  p.b.process.writeMemory(va, bytes);
  const h = carrier.provider.WSPRegisterMemory(carrier.socket, va, bytes.length, MEM_READ, ref(0));
  expect(h).not.toBeNull();
  const reg = carrier.provider.registrations.get(h!)!;
  expect(reg.shadow).toBeNull();
  const port = p.b.host.nics[info.nicIndex]!.nic.openUserPort(p.b.process.ProcessId);
  expect(port.postSend(info.endpoint, { context: ROGUE_CONTEXT, elements: [{ localHandle: reg.nicHandle, offset: reg.nicOffset, length: bytes.length }] }))
    .toBe(NicStatus.SUCCESS);
}

const codec = new MessageCodec(BUFFER_BYTES);
/** A header of `type` written by the session's own codec, then `extra` bytes of payload. */
function frame(type: number, fields: { flags?: number; credits?: number; payload?: number; length?: number; id?: number }, extra: number,
  descriptor: Uint8Array | null = null): Uint8Array {
  codec.write({ type, flags: fields.flags ?? 0, credits: fields.credits ?? 0, payload: fields.payload ?? 0, length: fields.length ?? 0, id: fields.id ?? 0 },
    descriptor);
  const out = new Uint8Array(HEADER_BYTES + extra);
  out.set(codec.bytes.subarray(0, HEADER_BYTES));
  for (let i = 0; i < extra; i++) out[HEADER_BYTES + i] = (i * 7 + 3) & 0xff;
  return out;
}

/** Control messages that are wrong by construction: each must abort the connection it arrives on. */
const corrupt: fc.Arbitrary<{ what: string; bytes: Uint8Array }> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: HEADER_BYTES - 1 }).map((bytes) => ({ what: 'truncated', bytes })),
  fc.tuple(fc.uint8Array({ minLength: HEADER_BYTES, maxLength: HEADER_BYTES }), fc.oneof(fc.constant(0), fc.integer({ min: MSG_SHUTDOWN + 1, max: 255 })))
    .map(([bytes, type]) => {
      bytes[0] = type;
      return { what: `unknown type ${type}`, bytes };
    }),
  fc.tuple(fc.integer({ min: 1, max: 900 }), fc.integer({ min: 0, max: 900 })).filter(([said, sent]) => said !== sent)
    .map(([said, sent]) => ({ what: `DATA says ${said}, carries ${sent}`, bytes: frame(MSG_DATA, { payload: said }, sent) })),
  fc.tuple(fc.constantFrom(MSG_CREDIT, MSG_READ_DONE, MSG_WRITE_DONE), fc.integer({ min: 1, max: 500 }))
    .map(([type, extra]) => ({ what: `type ${type} with ${extra} payload bytes`, bytes: frame(type, { length: type === MSG_WRITE_DONE ? 1 : 0 }, extra) })),
  fc.integer({ min: 1, max: 255 }).map((flags) => ({ what: `CREDIT with flags ${flags}`, bytes: frame(MSG_CREDIT, { flags }, 0) })),
  fc.integer({ min: 0, max: 0xffff }).map((credits) => ({ what: 'a second NEGOTIATE', bytes: frame(MSG_NEGOTIATE, { credits }, 0) })),
  fc.integer({ min: 0, max: 0xffff }).map((credits) => ({ what: 'READ_DONE for no offer', bytes: frame(MSG_READ_DONE, { credits, id: 0 }, 0) })),
  fc.integer({ min: 1, max: 1 << 20 }).map((length) => ({ what: 'unsolicited WRITE_DONE', bytes: frame(MSG_WRITE_DONE, { length }, 0) })),
  fc.integer({ min: 1, max: 1 << 20 }).map((length) => ({ what: 'LARGE_WRITE on the read path', bytes: frame(MSG_LARGE_WRITE, { length, id: 1 }, 0) })),
  fc.integer({ min: 1, max: 1 << 20 }).map((length) => ({
    what: 'RDMA read offer with a descriptor that does not decode',
    bytes: frame(MSG_RDMA_READ_OFFER, { length, id: 1 }, 0, new Uint8Array(RDMA_DESCRIPTOR_BYTES)),
  })),
  fc.integer({ min: 1, max: 1 << 20 }).map((length) => ({
    what: 'WRITE_TARGET with a descriptor that does not decode', bytes: frame(MSG_WRITE_TARGET, { length, id: 1 }, 0, new Uint8Array(RDMA_DESCRIPTOR_BYTES)),
  })),
);

async function rejection(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (e) {
    return e;
  }
  return null;
}

describe('errors contained to one connection', () => {
  it('SessionConfig is verified when the switch is built: a bad field fails with WSAEINVAL naming it, and nothing is opened', () => {
    const p = switchPair();
    const bad: [string, 'session' | 'tcpSession', string, unknown][] = [
      ['maxRdmaSize', 'session', 'maxRdmaSize', 0],
      ['recvBuffers', 'session', 'recvBuffers', 1],
      ['bufferBytes', 'session', 'bufferBytes', HEADER_BYTES],
      ['rdmaThreshold', 'session', 'rdmaThreshold', -1],
      ['sendBuffers', 'session', 'sendBuffers', 1.5],
      ['creditBased', 'session', 'creditBased', 'yes'],
      ['an unknown field', 'session', 'rdmaThresold', 4096],
      ['the stand-in too', 'tcpSession', 'bufferBytes', 0],
    ];
    const before = snapshot(p.a.host);
    for (const [what, option, field, value] of bad) {
      let error: unknown = null;
      try {
        new WindowsSocketsSwitch({ host: p.a.host, process: p.a.process, [option]: { [field]: value } });
      } catch (e) {
        error = e;
      }
      expect(error, what).toBeInstanceOf(SocketError);
      expect((error as SocketError).code, what).toBe(WSAEINVAL);
      expect((error as SocketError).message, what).toContain(`${option}: ${field === 'rdmaThresold' ? 'unknown field rdmaThresold' : field}`);
    }
    expect(leakedCounters(before, snapshot(p.a.host))).toEqual([]);
  });

  it('a bad control message on one connection rejects only that connection\'s blocked recv; a recv blocked on another connection gets its bytes', async () => {
    const p = switchPair({ switch: { session: SESSION } });
    const one = await connect(p, 5000);
    const two = await connect(p, 5001);
    const dst1 = userBuffer(p.a.process, 100);
    const dst2 = userBuffer(p.a.process, 100);
    const blocked1 = rejection(p.a.sw.recv(one.c, dst1, 100));
    const blocked2 = p.a.sw.recv(two.c, dst2, 100);
    injectFromServer(p, one.s, frame(MSG_SHUTDOWN + 7, {}, 0));
    const error = await blocked1;
    expect(error).toBeInstanceOf(SocketError);
    expect((error as SocketError).code).toBe(WSAECONNABORTED);
    expect((error as SocketError).message).toContain('UNKNOWN_TYPE');
    const src = userBuffer(p.b.process, 100);
    p.b.process.writeMemory(src, pattern(100, 5));
    expect(await p.b.sw.send(two.s, src, 100)).toBe(100);
    expect(await blocked2).toBe(100);
    expect(readUser(p.a.process, dst2, 100)).toEqual(pattern(100, 5));
    await expect(p.a.sw.send(one.c, src, 10)).rejects.toMatchObject({ code: WSAECONNABORTED });
    for (const c of [one, two]) {
      await p.a.sw.closesocket(c.c);
      await p.b.sw.closesocket(c.s).catch(() => {});
      await p.b.sw.closesocket(c.listener);
    }
    await teardownWithoutLeaks(p);
  });

  it('property: random corrupt control messages on one of three connections abort it only; the other two deliver every byte', async () => {
    const p = switchPair({ switch: { session: SESSION } });
    let port = 6000;
    let seed = 1;
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 0, max: 2 }),
      corrupt,
      fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 3 }),
      async (victim, bad, sizes) => {
        const conns = [];
        for (let i = 0; i < 3; i++) conns.push(await connect(p, port++));
        injectFromServer(p, conns[victim]!.s, bad.bytes);
        const total = sizes.reduce((x, y) => x + y, 0);
        const flows = conns.map((conn, i) => {
          const data = pattern(total, seed++);
          const src = userBuffer(p.b.process, total);
          const dst = userBuffer(p.a.process, total);
          p.b.process.writeMemory(src, data);
          const sending = (async () => {
            let off = 0;
            for (const n of sizes) off += await p.b.sw.send(conn.s, src + off, n);
          })();
          const receiving = recvAll(p.a.sw, conn.c, dst, total, 7000);
          return { i, data, dst, sending, receiving };
        });
        for (const f of flows) {
          if (f.i === victim) {
            const error = await rejection(f.receiving);
            expect(error, bad.what).toBeInstanceOf(SocketError);
            expect((error as SocketError).code, bad.what).toBe(WSAECONNABORTED);
          } else {
            expect(await f.receiving, bad.what).toBe(total);
            await f.sending;
            expect(firstDifference(readUser(p.a.process, f.dst, total), f.data), bad.what).toBe(-1);
          }
        }
        // The aborted connection stays aborted; closing it releases its peer's blocked sends.
        await expect(p.a.sw.recv(conns[victim]!.c, flows[victim]!.dst, 1)).rejects.toMatchObject({ code: WSAECONNABORTED });
        for (const conn of conns) await p.a.sw.closesocket(conn.c);
        await Promise.allSettled([flows[victim]!.sending]);
        for (const conn of conns) {
          await p.b.sw.closesocket(conn.s).catch(() => {});
          await p.b.sw.closesocket(conn.listener);
        }
      }), { numRuns: 30 });
    await teardownWithoutLeaks(p);
  });
});
