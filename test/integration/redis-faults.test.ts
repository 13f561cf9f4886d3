// Redis down or frozen under a signed-in user, with the real redis-server (append-only persistence on):
// requests that need the session answer 503 ERR_STORE_UNAVAILABLE within a bounded time, never a
// "signed out" answer, never a hang, never a crash; once Redis is back the same cookie works again
// without restarting the app.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { getServerSession } from '../../lib/index.js';
import { REDIS_QUEUE_MAX } from '../../lib/store/select-backend.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const STORE_TIMEOUT = 500;
const BOUND = 2000;
let op: TestProvider;
let redis: TestRedis;
let app: TestApp;
let jar: CookieJar;
const crashes: unknown[] = [];
const onCrash = (err: unknown): void => {
  crashes.push(err);
};

beforeAll(async () => {
  // 2 s access tokens: a refresh is due 1 s after each grant (see the last test).
  [op, redis] = await Promise.all([startProvider({ accessTokenTtl: 2 }), startRedis({ persistence: true })]);
  app = await startApp(op, { redis: redis.url, storeTimeout: STORE_TIMEOUT, idpLogout: false }, (express) => {
    // Freezes Redis after express-session has read the session, just before the refresh needs Redis (its lock).
    express.get('/api/freeze-then-session', async (req, res) => {
      redis.pause();
      try {
        const session = await getServerSession(req);
        res.json({ outcome: session ? 'session' : 'null', error: session?.error ?? null });
      } catch (err) {
        res.status(503).json({ outcome: 'error', code: (err as { code?: string }).code ?? null });
      }
    });
  });
  process.on('unhandledRejection', onCrash);
  process.on('uncaughtException', onCrash);
}, 20_000);
afterAll(async () => {
  process.off('unhandledRejection', onCrash);
  process.off('uncaughtException', onCrash);
  redis?.resume();
  await app?.close();
  await Promise.all([op?.stop(), redis?.stop()]);
});

beforeEach(async () => {
  jar = new CookieJar();
  expect((await login(app.url, { jar })).status).toBe(302);
  expect((await me()).status).toBe(200);
});
afterEach(() => {
  expect(crashes).toEqual([]);
});

function me(): Promise<Response> {
  return request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } });
}

const ROUTES = ['/auth/session', '/api/me'] as const;

