/**
 * Property: random interleavings of register / deregister / re-register / invalidate / bind /
 * post (send, recv, RDMA write, RDMA read) / disconnect across two hosts never let a byte move
 * outside a valid, current, permitted region.
 *
 * The test keeps its own shadow of each NIC's registrations (keys, owner, pages, rights,
 * binding, valid) and of the connection. Driver calls happen between fabric runs, so during a
 * run the tables are frozen: at each run the shadow decides, for every work request that
 * completed SUCCESSFULLY, whether it was permitted (every key current, owner/binding right,
 * rights present, range inside). Then, from the bus observers of both NICs:
 *  - every byte written on a host lies inside the target of a successful request, and the
 *    bytes written add up exactly to what successful requests moved (failed requests: zero);
 *  - every byte read lies inside the source of a successful request;
 *  - every byte outside those targets is unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import { NicAccess, NicStatus, Opcode, WcStatus, type Completion } from '../../src/nic/index.ts';
import { PA, PB, PORT, PX, connectedPair, fillPattern, snapshot, type Host } from './harness.ts';

const PAGES = 48; // per host, the area regions are made of
const RAM = PAGES * PAGE_SIZE;

interface ShadowRegion {
  handle: number;
  remoteKey: number;
  owner: number;
  pages: Float64Array;
  fbo: number;
  length: number;
  access: number;
  valid: boolean;
  /** Endpoint handle the NIC has it bound to (possibly a destroyed one), 0 when unbound. */
  boundTo: number;
  live: boolean;
}

interface Op {
  id: number;
  side: 0 | 1;
  kind: 'write' | 'read' | 'send' | 'recv';
  local: { handle: number; offset: number; length: number };
  remote: { remoteKey: number; address: number; length: number };
}

const cmd = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('reg' as const), side: fc.integer({ min: 0, max: 1 }), first: fc.nat(PAGES - 1), count: fc.integer({ min: 1, max: 4 }),
    fbo: fc.oneof(fc.constant(0), fc.nat(4095)), cut: fc.nat(4095), access: fc.integer({ min: 1, max: 15 }),
    foreign: fc.integer({ min: 0, max: 4 }).map((x) => x === 0), scatter: fc.boolean(), bindNow: fc.boolean() }) },
  fc.record({ t: fc.constantFrom('dereg' as const, 'inval' as const, 'bind' as const, 'unbind' as const, 'rereg' as const),
    side: fc.integer({ min: 0, max: 1 }), pick: fc.nat(), first: fc.nat(PAGES - 1) }),
  { weight: 6, arbitrary: fc.record({ t: fc.constant('post' as const), side: fc.integer({ min: 0, max: 1 }), kind: fc.constantFrom('write' as const, 'read' as const, 'send' as const, 'recv' as const),
    lpick: fc.nat(), rpick: fc.nat(), loff: fc.oneof(fc.constant(0), fc.nat(300), fc.nat(9000)),
    roff: fc.oneof(fc.constant(0), fc.nat(300), fc.nat(9000)), len: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 9000 })),
    lmode: fc.nat(14), rmode: fc.nat(14) }) },
  fc.record({ t: fc.constant('disconnect' as const), side: fc.integer({ min: 0, max: 1 }) }),
  { weight: 3, arbitrary: fc.record({ t: fc.constant('run' as const) }) },
);

const fixAccess = (a: number): number => ((a & NicAccess.REMOTE_WRITE) !== 0 ? a | NicAccess.LOCAL_WRITE : a);

function pagesFor(first: number, count: number, scatter: boolean): Float64Array {
  return Float64Array.from({ length: count }, (_, i) => ((scatter ? first + i * 7 : first + i) % PAGES) * PAGE_SIZE);
}

