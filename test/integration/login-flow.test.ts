// The whole authorization code flow against a real oidc-provider: login → provider → callback →
// session route → getServerSession → logout → session gone from the store.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import session, { type SessionData } from 'express-session';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

let op: TestProvider;
let app: TestApp;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 60 });
  app = await startApp(op, { idpLogout: false });
});
afterAll(async () => {
  await app?.close();
  await op?.stop();
});

function sessionIdOf(jar: CookieJar): string {
  const raw = decodeURIComponent(jar.get('oidc.sid') ?? '');
  return raw.slice(2, raw.lastIndexOf('.'));
}

function stored(key: string): Promise<unknown> {
  // Token records live in the backend, not in the session store.
  return key.startsWith('tok:') ? app.router.context.tokens.read(key.slice(4)) : app.router.context.store.getAsync(key);
}

describe('login flow', () => {
  it('signs in, serves the session and tokens, and signs out', async () => {
    const jar = new CookieJar();
    const result = await login(app.url, { jar, returnTo: '/dashboard?tab=1' });
    expect(result.status).toBe(302);
    expect(result.location).toBe('/dashboard?tab=1');

    const sessionRes = await request(`${app.url}/auth/session`, { jar });
    expect(sessionRes.status).toBe(200);
    expect(sessionRes.headers.get('cache-control')).toBe('no-store');
    const session = (await sessionRes.json()) as Record<string, unknown>;
    expect(session.user).toMatchObject({ sub: 'alice', name: 'Alice Test', email: 'alice@example.test' });
    expect(typeof session.now).toBe('number');
    expect(session.expires).toBeGreaterThan(Date.now());
    expect(session.accessTokenExpires).toBeGreaterThan(Date.now());
    expect(typeof session.jwt).toBe('string');
    // No token but the JWT leaves the server by default.
    expect(session).not.toHaveProperty('accessToken');
    expect(session).not.toHaveProperty('idToken');
    expect(session).not.toHaveProperty('refreshToken');

    const tokens = (await (await request(`${app.url}/api/tokens`, { jar })).json()) as Record<string, unknown>;
    expect(typeof tokens.accessToken).toBe('string');
    expect(typeof tokens.refreshToken).toBe('string');
    expect(typeof tokens.idToken).toBe('string');
    expect(tokens.idTokenExpires).toBeGreaterThan(Date.now());

    const me = await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user: { sub: string } }).user.sub).toBe('alice');

    const sid = sessionIdOf(jar);
    expect(await stored(sid)).not.toBeNull();
    expect(await stored(`tok:${sid}`)).not.toBeNull();
    const out = await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { origin: app.url } });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe(`${app.url}/`);
    // The session blob and its token record are both gone.
    expect(await stored(sid)).toBeNull();
    expect(await stored(`tok:${sid}`)).toBeNull();
    const after = await request(`${app.url}/auth/session`, { jar });
    expect(await after.json()).toBeNull();
    const denied = await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } });
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ error: 'unauthenticated', code: 'ERR_UNAUTHENTICATED' });
  });

  it('stores nothing for a login that is only started, and sets the session cookie at the callback', async () => {
    const jar = new CookieJar();
    await request(`${app.url}/auth/login`, { jar });
    expect(jar.get('oidc.sid')).toBeUndefined();
    expect(jar.all().filter((c) => c.name.startsWith('oidc.sid.tx.'))).toHaveLength(1);
    await login(app.url, { jar });
    expect(jar.get('oidc.sid')).toBeTruthy();
  });

  it('sends page requests to login and API requests a 401', async () => {
    const jar = new CookieJar();
    const page = await request(`${app.url}/api/me?x=1`, { jar, headers: { accept: 'text/html' } });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/auth/login?returnTo=%2Fapi%2Fme%3Fx%3D1');
    const api = await request(`${app.url}/api/me`, { jar, method: 'GET', headers: { accept: 'application/json' } });
    expect(api.status).toBe(401);
  });

  it('the session exists before the browser follows the redirect after login, even with a slow store', async () => {
    // A store whose writes take 300 ms: express-session alone would send the 302's headers before saving.
    class SlowStore extends session.MemoryStore {
      override set(sid: string, sess: SessionData, cb?: (err?: unknown) => void): void {
        setTimeout(() => super.set(sid, sess, cb), 300);
      }
    }
    const slow = await startApp(op, { store: new SlowStore(), idpLogout: false });
    try {
      const jar = new CookieJar();
      expect((await login(slow.url, { jar })).status).toBe(302);
      const me = await request(`${slow.url}/api/me`, { jar, headers: { accept: 'application/json' } });
      expect(me.status).toBe(200);
    } finally {
      await slow.close();
    }
  });
});
