// Checklist 18–22, 25, 27, 28: the session cookie and the session's life in the store, with the real
// provider and a real redis-server as the store (so "gone from the store" means gone from Redis).

import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { type OidcSessionRouter, oidcSession, requiresAuth } from '../../lib/index.js';
import { startApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { followRedirects, login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { type Listening, listen } from '../helpers/server.js';
import { closeAll, hookIdTokens, meStatus, resign, sessionIdOf, sessionOf } from './support.js';

let op: TestProvider;
let redis: TestRedis;
let app: TestApp;
let hook: ReturnType<typeof hookIdTokens>;

beforeAll(async () => {
  [op, redis] = await Promise.all([startProvider({ accessTokenTtl: 300 }), startRedis()]);
  hook = hookIdTokens(op);
  app = await startApp(
    op,
    {
      redis: redis.url,
      idpLogout: false,
      // Lets a test grow the session (not the cookie) through POST /auth/session { data }.
      callbacks: { session: (s, _req, { update }) => (update === undefined ? s : { ...s, user: { ...s.user, profile: update } }) },
    },
    (target) => {
      // An app route that writes an anonymous session: its Set-Cookie must carry no-store too.
      target.get('/api/visit', (req, res) => {
        (req.session as unknown as { visits?: number }).visits = 1;
        res.send('ok');
      });
    },
  );
}, 20_000);
afterAll(async () => {
  await closeAll(app, op);
  await redis?.stop();
});

function stored(key: string): Promise<unknown> {
  // Token records live in the backend, not in the session store.
  return key.startsWith('tok:') ? app.router.context.tokens.read(key.slice(4)) : app.router.context.store.getAsync(key);
}

/** express-session's cookie value for a session id: `s:` + id + `.` + base64 HMAC-SHA256 without padding. */
function signedCookie(id: string, secret = TEST_SECRET): string {
  return encodeURIComponent(`s:${id}.${createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '')}`);
}

function attributes(line: string): { name: string; value: string; attrs: Map<string, string> } {
  const [pair = '', ...rest] = line.split(';');
  const eq = pair.indexOf('=');
  const attrs = new Map(
    rest.map((a) => {
      const i = a.indexOf('=');
      return [(i === -1 ? a : a.slice(0, i)).trim().toLowerCase(), i === -1 ? '' : a.slice(i + 1).trim()] as [string, string];
    }),
  );
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attrs };
}

/** Everything the browser would hold after a login, plus the tokens the server keeps for it. */
async function signIn(account = 'alice'): Promise<{ jar: CookieJar; tokens: Record<string, string> }> {
  const jar = new CookieJar();
  op.setAccount(account);
  try {
    expect((await login(app.url, { jar })).status).toBe(302);
  } finally {
    op.setAccount('alice');
  }
  const tokens = (await (await request(`${app.url}/api/tokens`, { jar })).json()) as Record<string, string>;
  return { jar, tokens };
}

describe('18: cookie attributes', () => {
  let server: Listening;
  let router: OidcSessionRouter;
  let base: string;
  const XFP = { 'x-forwarded-proto': 'https' };

  // An https baseURL behind a TLS-terminating proxy (trust proxy + X-Forwarded-Proto), as DESIGN.md describes.
  beforeAll(async () => {
    server = await listen();
    base = `https://127.0.0.1:${server.port}`;
    op.allowRedirect(`${base}/auth/callback`);
    const target = express();
    target.set('trust proxy', 'loopback');
    router = oidcSession({
      issuer: op.issuer,
      clientId: op.clientId,
      clientSecret: op.clientSecret,
      baseURL: base,
      secret: TEST_SECRET,
      idpLogout: false,
    });
    target.use(router);
    target.get('/api/me', requiresAuth(), (_req, res) => void res.json({ ok: true }));
    server.attach(target);
  });
  afterAll(async () => {
    await server?.close();
    await router?.close();
  });

  it('18: https: __Host- name, Secure, HttpOnly, Path=/, no Domain, SameSite=Lax, on every Set-Cookie; logout clears it', async () => {
    const jar = new CookieJar();
    const start = await request(`${server.url}/auth/login`, { jar, headers: XFP });
    expect(start.status).toBe(302);
    const toIdp = await followRedirects(start.headers.get('location')!, { jar, stopBefore: (u) => u.protocol === 'https:' });
    const callback = new URL(toIdp.stoppedAt!);
    expect(callback.href.startsWith(`${base}/auth/callback`)).toBe(true);
    callback.protocol = 'http:';
    const done = await request(callback, { jar, headers: XFP });
    expect(done.status).toBe(302);
    const all = [...start.headers.getSetCookie(), ...done.headers.getSetCookie()].map(attributes);
    // The pending login: its own short-lived cookie, scoped to basePath (so __Secure-, as __Host- needs Path=/).
    const pending = all.filter((c) => c.name.startsWith('__Secure-oidc.sid.tx.'));
    expect(pending.map((c) => Number(c.attrs.get('max-age')))).toEqual([600, 0]); // set at login, cleared at the callback
    for (const { attrs } of pending) {
      expect(attrs.has('secure')).toBe(true);
      expect(attrs.has('httponly')).toBe(true);
      expect(attrs.get('path')).toBe('/auth');
      expect(attrs.get('samesite')?.toLowerCase()).toBe('lax');
    }
    const lines = all.filter((c) => !pending.includes(c));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const { name, attrs } of lines) {
      expect(name).toBe('__Host-oidc.sid');
      expect(attrs.has('secure')).toBe(true);
      expect(attrs.has('httponly')).toBe(true);
      expect(attrs.get('path')).toBe('/');
      expect(attrs.has('domain')).toBe(false);
      expect(attrs.get('samesite')?.toLowerCase()).toBe('lax');
    }
    expect(jar.rejected).toEqual([]);
    expect(await (await request(`${server.url}/api/me`, { jar, headers: { ...XFP, accept: 'application/json' } })).status).toBe(200);

    const out = await request(`${server.url}/auth/logout`, { jar, method: 'POST', headers: { ...XFP, origin: base } });
    expect(out.status).toBe(303);
    const cleared = out.headers
      .getSetCookie()
      .map(attributes)
      .find((c) => c.name === '__Host-oidc.sid');
    expect(cleared?.attrs.has('secure')).toBe(true);
    expect(cleared?.attrs.get('path')).toBe('/');
    // A browser accepts the clearing cookie (a __Host- cookie without Secure/Path=/ would be ignored, leaving the old one).
    expect(jar.rejected).toEqual([]);
    expect(jar.get('__Host-oidc.sid')).toBeUndefined();
  });

  it('18: http (local development): HttpOnly, Path=/, no Domain, explicit SameSite=Lax', async () => {
    const res = await request(`${app.url}/api/visit`, { jar: new CookieJar() });
    const [cookie] = res.headers.getSetCookie().map(attributes);
    expect(cookie?.name).toBe('oidc.sid');
    expect(cookie?.attrs.has('httponly')).toBe(true);
    expect(cookie?.attrs.get('path')).toBe('/');
    expect(cookie?.attrs.has('domain')).toBe(false);
    expect(cookie?.attrs.get('samesite')?.toLowerCase()).toBe('lax');
  });
});

