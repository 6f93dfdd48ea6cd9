/**
 * The workload of a host process (`sanproxy host --role`): the demo's verified stream through
 * the Windows Sockets switch, between processes. A server accepts one connection from each
 * peer and checks every byte; a client connects to each peer and sends; all-to-all does both,
 * with every peer.
 *
 * Implementation notes
 * - A stream starts with an 8-byte hello, "SPX1" and the client's IPv4 address, so the server
 *   knows whose stream it is (the switch's accept gives no peer address) and both sides derive
 *   the same pattern seed for the pair; then `bytes` bytes in the demo's mixed message sizes
 *   (demo-scenario.ts messagePlan), received in random recv sizes and checked byte for byte.
 * - A connection that breaks before its hello (or before accept returns it) is a client's
 *   abandoned attempt: the server drops it and accepts another (it waits for one stream per
 *   peer). When accepting fails otherwise, the listener is closed at once: peers are refused
 *   rather than left connected to a server that never reads them.
 * - The server closes first, once it has everything; the client waits for that (recv returns
 *   0) before it closes, so no byte is in flight when a connection goes away.
 * - A connect that is refused (the peer's listener is not up yet), times out (the peer's
 *   process is not there yet) or is reset during set-up is tried again until `connectTimeoutMs` of real time has passed:
 *   processes start in any order. After that the peer "never answered".
 * - Each application is a process of the host's kernel with its own switch; when the role ends
 *   (or fails) its sockets are closed, WSACleanup runs and the process is ended, so the host's
 *   teardown finds nothing of it.
 */
import { seededRandom } from '../kernel/fault-injection.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../kernel/mm/index.ts';
import { formatIpv4, parseIpv4 } from '../kernel/net/ip-addresses.ts';
import type { Process } from '../kernel/ps/index.ts';
import { SocketError, WSAECONNABORTED, WSAECONNREFUSED, WSAECONNRESET, WSAETIMEDOUT, WindowsSocketsSwitch, type SocketPath } from '../switch/index.ts';
import { messagePlan } from './demo-scenario.ts';
import type { HostNode } from './host-node.ts';
import { StreamPattern } from './stream-pattern.ts';

export type HostRole = 'server' | 'client' | 'all-to-all';

export interface ExchangeOptions {
  role: HostRole;
  /** Bytes each client sends to each of its servers. */
  bytes: number;
  seed: number;
  /** The TCP port servers listen on (the switch's port space). Default 5001. */
  port?: number;
  /** How long a client keeps trying to reach a peer that refuses or does not answer. Default 20 s. */
  connectTimeoutMs?: number;
  /** One line per event. */
  log: (event: ExchangeEvent) => void;
  /** Aborted (a signal): every socket of the role is closed, so its calls fail and it ends. */
  signal?: AbortSignal;
}

export type ExchangeEvent =
  | { event: 'listening'; port: number }
  | { event: 'connected'; peer: string; path: SocketPath | null }
  | { event: 'accepted'; peer: string }
  | { event: 'sent'; peer: string; bytes: number }
  | { event: 'received'; peer: string; bytes: number; verified: boolean; error: string | null }
  | { event: 'retrying'; peer: string; reason: string }
  | { event: 'discarded' };

export interface StreamResult {
  peer: string;
  bytes: number;
  verified: boolean;
  error: string | null;
}

export interface ExchangeResult {
  sent: StreamResult[];
  received: StreamResult[];
  /** Every stream of the role ended, and every received byte was verified. */
  verified: boolean;
}

const MAX_MESSAGE = 4 * 1024 * 1024;
const RECV_BUFFER = 1024 * 1024;
const HELLO = 0x53505831; // "SPX1"
const HELLO_BYTES = 8;

