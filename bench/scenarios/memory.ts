/** Scenario 9: each store in its own fresh process (lib/proc.ts), so one's garbage never counts for the other. */
import type { BenchOptions } from '../lib/options.js';
import { startChild } from '../lib/proc.js';
import type { MemoryConfig, MemoryRun } from './memory-child.js';

export async function runMemory(opts: BenchOptions): Promise<MemoryRun[]> {
  const runs: MemoryRun[] = [];
  for (const store of ['memorystore', 'ours', 'ours-records'] as const) {
    const config: MemoryConfig = { store, sessions: opts.memSessions, ttl: opts.memTtl };
    opts.log(`[memory] ${store}: ${opts.memSessions.toLocaleString('en-US')} sessions, expiring after ${opts.memTtl} s …`);
    const child = await startChild<MemoryRun>('bench/scenarios/memory-child.ts', {
      pin: opts.pin,
      cpu: 0,
      config,
      nodeArgs: ['--expose-gc'],
      timeoutMs: (opts.memTtl + 120) * 1000,
    });
    await child.stop();
    const r = child.info;
    const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
    opts.log(
      `[memory] ${store}: +${mb(r.filled.rss - r.start.rss)} RSS after the fill (${Math.round((r.filled.rss - r.start.rss) / r.sessions)} B/session),` +
        ` +${mb(r.expired.rss - r.start.rss)} after expiry; ${r.entriesAfter} entries left${r.cacheAfter !== undefined ? `, ${r.cacheAfter} cached token records` : ''}`,
    );
    runs.push(r);
  }
  return runs;
}