/** Physical bytes [offset, +length) of a region, marked in `mask`. */
function mark(mask: Uint8Array, r: ShadowRegion, offset: number, length: number): void {
  let at = r.fbo + offset;
  let left = length;
  while (left > 0) {
    const page = Math.floor(at / PAGE_SIZE);
    const within = at % PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - within, left);
    mask.fill(1, r.pages[page]! + within, r.pages[page]! + within + n);
    at += n;
    left -= n;
  }
}

describe('NIC property: random interleavings across two hosts', () => {
  it('never lets a byte move outside a valid, current, permitted region', () => {
    // Tally over all runs, so the property provably exercised successes and failures of each kind.
    const tally = { write: 0, read: 0, send: 0, recv: 0, failed: 0 };
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 60 }), fc.integer(), (cmds, seed) => {
        const p = connectedPair({ maxRegistrations: 16 });
        const hosts: Host[] = [p.a, p.b];
        const owners = [PA, PB];
        const eps = [p.epA, p.epB];
        const cqs = [p.cqA, p.cqB];
        fillPattern(p.a.memory, 0, RAM, seed & 0xff);
        fillPattern(p.b.memory, 0, RAM, (seed >> 8) & 0xff);
        const shadow: ShadowRegion[][] = [[], []];
        const ops = new Map<number, Op>();
        let connected = true;
        let nextId = 1;
        const liveOf = (s: number) => shadow[s]!.filter((r) => r.live);
        const pickLive = (s: number, pick: number) => {
          const l = liveOf(s);
          return l.length ? l[pick % l.length]! : null;
        };

        const run = (): void => {
          // Freeze: the shadow as it is now is what the NIC must enforce during this run.
          const frozen = shadow.map((list) => list.filter((r) => r.live).map((r) => ({ ...r })));
          const wasConnected = connected;
          const frozenEps = [...eps];
          const before = hosts.map((h) => snapshot(h.memory, 0, RAM));
          const writes: [number, number][][] = [[], []];
          const reads: [number, number][][] = [[], []];
          hosts.forEach((h, s) => {
            h.dma.observer = (_d, dir, physical, length) => (dir === 'write' ? writes : reads)[s]!.push([physical, length]);
          });
          p.fabric.runUntilIdle();
          hosts.forEach((h) => (h.dma.observer = null));
          const completions: Completion[][] = hosts.map((h, s) => {
            const r = h.nic.pollCompletionQueue(owners[s]!, cqs[s]!, 10_000);
            expect(r.status).toBe(NicStatus.SUCCESS);
            return r.completions;
          });
          const writeMask = [new Uint8Array(RAM), new Uint8Array(RAM)];
          const readMask = [new Uint8Array(RAM), new Uint8Array(RAM)];
          const expectedWritten = [0, 0];

          const localOk = (s: number, handle: number, offset: number, length: number, right: number): ShadowRegion | null => {
            const r = frozen[s]!.find((x) => x.handle === handle);
            if (!r || !r.valid || r.owner !== owners[s] || (r.access & right) !== right) return null;
            return length > 0 && offset + length <= r.length ? r : null;
          };
          const remoteOk = (s: number, key: number, offset: number, length: number, right: number): ShadowRegion | null => {
            const r = frozen[s]!.find((x) => x.remoteKey === key);
            if (!r || !r.valid || r.boundTo !== frozenEps[s] || (r.access & right) !== right) return null;
            return length > 0 && offset + length <= r.length ? r : null;
          };

          for (let s = 0; s < 2; s++) {
            for (const c of completions[s]!) {
              if (c.status !== WcStatus.SUCCESS) {
                tally.failed++;
                expect(c.bytes).toBe(0);
                continue;
              }
              const op = ops.get(c.context)!;
              tally[op.kind]++;
              expect(op.side).toBe(s);
              expect(wasConnected).toBe(true);
              const peer = 1 - s;
              if (op.kind === 'recv') {
                expect(c.opcode).toBe(Opcode.RECV);
                const r = localOk(s, op.local.handle, op.local.offset, op.local.length, NicAccess.LOCAL_WRITE);
                expect(r, `recv ${op.id} succeeded on a region it may not write`).not.toBeNull();
                expect(c.bytes).toBeLessThanOrEqual(op.local.length);
                mark(writeMask[s]!, r!, op.local.offset, c.bytes);
                expectedWritten[s] += c.bytes;
                continue;
              }
              const right = op.kind === 'read' ? NicAccess.LOCAL_WRITE : NicAccess.LOCAL_READ;
              const l = localOk(s, op.local.handle, op.local.offset, op.local.length, right);
              expect(l, `${op.kind} ${op.id} succeeded with a local buffer it may not use`).not.toBeNull();
              expect(c.bytes).toBe(op.local.length);
              if (op.kind === 'send') {
                mark(readMask[s]!, l!, op.local.offset, op.local.length);
                continue;
              }
              expect(op.remote.length).toBe(op.local.length);
              const rr = remoteOk(peer, op.remote.remoteKey, op.remote.address, op.remote.length,
                op.kind === 'write' ? NicAccess.REMOTE_WRITE : NicAccess.REMOTE_READ);
              expect(rr, `${op.kind} ${op.id} succeeded on a remote region it may not touch`).not.toBeNull();
              if (op.kind === 'write') {
                mark(readMask[s]!, l!, op.local.offset, op.local.length);
                mark(writeMask[peer]!, rr!, op.remote.address, op.remote.length);
                expectedWritten[peer] += op.local.length;
              } else {
                mark(readMask[peer]!, rr!, op.remote.address, op.remote.length);
                mark(writeMask[s]!, l!, op.local.offset, op.local.length);
                expectedWritten[s] += op.local.length;
              }
            }
          }
          for (let s = 0; s < 2; s++) {
            let written = 0;
            for (const [a, n] of writes[s]!) {
              written += n;
              expect(a + n).toBeLessThanOrEqual(RAM);
              expect(writeMask[s]!.subarray(a, a + n).every((b) => b === 1), `write outside permitted bytes at ${a}+${n}`).toBe(true);
            }
            expect(written).toBe(expectedWritten[s]);
            for (const [a, n] of reads[s]!) {
              expect(readMask[s]!.subarray(a, a + n).every((b) => b === 1), `read outside permitted bytes at ${a}+${n}`).toBe(true);
            }
            const after = snapshot(hosts[s]!.memory, 0, RAM);
            for (let i = 0; i < RAM; i++) {
              if (writeMask[s]![i] === 0 && after[i] !== before[s]![i]) {
                throw new Error(`host ${s} byte ${i} changed outside every permitted target`);
              }
            }
          }
        };

        // Start with two usable regions per side so requests can succeed from the first command.
        for (let s = 0; s < 2; s++) {
          // Two whole-page regions, one ending mid-page (an overrun stays inside its last page, so
          // only the range check can stop it), and one of another process on the same host.
          const initial = [
            { owner: owners[s]!, fbo: 0, length: 2 * PAGE_SIZE },
            { owner: owners[s]!, fbo: 0, length: 2 * PAGE_SIZE },
            { owner: owners[s]!, fbo: 100, length: 5000 },
            { owner: PX, fbo: 0, length: 2 * PAGE_SIZE },
          ];
          initial.forEach((x, k) => {
            const pages = pagesFor(k * 8 + s, 2, false);
            const access = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;
            const r = hosts[s]!.nic.registerRegion({ owner: x.owner, pages, firstByteOffset: x.fbo, length: x.length, access });
            const bind = x.owner === owners[s];
            if (bind) expect(hosts[s]!.nic.bindRegion(r.handle, eps[s]!)).toBe(NicStatus.SUCCESS);
            shadow[s]!.push({ handle: r.handle, remoteKey: r.remoteKey, owner: x.owner, pages, fbo: x.fbo, length: x.length, access,
              valid: true, boundTo: bind ? eps[s]! : 0, live: true });
          });
        }

        /** RC: one failure ends the connection; start a new one so later commands can succeed. */
        const reconnect = (): void => {
          const states = hosts.map((h, s) => (h.nic.endpointInfo(owners[s]!, eps[s]!) as { state: string }).state);
          if (states.every((st) => st === 'connected')) return;
          hosts.forEach((h, s) => expect(h.nic.destroyEndpoint(owners[s]!, eps[s]!)).toBe(NicStatus.SUCCESS));
          const ea = p.a.nic.createEndpoint(PA, p.cqA).endpoint;
          const eb = p.b.nic.createEndpoint(PB, p.cqB).endpoint;
          expect(p.a.nic.connect(PA, ea, p.b.nic.sanAddress, PORT)).toBe(NicStatus.SUCCESS);
          p.fabric.runUntilIdle();
          expect(p.b.nic.accept(PB, PORT, eb)).toBe(NicStatus.SUCCESS);
          p.fabric.runUntilIdle();
          hosts.forEach((h, s) => h.nic.pollCompletionQueue(owners[s]!, cqs[s]!, 10_000));
          eps[0] = ea;
          eps[1] = eb;
          // Regions stay bound to the destroyed endpoints' handles, which no request can carry.
          connected = true;
        };

        for (const c of cmds) {
          if (c.t === 'run') {
            run();
            reconnect();
            continue;
          }
          const s = c.side;
          const nic = hosts[s]!.nic;
          if (c.t === 'reg') {
            const pages = pagesFor(c.first, c.count, c.scatter);
            const fbo = c.count === 1 ? Math.min(c.fbo, 4000) : c.fbo;
            const room = c.count * PAGE_SIZE - fbo;
            const minLen = Math.max(1, (c.count - 1) * PAGE_SIZE - fbo + 1);
            const length = Math.max(minLen, room - (c.cut % Math.max(1, room - minLen + 1)));
            const owner = c.foreign ? PX : owners[s]!;
            const access = fixAccess(c.access);
            const r = nic.registerRegion({ owner, pages, firstByteOffset: fbo, length, access });
            if (r.status === NicStatus.SUCCESS) {
              const bind = c.bindNow && owner === owners[s];
              if (bind) expect(nic.bindRegion(r.handle, eps[s]!)).toBe(NicStatus.SUCCESS);
              shadow[s]!.push({ handle: r.handle, remoteKey: r.remoteKey, owner, pages, fbo, length, access, valid: true, boundTo: bind ? eps[s]! : 0, live: true });
            } else expect(r.status).toBe(NicStatus.INSUFFICIENT_RESOURCES);
          } else if (c.t === 'disconnect') {
            const st = nic.disconnect(owners[s]!, eps[s]!);
            if (connected) expect(st).toBe(NicStatus.SUCCESS);
            connected = false;
          } else if (c.t === 'post') {
            const id = nextId++;
            const mine = shadow[s]!;
            const theirs = shadow[1 - s]!;
            // Mostly live regions (so requests can succeed), sometimes stale, foreign or forged keys.
            const mineLive = mine.filter((r) => r.live && r.owner === owners[s]);
            const theirsLive = theirs.filter((r) => r.live);
            const lr = c.lmode >= 3 && mineLive.length ? mineLive[c.lpick % mineLive.length]! : mine.length ? mine[c.lpick % mine.length]! : null;
            const rr = c.rmode >= 4 && theirsLive.length ? theirsLive[c.rpick % theirsLive.length]! : theirs.length ? theirs[c.rpick % theirs.length]! : null;
            const handle = c.lmode === 0 || !lr ? (c.lpick * 2654435761) % 2 ** 32 : lr.handle;
            const remoteKey = c.rmode === 0 || !rr ? (c.rpick * 2246822519) % 2 ** 32 : c.rmode === 1 ? rr.handle : rr.remoteKey;
            const op: Op = { id, side: s as 0 | 1, kind: c.kind, local: { handle, offset: c.loff, length: c.len },
              remote: { remoteKey, address: c.roff, length: c.rmode === 2 ? c.len + 1 : c.len } };
            ops.set(id, op);
            if (c.kind === 'send' && c.lmode % 2 === 0) {
              // The peer posts a receive first (as the session protocol's credits guarantee).
              const peer = 1 - s;
              const pr = theirs.filter((r) => r.live && r.owner === owners[peer])[c.rpick % Math.max(1, theirs.length)];
              if (pr) {
                const rid = nextId++;
                const length = Math.min(pr.length, c.len + (c.rpick % 64));
                const rop: Op = { id: rid, side: peer as 0 | 1, kind: 'recv', local: { handle: pr.handle, offset: 0, length }, remote: { remoteKey: 0, address: 0, length: 0 } };
                ops.set(rid, rop);
                const st = hosts[peer]!.nic.postRecv(owners[peer]!, eps[peer]!, { context: rid, elements: [{ localHandle: pr.handle, offset: 0, length }] });
                expect([NicStatus.SUCCESS, NicStatus.QUEUE_FULL]).toContain(st);
              }
            }
            const wr = { context: id, elements: [op.local].map((e) => ({ localHandle: e.handle, offset: e.offset, length: e.length })) };
            let st: number;
            if (c.kind === 'recv') st = nic.postRecv(owners[s]!, eps[s]!, wr);
            else if (c.kind === 'send') st = nic.postSend(owners[s]!, eps[s]!, wr);
            else if (c.kind === 'write') st = nic.postRdmaWrite(owners[s]!, eps[s]!, { ...wr, remote: op.remote });
            else st = nic.postRdmaRead(owners[s]!, eps[s]!, { ...wr, remote: op.remote });
            expect([NicStatus.SUCCESS, NicStatus.QUEUE_FULL]).toContain(st);
          } else {
            const r = pickLive(s, c.pick);
            if (!r) continue;
            if (c.t === 'dereg') {
              expect(nic.deregisterRegion(r.handle)).toBe(NicStatus.SUCCESS);
              r.live = false;
            } else if (c.t === 'inval') {
              expect(nic.invalidateRegion(r.handle)).toBe(NicStatus.SUCCESS);
              r.valid = false;
            } else if (c.t === 'bind') {
              const st = nic.bindRegion(r.handle, eps[s]!);
              if (r.owner !== owners[s]) expect(st).toBe(NicStatus.ACCESS_DENIED);
              else if (r.boundTo !== 0) expect(st).toBe(NicStatus.INVALID_STATE);
              else {
                expect(st).toBe(NicStatus.SUCCESS);
                r.boundTo = eps[s]!;
              }
            } else if (c.t === 'unbind') {
              expect(nic.unbindRegion(r.handle)).toBe(r.boundTo !== 0 ? NicStatus.SUCCESS : NicStatus.INVALID_STATE);
              r.boundTo = 0;
            } else {
              const pages = pagesFor(c.first, 1, false);
              const x = nic.reregisterRegion(r.handle, { pages, firstByteOffset: 0, length: PAGE_SIZE, access: r.access });
              expect(x.status).toBe(NicStatus.SUCCESS);
              r.live = false; // old keys are stale now
              shadow[s]!.push({ ...r, handle: x.handle, remoteKey: x.remoteKey, pages, fbo: 0, length: PAGE_SIZE, valid: true, boundTo: 0, live: true });
            }
          }
        }
        run();
      }),
      // A fixed seed: the coverage check below (every kind of completion exercised) must not
      // depend on luck. The safety property is checked on every run either way.
      { numRuns: 250, seed: 0x5a9 },
    );
    for (const [kind, n] of Object.entries(tally)) expect(n, `no ${kind} completion was exercised`).toBeGreaterThan(10);
  });
});
