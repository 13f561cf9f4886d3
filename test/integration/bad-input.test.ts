// Bad input everywhere, against the real provider: forged, replayed, denied and junk callbacks; open-redirect
// spellings of returnTo; tampered, unknown and malformed cookies; malformed, oversized and cross-site session
// updates; GET logout. Each is a clear 4xx with a stable code (never a 500), no failed login creates a session,
// and no response carries a token, a secret or a stack trace.

import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { FORCE_MIN_INTERVAL_MS } from '../../lib/tokens/refresh.js';
import { startApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { restoreClock, shiftClock } from '../helpers/clock.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { followRedirects, login, request, startLogin } from '../helpers/login.js';
import { startProvider, TEST_CLIENT_SECRET, type TestProvider } from '../helpers/op.js';

const COOKIE = 'oidc.sid';
let op: TestProvider;
let app: TestApp;
/** Every token this test has seen (from /api/tokens, which exists to show them); no other response may carry one. */
const tokens = new Set<string>();

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 60 });
  app = await startApp(op, { idpLogout: false });
});
afterAll(async () => {
  await app?.close();
  await op?.stop();
});
beforeEach(() => {
  op.resetCounts();
});

interface Answer {
  status: number;
  body: string;
  json: unknown;
  headers: Headers;
}

/** One request; the raw body is checked for secrets, tokens and stack traces before anything else. */
async function send(
  url: string,
  jar: CookieJar,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  const res = await request(url, { jar, method: init.method, body: init.body, headers: { accept: 'application/json', ...init.headers } });
  const body = await res.text();
  expectClean(body);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  return { status: res.status, body, json, headers: res.headers };
}

function expectClean(body: string): void {
  expect(body).not.toContain(TEST_CLIENT_SECRET);
  expect(body).not.toContain(TEST_SECRET);
  for (const token of tokens) expect(body).not.toContain(token);
  // No stack frame, no file path, no raw error class from a dependency.
  expect(body).not.toMatch(/\n\s+at |\bat .+:\d+:\d+|node_modules|\/work\/|TypeError|ReferenceError/);
}

/** A client error with our JSON shape and the given code. */
function expectError(answer: Answer, status: number, code: string): void {
  expect({ status: answer.status, code: (answer.json as { code?: string } | undefined)?.code }).toEqual({ status, code });
  expect(answer.json).toMatchObject({ error: expect.any(String), message: expect.any(String) });
  expect(answer.headers.get('cache-control')).toBe('no-store');
}

async function sessionOf(jar: CookieJar): Promise<{ user?: { sub?: string } } | null> {
  const answer = await send(`${app.url}/auth/session`, jar);
  expect(answer.status).toBe(200);
  return answer.json as { user?: { sub?: string } } | null;
}

/** Not signed in, by every route that could tell. */
async function expectSignedOut(jar: CookieJar): Promise<void> {
  expect(await sessionOf(jar)).toBeNull();
  expect((await send(`${app.url}/api/me`, jar)).status).toBe(401);
}

async function signIn(jar = new CookieJar()): Promise<CookieJar> {
  expect((await login(app.url, { jar })).status).toBe(302);
  const res = await request(`${app.url}/api/tokens`, { jar });
  const seen = (await res.json()) as Record<string, unknown>;
  for (const key of ['accessToken', 'refreshToken', 'idToken']) {
    expect(typeof seen[key]).toBe('string');
    tokens.add(seen[key] as string);
  }
  return jar;
}

/** The URL-decoded, unsigned session id of the cookie. */
function sessionIdOf(jar: CookieJar): string {
  const raw = decodeURIComponent(jar.get(COOKIE) ?? '');
  return raw.slice(2, raw.lastIndexOf('.'));
}

/** A cookie value express-session accepts as correctly signed with `secret` (cookie-signature's format). */
function signedCookie(sessionId: string, secret = TEST_SECRET): string {
  const mac = createHmac('sha256', secret).update(sessionId).digest('base64').replace(/=+$/, '');
  return encodeURIComponent(`s:${sessionId}.${mac}`);
}