describe('session fixation and tampering (19–22)', () => {
  it('19: login over an anonymous session → new session id; the old one is gone from Redis', async () => {
    const jar = new CookieJar();
    // GET /login alone stores nothing; an app route makes the anonymous session.
    await (await request(`${app.url}/auth/login`, { jar })).body?.cancel();
    expect(jar.get('oidc.sid')).toBeUndefined();
    await (await request(`${app.url}/api/visit`, { jar })).body?.cancel();
    const anonymous = sessionIdOf(jar);
    expect(await stored(anonymous)).not.toBeNull();
    expect((await login(app.url, { jar })).status).toBe(302);
    const signedIn = sessionIdOf(jar);
    expect(signedIn).not.toBe(anonymous);
    expect(await stored(anonymous)).toBeNull();
    expect(await stored(signedIn)).not.toBeNull();
  });

  it("20: user B signing in over user A's session → new id; nothing of A remains", async () => {
    const { jar } = await signIn('alice');
    const aliceId = sessionIdOf(jar);
    // Drop the provider's own cookies so that it asks who signs in, as on a shared computer.
    for (const c of jar.all()) if (c.name !== 'oidc.sid') jar.delete(c.name);
    op.setAccount('bob');
    try {
      expect((await login(app.url, { jar })).status).toBe(302);
    } finally {
      op.setAccount('alice');
    }
    const bobId = sessionIdOf(jar);
    expect(bobId).not.toBe(aliceId);
    expect(await stored(aliceId)).toBeNull();
    expect(await stored(`tok:${aliceId}`)).toBeNull();
    expect(JSON.stringify(await stored(bobId))).not.toContain('alice');
    expect((await sessionOf(app, jar))?.user).toMatchObject({ sub: 'bob' });
  });

  it('20: … including its entries in the session index', async () => {
    const { jar } = await signIn('ivan');
    const ivanId = sessionIdOf(jar);
    for (const c of jar.all()) if (c.name !== 'oidc.sid') jar.delete(c.name);
    op.setAccount('judy');
    try {
      expect((await login(app.url, { jar })).status).toBe(302);
    } finally {
      op.setAccount('alice');
    }
    expect(await app.router.context.index.members({ sub: 'ivan' })).not.toContain(ivanId);
  });

  it('21: a session id the server never issued (forged, validly signed, or unsigned) is replaced, never adopted', async () => {
    for (const forged of [
      signedCookie('attacker-chosen-session-id-0000000'),
      'attacker-chosen-session-id-0000000',
      signedCookie('attacker-chosen-session-id-0000000', 'some-other-secret-0123456789abcdef'),
    ]) {
      const jar = new CookieJar();
      jar.set('oidc.sid', forged, { url: app.url });
      const visit = await request(`${app.url}/api/visit`, { jar });
      await visit.body?.cancel();
      expect(jar.get('oidc.sid')).not.toBe(forged);
      expect(sessionIdOf(jar)).not.toBe('attacker-chosen-session-id-0000000');
      expect(await stored('attacker-chosen-session-id-0000000')).toBeNull();
      jar.set('oidc.sid', forged, { url: app.url });
      expect((await login(app.url, { jar })).status).toBe(302);
      expect(sessionIdOf(jar)).not.toBe('attacker-chosen-session-id-0000000');
      expect(await stored('attacker-chosen-session-id-0000000')).toBeNull();
      // The attacker's copy of the cookie gives nothing.
      const attacker = new CookieJar();
      attacker.set('oidc.sid', forged, { url: app.url });
      expect(await sessionOf(app, attacker)).toBeNull();
    }
  });

  it('22: a tampered signature or a malformed cookie → treated as no session, never a 500; the real session is unharmed', async () => {
    const { jar } = await signIn();
    const good = jar.get('oidc.sid')!;
    const raw = decodeURIComponent(good);
    const variants = [
      encodeURIComponent(`${raw.slice(0, -2)}${raw.endsWith('AA') ? 'BB' : 'AA'}`), // signature changed
      encodeURIComponent(`${raw.slice(0, raw.lastIndexOf('.'))}`), // signature removed
      encodeURIComponent(`s:${raw.slice(2, raw.lastIndexOf('.'))}X${raw.slice(raw.lastIndexOf('.'))}`), // id changed
      '%E0%A4%A',
      's:',
      's:.',
      '.',
      '%00',
      'x'.repeat(3000),
      '"s:abc.def"',
      's%3A%2F%2F..%2F..%2Fetc%2Fpasswd.x',
    ];
    for (const value of variants) {
      const other = new CookieJar();
      other.set('oidc.sid', value, { url: app.url });
      const res = await request(`${app.url}/auth/session`, { jar: other });
      expect({ value, status: res.status }).toEqual({ value, status: 200 });
      expect(await res.json()).toBeNull();
      expect(await meStatus(app, other)).toBe(401);
    }
    // A garbled Cookie header as a whole.
    for (const header of [';;;===', 'oidc.sid', `oidc.sid=${good}; oidc.sid=${variants[0]}`, '=oidc.sid']) {
      const res = await fetch(`${app.url}/auth/session`, { headers: { cookie: header } });
      expect({ header, status: res.status }).toEqual({ header, status: 200 });
      await res.body?.cancel();
    }
    expect(await meStatus(app, jar)).toBe(200);
  });
});

