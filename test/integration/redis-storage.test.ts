// The storage guarantees that depend on Redis itself, against a real redis-server: records expire with
// their session, a Redis restarted from an older snapshot does not cost the user the session, `store`
// and `redis` together, a connect-redis store alone, and the startup check of the eviction policy.

import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { PruningMemoryStore } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let op: TestProvider;
let redis: TestRedis;
let client: ReturnType<typeof createClient>;

beforeAll(async () => {
  [op, redis] = await Promise.all([startProvider({ accessTokenTtl: 2 }), startRedis()]);
  client = createClient({ url: redis.url });
  client.on('error', () => undefined);
  await client.connect();
}, 20_000);
afterAll(async () => {
  await client?.close().catch(() => undefined);
  await op?.stop();
  await redis?.stop();
});

interface Tokens {
  accessToken?: string;
  accessTokenExpires: number;
  error?: string;
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const idOf = (jar: CookieJar) => decodeURIComponent(jar.get('oidc.sid')!).slice(2).split('.')[0]!;
const indexKey = (name: string) => `oidc-session:idx:${createHash('sha256').update(name).digest('base64url')}`;

async function signIn(app: TestApp): Promise<CookieJar> {
  const jar = new CookieJar();
  expect((await login(app.url, { jar })).status).toBe(302);
  return jar;
}

async function tokens(app: TestApp, jar: CookieJar): Promise<Tokens | null> {
  return (await (await request(`${app.url}/api/tokens`, { jar })).json()) as Tokens | null;
}

describe('records live as long as their session', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(op, { redis: redis.url, idpLogout: false, session: { idleTimeout: 300, absoluteTimeout: 3600 } });
  });
  afterAll(() => app?.close());

  it('token record and index sets expire with the idle deadline (plus slack), not a week later', async () => {
    const jar = await signIn(app);
    const id = idOf(jar);
    const ttls = await Promise.all([`sess:${id}`, `oidc-session:tok:{sess:${id}}`, indexKey('sub:alice')].map((k) => client.pTTL(k)));
    for (const ttl of ttls) {
      expect(ttl).toBeGreaterThan(250_000);
      expect(ttl).toBeLessThanOrEqual((300 + 60 + 60) * 1000);
    }
  });
});

describe('a Redis that went back in time', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startApp(op, { redis: redis.url, idpLogout: false, storeTimeout: 1000 });
  });
  afterAll(() => app?.close());

  it('restarted from an older snapshot: the newer record this process holds wins, no grant is revoked', async () => {
    const jar = await signIn(app);
    const first = await tokens(app, jar);
    await client.sendCommand(['SAVE']); // the snapshot: the session with its first refresh token
    await sleep(first!.accessTokenExpires - Date.now() + 20);
    const second = await tokens(app, jar); // rotates the refresh token at the provider
    expect(second?.accessToken).not.toBe(first?.accessToken);
    await redis.kill();
    await redis.restart(); // back to the snapshot: the stored record is the older one
    for (let i = 0; i < 50 && !client.isReady; i++) await sleep(100);
    await sleep(second!.accessTokenExpires - Date.now() + 20);
    op.resetCounts();
    let third = await tokens(app, jar);
    for (let i = 0; i < 20 && (!third || third.error); i++) {
      await sleep(200);
      third = await tokens(app, jar);
    }
    expect(third?.error).toBeUndefined();
    expect(third?.accessToken).toBeTruthy();
    expect(op.count('grant.revoked')).toBe(0);
    expect(op.count('refresh_token.consumed')).toBe(1);
  });
});

