/** One contender in its own process: listens on 127.0.0.1:0, announces its URL, serves until told to exit. */
import { listen } from '../../test/helpers/server.js';
import { childConfig, fatal, serve } from '../lib/child.js';
import { type AppConfig, buildApp } from './contenders.js';

export interface AppInfo {
  url: string;
}

const config = childConfig<AppConfig>();

/**
 * Scenario 12: RSS sampled every 5 ms between rssStart and rssStop (on this process's own event loop), and
 * the memory Node's Buffers hold (arrayBuffers): a proxy that kept the body would show it there.
 */
let memTimer: NodeJS.Timeout | undefined;
let before = { rss: 0, arrayBuffers: 0 };
let peak = { rss: 0, arrayBuffers: 0 };
let collect = false;
const gc = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc;
function sample(): { rss: number; arrayBuffers: number } {
  const m = process.memoryUsage();
  // With --expose-gc and `live`: a scavenge after each sample, so by the next one (5 ms on, once V8's background
  // sweeper has freed their memory) dead Buffers, whose wrappers are young, no longer count.
  if (collect) gc?.({ type: 'minor' });
  return { rss: m.rss, arrayBuffers: m.arrayBuffers };
}
/** `live`: count only Buffers still referenced (needs --expose-gc; each sample then costs a scavenge). */
async function rssStart(live = false): Promise<number> {
  if (live && !gc) throw new Error('rssStart(live) needs node --expose-gc');
  collect = live;
  if (live) {
    gc!({ type: 'minor' });
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  before = sample();
  peak = { ...before };
  clearInterval(memTimer);
  memTimer = setInterval(() => {
    const m = sample();
    peak = { rss: Math.max(peak.rss, m.rss), arrayBuffers: Math.max(peak.arrayBuffers, m.arrayBuffers) };
  }, 5);
  return before.rss;
}
export interface RssWindow {
  before: number;
  peak: number;
  after: number;
  buffersBefore: number;
  buffersPeak: number;
}
function rssStop(): RssWindow {
  clearInterval(memTimer);
  const after = sample();
  collect = false;
  return {
    before: before.rss,
    peak: Math.max(peak.rss, after.rss),
    after: after.rss,
    buffersBefore: before.arrayBuffers,
    buffersPeak: Math.max(peak.arrayBuffers, after.arrayBuffers),
  };
}

try {
  const server = await listen();
  // The herd reuses its keep-alive sockets across a wait of several seconds; Node's 5 s default would
  // make the expired-token herd pay for new connections that the fresh-token herd did not.
  server.server.keepAliveTimeout = 120_000;
  const built = await buildApp(config, server.url);
  server.attach(built.app);
  await built.ready;
  const info: AppInfo = { url: server.url };
  serve(
    info,
    {
      // CLOCK_MONOTONIC in µs, the clock of --cpu-prof's sample timestamps: profile.ts keeps only the load window.
      monotonicUs: () => Number(process.hrtime.bigint() / 1000n),
      rssStart,
      rssStop,
    },
    async () => {
      await server.close();
      await built.close?.();
    },
  );
} catch (err) {
  fatal(err);
}
