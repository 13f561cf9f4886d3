/**
 * Scenario 10, storage: what the package keeps, counted in the store itself (no timing, so it runs in the
 * runner's process against the real provider and a real redis-server):
 * - server state added by anonymous `GET /auth/login` (must be none: the pending login is a cookie);
 * - Redis keys and bytes (MEMORY USAGE) per signed-in session, against connect-redis + express-session
 *   holding the same content (cookie, user, the three tokens) in one key;
 * - Redis commands per repeated authenticated request (INFO commandstats).
 */
import { createClient } from 'redis';
import { PruningMemoryStore } from '../../lib/index.js';
import { startApp } from '../../test/helpers/app.js';
import { CookieJar } from '../../test/helpers/cookie-jar.js';
import { login } from '../../test/helpers/login.js';
import type { TestProvider } from '../../test/helpers/op.js';
import { startRedis } from '../../test/helpers/redis.js';
import type { BenchOptions } from '../lib/options.js';
import { startChild } from '../lib/proc.js';
import { REALISTIC_AT_BYTES } from '../lib/tokens.js';
import type { OpConfig, OpInfo } from '../servers/op.js';
import { OP_SCRIPT } from './throughput.js';

export interface StorageResult {
  anonymousLogins: number;
  /** entries the default store gained from them */
  memoryEntriesAdded: number;
  /** Redis keys they added */
  redisKeysAdded: number;
  sessions: number;
  keysPerSession: number;
  bytesPerSession: number;
  /** connect-redis + express-session with the same content: one key */
  baselineBytesPerSession: number;
  requests: number;
  commandsPerRequest: number;
  commands: Record<string, number>;
}

/** The two commands the counters need (structural: node-redis's client generics differ by options). */
interface Client {
  info(section: string): Promise<string>;
  memoryUsage(key: string): Promise<unknown>;
}

async function commandCounts(client: Client): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

async function bytesOf(client: Client, keys: string[]): Promise<number> {
  let total = 0;
  for (const key of keys) total += Number((await client.memoryUsage(key)) ?? 0);
  return total;
}

export async function runStorage(opts: BenchOptions): Promise<StorageResult> {
  const anonymousLogins = 200;
  const sessions = 20;
  const requests = 200;
  // Realistic tokens (issue 13), as in 1-6: the bench's provider process with a ~1.2 KB JWT access token and a ~1 KB ID token.
  const config: OpConfig = { accessTokenTtl: 300, jwtAccessTokens: true, jwtBytes: REALISTIC_AT_BYTES, fatIdToken: true };
  const [child, redis] = await Promise.all([startChild<OpInfo>(OP_SCRIPT, { pin: opts.pin, cpu: 1, config }), startRedis()]);
  // What startApp needs of a provider; redirect URIs are registered over IPC and awaited before the first sign-in.
  const registering: Promise<unknown>[] = [];
  const op = {
    ...child.info,
    allowRedirect: (uri: string) => void registering.push(child.call('allowRedirect', uri)),
    setAccount: (id: string) => child.call('setAccount', id),
    stop: () => child.stop(),
  } as unknown as TestProvider & { setAccount(id: string): Promise<unknown> };
  const client = createClient({ url: redis.url });
  await client.connect();
  const store = new PruningMemoryStore();
  const memoryApp = await startApp(op, { store, idpLogout: false });
  const redisApp = await startApp(op, { redis: redis.url, idpLogout: false });
  try {
    await Promise.all(registering);
    const count = () => new Promise<number>((resolve) => store.length((_e, n) => resolve(n ?? 0)));
    const before = { memory: await count(), redis: await client.dbSize() };
    for (let i = 0; i < anonymousLogins; i++) {
      const app = i % 2 ? redisApp : memoryApp;
      await (await fetch(`${app.url}/auth/login`, { redirect: 'manual' })).body?.cancel();
    }
    const memoryEntriesAdded = (await count()) - before.memory;
    const redisKeysAdded = (await client.dbSize()) - before.redis;
    opts.log(
      `[storage] ${anonymousLogins} anonymous GET /auth/login: +${memoryEntriesAdded} default-store entries, +${redisKeysAdded} Redis keys`,
    );

    const keysBefore = new Set(await client.keys('*'));
    const jars: CookieJar[] = [];
    for (let i = 0; i < sessions; i++) {
      await op.setAccount(`bench-user-${i}`);
      const jar = new CookieJar();
      await login(redisApp.url, { jar });
      jars.push(jar);
    }
    await op.setAccount('alice');
    const added = (await client.keys('*')).filter((k) => !keysBefore.has(k) && !k.includes(':jwt-keys') && !k.includes(':claim:'));
    const bytesPerSession = (await bytesOf(client, added)) / sessions;
    // The hand-built stack keeps the same content in the session blob: cookie, user, tokens.
    const tokens = (await (
      await fetch(`${redisApp.url}/api/tokens`, { headers: { cookie: jars[0]!.header(redisApp.url) } })
    ).json()) as Record<string, unknown>;
    const blob = {
      cookie: { originalMaxAge: null, expires: null, httpOnly: true, path: '/', sameSite: 'lax' },
      passport: {
        user: {
          ...(tokens.user as object),
          tokens: {
            access_token: tokens.accessToken,
            refresh_token: tokens.refreshToken,
            id_token: tokens.idToken,
            expires_at: tokens.accessTokenExpires,
          },
        },
      },
    };
    await client.set('sess:baseline-session-id-0000000000000', JSON.stringify(blob), { EX: 86400 });
    const baselineBytesPerSession = await bytesOf(client, ['sess:baseline-session-id-0000000000000']);
    opts.log(
      `[storage] Redis per signed-in session: ${(added.length / sessions).toFixed(1)} keys, ${Math.round(bytesPerSession)} B (connect-redis + express-session, same content: 1 key, ${baselineBytesPerSession} B)`,
    );

    const cookie = jars[0]!.header(`${redisApp.url}/api/me`);
    await (await fetch(`${redisApp.url}/api/me`, { headers: { cookie, accept: 'application/json' } })).body?.cancel();
    const c0 = await commandCounts(client);
    for (let i = 0; i < requests; i++)
      await (await fetch(`${redisApp.url}/api/me`, { headers: { cookie, accept: 'application/json' } })).body?.cancel();
    const c1 = await commandCounts(client);
    const commands: Record<string, number> = {};
    for (const [k, v] of Object.entries(c1)) if (k !== 'info' && v - (c0[k] ?? 0) > 0) commands[k] = v - (c0[k] ?? 0);
    const commandsPerRequest = Object.values(commands).reduce((a, b) => a + b, 0) / requests;
    opts.log(`[storage] Redis commands per repeated authenticated request: ${commandsPerRequest.toFixed(2)} (${JSON.stringify(commands)})`);
    return {
      anonymousLogins,
      memoryEntriesAdded,
      redisKeysAdded,
      sessions,
      keysPerSession: added.length / sessions,
      bytesPerSession,
      baselineBytesPerSession,
      requests,
      commandsPerRequest,
      commands,
    };
  } finally {
    await memoryApp.close();
    await redisApp.close();
    await client.close();
    await op.stop();
    await redis.stop();
  }
}
