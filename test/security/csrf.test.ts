// Checklist 29–32: what the session route shows, and that no cross-site request can read it or change
// anything (CORS never granted, same-origin + custom header on state-changing routes, no logout by GET).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { closeAll, meStatus, sessionIdOf, sessionOf } from './support.js';

let op: TestProvider;
let app: TestApp;
let exposing: TestApp;

const EVIL = 'https://evil.example';
// tokenType ('Bearer' | 'DPoP') and auth (acr, amr, authTime) are session fields of the second stage of the contract.
const SESSION_KEYS = [
  'user',
  'expires',
  'accessTokenExpires',
  'idTokenExpires',
  'jwt',
  'jwtExpires',
  'jwtPayload',
  'error',
  'now',
  'tokenType',
  'auth',
];

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 300 });
  app = await startApp(op, {
    idpLogout: false,
    callbacks: {
      session: (s, _req, { update }) =>
        update === undefined ? s : { ...s, user: { ...s.user, theme: String((update as { theme?: unknown }).theme) } },
    },
  });
  exposing = await startApp(op, { idpLogout: false, expose: ['jwt', 'accessToken'] });
});
afterAll(() => closeAll(app, exposing, op));

async function signIn(target: TestApp = app): Promise<CookieJar> {
  const jar = new CookieJar();
  expect((await login(target.url, { jar })).status).toBe(302);
  return jar;
}

async function serverTokens(target: TestApp, jar: CookieJar): Promise<Record<string, string>> {
  return (await (await request(`${target.url}/api/tokens`, { jar })).json()) as Record<string, string>;
}

describe('29: the session JSON', () => {
  it('29: has only the documented fields and contains no token but the session JWT, no secret, no session id', async () => {
    const jar = await signIn();
    const res = await request(`${app.url}/auth/session`, { jar });
    const text = await res.text();
    const session = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(session).filter((k) => !SESSION_KEYS.includes(k))).toEqual([]);
    expect(Object.keys(session.user as object).sort()).toEqual(['email', 'name', 'sub']);
    expect(Object.keys(session.jwtPayload as object).sort()).toEqual(['aud', 'exp', 'iat', 'iss', 'sid', 'sub']);
    const tokens = await serverTokens(app, jar);
    for (const secret of [tokens.accessToken, tokens.refreshToken, tokens.idToken, op.clientSecret, TEST_SECRET, sessionIdOf(jar)]) {
      expect(secret).toBeTruthy();
      expect(text).not.toContain(secret);
    }
    // The session JWT's sid is an opaque id, not the express-session id.
    expect((session.jwtPayload as { sid: string }).sid).not.toBe(sessionIdOf(jar));
  });

  it('29: with expose: [jwt, accessToken] the access token appears, and still no refresh or ID token', async () => {
    const jar = await signIn(exposing);
    const text = await (await request(`${exposing.url}/auth/session`, { jar })).text();
    const session = JSON.parse(text) as Record<string, unknown>;
    const tokens = await serverTokens(exposing, jar);
    expect(session.accessToken).toBe(tokens.accessToken);
    expect(session).not.toHaveProperty('refreshToken');
    expect(session).not.toHaveProperty('idToken');
    expect(text).not.toContain(tokens.refreshToken);
    expect(text).not.toContain(tokens.idToken);
  });
});

