/**
 * Scenario 7, the refresh herd: 4 app processes sharing one redis-server, one session whose access token
 * has just expired, N concurrent requests spread over the 4 processes. With rotating refresh tokens a
 * second grant for the same token would revoke the user's whole grant, so the provider must see exactly
 * one. The same herd with a fresh token is the latency reference. The scale-out variant runs the same herd
 * (BENCH_CLUSTER_HERD requests, 5,000 by default) against a 3-master Redis Cluster, each app process with its
 * own `createCluster()` client.
 */
import http from 'node:http';
import { createClient } from 'redis';
import { startRedis } from '../../test/helpers/redis.js';
import { getJson, signIn } from '../lib/login.js';
import type { BenchOptions } from '../lib/options.js';
import { type Child, startChild } from '../lib/proc.js';
import { startBenchCluster } from '../lib/redis-cluster.js';
import { median, percentile } from '../lib/stats.js';
import type { AppInfo } from '../servers/app.js';
import type { OpInfo } from '../servers/op.js';
import { APP_SCRIPT, benchKeys, OP_SCRIPT } from './throughput.js';

export const HERD_INSTANCES = 4;

export interface HerdSample {
  /** Redis commands the instances sent during this herd, by name (e.g. get, set, expire, eval) */
  redis: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
  /** ms from the first request sent to the last response */
  wall: number;
  failed: number;
}

export interface HerdRound {
  fresh: HerdSample;
  expired: HerdSample;
  /** refresh grants the provider served during the expired herd (must be 1) */
  grants: number;
  /** refresh grants during the fresh herd (must be 0, else the token was already due) */
  freshGrants: number;
  revoked: number;
}

export interface HerdResult {
  /** where the 4 instances keep their state: one redis-server, or a Redis Cluster of 3 masters */
  topology: 'redis-server' | 'cluster';
  size: number;
  ttl: number;
  rounds: HerdRound[];
  /** median wall time of a lone refresh_token grant at this provider, ms */
  refreshRtt: number;
}

interface Shot {
  ms: number;
  ok: boolean;
}

function get(agent: http.Agent, url: URL, cookie: string): Promise<Shot> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = http.request(url, { agent, headers: { cookie, accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ ms: performance.now() - start, ok: res.statusCode === 200 && body.includes('"sub"') }));
    });
    req.on('error', () => resolve({ ms: performance.now() - start, ok: false }));
    req.end();
  });
}

/** What the counters need of a node-redis client (structural: its generics differ by options). */
interface RedisClient {
  info(section: string): Promise<string>;
  close(): Promise<unknown>;
}

/** cmdstat_<name>:calls=N per command, from INFO commandstats, summed over the given nodes (a cluster's masters). */
async function commandCounts(clients: RedisClient[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const client of clients) {
    const info = await client.info('commandstats');
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  }
  return out;
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    // INFO itself is the bench's own command.
    if (k !== 'info' && v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  }
  return out;
}

export function formatCommands(counts: Record<string, number>): string {
  return (
    Object.entries(counts)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none'
  );
}

