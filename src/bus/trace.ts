/**
 * The trace sink every layer may emit to (it lives in the bus because the bus is the lowest
 * layer: the kernel, the NIC, the driver and user mode can all import it without breaking the
 * layer rules). The writer that turns events into the Chrome trace-event format lives in
 * src/report/tracer.ts; nothing here knows about files or formats.
 *
 * Tracks: `host` is one emulated machine (a "process" in the trace viewer), `tid` is the
 * emulated process on it (its ProcessId; 0 = the kernel itself). Spans opened with `begin`
 * nest on their track and must be closed in reverse order (traceSpan does that); spans opened
 * with `asyncBegin` may overlap (an RDMA operation runs while other work goes on).
 *
 *   const result = traceSpan(k.trace, k.name, process.ProcessId, 'session', 'SESSION_REQUEST',
 *     { bytes }, () => send(...));
 */

/** Event arguments: small flat records (shown in the viewer's details pane). */
export type TraceArgs = Readonly<Record<string, string | number | boolean>>;

/** Categories the report knows; other strings are allowed and shown as they are. */
export type TraceCategory = 'ioctl' | 'registration' | 'rdma' | 'session' | 'memory' | (string & {});

export interface TraceSink {
  /** Open a nested span on (host, tid); returns the token `end` takes. */
  begin(host: string, tid: number, category: TraceCategory, name: string, args?: TraceArgs): number;
  /** Close a span opened by `begin`; `args` are merged into the span's arguments. */
  end(token: number, args?: TraceArgs): void;
  /** Open a span that may overlap others on its track. */
  asyncBegin(host: string, tid: number, category: TraceCategory, name: string, args?: TraceArgs): number;
  asyncEnd(token: number, args?: TraceArgs): void;
  /** A point event. */
  instant(host: string, tid: number, category: TraceCategory, name: string, args?: TraceArgs): void;
}

/**
 * Run `fn` inside a span when `sink` is set (tracing off costs one null check). The span is
 * closed even when `fn` throws (a bug check unwinds through it), with `thrown: true`.
 */
export function traceSpan<T>(
  sink: TraceSink | null | undefined,
  host: string,
  tid: number,
  category: TraceCategory,
  name: string,
  args: TraceArgs | undefined,
  fn: () => T,
  endArgs?: (result: T) => TraceArgs,
): T {
  if (sink === null || sink === undefined) return fn();
  const token = sink.begin(host, tid, category, name, args);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    sink.end(token, { thrown: true, error: e instanceof Error ? e.message.slice(0, 200) : String(e) });
    throw e;
  }
  sink.end(token, endArgs ? endArgs(result) : undefined);
  return result;
}
