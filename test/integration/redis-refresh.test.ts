// Two app processes sharing a real redis-server: a session made on A is read on B, and concurrent
// requests with an expired access token on both cause exactly one refresh grant at the provider.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TEST_SECRET } from '../helpers/app.js';
import { type AppProcess, startAppProcess } from '../helpers/app-process.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let op: TestProvider;
let redis: TestRedis;
let a: AppProcess;
let b: AppProcess;

beforeAll(async () => {
  [op, redis] = await Promise.all([startProvider({ accessTokenTtl: 2 }), startRedis()]);
  const env = {
    ISSUER_URL: op.issuer,
    CLIENT_ID: op.clientId,
    CLIENT_SECRET: op.clientSecret,
    SESSION_SECRET: TEST_SECRET,
    REDIS_URL: redis.url,
  };
  [a, b] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
  op.allowRedirect(`${a.url}/auth/callback`);
  op.allowRedirect(`${b.url}/auth/callback`);
}, 40_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await Promise.all([op?.stop(), redis?.stop()]);
});

interface Tokens {
  accessToken?: string;
  accessTokenExpires: number;
  refreshToken?: string;
  error?: string;
  jwt?: string;
}

async function tokens(base: string, jar: CookieJar): Promise<Tokens> {
  const res = await request(`${base}/api/tokens`, { jar });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

describe('several processes sharing Redis', () => {
  it('reads on instance B a session created on instance A', async () => {
    const jar = new CookieJar();
    expect((await login(a.url, { jar })).status).toBe(302);
    const onA = await tokens(a.url, jar);
    const onB = await tokens(b.url, jar);
    expect(onA.accessToken).toBeTruthy();
    expect(onB.accessToken).toBe(onA.accessToken);
  });

  it('38: concurrent requests on two processes with an expired token cause exactly one refresh grant', async () => {
    const jar = new CookieJar();
    expect((await login(a.url, { jar })).status).toBe(302);
    const first = await tokens(a.url, jar);
    // Both instances have the record cached before it expires (on a loaded machine B may already refresh here).
    await tokens(b.url, jar);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, first.accessTokenExpires - 1000 - Date.now() + 50)));
    op.resetCounts();
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => tokens(i % 2 ? b.url : a.url, jar)));
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(op.count('grant.revoked')).toBe(0);
    expect(all.every((t) => t.error === undefined)).toBe(true);
    const seen = new Set(all.map((t) => t.accessToken));
    expect(seen.size).toBe(1);
    expect(seen.has(first.accessToken)).toBe(false);
    // Both instances serve the winner's tokens afterwards without another grant.
    expect((await tokens(a.url, jar)).accessToken).toBe([...seen][0]);
    expect((await tokens(b.url, jar)).accessToken).toBe([...seen][0]);
    expect(op.count('refresh_token.consumed')).toBe(1);
  });

  it('revocation cannot miss: 8 concurrent sign-ins of one user on two processes, then one revoke ends all 8 on both', async () => {
    op.setAccount('olivia');
    let jars: CookieJar[];
    try {
      jars = Array.from({ length: 8 }, () => new CookieJar());
      const done = await Promise.all(jars.map((jar, i) => login(i % 2 ? b.url : a.url, { jar })));
      expect(done.map((d) => d.status)).toEqual(Array(8).fill(302));
    } finally {
      op.setAccount('alice');
    }
    for (const jar of jars) expect((await tokens(a.url, jar)).accessToken).toBeTruthy();
    const res = await fetch(`${a.url}/api/admin/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'olivia' }),
    });
    expect(await res.json()).toEqual({ ended: 8 });
    for (const jar of jars) {
      expect(await (await request(`${a.url}/api/tokens`, { jar })).json()).toBeNull();
      expect(await (await request(`${b.url}/api/tokens`, { jar })).json()).toBeNull();
    }
  });
});
