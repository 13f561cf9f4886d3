/**
 * `npm run bench`: every scenario of issues 6 and 11 against the peers, on this machine, in one run.
 * Quick looks: BENCH_SCENARIOS=3,5 BENCH_DURATION=2 BENCH_ROUNDS=1 BENCH_WARMUP=1 BENCH_RESULTS= npm run bench
 * (BENCH_RESULTS= with nothing after it keeps bench/RESULTS.md untouched). See lib/options.ts for the rest.
 */
import { runBench } from './lib/bench.js';
import { readOptions } from './lib/options.js';

try {
  await runBench(readOptions());
  process.exit(0);
} catch (err) {
  console.error(err);
  process.exit(1);
}
