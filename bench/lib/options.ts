/**
 * Bench settings. Defaults follow the method of the reference measurements (perf.md) (8 s runs, 10 connections,
 * 3 interleaved rounds after a 5 s warm-up); every one can be overridden from the environment so a quick
 * look (BENCH_DURATION=2 BENCH_ROUNDS=1 BENCH_SCENARIOS=3) costs seconds, not minutes.
 */
export interface BenchOptions {
  /** seconds per measured run */
  duration: number;
  rounds: number;
  /** seconds of discarded load per contender before round 1 (JIT; perf.md: cold runs read 2-3x low) */
  warmup: number;
  connections: number;
  scenarios: Set<number>;
  /** concurrent requests in the refresh herd (scenario 7) */
  herdSize: number;
  herdRounds: number;
  /**
   * access-token lifetime at the provider for the herd, seconds. Ours refreshes from half the lifetime on,
   * and a herd of 1000 on one core takes 1-4 s here, so the fresh-token herd needs 10 s to stay fresh.
   */
  herdTtl: number;
  /** concurrent requests in the scale-out herd of scenario 7 (3-master Redis Cluster, 4 app processes) */
  clusterHerdSize: number;
  clusterHerdRounds: number;
  /** access-token lifetime for the scale-out herd, s: its fresh herd must end before half of it */
  clusterHerdTtl: number;
  /** concurrent getClientToken calls in the client-credentials herd (scenario 13) */
  clientHerdSize: number;
  /** bytes of the response streamed through ours in scenario 12 */
  streamBytes: number;
  /** sessions created in scenario 9 */
  memSessions: number;
  /** seconds sessions live in scenario 9 before they count as expired */
  memTtl: number;
  /** pin the servers to CPU 0 and this process (the load generator) to CPU 1 when taskset exists */
  pin: boolean;
  /** where the markdown report goes; null writes none (the smoke test) */
  resultsFile: string | null;
  /** one line per run on stdout */
  log: (line: string) => void;
}

export const ALL_SCENARIOS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14] as const;

function num(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${raw}: expected a positive number`);
  return value;
}

/** "1-9", "3,5", "1-6,8" → a set of scenario numbers. */
export function parseScenarios(spec: string | undefined): Set<number> {
  if (!spec) return new Set(ALL_SCENARIOS);
  const out = new Set<number>();
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`BENCH_SCENARIOS: cannot read "${part}" (use e.g. 1-6,8)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    for (let n = from; n <= to; n++) {
      if (!(ALL_SCENARIOS as readonly number[]).includes(n))
        throw new Error(`BENCH_SCENARIOS: there is no scenario ${n} (1-${ALL_SCENARIOS.length})`);
      out.add(n);
    }
  }
  return out;
}

export function readOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  return {
    duration: num(env, 'BENCH_DURATION', 8),
    rounds: Math.round(num(env, 'BENCH_ROUNDS', 3)),
    warmup: num(env, 'BENCH_WARMUP', 5),
    connections: Math.round(num(env, 'BENCH_CONNECTIONS', 10)),
    scenarios: parseScenarios(env.BENCH_SCENARIOS),
    herdSize: Math.round(num(env, 'BENCH_HERD', 1000)),
    herdRounds: Math.round(num(env, 'BENCH_HERD_ROUNDS', 3)),
    herdTtl: num(env, 'BENCH_HERD_TTL', 10),
    clusterHerdSize: Math.round(num(env, 'BENCH_CLUSTER_HERD', 5000)),
    clusterHerdRounds: Math.round(num(env, 'BENCH_CLUSTER_ROUNDS', 2)),
    clusterHerdTtl: num(env, 'BENCH_CLUSTER_TTL', 20),
    clientHerdSize: Math.round(num(env, 'BENCH_CLIENT_HERD', 500)),
    streamBytes: Math.round(num(env, 'BENCH_STREAM_MB', 10) * 1024 * 1024),
    memSessions: Math.round(num(env, 'BENCH_MEM_SESSIONS', 100_000)),
    memTtl: num(env, 'BENCH_MEM_TTL', 5),
    pin: env.BENCH_PIN !== '0',
    resultsFile: env.BENCH_RESULTS === '' ? null : (env.BENCH_RESULTS ?? new URL('./RESULTS.md', new URL('..', import.meta.url)).pathname),
    log: (line) => console.log(line),
  };
}
