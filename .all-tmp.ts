import { runFaultsReport } from './src/host/reliability/index.ts';
const t = performance.now();
const r = await runFaultsReport({ json: true });
console.log(JSON.stringify(r.summary));
console.log(JSON.stringify({ sweepFail: r.sweeps[0]!.failures.slice(0,3), unclean: r.sweeps[0]!.unclean, completed: r.sweeps[0]!.completed, fuzz: r.fuzz.examples.slice(0,3), forged: r.forged, kill: r.kill }, null, 1).slice(0, 5000));
console.log('ms', performance.now() - t);
