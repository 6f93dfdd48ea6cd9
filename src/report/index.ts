/**
 * Reports and traces: the memory-map report (one self-contained HTML file), snapshots of a
 * host's memory at chosen moments, and the Chrome trace-event tracer.
 *
 *   const tracer = new Tracer().attach(cluster);
 *   const boot = cluster.hosts.map((h) => captureSnapshot(h, 'boot'));
 *   ... run ...
 *   writeReport('report.html', { snapshots: [...boot, ...peak, ...after], tracer });
 *   writeTrace('trace.json', tracer);
 */
export { captureSnapshot, type HostSnapshot, type SnapshotAllocation, type SnapshotRegistration, type SnapshotFinding } from './snapshot.ts';
export { writeReport, renderReport, type ReportRun } from './html.ts';
export { Tracer, writeTrace, ioctlName, type ChromeTrace, type ChromeTraceEvent } from './tracer.ts';
export { extractPageRuns, runIndexOf, type PageRuns, type PfnArrays } from './page-runs.ts';
export { CATEGORIES, categoryOf } from './categories.ts';
export { formatMemoryMap, memoryMapJson, memoryMapRows } from './memory-map-text.ts';
export { traceSpan, traceInstant, type TraceSink, type TraceArgs, type TraceCategory } from '../bus/trace.ts';