describe('logout and the cookie (25, 27, 28)', () => {
  it('25: logout destroys the store entry and clears the cookie; replaying the old cookie is unauthenticated and recreates nothing', async () => {
    const { jar } = await signIn();
    const id = sessionIdOf(jar);
    const oldCookie = jar.get('oidc.sid')!;
    const out = await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { origin: app.url } });
    expect(out.status).toBe(303);
    const cleared = out.headers
      .getSetCookie()
      .map(attributes)
      .find((c) => c.name === 'oidc.sid');
    expect(cleared?.value).toBe('');
    expect(Date.parse(cleared?.attrs.get('expires') ?? '')).toBeLessThan(Date.now());
    expect(jar.get('oidc.sid')).toBeUndefined();
    expect(await stored(id)).toBeNull();
    expect(await stored(`tok:${id}`)).toBeNull();

    const replay = new CookieJar();
    replay.set('oidc.sid', oldCookie, { url: app.url });
    expect(await sessionOf(app, replay)).toBeNull();
    expect(await meStatus(app, replay)).toBe(401);
    expect(await (await request(`${app.url}/api/tokens`, { jar: replay })).json()).toBeNull();
    const refresh = await request(`${app.url}/auth/session`, {
      jar: replay,
      method: 'POST',
      headers: { origin: app.url, 'x-oidc-session': '1', 'content-type': 'application/json' },
      body: '{"refresh":true}',
    });
    expect(refresh.status).toBe(401);
    await refresh.body?.cancel();
    // None of these requests brought the old id back to life.
    expect(await stored(id)).toBeNull();
    expect(await stored(`tok:${id}`)).toBeNull();
  });

  it('27: the cookie stays a short signed id (≤ 4096 bytes) with a 20 KB ID token and a 20 KB session; no token in any cookie', async () => {
    const groups = Array.from({ length: 600 }, (_, i) => `group-${i}-${'x'.repeat(20)}`);
    hook.forge = resign(op, { groups });
    const jar = new CookieJar();
    const lines: string[] = [];
    let result: Awaited<ReturnType<typeof followRedirects>>;
    try {
      const first = await request(`${app.url}/auth/login`, { jar });
      lines.push(...first.headers.getSetCookie());
      result = await followRedirects(first.headers.get('location')!, {
        jar,
        stopBefore: (u) => u.origin === app.url && u.pathname === '/auth/callback',
      });
      const done = await request(result.stoppedAt!, { jar });
      expect(done.status).toBe(302);
      lines.push(...done.headers.getSetCookie());
    } finally {
      hook.forge = undefined;
    }
    const tokens = (await (await request(`${app.url}/api/tokens`, { jar })).json()) as Record<string, string>;
    expect(tokens.idToken.length).toBeGreaterThan(20_000);
    const update = await request(`${app.url}/auth/session`, {
      jar,
      method: 'POST',
      headers: { origin: app.url, 'x-oidc-session': '1', 'content-type': 'application/json' },
      body: JSON.stringify({ data: { bio: 'y'.repeat(12_000) } }),
    });
    expect(update.status).toBe(200);
    lines.push(...update.headers.getSetCookie());
    const secrets = [tokens.accessToken, tokens.refreshToken, tokens.idToken, tokens.jwt, op.clientSecret, TEST_SECRET].filter(Boolean);
    for (const line of lines) {
      const { name, value } = attributes(line);
      expect(Buffer.byteLength(`${name}=${value}`)).toBeLessThanOrEqual(4096);
      for (const secret of secrets) expect(line).not.toContain(secret.slice(0, 40));
      if (name.includes('.tx.')) {
        // The pending login: an encrypted JWE (dir + A256GCM: five parts, empty key part) or its clearing.
        if (value) expect(value).toMatch(/^eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0\.\.[\w-]+\.[\w-]+\.[\w-]+$/);
        continue;
      }
      // A signed opaque id: `s:<32 chars>.<43 chars>` URL-encoded, nothing that decodes to a JWT or a secret.
      expect(decodeURIComponent(value)).toMatch(/^s:[\w-]{32}\.[\w+/]{43}$/);
    }
    // After the callback only the session cookie is left, and it holds no token.
    expect(jar.all().filter((c) => c.name.includes('.tx.'))).toEqual([]);
    for (const c of jar.all()) expect(c.value).not.toMatch(/eyJ/);
    expect(await meStatus(app, jar)).toBe(200);
  });

  it('28: Cache-Control: no-store on every response that sets a cookie, and on the session JSON (GET and POST)', async () => {
    const jar = new CookieJar();
    const seen: Array<{ what: string; res: Response }> = [];
    const track = async (what: string, res: Response) => {
      seen.push({ what, res });
      return res;
    };
    const first = await track('GET /auth/login', await request(`${app.url}/auth/login`, { jar }));
    const toCallback = await followRedirects(first.headers.get('location')!, {
      jar,
      stopBefore: (u) => u.origin === app.url && u.pathname === '/auth/callback',
    });
    await track('GET /auth/callback', await request(toCallback.stoppedAt!, { jar }));
    await track('GET /auth/session', await request(`${app.url}/auth/session`, { jar }));
    await track(
      'POST /auth/session',
      await request(`${app.url}/auth/session`, {
        jar,
        method: 'POST',
        headers: { origin: app.url, 'x-oidc-session': '1', 'content-type': 'application/json' },
        body: '{"refresh":true}',
      }),
    );
    await track(
      'GET /api/me (401 JSON)',
      await request(`${app.url}/api/me`, { jar: new CookieJar(), headers: { accept: 'application/json' } }),
    );
    await track('app route writing an anonymous session', await request(`${app.url}/api/visit`, { jar: new CookieJar() }));
    await track('POST /auth/logout', await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { origin: app.url } }));
    await track('GET /auth/session (signed out)', await request(`${app.url}/auth/session`, { jar }));

    const withCookie = seen.filter(({ res }) => res.headers.getSetCookie().length > 0).map(({ what }) => what);
    expect(withCookie).toEqual(
      expect.arrayContaining(['GET /auth/login', 'GET /auth/callback', 'app route writing an anonymous session', 'POST /auth/logout']),
    );
    for (const { what, res } of seen) {
      if (res.headers.getSetCookie().length > 0 || what.includes('/auth/session') || what.includes('401')) {
        expect({ what, cacheControl: res.headers.get('cache-control') }).toEqual({ what, cacheControl: 'no-store' });
      }
      await res.body?.cancel();
    }
  });
});