describe('store and redis together, and a connect-redis store alone', () => {
  it('`store` + `redis`: session blobs in that store, tokens and the lock in Redis', async () => {
    const store = new PruningMemoryStore();
    const app = await startApp(op, { redis: redis.url, store, idpLogout: false });
    try {
      const jar = await signIn(app);
      const id = idOf(jar);
      expect(await client.exists(`sess:${id}`)).toBe(0);
      expect(await client.exists(`oidc-session:tok:{sess:${id}}`)).toBe(1);
      expect(await new Promise((resolve) => store.get(id, (_e, s) => resolve(s)))).toMatchObject({ oidc: { sub: 'alice' } });
      expect(app.router.context.backend.lock.shared).toBe(true);
      expect((await tokens(app, jar))?.accessToken).toBeTruthy();
    } finally {
      await app.close();
    }
  });

  it('a connect-redis store alone: its client gives the cross-instance lock (one grant over two instances), no warning', async () => {
    const warn = jest.spyOn(console, 'warn');
    const [a, b] = [
      await startApp(op, { store: new RedisStore({ client }), idpLogout: false }),
      await startApp(op, { store: new RedisStore({ client }), idpLogout: false }),
    ];
    try {
      expect(warn.mock.calls.flat().join(' ')).not.toContain('per process');
      const jar = await signIn(a);
      const first = await tokens(a, jar);
      await tokens(b, jar);
      await sleep(first!.accessTokenExpires - 1000 - Date.now() + 50);
      op.resetCounts();
      const all = await Promise.all(Array.from({ length: 30 }, (_, i) => tokens(i % 2 ? b : a, jar)));
      expect(op.count('refresh_token.consumed')).toBe(1);
      expect(op.count('grant.revoked')).toBe(0);
      expect(new Set(all.map((t) => t?.accessToken)).size).toBe(1);
    } finally {
      warn.mockRestore();
      await a.close();
      await b.close();
    }
  });
});

describe('startup checks', () => {
  it('warns when Redis may evict our keys (maxmemory-policy allkeys-*)', async () => {
    await client.configSet('maxmemory-policy', 'allkeys-lru');
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const app = await startApp(op, { redis: redis.url, idpLogout: false });
      await app.close();
      expect(warn.mock.calls.flat().join(' ')).toContain('maxmemory-policy is allkeys-lru');
    } finally {
      warn.mockRestore();
      await client.configSet('maxmemory-policy', 'noeviction');
    }
  });
});

describe('hot sessions from the client-side cache, coherent across instances', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await startApp(op, { redis: redis.url, idpLogout: false });
    b = await startApp(op, { redis: redis.url, idpLogout: false });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  const calls = async (): Promise<number> => {
    let total = 0;
    for (const m of (await client.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
      if (m[1] !== 'info') total += Number(m[2]);
    return total;
  };
  const me = (app: TestApp, jar: CookieJar) => request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } });

  it('a repeated authenticated request of a session read recently sends no Redis command', async () => {
    const jar = await signIn(a);
    expect((await me(b, jar)).status).toBe(200);
    const before = await calls();
    for (let i = 0; i < 50; i++) expect((await me(b, jar)).status).toBe(200);
    expect((await calls()) - before).toBe(0);
  });

  it('a logout on A is seen on B within 50 ms, although B served the session from its cache', async () => {
    const jar = await signIn(a);
    for (let i = 0; i < 3; i++) expect((await me(b, jar)).status).toBe(200);
    expect((await request(`${a.url}/auth/logout`, { jar: jar.clone(), method: 'POST', headers: { origin: a.url } })).status).toBe(303);
    const ended = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - ended < 50) {
      status = (await me(b, jar)).status;
      if (status === 200) await sleep(5);
    }
    expect(status).toBe(401);
    expect(Date.now() - ended).toBeLessThan(50);
  });

  it('a refresh on A is seen on B: B serves the new access token, with no grant of its own', async () => {
    const jar = await signIn(a);
    const first = await tokens(b, jar);
    await sleep(first!.accessTokenExpires - Date.now() + 20);
    op.resetCounts();
    const onA = await tokens(a, jar);
    expect(onA?.accessToken).not.toBe(first?.accessToken);
    await sleep(50);
    expect((await tokens(b, jar))?.accessToken).toBe(onA?.accessToken);
    expect(op.count('refresh_token.consumed')).toBe(1);
  });
});
