/** One autocannon run in this process (the load generator's core), as perf.md measured. */
import autocannon from 'autocannon';

export interface LoadResult {
  /** completed requests per second over the run */
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}

export interface LoadOptions {
  url: string;
  cookie?: string;
  /** more request headers, e.g. X-OIDC-Session: 1 for ours' remoteApi */
  headers?: Record<string, string>;
  /** seconds */
  duration: number;
  connections: number;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (opts.cookie) headers.cookie = opts.cookie;
  const r = await autocannon({ url: opts.url, connections: opts.connections, duration: opts.duration, headers });
  // Counted over the real elapsed time: autocannon's per-second average drops the last partial second.
  const elapsed = r.duration > 0 ? r.duration : opts.duration;
  return {
    rps: r.requests.total / elapsed,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
  };
}
