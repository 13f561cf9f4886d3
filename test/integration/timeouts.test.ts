// Idle and absolute timeouts, enforced on the server with a shifted clock (Date only; timers stay real).
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { shiftClock } from '../helpers/clock.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

let op: TestProvider;
let app: TestApp;
const expired: string[] = [];

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 3600 });
  app = await startApp(op, {
    session: { idleTimeout: 60, absoluteTimeout: 120 },
    events: {
      sessionExpired: ({ reason, sub }) => {
        expired.push(`${sub}:${reason}`);
      },
    },
  });
});
afterAll(async () => {
  await app?.close();
  await op?.stop();
});
afterEach(() => {
  jest.useRealTimers();
  expired.length = 0;
});

const t0 = () => Date.now();

async function session(jar: CookieJar, headers: Record<string, string> = {}): Promise<{ expires: number } | null> {
  const res = await request(`${app.url}/auth/session`, { jar, headers });
  expect(res.status).toBe(200);
  return (await res.json()) as { expires: number } | null;
}

async function signIn(): Promise<CookieJar> {
  const jar = new CookieJar();
  expect((await login(app.url, { jar })).status).toBe(302);
  return jar;
}

describe('timeouts', () => {
  it('23: an idle session ends, fires sessionExpired(idle), and its store entry is deleted', async () => {
    const jar = await signIn();
    const start = t0();
    const sid = decodeURIComponent(jar.get('oidc.sid')!).slice(2).split('.')[0];
    expect(await app.router.context.store.getAsync(sid)).not.toBeNull();
    shiftClock(start + 61_000);
    expect(await session(jar)).toBeNull();
    expect(expired).toEqual(['alice:idle']);
    expect(await app.router.context.store.getAsync(sid)).toBeNull();
    expect(await app.router.context.tokens.read(sid)).toBeNull();
  });

  it('activity extends the idle deadline; a peek (X-Session-Peek: 1) does not', async () => {
    const active = await signIn();
    const peeked = await signIn();
    const start = t0();
    shiftClock(start + 30_000);
    const a = await session(active);
    const p = await session(peeked, { 'x-session-peek': '1' });
    expect(a!.expires).toBeGreaterThan(p!.expires);
    shiftClock(start + 61_000);
    expect(await session(active)).not.toBeNull();
    expect(await session(peeked)).toBeNull();
    expect(expired).toEqual(['alice:idle']);
  });

  it('24: the absolute timeout ends a session despite constant activity', async () => {
    const jar = await signIn();
    const start = t0();
    for (const at of [40_000, 80_000, 110_000]) {
      shiftClock(start + at);
      expect(await session(jar)).not.toBeNull();
    }
    shiftClock(start + 121_000);
    expect(await session(jar)).toBeNull();
    expect(expired).toEqual(['alice:absolute']);
    const me = await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } });
    expect(me.status).toBe(401);
  });
});