describe('30: CORS is never granted', () => {
  it('30: a cross-origin GET of the session gets no Access-Control-* header', async () => {
    const jar = await signIn();
    const res = await request(`${app.url}/auth/session`, {
      jar,
      headers: { origin: EVIL, 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'cors' },
    });
    await res.body?.cancel();
    expect([...res.headers.keys()].filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it('30: a preflight for POST /auth/session with the custom header is not granted', async () => {
    for (const path of ['/auth/session', '/auth/logout', '/auth/backchannel-logout']) {
      const res = await fetch(`${app.url}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin: EVIL,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'x-oidc-session, content-type',
        },
      });
      await res.body?.cancel();
      expect({ path, cors: [...res.headers.keys()].filter((h) => h.startsWith('access-control-')) }).toEqual({ path, cors: [] });
    }
  });
});

describe('31: state-changing calls need the same origin (and the custom header for the session update)', () => {
  const json = { 'content-type': 'application/json' };

  it('31: POST /auth/session without the custom header → 403 ERR_CSRF_HEADER_MISSING, nothing changed', async () => {
    const jar = await signIn();
    for (const headers of [
      { ...json, origin: app.url },
      { ...json, origin: app.url, 'x-oidc-session': '0' },
      { 'content-type': 'text/plain', origin: app.url },
    ]) {
      const res = await request(`${app.url}/auth/session`, { jar, method: 'POST', headers, body: '{"data":{"theme":"pwned"}}' });
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ code: 'ERR_CSRF_HEADER_MISSING' });
    }
    expect((await sessionOf(app, jar))?.user).not.toHaveProperty('theme');
  });

  it('31: POST /auth/session with a foreign, null, same-site or missing origin → 403 ERR_FORBIDDEN_ORIGIN', async () => {
    const jar = await signIn();
    const otherPort = app.url.replace(/:\d+$/, ':1');
    const sites: Array<Record<string, string>> = [
      { origin: EVIL },
      { origin: 'null' },
      { origin: otherPort },
      { origin: app.url.replace('127.0.0.1', 'localhost') },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'none' },
      {},
    ];
    for (const site of sites) {
      const res = await request(`${app.url}/auth/session`, {
        jar,
        method: 'POST',
        headers: { ...json, 'x-oidc-session': '1', ...site },
        body: '{"data":{"theme":"pwned"}}',
      });
      expect({ site, status: res.status }).toEqual({ site, status: 403 });
      expect(await res.json()).toMatchObject({ code: 'ERR_FORBIDDEN_ORIGIN' });
    }
    expect((await sessionOf(app, jar))?.user).not.toHaveProperty('theme');
  });

  it("31 (control): the same update from the app's own page is accepted", async () => {
    const jar = await signIn();
    const sites: Array<Record<string, string>> = [{ origin: app.url }, { 'sec-fetch-site': 'same-origin' }];
    for (const site of sites) {
      const res = await request(`${app.url}/auth/session`, {
        jar,
        method: 'POST',
        headers: { ...json, 'x-oidc-session': '1', ...site },
        body: '{"data":{"theme":"dark"}}',
      });
      expect(res.status).toBe(200);
      await res.body?.cancel();
    }
    expect((await sessionOf(app, jar))?.user).toMatchObject({ theme: 'dark' });
  });

  it('31: POST /auth/logout from another site, a null origin, or with no origin information → 403; the session survives', async () => {
    const jar = await signIn();
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const sites: Array<Record<string, string>> = [
      { origin: EVIL },
      { origin: 'null' },
      { origin: app.url.replace(/:\d+$/, ':1') },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      {},
    ];
    for (const site of sites) {
      const res = await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { ...form, ...site }, body: '' });
      expect({ site, status: res.status }).toEqual({ site, status: 403 });
      expect(await res.json()).toMatchObject({ code: 'ERR_FORBIDDEN_ORIGIN' });
    }
    expect(await meStatus(app, jar)).toBe(200);
    // Control: a plain form post from the app's own page signs out.
    const own = await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { ...form, origin: app.url }, body: '' });
    expect(own.status).toBe(303);
    expect(await meStatus(app, jar)).toBe(401);
  });
});

describe('32: no logout by GET', () => {
  it('32: a cross-site GET (or HEAD) to logout → 405 with Allow: POST; no logout, no cookie change', async () => {
    const jar = await signIn();
    const cookie = jar.get('oidc.sid');
    for (const [method, headers] of [
      ['GET', { 'sec-fetch-site': 'cross-site', 'sec-fetch-dest': 'image' }],
      ['GET', { origin: EVIL }],
      ['GET', { accept: 'text/html' }],
      ['HEAD', {}],
    ] as const) {
      const res = await request(`${app.url}/auth/logout?_method=POST`, { jar, method, headers });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(res.headers.getSetCookie()).toEqual([]);
      await res.body?.cancel();
    }
    expect(jar.get('oidc.sid')).toBe(cookie);
    expect(await meStatus(app, jar)).toBe(200);
  });

  it('32: other cross-site GETs (login, a bogus callback) do not sign the user out either', async () => {
    const jar = await signIn();
    const cross = { 'sec-fetch-site': 'cross-site' };
    await (await request(`${app.url}/auth/login?returnTo=https://evil.example/`, { jar, headers: cross })).body?.cancel();
    await (await request(`${app.url}/auth/callback?code=attacker-code&state=attacker-state`, { jar, headers: cross })).body?.cancel();
    await (await request(`${app.url}/auth/callback?error=access_denied`, { jar, headers: cross })).body?.cancel();
    expect(await meStatus(app, jar)).toBe(200);
  });
});