function callbackWith(callbackUrl: string, change: (params: URLSearchParams) => void): string {
  const url = new URL(callbackUrl);
  change(url.searchParams);
  return url.href;
}

describe('callback', () => {
  it('1: a mismatched state → 400 ERR_LOGIN_STATE_MISMATCH, no code exchange, no session', async () => {
    const jar = new CookieJar();
    const { callbackUrl } = await startLogin(app.url, { jar });
    const answer = await send(
      callbackWith(callbackUrl, (p) => p.set('state', 'forged-state-value')),
      jar,
    );
    expectError(answer, 400, 'ERR_LOGIN_STATE_MISMATCH');
    expect(op.count('grant.success')).toBe(0);
    await expectSignedOut(jar);
  });

  it('1: a missing state → 400 ERR_LOGIN_STATE_MISMATCH, no code exchange, no session', async () => {
    const jar = new CookieJar();
    const { callbackUrl } = await startLogin(app.url, { jar });
    const answer = await send(
      callbackWith(callbackUrl, (p) => p.delete('state')),
      jar,
    );
    expectError(answer, 400, 'ERR_LOGIN_STATE_MISMATCH');
    expect(op.count('grant.success')).toBe(0);
    await expectSignedOut(jar);
  });

  it('2: no transaction (the cookie was dropped) → 400 with a clear message, no code exchange, no session', async () => {
    const jar = new CookieJar();
    const { callbackUrl } = await startLogin(app.url, { jar });
    // The pending login travels in its own cookie (nothing is stored server-side before the callback).
    const pending = jar.all().filter((c) => c.name.includes('.tx.'));
    expect(pending).toHaveLength(1);
    for (const c of pending) jar.delete(c.name);
    const answer = await send(callbackUrl, jar);
    expectError(answer, 400, 'ERR_LOGIN_STATE_MISMATCH');
    expect((answer.json as { message: string }).message).toMatch(/state/);
    expect(op.count('grant.success')).toBe(0);
    await expectSignedOut(jar);
  });

  it('3: a replayed callback → 400; the existing session, its id and its tokens are unchanged', async () => {
    const jar = new CookieJar();
    const { callbackUrl } = await startLogin(app.url, { jar });
    const first = await request(callbackUrl, { jar });
    await first.body?.cancel();
    expect(first.status).toBe(302);
    expect(op.count('grant.success')).toBe(1);
    const before = {
      cookie: jar.get(COOKIE),
      tokens: (await (await request(`${app.url}/api/tokens`, { jar })).json()) as Record<string, unknown>,
    };
    for (const key of ['accessToken', 'refreshToken', 'idToken']) tokens.add(before.tokens[key] as string);

    const replay = await send(callbackUrl, jar);
    expectError(replay, 400, 'ERR_LOGIN_STATE_MISMATCH');
    expect(replay.headers.getSetCookie()).toEqual([]);
    expect(op.count('grant.success')).toBe(1); // the code was not sent to the IdP again
    expect(jar.get(COOKIE)).toBe(before.cookie);
    expect((await sessionOf(jar))?.user?.sub).toBe('alice');
    const after = (await (await request(`${app.url}/api/tokens`, { jar })).json()) as Record<string, unknown>;
    expect(after.accessToken).toBe(before.tokens.accessToken);
    expect(after.refreshToken).toBe(before.tokens.refreshToken);
  });

  it('3: a callback replayed from another browser (no transaction) → 400, the first browser stays signed in', async () => {
    const jar = new CookieJar();
    const { callbackUrl } = await startLogin(app.url, { jar });
    expect((await request(callbackUrl, { jar })).status).toBe(302);
    const attacker = new CookieJar();
    expectError(await send(callbackUrl, attacker), 400, 'ERR_LOGIN_STATE_MISMATCH');
    await expectSignedOut(attacker);
    expect((await sessionOf(jar))?.user?.sub).toBe('alice');
  });

  it('4: error=access_denied → 403 ERR_LOGIN_DENIED (JSON and an HTML page), no session, no 500', async () => {
    const jar = new CookieJar();
    const { callbackUrl } = await startLogin(app.url, { jar });
    const state = new URL(callbackUrl).searchParams.get('state')!;
    const denied = `${app.url}/auth/callback?error=access_denied&error_description=${encodeURIComponent('<script>alert(1)</script>')}&state=${state}`;
    expectError(await send(denied, jar), 403, 'ERR_LOGIN_DENIED');
    const page = await send(denied, jar, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(403);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.body).toContain('ERR_LOGIN_DENIED');
    expect(page.body).not.toContain('<script>'); // the IdP's text is never reflected
    expectError(await send(`${app.url}/auth/callback?error=access_denied`, new CookieJar()), 403, 'ERR_LOGIN_DENIED');
    expect(op.count('grant.success')).toBe(0);
    await expectSignedOut(jar);
  });

  it("an IdP error other than access_denied → 400 ERR_LOGIN_FAILED without the IdP's text", async () => {
    const jar = new CookieJar();
    const answer = await send(
      `${app.url}/auth/callback?error=server_error&error_description=${encodeURIComponent('internal <b>details</b>')}&state=x`,
      jar,
    );
    expectError(answer, 400, 'ERR_LOGIN_FAILED');
    expect(answer.body).not.toContain('details');
    await expectSignedOut(jar);
  });

  it.each<[string, string]>([
    ['a forged code', 'code=not-a-real-code&state=not-a-real-state'],
    ['repeated parameters', 'code=a&code=b&state=a&state=b'],
    ['broken percent-encoding', 'code=%E0%A4%A&state=%'],
    ['control characters and unicode', `code=${encodeURIComponent('\u0000\r\n\u2028')}&state=${encodeURIComponent('☃'.repeat(50))}`],
    ['a 12 KB state', `code=abc&state=${'x'.repeat(12_000)}`],
  ])('junk query (%s) → 400 with a stable code, no session', async (_title, query) => {
    const jar = new CookieJar();
    await startLogin(app.url, { jar }); // a real pending transaction the junk must not match
    const answer = await send(`${app.url}/auth/callback?${query}`, jar);
    expect(answer.status).toBe(400);
    expect((answer.json as { code?: string } | undefined)?.code).toMatch(/^ERR_(BAD_REQUEST|LOGIN_STATE_MISMATCH)$/);
    expect(op.count('grant.success')).toBe(0);
    await expectSignedOut(jar);
  });

  it.each<[string, string]>([
    ['no query at all', ''],
    ['unrelated parameters', 'foo=bar'],
    ['a state but no code', 'state=abc'],
    ['bracket syntax', 'code[x]=1&state[y]=2'],
    ['code and state beyond the parameter limit', `${Array.from({ length: 1000 }, (_, i) => `p${i}=${i}`).join('&')}&code=a&state=b`],
  ])('junk query with no usable code (%s) → 400, no redirect to the IdP, no session', async (_title, query) => {
    const jar = new CookieJar();
    await startLogin(app.url, { jar });
    const answer = await send(`${app.url}/auth/callback${query ? `?${query}` : ''}`, jar);
    expect(answer.status).toBe(400);
    expect((answer.json as { code?: string } | undefined)?.code).toMatch(/^ERR_(BAD_REQUEST|LOGIN_STATE_MISMATCH)$/);
    expect(answer.headers.get('location')).toBeNull();
    expect(op.count('grant.success')).toBe(0);
    await expectSignedOut(jar);
  });

  it('6: a forged code with a valid state → 400 ERR_TOKEN_EXCHANGE_FAILED (not a refresh error), no session', async () => {
    const jar = new CookieJar();
    const { callbackUrl } = await startLogin(app.url, { jar });
    const answer = await send(
      callbackWith(callbackUrl, (p) => p.set('code', 'forged-code')),
      jar,
    );
    expectError(answer, 400, 'ERR_TOKEN_EXCHANGE_FAILED');
    await expectSignedOut(jar);
  });

  it('RFC 9207: an authorization response naming another issuer → 400, no session', async () => {
    const jar = new CookieJar();
    const { callbackUrl } = await startLogin(app.url, { jar });
    const answer = await send(
      callbackWith(callbackUrl, (p) => p.set('iss', 'https://evil.example')),
      jar,
    );
    expectError(answer, 400, 'ERR_LOGIN_FAILED');
    await expectSignedOut(jar);
  });

  it('a query beyond the header limit → 431 from Node, the app keeps serving', async () => {
    const res = await fetch(`${app.url}/auth/callback?code=a&state=${'x'.repeat(20_000)}`);
    expectClean(await res.text());
    expect(res.status).toBe(431);
    expect(await sessionOf(new CookieJar())).toBeNull();
  });
});

