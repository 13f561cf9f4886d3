/**
 * Where a missed target's time goes: runs contenders with `node --cpu-prof`, loads them as the bench does,
 * and prints self / per-package / inclusive time of the server processes, counting only the measured
 * load (not startup, not sign-in).
 *   npx tsx bench/profile.ts ours-mem sess-mem      # run keys of scenarios 1-6 (see scenarios/throughput.ts)
 *   npx tsx bench/profile.ts herd                   # the 4 instances of scenario 7, fresh vs expired herd
 *   npx tsx bench/profile.ts ours-proxy hand-bff    # the proxies of scenario 11 (see scenarios/proxy.ts)
 * BENCH_DURATION (default 10 s) sets the profiled load; profiles and summary.md go to bench/profiles/.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { ProfileAccumulator, renderProfile, type Window } from './lib/cpuprofile.js';
import { runLoad } from './lib/load.js';
import { readOptions } from './lib/options.js';
import { BENCH_DIR, type Child, canPin, pinSelf } from './lib/proc.js';
import { runHerd } from './scenarios/herd.js';
import { CSRF_HEADERS, PROXY_RUNS, startProxies } from './scenarios/proxy.js';
import { RUNS, startContenders, targetsOf } from './scenarios/throughput.js';
import type { AppInfo } from './servers/app.js';
import type { ContenderName } from './servers/contenders.js';

const keys = process.argv.slice(2);
if (keys.length === 0) {
  console.error(`usage: tsx bench/profile.ts <${[...RUNS, ...PROXY_RUNS].map((r) => r.key).join('|')}|herd> …`);
  process.exit(2);
}
const opts = readOptions({
  ...process.env,
  BENCH_DURATION: process.env.BENCH_DURATION ?? '10',
  BENCH_HERD_ROUNDS: process.env.BENCH_HERD_ROUNDS ?? '1',
});
if (opts.pin && canPin()) pinSelf(1);
const out = `${BENCH_DIR}profiles/`;
const dirOf = (name: string) => `${out}${name}`;
const profArgs = (name: string) => {
  rmSync(dirOf(name), { recursive: true, force: true });
  mkdirSync(dirOf(name), { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dirOf(name)}`];
};
/** Main-thread profiles only: CPU.<date>.<time>.<pid>.<thread>.<seq>; thread 1 is tsx's loader worker. */
const mainProfiles = (name: string) =>
  readdirSync(dirOf(name))
    .filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f))
    .map((f) => `${dirOf(name)}/${f}`);
const pidOf = (file: string) => Number(/\.(\d+)\.0\.\d+\.cpuprofile$/.exec(file)?.[1]);

const sections: string[] = [];
/** windows[label][pid] */
const windows = new Map<string, Map<number, Window[]>>();
const open = new Map<string, number>();
const mark = async (label: string, edge: 'start' | 'end', children: Child<AppInfo>[]) => {
  for (const child of children) {
    const now = await child.call<number>('monotonicUs');
    const k = `${label}:${child.pid}`;
    if (edge === 'start') {
      open.set(k, now);
      continue;
    }
    const byPid = windows.get(label) ?? new Map<number, Window[]>();
    byPid.set(child.pid, [...(byPid.get(child.pid) ?? []), { from: open.get(k)!, to: now }]);
    windows.set(label, byPid);
  }
};
const summarize = (name: string, label: string, title: string) => {
  const acc = new ProfileAccumulator();
  const files = mainProfiles(name);
  for (const file of files) acc.add(file, windows.get(label)?.get(pidOf(file)) ?? []);
  sections.push(renderProfile(`${title} (${files.length} process${files.length === 1 ? '' : 'es'})`, acc.summary()));
};

try {
  const runs = RUNS.filter((r) => keys.includes(r.key));
  if (runs.length) {
    const contenders = new Set<ContenderName>(runs.map((r) => r.contender));
    const c = await startContenders(opts, contenders, (name) => (contenders.has(name) ? profArgs(name) : []));
    try {
      for (const t of await targetsOf(runs, c)) {
        opts.log(`profiling ${t.run.key} ${t.run.path}: ${opts.warmup} s warm-up, ${opts.duration} s load`);
        await runLoad({ url: t.url, cookie: t.cookie, duration: opts.warmup, connections: opts.connections });
        await mark(t.run.key, 'start', [t.child]);
        const r = await runLoad({ url: t.url, cookie: t.cookie, duration: opts.duration, connections: opts.connections });
        await mark(t.run.key, 'end', [t.child]);
        opts.log(`  ${Math.round(r.rps)} req/s, p99 ${r.p99} ms (slower than in the bench: the profiler samples)`);
      }
    } finally {
      await c.close();
    }
    for (const run of runs) summarize(run.contender, run.key, `${run.key}: GET ${run.path}, measured load only`);
  }
  const proxyRuns = PROXY_RUNS.filter((r) => keys.includes(r.key));
  if (proxyRuns.length) {
    const names = new Set<ContenderName>(proxyRuns.map((r) => r.contender));
    // Ours signs in for the others, so it always runs (profiled only when asked for).
    const p = await startProxies(opts, [...new Set<ContenderName>([...names, 'ours-proxy'])], (name) =>
      names.has(name) ? profArgs(name) : [],
    );
    try {
      for (const run of proxyRuns) {
        const app = p.apps.get(run.contender)!;
        const load = { url: `${app.child.info.url}${run.path}`, cookie: app.cookie, headers: CSRF_HEADERS, connections: opts.connections };
        opts.log(`profiling ${run.key} ${run.path}: ${opts.warmup} s warm-up, ${opts.duration} s load`);
        await runLoad({ ...load, duration: opts.warmup });
        await mark(run.key, 'start', [app.child]);
        const r = await runLoad({ ...load, duration: opts.duration });
        await mark(run.key, 'end', [app.child]);
        opts.log(`  ${Math.round(r.rps)} req/s, p99 ${r.p99} ms (slower than in the bench: the profiler samples)`);
      }
    } finally {
      await p.close();
    }
    for (const run of proxyRuns) summarize(run.contender, run.key, `${run.key}: GET ${run.path}, measured load only`);
  }
  if (keys.includes('herd')) {
    await runHerd(opts, { nodeArgs: profArgs('herd'), phase: (phase, edge, apps) => mark(phase, edge, apps) });
    summarize('herd', 'fresh', 'herd with a fresh token, all instances');
    summarize('herd', 'expired', 'herd with an expired token, all instances');
  }
  const md = `# CPU profiles\n\n${sections.join('\n')}`;
  writeFileSync(`${out}summary.md`, md);
  console.log(md);
  console.log(`written to ${out}summary.md`);
  process.exit(0);
} catch (err) {
  console.error(err);
  process.exit(1);
}
