// Back-channel logout sent by the real provider, and revokeSessions(), on one instance with the memory
// store and on two instances sharing a real redis-server.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { getServerSession, revokeSessions, type SessionEvents } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { closeAll, idClaimsOf, meStatus, postLogoutToken, sessionIdOf, sessionOf } from '../security/support.js';

type BackchannelInfo = Parameters<NonNullable<SessionEvents['backchannelLogout']>>[0];

let op: TestProvider;
let app: TestApp;
const fired: BackchannelInfo[] = [];

/** Holds GET /api/slow after it loaded the session, until the test lets it finish (a long request in flight). */
const slow = { entered: () => {}, gate: Promise.resolve() };

/** Adds the app routes an "account" page would have: sign out everywhere, and an admin revoke. */
function revokeRoutes(target: express.Express): void {
  target.get('/api/slow', async (req, res) => {
    await getServerSession(req);
    req.session.touchedBy = 'slow request';
    slow.entered();
    await slow.gate;
    res.json({ done: true });
  });
  target.post('/api/sign-out-everywhere', async (req, res, next) => {
    try {
      const session = await getServerSession(req);
      if (!session) return void res.status(401).end();
      // Touch the session so express-session would save it at the end of this request, were it not ended.
      req.session.touchedBy = 'sign-out-everywhere';
      res.json({ ended: await revokeSessions(req, { sub: session.user.sub }) });
    } catch (err) {
      next(err);
    }
  });
  target.post('/api/admin/revoke', express.json(), async (req, res, next) => {
    try {
      res.json({ ended: await revokeSessions(req, req.body as { sub: string }) });
    } catch (err) {
      const { status, code } = err as { status?: number; code?: string };
      if (status && code) res.status(status).json({ code });
      else next(err);
    }
  });
}

declare module 'express-session' {
  interface SessionData {
    touchedBy?: string;
  }
}

async function signIn(target: { url: string }, account: string): Promise<CookieJar> {
  const jar = new CookieJar();
  op.setAccount(account);
  try {
    const result = await login(target.url, { jar });
    expect(result.status).toBe(302);
  } finally {
    op.setAccount('alice');
  }
  return jar;
}

function stored(target: TestApp, key: string): Promise<unknown> {
  // Token records live in the backend, not in the session store.
  return key.startsWith('tok:') ? target.router.context.tokens.read(key.slice(4)) : target.router.context.store.getAsync(key);
}

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 300 });
  app = await startApp(op, { idpLogout: false, events: { backchannelLogout: (info) => void fired.push(info) } }, revokeRoutes);
  op.setBackchannelLogoutUri(`${app.url}/auth/backchannel-logout`);
});
afterAll(() => closeAll(app, op));