/** One request during the outage: 503 with the store code, in bounded time, and nothing that signs the user out. */
async function expectUnavailable(path: string): Promise<void> {
  const cookieBefore = jar.get('oidc.sid');
  const started = Date.now();
  const res = await request(`${app.url}${path}`, { jar, headers: { accept: 'application/json' } });
  const elapsed = Date.now() - started;
  const text = await res.text();
  expect({ path, status: res.status, fast: elapsed < BOUND }).toEqual({ path, status: 503, fast: true });
  expect(JSON.parse(text)).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', error: 'service_unavailable' });
  expect(res.headers.get('cache-control')).toBe('no-store');
  // No fresh, empty session replacing the user's: the cookie is neither replaced nor cleared.
  expect(res.headers.getSetCookie()).toEqual([]);
  expect(jar.get('oidc.sid')).toBe(cookieBefore);
  expect(text).not.toMatch(/\n\s+at |redis:\/\//);
}

/** `waves` × `size` requests at once during the outage: every one completes, each with a 503, none hangs. */
async function burst(waves = 1, size = 200): Promise<void> {
  const cookie = jar.header(`${app.url}/`);
  for (let wave = 0; wave < waves; wave++) {
    const started = Date.now();
    const statuses = await Promise.all(
      Array.from({ length: size }, (_, i) =>
        fetch(`${app.url}${ROUTES[i % 2]}`, {
          headers: { cookie, accept: 'application/json' },
          signal: AbortSignal.timeout(BOUND * 3),
        }).then(async (res) => {
          await res.arrayBuffer();
          return res.status;
        }),
      ),
    );
    expect(new Set(statuses)).toEqual(new Set([503]));
    expect(Date.now() - started).toBeLessThan(BOUND * 3);
  }
}

/** Polls /api/me until it answers 200 (node-redis reconnects on its own), failing after `ms`. */
async function recovered(ms: number): Promise<number> {
  const started = Date.now();
  let last = 0;
  while (Date.now() - started < ms) {
    const res = await me();
    last = res.status;
    const body = (await res.json()) as { user?: { sub?: string } } | null;
    if (res.status === 200) {
      expect(body?.user?.sub).toBe('alice');
      return Date.now() - started;
    }
    // While Redis is still away only 503s are acceptable, never "signed out".
    expect(res.status).toBe(503);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`/api/me did not recover within ${ms} ms (last status ${last})`);
}

function appClient(): { isReady?: boolean } {
  return app.router.context.backend.redis as unknown as { isReady?: boolean };
}

async function until(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function commandsProcessed(): Promise<number> {
  const client = createClient({ url: redis.url });
  await client.connect();
  try {
    const info = await client.info('stats');
    return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? Number.NaN);
  } finally {
    await client.close();
  }
}

describe('Redis faults', () => {
  it('47: Redis killed → bounded 503 ERR_STORE_UNAVAILABLE, no queued commands, same cookie works after a restart', async () => {
    await redis.kill();
    for (const path of ROUTES) await expectUnavailable(path);
    await burst();
    for (const path of ROUTES) await expectUnavailable(path);

    await redis.restart();
    // Once the app's client has reconnected, and before any request reaches it, the restarted server has
    // seen only the client's handshake and our INFO: nothing was queued in the app while Redis was gone
    // (disableOfflineQueue), so nothing is replayed now.
    await until(() => appClient().isReady === true, 5000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await commandsProcessed()).toBeLessThan(20);
    expect(await recovered(5000)).toBeLessThan(5000);
    // The session survived in the append-only file: the same cookie, the same user, no new login.
    const session = (await (await request(`${app.url}/auth/session`, { jar })).json()) as { user?: { sub?: string } } | null;
    expect(session?.user?.sub).toBe('alice');
  }, 20_000);

  it('48: Redis paused (SIGSTOP) → a session read recently is still served from the client-side cache; any other read a bounded 503, bounded pile-up; resumed → same cookie works', async () => {
    expect((await me()).status).toBe(200);
    const before = await commandsProcessed();
    const size = 350;
    const waves = Math.ceil((REDIS_QUEUE_MAX + 300) / size);
    redis.pause();
    try {
      // Nobody can change it while Redis is frozen, so the cached copy is still the truth.
      expect((await me()).status).toBe(200);
      // Not read recently (a cold instance): it needs Redis, which does not answer.
      (appClient() as { clientSideCache?: { clear(): void } }).clientSideCache?.clear();
      for (const path of ROUTES) await expectUnavailable(path);
      // More requests than the client may keep waiting: the ones beyond the cap are refused at once.
      await burst(waves, size);
      for (const path of ROUTES) await expectUnavailable(path);
    } finally {
      redis.resume();
    }
    expect(await recovered(3000)).toBeLessThan(3000);
    const session = (await (await request(`${app.url}/auth/session`, { jar })).json()) as { user?: { sub?: string } } | null;
    expect(session?.user?.sub).toBe('alice');
    // The frozen server received every command the app kept waiting for it and ran them on resume: at most the
    // cap (plus this test's few INFO and polling calls), not one per request made during the pause.
    const replayed = (await commandsProcessed()) - before;
    expect(replayed).toBeLessThan(REDIS_QUEUE_MAX + 50);
    expect(waves * size).toBeGreaterThanOrEqual(REDIS_QUEUE_MAX + 300);
  }, 20_000);

  it('48: Redis freezing between the session read and the refresh → bounded answer, never a hang or "signed out"', async () => {
    // The access token is due for refresh 1 s after login; the refresh takes a lock in Redis.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const started = Date.now();
    let answer: { outcome: string; code?: string | null; error?: string | null } | undefined;
    try {
      const res = await fetch(`${app.url}/api/freeze-then-session`, {
        headers: { cookie: jar.header(`${app.url}/`), accept: 'application/json' },
        signal: AbortSignal.timeout(BOUND * 2),
      }).catch((err: unknown) => {
        throw new Error(`getServerSession did not settle within ${BOUND * 2} ms while Redis was frozen (${(err as Error).name})`);
      });
      answer = (await res.json()) as typeof answer;
    } finally {
      redis.resume();
    }
    expect(Date.now() - started).toBeLessThan(BOUND);
    expect(answer?.outcome).not.toBe('null');
    // Either the store's 503, or the session kept with its refresh marked unavailable.
    expect([answer?.code, answer?.error]).toEqual(
      expect.arrayContaining([expect.stringMatching(/^(ERR_STORE_UNAVAILABLE|ERR_REFRESH_UNAVAILABLE|RefreshAccessTokenUnavailable)$/)]),
    );
    expect(await recovered(3000)).toBeLessThan(3000);
  }, 20_000);
});
