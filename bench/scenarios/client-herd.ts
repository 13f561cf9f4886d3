/**
 * Scenario 13, the client-credentials herd: 4 app processes of ours sharing one redis-server, N concurrent
 * `getClientToken` calls (one per request to a bench-only route) spread round-robin over them, for a scope
 * nobody asked for yet. The provider must see exactly one client_credentials grant per herd, and every call
 * must get the same token. Each round uses a new scope, i.e. a cold cache key in every process and in Redis.
 */
import http from 'node:http';
import { createClient } from 'redis';
import { startRedis, type TestRedis } from '../../test/helpers/redis.js';
import type { BenchOptions } from '../lib/options.js';
import { type Child, startChild } from '../lib/proc.js';
import { percentile } from '../lib/stats.js';
import type { AppInfo } from '../servers/app.js';
import type { OpInfo } from '../servers/op.js';
import { HERD_INSTANCES } from './herd.js';
import { APP_SCRIPT, benchKeys, OP_SCRIPT } from './throughput.js';

/** What oidc-provider emits when it stores a client-credentials token (models/base_model.js: `${kind}.saved`). */
export const CC_EVENT = 'client_credentials.saved';

export interface ClientHerdRound {
  scope: string;
  /** client_credentials grants the provider served during the herd (must be 1) */
  grants: number;
  /** distinct tokens the N calls resolved to (must be 1) */
  tokens: number;
  failed: number;
  p50: number;
  p99: number;
  wall: number;
  redis: Record<string, number>;
}

export interface ClientHerdResult {
  size: number;
  rounds: ClientHerdRound[];
  /** a call with the token cached in the process, ms (median of the herd after the grant) */
  cachedP50: number;
}

interface Shot {
  ms: number;
  token?: string;
  error?: string;
}

function get(agent: http.Agent, url: URL): Promise<Shot> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = http.request(url, { agent, headers: { accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        let token: string | undefined;
        try {
          token = res.statusCode === 200 ? (JSON.parse(body) as { token?: string }).token : undefined;
        } catch {
          /* counted as failed */
        }
        resolve({ ms: performance.now() - start, token, error: token ? undefined : `${res.statusCode} ${body.slice(0, 300)}` });
      });
    });
    req.on('error', (err) => resolve({ ms: performance.now() - start, error: err.message }));
    req.end();
  });
}

type RedisClient = ReturnType<typeof createClient>;

async function commandCounts(client: RedisClient): Promise<Record<string, number>> {
  const info = await client.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (k !== 'info' && v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

async function fire(targets: { agent: http.Agent; url: string }[], size: number, scope: string): Promise<{ shots: Shot[]; wall: number }> {
  const start = performance.now();
  const shots = await Promise.all(
    Array.from({ length: size }, (_, i) => {
      const t = targets[i % targets.length]!;
      return get(t.agent, new URL(`${t.url}/__client-token?scope=${encodeURIComponent(scope)}`));
    }),
  );
  return { shots, wall: performance.now() - start };
}

export async function runClientHerd(opts: BenchOptions): Promise<ClientHerdResult> {
  let redis: TestRedis | undefined;
  let stats: RedisClient | undefined;
  let op: Child<OpInfo> | undefined;
  const apps: Child<AppInfo>[] = [];
  const perInstance = Math.ceil(opts.clientHerdSize / HERD_INSTANCES);
  const agents = Array.from(
    { length: HERD_INSTANCES },
    () => new http.Agent({ keepAlive: true, maxSockets: perInstance, maxFreeSockets: perInstance }),
  );
  try {
    opts.log(`setup: redis-server, oidc-provider (client_credentials on), ${HERD_INSTANCES} app instances`);
    [redis, op] = await Promise.all([
      startRedis(),
      startChild<OpInfo>(OP_SCRIPT, { pin: opts.pin, cpu: 1, config: { accessTokenTtl: 3600, clientCredentials: true } }),
    ]);
    stats = createClient({ url: redis.url });
    await stats.connect();
    const jwtKeys = await benchKeys();
    const config = { contender: 'ours-redis', ...op.info, redisUrl: redis.url, jwtKeys };
    await Promise.all(
      Array.from({ length: HERD_INSTANCES }, async () => {
        apps.push(await startChild<AppInfo>(APP_SCRIPT, { pin: opts.pin, cpu: 0, config }));
      }),
    );
    // The client's registration is valid only with a redirect URI, though this grant never uses one.
    for (const app of apps) await op.call('allowRedirect', `${app.info.url}/auth/callback`);
    const targets = apps.map((app, i) => ({ agent: agents[i]!, url: app.info.url }));

    // Warm-up: every socket opened, the JIT warmed, discovery fetched, on a scope of its own.
    const warm = await fire(targets, opts.clientHerdSize, 'bench:warm-up');
    const bad = warm.shots.filter((s) => !s.token);
    if (bad.length) throw new Error(`getClientToken failed in the warm-up herd (${bad.length} calls), e.g. ${bad[0]!.error}`);
    const cached = await fire(targets, opts.clientHerdSize, 'bench:warm-up');

    const rounds: ClientHerdRound[] = [];
    for (let round = 1; round <= opts.herdRounds; round++) {
      const scope = `bench:round-${round}`;
      await op.call('resetCounts');
      const before = await commandCounts(stats);
      const { shots, wall } = await fire(targets, opts.clientHerdSize, scope);
      const ms = shots.map((s) => s.ms);
      const r: ClientHerdRound = {
        scope,
        grants: await op.call<number>('count', CC_EVENT),
        tokens: new Set(shots.filter((s) => s.token).map((s) => s.token)).size,
        failed: shots.filter((s) => !s.token).length,
        p50: percentile(ms, 50),
        p99: percentile(ms, 99),
        wall,
        redis: diff(await commandCounts(stats), before),
      };
      rounds.push(r);
      opts.log(
        `[client herd ${round}/${opts.herdRounds}] ${opts.clientHerdSize} getClientToken calls over ${HERD_INSTANCES} instances: client_credentials grants ${r.grants},` +
          ` distinct tokens ${r.tokens}${r.failed ? `, ${r.failed} failed calls!` : ''}; p50/p99 ${r.p50.toFixed(1)}/${r.p99.toFixed(1)} ms, wall ${r.wall.toFixed(0)} ms`,
      );
    }
    return {
      size: opts.clientHerdSize,
      rounds,
      cachedP50: percentile(
        cached.shots.map((s) => s.ms),
        50,
      ),
    };
  } finally {
    for (const agent of agents) agent.destroy();
    await stats?.close();
    await Promise.all(apps.map((a) => a.stop()));
    await op?.stop();
    await redis?.stop();
  }
}