/** Fires `size` requests at once, round-robin over the instances, over kept-alive sockets. */
async function fire(targets: { agent: http.Agent; url: URL }[], size: number, cookie: string, redis: RedisClient[]): Promise<HerdSample> {
  const before = await commandCounts(redis);
  const start = performance.now();
  const shots = await Promise.all(
    Array.from({ length: size }, (_, i) => {
      const t = targets[i % targets.length]!;
      return get(t.agent, t.url, cookie);
    }),
  );
  const ms = shots.map((s) => s.ms);
  const wall = performance.now() - start;
  return {
    redis: diff(await commandCounts(redis), before),
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    max: Math.max(...ms),
    wall,
    failed: shots.filter((s) => !s.ok).length,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export interface HerdHooks {
  /** node flags for the app processes (profile.ts passes --cpu-prof) */
  nodeArgs?: string[];
  /** called around each measured herd, with the app processes (profile.ts records their clocks) */
  phase?(name: 'fresh' | 'expired', edge: 'start' | 'end', apps: Child<AppInfo>[]): Promise<void>;
}

export interface HerdSetup {
  topology: HerdResult['topology'];
  size: number;
  rounds: number;
  /** provider access-token lifetime, s: long enough that the fresh herd ends before half of it */
  ttl: number;
}

/** The scale-out herd of the options: BENCH_CLUSTER_HERD requests on a 3-master Redis Cluster. */
export function clusterSetup(opts: BenchOptions): HerdSetup {
  return { topology: 'cluster', size: opts.clusterHerdSize, rounds: opts.clusterHerdRounds, ttl: opts.clusterHerdTtl };
}

export async function runHerd(opts: BenchOptions, hooks: HerdHooks = {}, setup?: HerdSetup): Promise<HerdResult> {
  const { nodeArgs } = hooks;
  const {
    topology,
    size,
    rounds: herdRounds,
    ttl,
  } = setup ?? {
    topology: 'redis-server',
    size: opts.herdSize,
    rounds: opts.herdRounds,
    ttl: opts.herdTtl,
  };
  const cluster = topology === 'cluster';
  let stopRedis: (() => Promise<void>) | undefined;
  const stats: RedisClient[] = [];
  let op: Child<OpInfo> | undefined;
  const apps: Child<AppInfo>[] = [];
  const perInstance = Math.ceil(size / HERD_INSTANCES);
  const agents = Array.from(
    { length: HERD_INSTANCES },
    () => new http.Agent({ keepAlive: true, maxSockets: perInstance, maxFreeSockets: perInstance }),
  );
  try {
    opts.log(
      `setup: ${cluster ? 'a Redis Cluster of 3 masters' : 'redis-server'}, oidc-provider (access tokens ${ttl} s, rotating refresh tokens), ${HERD_INSTANCES} app instances`,
    );
    const [store, provider] = await Promise.all([
      cluster ? startBenchCluster(3) : startRedis().then((r) => ({ urls: [r.url], stop: () => r.stop() })),
      startChild<OpInfo>(OP_SCRIPT, { pin: opts.pin, cpu: 1, config: { accessTokenTtl: ttl, rotateRefreshToken: true } }),
    ]);
    stopRedis = store.stop;
    op = provider;
    for (const url of store.urls) {
      const client = createClient({ url });
      await client.connect();
      stats.push(client as unknown as RedisClient);
    }
    const jwtKeys = await benchKeys();
    const config = {
      contender: 'ours-redis',
      ...op.info,
      jwtKeys,
      ...(cluster ? { redisCluster: store.urls } : { redisUrl: store.urls[0] }),
    };
    await Promise.all(
      Array.from({ length: HERD_INSTANCES }, async () => {
        apps.push(await startChild<AppInfo>(APP_SCRIPT, { pin: opts.pin, cpu: 0, nodeArgs, config }));
      }),
    );
    for (const app of apps) await op.call('allowRedirect', `${app.info.url}/auth/callback`);
    const targets = apps.map((app, i) => ({ agent: agents[i]!, url: new URL(`${app.info.url}/me`) }));
    // The instances share the cookie: same secret, same Redis, cookies ignore ports.
    const login = async () => (await signIn(apps[0]!.info.url, /^oidc\.sid$/)).cookie;

    // Warm-up: open every socket and warm the JIT with a fresh token, then let that session expire unseen.
    await fire(targets, size, await login(), stats);

    const rounds: HerdRound[] = [];
    for (let round = 1; round <= herdRounds; round++) {
      const cookie = await login();
      // The tokens were issued before login returned, so this is at or after their expiry.
      const expiresBy = Date.now() + ttl * 1000;
      await op.call('resetCounts');
      await hooks.phase?.('fresh', 'start', apps);
      const fresh = await fire(targets, size, cookie, stats);
      await hooks.phase?.('fresh', 'end', apps);
      const freshGrants = await op.call<number>('count', 'refresh_token.consumed');
      await sleep(expiresBy + 50 - Date.now());
      await op.call('resetCounts');
      await hooks.phase?.('expired', 'start', apps);
      const expired = await fire(targets, size, cookie, stats);
      await hooks.phase?.('expired', 'end', apps);
      const grants = await op.call<number>('count', 'refresh_token.consumed');
      const revoked = await op.call<number>('count', 'grant.revoked');
      rounds.push({ fresh, expired, grants, freshGrants, revoked });
      opts.log(
        `[herd${cluster ? ' cluster' : ''} ${round}/${herdRounds}] ${size} requests over ${HERD_INSTANCES} instances: refresh grants ${grants}` +
          `${freshGrants ? ` (+${freshGrants} during the fresh herd!)` : ''}${revoked ? `, ${revoked} grants revoked!` : ''};` +
          ` expired p50/p99 ${expired.p50.toFixed(1)}/${expired.p99.toFixed(1)} ms, fresh ${fresh.p50.toFixed(1)}/${fresh.p99.toFixed(1)} ms` +
          `${expired.failed + fresh.failed ? `, ${expired.failed + fresh.failed} failed requests!` : ''}` +
          `; Redis commands expired ${formatCommands(expired.redis)} / fresh ${formatCommands(fresh.redis)}`,
      );
    }
    const refreshRtt = await measureRefreshRtt(op.info, apps[0]!.info.url, await login());
    opts.log(`[herd${cluster ? ' cluster' : ''}] a lone refresh_token grant at this provider: ${refreshRtt.toFixed(1)} ms (median)`);
    return { topology, size, ttl, rounds, refreshRtt };
  } finally {
    for (const agent of agents) agent.destroy();
    await Promise.all(stats.map((c) => c.close()));
    await Promise.all(apps.map((a) => a.stop()));
    await op?.stop();
    await stopRedis?.();
  }
}

/**
 * "One refresh round trip" of the target: a raw refresh_token grant, as the middleware sends it, on a
 * separate session's refresh token (rotated each time), 2 warm-ups then the median of 5.
 */
async function measureRefreshRtt(op: OpInfo, appUrl: string, cookie: string): Promise<number> {
  const session = await getJson<{ refreshToken?: string }>(`${appUrl}/__tokens`, cookie);
  const meta = await getJson<{ token_endpoint: string }>(`${op.issuer}/.well-known/openid-configuration`, '');
  let refreshToken = session.refreshToken;
  const times: number[] = [];
  for (let i = 0; i < 7 && refreshToken; i++) {
    const start = performance.now();
    const res = await fetch(meta.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: op.clientId,
        client_secret: op.clientSecret,
      }),
    });
    const body = (await res.json()) as { refresh_token?: string };
    const ms = performance.now() - start;
    if (res.status !== 200) throw new Error(`refresh grant answered ${res.status}: ${JSON.stringify(body)}`);
    if (i >= 2) times.push(ms);
    refreshToken = body.refresh_token ?? refreshToken;
  }
  return median(times);
}
