/**
 * The demo's workload: a client on host A sends a stream of mixed message sizes to a server on
 * host B through the Windows Sockets switch; the server receives it with its own random
 * split of recv sizes and checks every byte. Small messages go in control messages, large
 * ones by RDMA (read or write, by what the NICs offer). Then both sides close and clean up.
 * The fault sweep runs the same workload with allocations failing (reliability/).
 */
import { seededRandom } from '../kernel/fault-injection.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../kernel/mm/index.ts';
import { formatIpv4 } from '../kernel/net/ip-addresses.ts';
import type { Process } from '../kernel/ps/index.ts';
import { WindowsSocketsSwitch, type SwitchCounters } from '../switch/index.ts';
import type { Cluster } from './cluster.ts';
import type { Host } from './host.ts';
import { StreamPattern } from './stream-pattern.ts';

export interface DemoWorkload {
  bytes: number;
  seed: number;
  port?: number;
  onProgress?: (received: number, total: number) => void;
  /** Called once the whole stream has arrived, before anything is closed (the "peak"). */
  atPeak?: () => void;
}

export interface DemoTransfer {
  bytes: number;
  verified: boolean;
  /** First mismatch, when not verified. */
  error: string | null;
  messages: number;
  path: 'san' | 'tcp' | null;
  rdmaRead: boolean | null;
  client: SwitchCounters;
  server: SwitchCounters;
}

const MAX_MESSAGE = 4 * 1024 * 1024;
const RECV_BUFFER = 1024 * 1024;

/** Message sizes: half small (control messages), a third medium, the rest large (RDMA). */
export function messagePlan(bytes: number, seed: number): number[] {
  const random = seededRandom(seed);
  const sizes: number[] = [];
  let left = bytes;
  while (left > 0) {
    const r = random();
    const size = r < 0.5 ? 1 + Math.floor(random() * 2048) : r < 0.8 ? 2048 + Math.floor(random() * 126 * 1024) : 128 * 1024 + Math.floor(random() * (MAX_MESSAGE - 128 * 1024));
    const n = Math.min(size, left);
    sizes.push(n);
    left -= n;
  }
  return sizes;
}

function userBuffer(p: Process, bytes: number): number {
  const va = p.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (va === 0) throw new Error(`VirtualAlloc(${bytes}) in ${p.name} failed: error ${p.lastError}`);
  return va;
}

export interface DemoApps {
  client: { host: Host; process: Process; sw: WindowsSocketsSwitch };
  server: { host: Host; process: Process; sw: WindowsSocketsSwitch };
}

/** Start the two applications (a process and its switch on each host). */
export function startApps(cluster: Cluster): DemoApps {
  const [a, b] = cluster.hosts as [Host, Host];
  const cp = a.createProcess('client.exe');
  const sp = b.createProcess('server.exe');
  return {
    client: { host: a, process: cp, sw: new WindowsSocketsSwitch({ host: a, process: cp }) },
    server: { host: b, process: sp, sw: new WindowsSocketsSwitch({ host: b, process: sp }) },
  };
}

export async function runTransfer(apps: DemoApps, w: DemoWorkload): Promise<DemoTransfer> {
  const { client, server } = apps;
  const port = w.port ?? 5001;
  const pattern = new StreamPattern(w.seed);
  const plan = messagePlan(w.bytes, w.seed);
  const serverIp = formatIpv4(server.host.nics[0]!.ip);

  const listener = server.sw.socket();
  server.sw.bind(listener, { ip: serverIp, port });
  server.sw.listen(listener);
  const accepting = server.sw.accept(listener);
  // If connect fails, accept fails too; observe it now so it is never an unhandled rejection.
  accepting.catch(() => {});
  const c = client.sw.socket();
  await client.sw.connect(c, { ip: serverIp, port });
  const s = await accepting;

  const sendVa = userBuffer(client.process, MAX_MESSAGE);
  const recvVa = userBuffer(server.process, RECV_BUFFER);
  const staging = new Uint8Array(MAX_MESSAGE);
  const scratch = new Uint8Array(RECV_BUFFER);
  const received = new Uint8Array(RECV_BUFFER);
  let error: string | null = null;

  // An application that fails a call closes its socket, so the peer is not left waiting.
  const closeOnError = async <T>(sw: WindowsSocketsSwitch, socket: number, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      await sw.closesocket(socket).catch(() => {});
      throw e;
    }
  };

  const sender = closeOnError(client.sw, c, async () => {
    let offset = 0;
    for (const size of plan) {
      const message = staging.subarray(0, size);
      pattern.fill(offset, message);
      client.process.writeMemory(sendVa, message);
      let sent = 0;
      while (sent < size) sent += await client.sw.send(c, sendVa + sent, size - sent);
      offset += size;
    }
  });

  const receiver = closeOnError(server.sw, s, async () => {
    const random = seededRandom(w.seed * 31 + 7);
    let got = 0;
    while (got < w.bytes) {
      const want = Math.min(w.bytes - got, 1 + Math.floor(random() * RECV_BUFFER));
      const n = await server.sw.recv(s, recvVa, want);
      if (n === 0) throw new Error(`stream ended after ${got} of ${w.bytes} bytes`);
      const data = received.subarray(0, n);
      server.process.readMemory(recvVa, data);
      const bad = pattern.firstMismatch(got, data, scratch);
      if (bad >= 0 && error === null) error = `byte ${got + bad} of the stream differs`;
      got += n;
      w.onProgress?.(got, w.bytes);
    }
    return got;
  });

  // Wait for both sides even when one fails, so neither rejection goes unobserved.
  const [sent, received_] = await Promise.allSettled([sender, receiver]);
  if (sent.status === 'rejected') throw sent.reason;
  if (received_.status === 'rejected') throw received_.reason;
  const got = received_.value;
  w.atPeak?.();
  const path = client.sw.pathOf(c);
  const rdmaRead = client.sw.rdmaReadOf(c);
  await client.sw.closesocket(c);
  await server.sw.closesocket(s);
  await server.sw.closesocket(listener);
  const result: DemoTransfer = {
    bytes: got,
    verified: error === null && got === w.bytes,
    error,
    messages: plan.length,
    path,
    rdmaRead,
    client: client.sw.counters,
    server: server.sw.counters,
  };
  client.process.VirtualFree(sendVa, 0, MEM_RELEASE);
  server.process.VirtualFree(recvVa, 0, MEM_RELEASE);
  await client.sw.WSACleanup();
  await server.sw.WSACleanup();
  return result;
}
