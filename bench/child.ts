/**
 * One benchmark suite in a process of its own: `sanproxy bench` starts this file (compiled,
 * dist/bench/child.js) once per suite and run, with --expose-gc, so no suite measures another's
 * heap, garbage or JIT state.
 *
 *   node --expose-gc dist/bench/child.js <suite> [options-json]
 *
 * Writes the suite's result as one JSON line on stdout and nothing else. Progress goes to the
 * parent over the IPC channel when there is one (`{type: 'progress', done, total, detail}`),
 * and is dropped otherwise. A failure is one line on stderr (the stack too with
 * SANPROXY_DEBUG=1) and exit status 1: the parent reports that line.
 */
import { isSuiteName, type ProgressFn, type SuiteName } from './suite.ts';

export interface ProgressMessage {
  type: 'progress';
  done: number;
  total: number;
  detail: string;
}

/** Options as the parent sends them (JSON): sizes in bytes, RAM in bytes, the seed. */
export interface ChildOptions {
  ramBytes?: number;
  seed?: number;
  sizes?: number[];
}

async function runSuite(suite: SuiteName, options: ChildOptions, onProgress: ProgressFn): Promise<unknown> {
  switch (suite) {
    case 'footprint':
      return (await import('./footprint.ts')).run({ ...pick(options, 'ramBytes'), onProgress });
    case 'contiguous':
      return (await import('./contiguous.ts')).run({ ...pick(options, 'ramBytes', 'seed'), onProgress });
    case 'register':
      return (await import('./register.ts')).run({ ...pick(options, 'sizes'), onProgress });
    case 'ioctl':
      return (await import('./ioctl.ts')).run({ onProgress });
    case 'rdma':
      return (await import('./rdma.ts')).run({ ...pick(options, 'sizes'), onProgress });
    case 'socket':
      return (await import('./socket.ts')).run({ ...pick(options, 'sizes'), onProgress });
  }
}

function pick<K extends keyof ChildOptions>(options: ChildOptions, ...keys: K[]): Pick<ChildOptions, K> {
  const out: Partial<ChildOptions> = {};
  for (const key of keys) if (options[key] !== undefined) out[key] = options[key];
  return out as Pick<ChildOptions, K>;
}

async function main(argv: string[]): Promise<number> {
  const [suite, json] = argv;
  if (suite === undefined || !isSuiteName(suite)) {
    process.stderr.write(`bench child: unknown suite ${JSON.stringify(suite ?? '')}\n`);
    return 1;
  }
  let options: ChildOptions;
  try {
    options = json === undefined ? {} : (JSON.parse(json) as ChildOptions);
  } catch {
    process.stderr.write(`bench child: the options are not JSON: ${json}\n`);
    return 1;
  }
  const send = process.send?.bind(process);
  const onProgress: ProgressFn = (done, total, detail) => {
    if (send && process.connected) send({ type: 'progress', done, total, detail } satisfies ProgressMessage);
  };
  try {
    const result = await runSuite(suite, options, onProgress);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (process.env.SANPROXY_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.stderr.write(`${message.replace(/\s*\n\s*/g, ' ')}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
// The IPC channel would keep this process alive; stdout is flushed before Node exits.
if (process.connected) process.disconnect();
