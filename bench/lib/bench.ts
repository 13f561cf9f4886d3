/** The whole bench, in order 1-6, 7, 8, 9, 10, 11/12/14, 13; run.ts calls it with the environment's options, the smoke test with tiny ones. */
import { writeFileSync } from 'node:fs';
import { runClientHerd } from '../scenarios/client-herd.js';
import { clusterSetup, runHerd } from '../scenarios/herd.js';
import { runMemory } from '../scenarios/memory.js';
import { runProxy } from '../scenarios/proxy.js';
import { runSizes } from '../scenarios/sizes.js';
import { runStorage } from '../scenarios/storage.js';
import { runThroughput } from '../scenarios/throughput.js';
import { describeMachine } from './machine.js';
import { ALL_SCENARIOS, type BenchOptions } from './options.js';
import { ensurePeers } from './peers.js';
import { canPin, pinSelf } from './proc.js';
import { type BenchReport, renderReport, targets } from './report.js';

/** Issue 13: `npm run bench` runs end to end in under this many minutes. */
export const FULL_RUN_MINUTES = 12;

export async function runBench(opts: BenchOptions): Promise<BenchReport> {
  const began = Date.now();
  const machine = describeMachine();
  const pinned = opts.pin && canPin();
  // The runner is the load generator: it takes CPU 1 and leaves CPU 0 to the server under test.
  if (pinned) pinSelf(1);
  const has = (n: number) => opts.scenarios.has(n);
  // 11: http-proxy-middleware, the hand-built BFF's proxy, is a bench peer too.
  if (has(4) || has(8) || has(11)) ensurePeers(opts.log);
  // Versions of the peers are known only after the install.
  Object.assign(machine.versions, describeMachine().versions);

  const throughput = [1, 2, 3, 4, 5, 6].some(has) ? await runThroughput(opts) : null;
  const herd = has(7) ? await runHerd(opts) : null;
  // Scale-out: the same herd on a 3-master Redis Cluster.
  const clusterHerd = has(7) ? await runHerd(opts, {}, clusterSetup(opts)) : null;
  const sizes = has(8) ? await runSizes(opts) : null;
  const memory = has(9) ? await runMemory(opts) : null;
  const storage = has(10) ? await runStorage(opts) : null;
  const proxy = has(11) || has(12) || has(14) ? await runProxy(opts) : null;
  const clientHerd = has(13) ? await runClientHerd(opts) : null;

  const minutes = (Date.now() - began) / 60_000;
  const list = targets({ throughput, herd, clusterHerd, sizes, memory, storage, proxy, clientHerd });
  // Issue 13: the full bench (every scenario) ends within 12 minutes.
  if (ALL_SCENARIOS.every(has))
    list.push({
      scenario: 'all',
      what: 'the whole `npm run bench`, every scenario',
      measured: `${minutes.toFixed(1)} min`,
      needed: `< ${FULL_RUN_MINUTES} min`,
      met: minutes < FULL_RUN_MINUTES,
      margin: `${((minutes / FULL_RUN_MINUTES - 1) * 100).toFixed(0)}%`,
    });
  const report: BenchReport = {
    machine,
    pinned,
    minutes,
    throughput,
    herd,
    clusterHerd,
    sizes,
    memory,
    storage,
    proxy,
    clientHerd,
    targets: list,
  };
  const markdown = renderReport(report, opts);
  opts.log(`\n${markdown}`);
  if (opts.resultsFile) {
    writeFileSync(opts.resultsFile, markdown);
    opts.log(`written to ${opts.resultsFile}`);
  }
  return report;
}