describe('back-channel logout (memory store)', () => {
  it('50: a logout token sent by the provider ends that IdP session; the next request is signed out', async () => {
    const jar = await signIn(app, 'alice');
    const other = await signIn(app, 'alice');
    const { sid, sub } = await idClaimsOf(app, jar);
    expect(sid).toBeTruthy();
    expect((await idClaimsOf(app, other)).sid).not.toBe(sid);
    const id = sessionIdOf(jar);
    expect(await sessionOf(app, jar)).not.toBeNull();
    fired.length = 0;

    await op.backchannelLogout(sub, sid);
    expect(op.count('backchannel.success')).toBeGreaterThanOrEqual(1);

    expect(await sessionOf(app, jar)).toBeNull();
    expect(await meStatus(app, jar)).toBe(401);
    expect(await stored(app, id)).toBeNull();
    expect(await stored(app, `tok:${id}`)).toBeNull();
    expect(await stored(app, `idx:sid:${sid}`)).toBeNull();
    expect(fired).toEqual([expect.objectContaining({ sub, sid, sessions: 1 })]);
    // Only that IdP session: alice's other sign-in (another IdP session) is untouched.
    expect(await meStatus(app, other)).toBe(200);
  });

  it('50: answers 200 with Cache-Control: no-store and an empty body, sets no cookie, needs no Origin', async () => {
    const res = await postLogoutToken(app, await op.signLogoutToken({ sid: 'no-such-session' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(await res.text()).toBe('');
  });

  it("50: a logout token with only sub ends every session of that user, not other users'", async () => {
    const carol1 = await signIn(app, 'carol');
    const carol2 = await signIn(app, 'carol');
    const bob = await signIn(app, 'bob');
    fired.length = 0;
    const res = await postLogoutToken(app, await op.signLogoutToken({ sub: 'carol' }));
    expect(res.status).toBe(200);
    expect(await sessionOf(app, carol1)).toBeNull();
    expect(await sessionOf(app, carol2)).toBeNull();
    expect(await meStatus(app, bob)).toBe(200);
    expect(fired).toEqual([expect.objectContaining({ sub: 'carol', sessions: 2 })]);
    expect(await stored(app, 'idx:sub:carol')).toBeNull();
  });

  it('a sign-in after a back-channel logout is not ended by that logout token again', async () => {
    const before = await signIn(app, 'dave');
    const token = await op.signLogoutToken({ sub: 'dave' });
    expect((await postLogoutToken(app, token)).status).toBe(200);
    expect(await sessionOf(app, before)).toBeNull();
    const after = await signIn(app, 'dave');
    expect((await postLogoutToken(app, token)).status).toBe(400);
    expect(await meStatus(app, after)).toBe(200);
  });
});

describe('revokeSessions()', () => {
  it("revoking alice ends both of her sessions and leaves bob's alive", async () => {
    const alice1 = await signIn(app, 'alice');
    const alice2 = await signIn(app, 'alice');
    const bob = await signIn(app, 'bob');
    const ids = [sessionIdOf(alice1), sessionIdOf(alice2)];
    // Called from a request that has no session of its own (an admin tool).
    const res = await fetch(`${app.url}/api/admin/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'alice' }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { ended: number }).ended).toBeGreaterThanOrEqual(2);
    for (const jar of [alice1, alice2]) {
      expect(await sessionOf(app, jar)).toBeNull();
      expect(await meStatus(app, jar)).toBe(401);
    }
    for (const id of ids) expect(await stored(app, id)).toBeNull();
    expect(await stored(app, 'idx:sub:alice')).toBeNull();
    expect(await meStatus(app, bob)).toBe(200);
  });

  it("ends the calling request's own session too, so it is not saved again at the end of that request", async () => {
    const here = await signIn(app, 'erin');
    const elsewhere = await signIn(app, 'erin');
    const id = sessionIdOf(here);
    const res = await request(`${app.url}/api/sign-out-everywhere`, { jar: here, method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ended: 2 });
    expect(await stored(app, id)).toBeNull();
    expect(await stored(app, `tok:${id}`)).toBeNull();
    expect(await sessionOf(app, here)).toBeNull();
    expect(await sessionOf(app, elsewhere)).toBeNull();
  });

  it('refuses a query that is neither { sub } nor { sid }', async () => {
    for (const body of [{}, { sub: '' }, { sub: 'a', sid: 'b' }, { sub: 1 }]) {
      const res = await fetch(`${app.url}/api/admin/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'ERR_BAD_REQUEST' });
    }
  });
});

describe('two instances sharing Redis', () => {
  let redis: TestRedis;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    redis = await startRedis();
    a = await startApp(op, { redis: redis.url, idpLogout: false, storeTimeout: 1000 }, revokeRoutes);
    b = await startApp(op, { redis: redis.url, idpLogout: false, storeTimeout: 1000 }, revokeRoutes);
  }, 20_000);
  afterAll(async () => {
    op.setBackchannelLogoutUri(`${app.url}/auth/backchannel-logout`);
    await closeAll(a, b);
    await redis?.stop();
  });

  it("50: the provider's logout token, delivered to B, ends on A and B a session created on A", async () => {
    op.setBackchannelLogoutUri(`${b.url}/auth/backchannel-logout`);
    const jar = await signIn(a, 'alice');
    const { sub, sid } = await idClaimsOf(a, jar);
    // Both instances have served (and cached) the session before the logout.
    expect(await meStatus(a, jar)).toBe(200);
    expect(await meStatus(b, jar)).toBe(200);
    await op.backchannelLogout(sub, sid);
    expect(await sessionOf(b, jar)).toBeNull();
    expect(await sessionOf(a, jar)).toBeNull();
    expect(await meStatus(a, jar)).toBe(401);
  });

  it('51: a logout token replayed to the other instance is refused (jti kept in Redis)', async () => {
    const token = await op.signLogoutToken({ sid: 'replayed-across-instances' });
    expect((await postLogoutToken(a, token)).status).toBe(200);
    const replay = await postLogoutToken(b, token);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_request', code: 'ERR_LOGOUT_TOKEN_INVALID' });
  });

  it("a logout token arriving while Redis is frozen → 503 within the store timeout (not 400), and the IdP's retry of it works", async () => {
    const jar = await signIn(a, 'grace');
    const token = await op.signLogoutToken({ sub: 'grace' });
    const started = Date.now();
    redis.pause();
    let res: Response;
    try {
      res = await postLogoutToken(a, token);
    } finally {
      redis.resume();
    }
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(await res.json()).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    // The SET that timed out ran when Redis woke up, and was undone: the same token is not a "replay".
    const retry = await postLogoutToken(a, token);
    expect(retry.status).toBe(200);
    expect(await meStatus(a, jar)).toBe(401);
  });

  it('a request in flight on B when A ends the session cannot revive it on B', async () => {
    const jar = await signIn(a, 'heidi');
    expect(await meStatus(b, jar)).toBe(200);
    let open = () => {};
    const entered = new Promise<void>((resolve) => {
      slow.entered = resolve;
    });
    slow.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const inFlight = request(`${b.url}/api/slow`, { jar });
    await entered;
    expect((await postLogoutToken(a, await op.signLogoutToken({ sub: 'heidi' }))).status).toBe(200);
    open();
    await (await inFlight).body?.cancel();
    expect(await meStatus(a, jar)).toBe(401);
    expect(await meStatus(b, jar)).toBe(401);
  });

  it('revokeSessions() on B ends the sessions created on A', async () => {
    const jar1 = await signIn(a, 'frank');
    const jar2 = await signIn(a, 'frank');
    const other = await signIn(a, 'bob');
    const res = await fetch(`${b.url}/api/admin/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'frank' }),
    });
    expect(await res.json()).toEqual({ ended: 2 });
    expect(await meStatus(a, jar1)).toBe(401);
    expect(await meStatus(a, jar2)).toBe(401);
    expect(await meStatus(a, other)).toBe(200);
  });
});
