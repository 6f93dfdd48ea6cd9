/**
 * Reports and traces: the memory-map report (one self-contained HTML file), snapshots of a
 * host's memory at chosen moments, and the Chrome trace-event tracer (microseconds, as the
 * format wants).
 *
 *   const tracer = new Tracer().attach(cluster);
 *   const boot = cluster.hosts.map((h) => captureSnapshot(h, 'boot'));
 *   ... run ...
 *   writeReport('report.html', { snapshots: [...boot, ...peak, ...after], tracer });
 *   writeTrace('trace.json', tracer);
 */
export { captureSnapshot, type HostSnapshot, type SnapshotAllocation, type SnapshotRegistration, type SnapshotFinding } from './snapshot.ts';
export { writeReport, renderReport, type ReportRun } from './html.ts';
export { registrationTotals, type ReportSettings } from './run-panel.ts';
export {
  Tracer, writeTrace, ioctlName, NIC_REGISTRATIONS_DEFINITION, REFUSED_EXPECTED_NAME, REFUSED_EXPECTED_TEXT, REGISTRATION_COUNTER_NAME,
  type ChromeTrace, type ChromeTraceEvent, type RegistrationInterval,
} from './tracer.ts';
export { extractPageRuns, runIndexOf, type PageRuns, type PfnArrays } from './page-runs.ts';
export { focusStrips, isFocusCategory, FOCUS_CATEGORIES, type FocusStrip } from './focus.ts';
export { CATEGORIES, categoryOf } from './categories.ts';
export { formatMemoryMap, memoryMapJson, memoryMapRows } from './memory-map-text.ts';
export { traceSpan, type TraceSink, type TraceArgs, type TraceCategory } from '../bus/trace.ts';
