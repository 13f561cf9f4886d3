// "Your devices" and front-channel logout across two instances sharing a real redis-server:
// listSessions sees every session of the user wherever it was made, each with an opaque handle that
// revokeSessions({ handle }) ends on any instance; GET /frontchannel-logout ends an IdP session's sessions
// only when iss is our issuer, and answers a frameable, no-store page.

import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { getServerSession, listSessions, revokeSessions, type SessionListing } from '../../lib/index.js';
import { startApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { request, startLogin } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let op: TestProvider;
let redis: TestRedis;
let a: TestApp;
let b: TestApp;

const routes = (target: express.Express) => {
  target.get('/api/devices', async (req, res) => {
    const session = await getServerSession(req);
    if (!session) return void res.status(401).end();
    res.json(await listSessions(req, { sub: session.user.sub }));
  });
  target.post('/api/devices/end', express.json(), async (req, res, next) => {
    try {
      res.json({ ended: await revokeSessions(req, { handle: String((req.body as { handle?: unknown }).handle) }) });
    } catch (err) {
      next(err);
    }
  });
};

beforeAll(async () => {
  [op, redis] = await Promise.all([startProvider({ accessTokenTtl: 300 }), startRedis()]);
  a = await startApp(op, { redis: redis.url, idpLogout: false }, routes);
  b = await startApp(op, { redis: redis.url, idpLogout: false }, routes);
}, 20_000);
afterAll(async () => {
  await a?.close();
  await b?.close();
  await op?.stop();
  await redis?.stop();
});

async function signIn(app: TestApp, account: string, userAgent: string): Promise<CookieJar> {
  const jar = new CookieJar();
  op.setAccount(account);
  try {
    const { callbackUrl } = await startLogin(app.url, { jar });
    // The callback is where the User-Agent is stored.
    const done = await request(callbackUrl, { jar, headers: { 'user-agent': userAgent } });
    expect(done.status).toBe(302);
  } finally {
    op.setAccount('alice');
  }
  return jar;
}

const devices = async (app: TestApp, jar: CookieJar) =>
  (await (await request(`${app.url}/api/devices`, { jar })).json()) as SessionListing[];
const signedIn = async (app: TestApp, jar: CookieJar) => (await (await request(`${app.url}/api/tokens`, { jar })).json()) !== null;
const idOf = (jar: CookieJar) => decodeURIComponent(jar.get('oidc.sid')!).slice(2).split('.')[0]!;

describe('your devices', () => {
  it("lists the user's sessions of both instances, with times, user agent and the caller marked current", async () => {
    const phone = await signIn(a, 'dora', 'Phone/1.0');
    const laptop = await signIn(b, 'dora', 'Laptop/2.0');
    await signIn(a, 'other-user', 'Elsewhere/1.0');
    const list = await devices(a, phone);
    expect(list).toHaveLength(2);
    const mine = list.find((d) => d.current)!;
    expect(mine.userAgent).toBe('Phone/1.0');
    expect(list.find((d) => !d.current)?.userAgent).toBe('Laptop/2.0');
    expect(list.filter((d) => d.current)).toHaveLength(1);
    for (const d of list) {
      expect(d.createdAt).toBeLessThanOrEqual(Date.now());
      expect(d.lastActiveAt).toBeGreaterThanOrEqual(d.createdAt);
      expect(d.expiresAt).toBeGreaterThan(Date.now());
      // Opaque: neither session id appears in it.
      expect(d.handle).not.toContain(idOf(phone));
      expect(d.handle).not.toContain(idOf(laptop));
    }
    expect((await devices(b, laptop)).map((d) => d.handle).sort()).toEqual(list.map((d) => d.handle).sort());
  });

  it('a handle is not a cookie: sent as the session cookie it signs nobody in', async () => {
    const jar = await signIn(a, 'erin', 'Browser/1.0');
    const [device] = await devices(a, jar);
    // Even signed with the app's own secret, as express-session signs ids, it names no session.
    const signature = createHmac('sha256', TEST_SECRET).update(device!.handle).digest('base64').replace(/=+$/, '');
    const forged = new CookieJar();
    forged.set('oidc.sid', encodeURIComponent(`s:${device!.handle}.${signature}`), { url: a.url });
    expect(await signedIn(a, forged)).toBe(false);
  });

  it('revokeSessions({ handle }) on one instance ends that one session on both', async () => {
    const phone = await signIn(a, 'fay', 'Phone/1.0');
    const laptop = await signIn(b, 'fay', 'Laptop/2.0');
    const other = (await devices(a, phone)).find((d) => !d.current)!;
    const res = await request(`${b.url}/api/devices/end`, {
      jar: laptop.clone(),
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ handle: other.handle }),
    });
    expect(await res.json()).toEqual({ ended: 1 });
    expect(await signedIn(a, laptop)).toBe(false);
    expect(await signedIn(b, laptop)).toBe(false);
    expect(await signedIn(a, phone)).toBe(true);
    // Another user's handle, or a made-up one, ends nothing.
    const stranger = await signIn(a, 'gus', 'Browser/1.0');
    const strangerHandle = (await devices(a, stranger))[0]!.handle;
    const none = await request(`${a.url}/api/devices/end`, {
      jar: phone,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ handle: strangerHandle }),
    });
    expect(await none.json()).toEqual({ ended: 0 });
    expect(await signedIn(a, stranger)).toBe(true);
  });
});

describe('front-channel logout', () => {
  async function sidOf(app: TestApp, jar: CookieJar): Promise<string> {
    const { idToken } = (await (await request(`${app.url}/api/tokens`, { jar })).json()) as { idToken: string };
    return (JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as { sid: string }).sid;
  }

  it("iss + sid: ends that IdP session's sessions on every instance; a frameable no-store page", async () => {
    const jar = await signIn(a, 'hana', 'Browser/1.0');
    const sid = await sidOf(a, jar);
    // What reaches the browser and other services (the session JWT) never names the IdP sid this route takes.
    const { jwtPayload } = (await (await request(`${a.url}/api/tokens`, { jar })).json()) as { jwtPayload: { sid: string } };
    expect(jwtPayload.sid).not.toBe(sid);
    const url = new URL(`${b.url}/auth/frontchannel-logout`);
    url.searchParams.set('iss', op.issuer);
    url.searchParams.set('sid', sid);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toBe(`frame-ancestors ${new URL(op.issuer).origin}`);
    expect(res.headers.getSetCookie()).toEqual([]);
    expect(await signedIn(a, jar)).toBe(false);
  });

  it('a forged iss, or no sid, is a 400 and ends nothing', async () => {
    const jar = await signIn(a, 'ivy', 'Browser/1.0');
    const sid = await sidOf(a, jar);
    for (const query of [
      `iss=${encodeURIComponent('https://evil.example')}&sid=${sid}`,
      `iss=${encodeURIComponent(op.issuer)}`,
      `sid=${sid}`,
      '',
    ]) {
      const res = await fetch(`${a.url}/auth/frontchannel-logout?${query}`);
      expect(res.status).toBe(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    expect(await signedIn(a, jar)).toBe(true);
  });
});
