/**
 * Property tests run with a fixed seed so CI is deterministic: several tests also assert that
 * every path was exercised, and that must not depend on luck. Explore new cases on demand:
 *   FC_SEED=12345 npm test      (any seed)      FC_SEED=random npm test
 */
import fc from 'fast-check';

const requested = process.env.FC_SEED;
const seed = requested === 'random' ? Date.now() ^ (Math.random() * 0x7fffffff) : requested ? Number(requested) : 0x5a17;
if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED=${requested}: expected an integer or "random"`);
fc.configureGlobal({ seed });
if (requested === 'random') console.log(`fast-check seed ${seed} (re-run with FC_SEED=${seed})`);