describe('returnTo', () => {
  const FOREIGN = [
    '//evil.com',
    '///evil.com',
    '/\\evil.com',
    '\\\\evil.com',
    '/\\/evil.com',
    'https://evil.com',
    'https:evil.com',
    'HTTPS://EVIL.COM/',
    '/%2F%2Fevil.com',
    '%2F%2Fevil.com',
    '/%5Cevil.com',
    '\t//evil.com',
    '/\t/evil.com',
    '/\n/evil.com',
    ' //evil.com',
    '/.//evil.com',
    '/..//evil.com',
    'javascript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    '//evil.com@127.0.0.1',
    `/${'a'.repeat(5000)}`,
    '',
  ];

  const titled = FOREIGN.map((value) => [JSON.stringify(value).slice(0, 40), value] as const);
  it.each(titled)('45: returnTo=%s → after login the browser lands on this origin', async (_title, returnTo) => {
    const jar = new CookieJar();
    const result = await login(app.url, { jar, returnTo });
    expect(result.status).toBe(302);
    const location = result.location ?? '';
    // A path on this origin: the browser resolves it against the app, never onto another host.
    expect(location).toMatch(/^\/(?![/\\])/);
    expect(location).not.toMatch(/[\\\t\n\r]/);
    const landing = new URL(location, app.url);
    expect(landing.origin).toBe(new URL(app.url).origin);
    expect(landing.host).toBe(new URL(app.url).host);
    expect((await sessionOf(jar))?.user?.sub).toBe('alice');
  });

  it('45: same-origin paths survive the login', async () => {
    const jar = new CookieJar();
    expect((await login(app.url, { jar, returnTo: '/reports/2024?tab=a#top' })).location).toBe('/reports/2024?tab=a#top');
    // Percent-encoded slashes stay encoded: a path on this origin, never "//evil.com".
    expect((await login(app.url, { jar, returnTo: '/%2F%2Fevil.com' })).location).toMatch(/^\/(%2F.*)?$/i);
  });

  it('45: a returnTo given twice → the default page', async () => {
    const jar = new CookieJar();
    const started = await followRedirects(`${app.url}/auth/login?returnTo=/a&returnTo=//evil.com`, {
      jar,
      stopBefore: (url) => url.href.startsWith(`${app.url}/auth/callback`),
    });
    expect(started.stoppedAt).toBeDefined();
    const done = await request(started.stoppedAt!, { jar });
    await done.body?.cancel();
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toBe('/');
  });
});