/** The pattern seed of the stream from `client` to `server` (both ends compute it). */
export function pairSeed(seed: number, client: number, server: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [client, server]) h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function userBuffer(p: Process, bytes: number): number {
  const va = p.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (va === 0) throw new Error(`VirtualAlloc(${bytes}) in ${p.name} failed: error ${p.lastError}`);
  return va;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Run `o.role` on `node` to its end. Throws when a peer never answered or a call failed. */
export async function runExchange(node: HostNode, o: ExchangeOptions): Promise<ExchangeResult> {
  const host = node.host;
  const me = node.spec.address;
  const myIp = parseIpv4(me)!;
  const port = o.port ?? 5001;
  const serve = o.role === 'server' || o.role === 'all-to-all';
  const send = o.role === 'client' || o.role === 'all-to-all';
  const process = host.createProcess(serve && send ? 'exchange.exe' : serve ? 'server.exe' : 'client.exe');
  const sw = new WindowsSocketsSwitch({ host, process });
  const open = new Set<number>();
  const buffers: number[] = [];
  const result: ExchangeResult = { sent: [], received: [], verified: false };
  let aborted = false;
  const onAbort = (): void => {
    aborted = true;
    for (const s of open) void sw.closesocket(s).catch(() => {});
  };
  o.signal?.addEventListener('abort', onAbort);
  try {
    if (o.signal?.aborted === true) throw new Error('interrupted before the role started');
    let listener = -1;
    if (serve) {
      listener = sw.socket();
      open.add(listener);
      sw.bind(listener, { ip: me, port });
      sw.listen(listener, Math.max(8, node.spec.peers.length));
      o.log({ event: 'listening', port });
    }
    const work: Promise<void>[] = [];
    if (serve) {
      // One accept at a time (the switch hands a queued connection to one accept call), each
      // stream then received on its own.
      work.push((async () => {
        const streams: Promise<void>[] = [];
        try {
          let streamsStarted = 0;
          while (streamsStarted < node.spec.peers.length) {
            let s: number;
            try {
              s = await sw.accept(listener);
            } catch (e) {
              // A connection that broke while the switch set it up ("accept function":
              // WSAECONNRESET) is a client's abandoned attempt too.
              if (!(e instanceof SocketError) || (e.code !== WSAECONNRESET && e.code !== WSAECONNABORTED) || aborted) throw e;
              o.log({ event: 'discarded' });
              continue;
            }
            open.add(s);
            // A connection that breaks before its hello was a client's abandoned attempt (it
            // gave up on a slow handshake and tried again): dropped, and another accepted.
            const client = await readHello(sw, process, s, buffers).catch(() => null);
            if (client === null) {
              open.delete(s);
              await sw.closesocket(s).catch(() => {});
              o.log({ event: 'discarded' });
              continue;
            }
            streamsStarted++;
            streams.push(receiveOne(sw, process, s, client, myIp, o, open, buffers).then((r) => {
              result.received.push(r);
              o.log({ event: 'received', peer: r.peer, bytes: r.bytes, verified: r.verified, error: r.error });
            }));
          }
        } catch (e) {
          // No more accepts: the listener goes, so peers are refused (and give up) rather than
          // connected by the switch to a server that never reads them.
          open.delete(listener);
          await sw.closesocket(listener).catch(() => {});
          throw e;
        } finally {
          const settled = await Promise.allSettled(streams);
          const failed = settled.find((x) => x.status === 'rejected');
          if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
        }
      })());
    }
    if (send) {
      for (const peer of node.spec.peers) {
        work.push(sendOne(sw, process, peer, port, myIp, o, open, buffers).then((r) => {
          result.sent.push(r);
          o.log({ event: 'sent', peer: r.peer, bytes: r.bytes });
        }));
      }
    }
    // Wait for every stream even when one fails, so no rejection goes unobserved.
    const settled = await Promise.allSettled(work);
    const failed = settled.find((s) => s.status === 'rejected');
    if (aborted) throw new Error('interrupted');
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    if (listener >= 0 && open.has(listener)) {
      open.delete(listener);
      await sw.closesocket(listener);
    }
    result.verified = result.received.every((r) => r.verified) && result.sent.every((r) => r.verified);
    return result;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    for (const s of open) await sw.closesocket(s).catch(() => {});
    for (const va of buffers) process.VirtualFree(va, 0, MEM_RELEASE);
    await sw.WSACleanup().catch(() => {});
    host.kernel.ps.terminateProcess(process, 0);
  }
}

async function sendOne(
  sw: WindowsSocketsSwitch, process: Process, peer: string, port: number, myIp: number, o: ExchangeOptions,
  open: Set<number>, buffers: number[],
): Promise<StreamResult> {
  const peerIp = parseIpv4(peer)!;
  const deadline = Date.now() + (o.connectTimeoutMs ?? 20_000);
  let c = -1;
  for (;;) {
    c = sw.socket();
    open.add(c);
    try {
      await sw.connect(c, { ip: peer, port });
      break;
    } catch (e) {
      open.delete(c);
      await sw.closesocket(c).catch(() => {});
      // Refused (no listener yet), timed out (no process yet) or reset while being set up (the
      // peer's side gave up on a slow handshake): the peer may still come; try again.
      const retry = e instanceof SocketError && (e.code === WSAECONNREFUSED || e.code === WSAETIMEDOUT || e.code === WSAECONNRESET);
      if (!retry || o.signal?.aborted === true) throw e;
      if (Date.now() >= deadline) throw new Error(`peer ${peer} never answered (${e.code === WSAECONNREFUSED ? 'connection refused' : 'timed out'})`);
      o.log({ event: 'retrying', peer, reason: e.code === WSAECONNREFUSED ? 'refused' : e.code === WSAECONNRESET ? 'reset' : 'timed out' });
      await sleep(100);
    }
  }
  o.log({ event: 'connected', peer, path: sw.pathOf(c) });
  const va = userBuffer(process, MAX_MESSAGE);
  buffers.push(va);
  const staging = new Uint8Array(MAX_MESSAGE);
  const hello = staging.subarray(0, HELLO_BYTES);
  new DataView(hello.buffer).setUint32(0, HELLO);
  new DataView(hello.buffer).setUint32(4, myIp);
  process.writeMemory(va, hello);
  await sendAll(sw, c, va, HELLO_BYTES);
  const seed = pairSeed(o.seed, myIp, peerIp);
  const pattern = new StreamPattern(seed);
  let offset = 0;
  for (const size of messagePlan(o.bytes, seed)) {
    const message = staging.subarray(0, size);
    pattern.fill(offset, message);
    process.writeMemory(va, message);
    await sendAll(sw, c, va, size);
    offset += size;
  }
  // The server closes once it has every byte: recv returns 0 then.
  let end: number;
  try {
    end = await sw.recv(c, va, 1);
  } catch (e) {
    throw new Error(`stream to ${peer}: waiting for the server to close: ${(e as Error).message}`);
  }
  if (end !== 0) throw new Error(`stream to ${peer}: the server sent data`);
  open.delete(c);
  await sw.closesocket(c);
  return { peer, bytes: offset, verified: true, error: null };
}

async function sendAll(sw: WindowsSocketsSwitch, s: number, va: number, n: number): Promise<void> {
  let sent = 0;
  while (sent < n) sent += await sw.send(s, va + sent, n - sent);
}

/** The hello of a new stream: the client's IPv4 address (throws when the stream breaks first). */
async function readHello(sw: WindowsSocketsSwitch, process: Process, s: number, buffers: number[]): Promise<number> {
  const va = userBuffer(process, HELLO_BYTES);
  buffers.push(va);
  const hello = new Uint8Array(HELLO_BYTES);
  let got = 0;
  while (got < HELLO_BYTES) {
    const n = await sw.recv(s, va + got, HELLO_BYTES - got);
    if (n === 0) throw new Error('a stream ended before its hello');
    got += n;
  }
  process.readMemory(va, hello);
  const view = new DataView(hello.buffer);
  if (view.getUint32(0) !== HELLO) throw new Error('a stream did not start with the hello');
  return view.getUint32(4);
}

async function receiveOne(
  sw: WindowsSocketsSwitch, process: Process, s: number, client: number, myIp: number, o: ExchangeOptions,
  open: Set<number>, buffers: number[],
): Promise<StreamResult> {
  const va = userBuffer(process, RECV_BUFFER);
  buffers.push(va);
  const peer = formatIpv4(client);
  o.log({ event: 'accepted', peer });
  const pattern = new StreamPattern(pairSeed(o.seed, client, myIp));
  const random = seededRandom(pairSeed(o.seed, client, myIp) * 31 + 7);
  const data = new Uint8Array(RECV_BUFFER);
  const scratch = new Uint8Array(RECV_BUFFER);
  let error: string | null = null;
  let received = 0;
  while (received < o.bytes) {
    const want = Math.min(o.bytes - received, 1 + Math.floor(random() * RECV_BUFFER));
    const n = await sw.recv(s, va, want);
    if (n === 0) {
      error ??= `stream ended after ${received} of ${o.bytes} bytes`;
      break;
    }
    const chunk = data.subarray(0, n);
    process.readMemory(va, chunk);
    const bad = pattern.firstMismatch(received, chunk, scratch);
    if (bad >= 0 && error === null) error = `byte ${received + bad} of the stream differs`;
    received += n;
  }
  open.delete(s);
  await sw.closesocket(s);
  return { peer, bytes: received, verified: error === null && received === o.bytes, error };
}