describe('session cookie', () => {
  it('22: a tampered cookie signature → signed out (200 null, 401), never a 500', async () => {
    const jar = await signIn();
    const value = decodeURIComponent(jar.get(COOKIE)!);
    const dot = value.lastIndexOf('.');
    const sig = value.slice(dot + 1);
    const flipped = `${value.slice(0, dot + 1)}${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
    const tampered = jar.clone();
    tampered.set(COOKIE, encodeURIComponent(flipped));
    await expectSignedOut(tampered);
    // Signed with another secret: same answer.
    const other = jar.clone();
    other.set(COOKIE, signedCookie(sessionIdOf(jar), 'another-secret-0123456789abcdefghijklmn'));
    await expectSignedOut(other);
    // Unsigned (just the id): same answer.
    const unsigned = jar.clone();
    unsigned.set(COOKIE, sessionIdOf(jar));
    await expectSignedOut(unsigned);
    // The genuine cookie is unaffected.
    expect((await sessionOf(jar))?.user?.sub).toBe('alice');
  });

  it('21: an unknown (correctly signed) session id → signed out, and login issues a fresh id, never the forged one', async () => {
    const forged = 'attacker-chosen-session-id-00000';
    const jar = new CookieJar();
    jar.set(COOKIE, signedCookie(forged));
    await expectSignedOut(jar);
    await login(app.url, { jar });
    expect((await sessionOf(jar))?.user?.sub).toBe('alice');
    expect(sessionIdOf(jar)).not.toBe(forged);
    expect(sessionIdOf(jar)).toMatch(/^[\w-]{24,}$/);
    // The forged id was never stored.
    expect(await app.router.context.store.getAsync(forged)).toBeNull();
  });

  it.each<[string, string]>([
    ['broken percent-encoding', `${COOKIE}=%E0%A4%A`],
    ['empty value', `${COOKIE}=`],
    ['prefix only', `${COOKIE}=s%3A`],
    ['no signature', `${COOKIE}=s%3Aabc`],
    ['many dots', `${COOKIE}=s%3A.....`],
    ['junk pairs', `; ; =; ==; garbage; ${COOKIE}`],
    ['the name twice', `${COOKIE}=a; ${COOKIE}=b`],
    ['a 7 KB value', `${COOKIE}=s%3A${'x'.repeat(7000)}.${'y'.repeat(43)}`],
    ['non-ASCII', `${COOKIE}=s%3A\u00e9\u00e8.sig`],
  ])('22: a malformed cookie header (%s) → signed out, never a 500', async (_title, header) => {
    for (const path of ['/auth/session', '/api/me']) {
      const res = await fetch(`${app.url}${path}`, { headers: { cookie: header, accept: 'application/json' } });
      const body = await res.text();
      expectClean(body);
      expect({ path, status: res.status }).toEqual({ path, status: path === '/api/me' ? 401 : 200 });
      if (path === '/auth/session') expect(JSON.parse(body)).toBeNull();
    }
  });
});

describe('POST /auth/session', () => {
  const url = () => `${app.url}/auth/session`;
  const good = () => ({ origin: app.url, 'x-oidc-session': '1', 'content-type': 'application/json' });

  it('malformed JSON → 400 ERR_BAD_REQUEST', async () => {
    const jar = await signIn();
    for (const body of ['{', '{"refresh": tru}', 'null', '[]', '"x"', '{"refresh": "yes"}']) {
      const answer = await send(url(), jar, { method: 'POST', headers: good(), body });
      expectError(answer, 400, 'ERR_BAD_REQUEST');
    }
    // An empty object is the script's update() with no data: a plain read.
    const read = await send(url(), jar, { method: 'POST', headers: good(), body: '{}' });
    expect(read.status).toBe(200);
    expect((await sessionOf(jar))?.user?.sub).toBe('alice');
  });

  it('a body over 16 KB → 413 ERR_PAYLOAD_TOO_LARGE', async () => {
    const jar = await signIn();
    const answer = await send(url(), jar, { method: 'POST', headers: good(), body: JSON.stringify({ data: 'x'.repeat(17 * 1024) }) });
    expectError(answer, 413, 'ERR_PAYLOAD_TOO_LARGE');
    expect((await sessionOf(jar))?.user?.sub).toBe('alice');
  });

  it('31: without the x-oidc-session header → 403 ERR_CSRF_HEADER_MISSING; the refresh does not happen', async () => {
    const jar = await signIn();
    const { 'x-oidc-session': _omitted, ...headers } = good();
    const answer = await send(url(), jar, { method: 'POST', headers, body: '{"refresh":true}' });
    expectError(answer, 403, 'ERR_CSRF_HEADER_MISSING');
    expectError(
      await send(url(), jar, { method: 'POST', headers: { ...headers, 'x-oidc-session': '0' }, body: '{"refresh":true}' }),
      403,
      'ERR_CSRF_HEADER_MISSING',
    );
    expect(op.count('refresh_token.consumed')).toBe(0);
  });

  it('31: a foreign Origin, or no Origin and no Sec-Fetch-Site → 403 ERR_FORBIDDEN_ORIGIN; the refresh does not happen', async () => {
    const jar = await signIn();
    for (const origin of ['https://evil.com', 'null', `${app.url}.evil.com`, app.url.replace('127.0.0.1', 'localhost')]) {
      const answer = await send(url(), jar, { method: 'POST', headers: { ...good(), origin }, body: '{"refresh":true}' });
      expectError(answer, 403, 'ERR_FORBIDDEN_ORIGIN');
    }
    const { origin: _omitted, ...noOrigin } = good();
    expectError(await send(url(), jar, { method: 'POST', headers: noOrigin, body: '{"refresh":true}' }), 403, 'ERR_FORBIDDEN_ORIGIN');
    expectError(
      await send(url(), jar, { method: 'POST', headers: { ...noOrigin, 'sec-fetch-site': 'cross-site' }, body: '{"refresh":true}' }),
      403,
      'ERR_FORBIDDEN_ORIGIN',
    );
    expect(op.count('refresh_token.consumed')).toBe(0);
    // The same request from the app's own page works (once the forced-refresh interval since sign-in has passed).
    shiftClock(Date.now() + FORCE_MIN_INTERVAL_MS + 1000);
    const ok = await send(url(), jar, { method: 'POST', headers: good(), body: '{"refresh":true}' });
    restoreClock();
    expect(ok.status).toBe(200);
    expect(op.count('refresh_token.consumed')).toBe(1);
  });

  it('signed out → 401 ERR_UNAUTHENTICATED, never a session', async () => {
    const jar = new CookieJar();
    expectError(await send(url(), jar, { method: 'POST', headers: good(), body: '{"refresh":true}' }), 401, 'ERR_UNAUTHENTICATED');
    await expectSignedOut(jar);
  });
});

describe('logout', () => {
  it('32: GET /auth/logout → 405 ERR_METHOD_NOT_ALLOWED with Allow: POST; the user stays signed in', async () => {
    const jar = await signIn();
    const answer = await send(`${app.url}/auth/logout`, jar);
    expectError(answer, 405, 'ERR_METHOD_NOT_ALLOWED');
    expect(answer.headers.get('allow')).toBe('POST');
    expect(answer.headers.getSetCookie()).toEqual([]);
    expect((await sessionOf(jar))?.user?.sub).toBe('alice');
  });

  it('32: a cross-site POST /auth/logout → 403 ERR_FORBIDDEN_ORIGIN; the user stays signed in', async () => {
    const jar = await signIn();
    expectError(
      await send(`${app.url}/auth/logout`, jar, { method: 'POST', headers: { origin: 'https://evil.com' } }),
      403,
      'ERR_FORBIDDEN_ORIGIN',
    );
    expectError(
      await send(`${app.url}/auth/logout`, jar, { method: 'POST', headers: { 'sec-fetch-site': 'cross-site' } }),
      403,
      'ERR_FORBIDDEN_ORIGIN',
    );
    expectError(await send(`${app.url}/auth/logout`, jar, { method: 'POST' }), 403, 'ERR_FORBIDDEN_ORIGIN');
    expect((await sessionOf(jar))?.user?.sub).toBe('alice');
  });
});

describe('what responses carry', () => {
  it('the session JSON of a signed-in user has no token but the session JWT, and no secret', async () => {
    const jar = await signIn();
    const answer = await send(`${app.url}/auth/session`, jar);
    expect(answer.status).toBe(200);
    expect(answer.json).not.toHaveProperty('accessToken');
    expect(answer.json).not.toHaveProperty('refreshToken');
    expect(answer.json).not.toHaveProperty('idToken');
    expect(tokens.size).toBeGreaterThan(0); // expectClean() compared every body against real tokens
  });
});
