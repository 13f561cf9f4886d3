// Smoke tests of the test infrastructure itself: the provider must behave like the oracle
// later tests rely on (rotation, reuse detection, expiry, logout), and the other helpers must
// do what their names say.

import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { createClient } from 'redis';
import { launchChromium } from './helpers/chromium.js';
import { CookieJar } from './helpers/cookie-jar.js';
import { completeLogin, followRedirects, login, startLogin } from './helpers/login.js';
import { startProvider, type TestProvider } from './helpers/op.js';
import { startRedis } from './helpers/redis.js';
import { type Listening, listen, reserveServer } from './helpers/server.js';

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  jwks_uri: string;
  end_session_endpoint: string;
  backchannel_logout_supported?: boolean;
  backchannel_logout_session_supported?: boolean;
  claims_supported?: string[];
}

interface TokenResponse {
  access_token?: string;
  refresh_token?: string;
  id_token?: string;
  expires_in?: number;
  error?: string;
}

const discoveryCache = new Map<string, Promise<Discovery>>();
function discover(op: TestProvider): Promise<Discovery> {
  let d = discoveryCache.get(op.issuer);
  if (!d) {
    d = fetch(`${op.issuer}/.well-known/openid-configuration`).then((r) => r.json() as Promise<Discovery>);
    discoveryCache.set(op.issuer, d);
  }
  return d;
}

function authorizeUrl(d: Discovery, op: TestProvider, redirectUri: string, state = 'st-1'): URL {
  const url = new URL(d.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: op.clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid profile email offline_access',
    state,
    nonce: 'n-1',
  }).toString();
  return url;
}

/** Authorization request through the provider's interactions; returns the callback's query. */
async function authorize(op: TestProvider, jar: CookieJar, redirectUri: string, state?: string) {
  const result = await followRedirects(authorizeUrl(await discover(op), op, redirectUri, state), {
    jar,
    stopBefore: (url) => url.href.startsWith(redirectUri),
  });
  if (!result.stoppedAt) throw new Error(`no callback:\n${result.hops.join('\n')}`);
  return { params: new URL(result.stoppedAt).searchParams, hops: result.hops };
}

async function token(op: TestProvider, params: Record<string, string>): Promise<{ status: number; body: TokenResponse }> {
  const response = await fetch((await discover(op)).token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...params, client_id: op.clientId, client_secret: op.clientSecret }),
  });
  return { status: response.status, body: (await response.json()) as TokenResponse };
}

async function codeFlow(op: TestProvider, jar: CookieJar, redirectUri: string) {
  const { params } = await authorize(op, jar, redirectUri);
  const code = params.get('code');
  if (!code) throw new Error(`no code: ${params.toString()}`);
  return token(op, { grant_type: 'authorization_code', code, redirect_uri: redirectUri });
}

async function userinfo(op: TestProvider, accessToken: string) {
  const response = await fetch((await discover(op)).userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: response.status, body: (await response.json().catch(() => null)) as Record<string, unknown> | null };
}

async function verifyIdToken(op: TestProvider, idToken: string) {
  const jwks = createRemoteJWKSet(new URL((await discover(op)).jwks_uri));
  const { payload } = await jwtVerify(idToken, jwks, { issuer: op.issuer, audience: op.clientId });
  return payload;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A stand-in relying party endpoint: records what reaches it and answers 200. */
function recorder() {
  const received: { method: string; url: string; body: string }[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  };
  return { received, handler };
}

describe('test OP (auto interactions)', () => {
  let op: TestProvider;
  let rp: Listening;
  const rec = recorder();
  let redirectUri: string;

  beforeAll(async () => {
    rp = await listen(rec.handler);
    op = await startProvider();
    redirectUri = `${rp.url}/callback`;
    op.allowRedirect(redirectUri);
  });
  afterAll(async () => {
    await op?.stop();
    await rp?.close();
  });

  test('serves discovery with its issuer, logout endpoints and sid', async () => {
    const d = await discover(op);
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(d.issuer).toBe(op.issuer);
    expect(d.end_session_endpoint).toBe(`${op.issuer}/session/end`);
    expect(d.backchannel_logout_supported).toBe(true);
    expect(d.backchannel_logout_session_supported).toBe(true);
    expect(d.claims_supported).toEqual(expect.arrayContaining(['sub', 'sid', 'name', 'email']));
  });

  test('redirect URIs registered at runtime are enforced', async () => {
    const other = `${rp.url}/not-registered`;
    const jar = new CookieJar();
    const refused = await followRedirects(authorizeUrl(await discover(op), op, other), {
      jar,
      stopBefore: (u) => u.href.startsWith(other),
    });
    expect(refused.stoppedAt).toBeUndefined();
    expect(refused.response?.status).toBe(400);
    expect(await refused.response?.text()).toContain('redirect_uri');

    op.allowRedirect(other);
    const { params } = await authorize(op, jar, other);
    expect(params.get('code')).toBeTruthy();
  });

  test('code flow: ID token with sid, refresh rotates, reuse of a rotated-out token revokes the grant', async () => {
    op.resetCounts();
    const jar = new CookieJar();
    const { params, hops } = await authorize(op, jar, redirectUri, 'state-xyz');
    expect(params.get('state')).toBe('state-xyz');
    expect(params.get('iss')).toBe(op.issuer);
    expect(hops.some((h) => h.includes('/interaction/'))).toBe(true);

    const first = await token(op, { grant_type: 'authorization_code', code: params.get('code')!, redirect_uri: redirectUri });
    expect(first.status).toBe(200);
    expect(first.body.expires_in).toBe(2);
    expect(first.body.refresh_token).toBeTruthy();
    const claims = await verifyIdToken(op, first.body.id_token!);
    expect(claims).toMatchObject({ sub: 'alice', nonce: 'n-1' });
    expect(typeof claims.sid).toBe('string');
    expect(await userinfo(op, first.body.access_token!)).toEqual({
      status: 200,
      body: { sub: 'alice', name: 'Alice Test', email: 'alice@example.test' },
    });

    const second = await token(op, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token! });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).toBeTruthy();
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(op.count('grant.revoked')).toBe(0);

    const reused = await token(op, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token! });
    expect(reused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(op.count('grant.revoked')).toBe(1);
    expect(op.count('grant.error')).toBe(1);

    // Reuse detection kills the whole grant, including the newest refresh token.
    const newest = await token(op, { grant_type: 'refresh_token', refresh_token: second.body.refresh_token! });
    expect(newest).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  test('access tokens stop working at their TTL', async () => {
    const { body } = await codeFlow(op, new CookieJar(), redirectUri);
    // iat is rounded down to the second and lies before now, so exp <= now + TTL.
    const expiredBy = Date.now() + body.expires_in! * 1000 + 50;
    expect((await userinfo(op, body.access_token!)).status).toBe(200);
    await sleep(expiredBy - Date.now());
    expect((await userinfo(op, body.access_token!)).status).toBe(401);
  });

  test('revokeGrants makes the next refresh fail with invalid_grant', async () => {
    const { body } = await codeFlow(op, new CookieJar(), redirectUri);
    await op.revokeGrants('alice');
    const refreshed = await token(op, { grant_type: 'refresh_token', refresh_token: body.refresh_token! });
    expect(refreshed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  test('back-channel logout tokens are sent and signed with the provider keys', async () => {
    const { body } = await codeFlow(op, new CookieJar(), redirectUri);
    const { sid } = await verifyIdToken(op, body.id_token!);
    op.setBackchannelLogoutUri(`${rp.url}/backchannel`);
    rec.received.length = 0;
    await op.backchannelLogout('alice', sid as string);
    op.setBackchannelLogoutUri(undefined);

    expect(rec.received).toHaveLength(1);
    expect(rec.received[0]).toMatchObject({ method: 'POST', url: '/backchannel' });
    const logoutToken = new URLSearchParams(rec.received[0]!.body).get('logout_token')!;
    const jwks = createRemoteJWKSet(new URL((await discover(op)).jwks_uri));
    const { payload, protectedHeader } = await jwtVerify(logoutToken, jwks, { issuer: op.issuer, audience: op.clientId });
    expect(protectedHeader.typ).toBe('logout+jwt');
    expect(payload).toMatchObject({ sub: 'alice', sid, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });
    expect(payload.nonce).toBeUndefined();

    const forged = await op.signLogoutToken({ sub: 'bob', sid: 'x' });
    expect(decodeProtectedHeader(forged).typ).toBe('logout+jwt');
    expect((await jwtVerify(forged, jwks, { issuer: op.issuer, audience: op.clientId })).payload).toMatchObject({ sub: 'bob', sid: 'x' });
  });

  test('RP-initiated logout is confirmed automatically, notifies back-channel, and ends the OP session', async () => {
    const jar = new CookieJar();
    const { body } = await codeFlow(op, jar, redirectUri);
    op.setBackchannelLogoutUri(`${rp.url}/backchannel`);
    rec.received.length = 0;
    op.resetCounts();

    const endSession = new URL((await discover(op)).end_session_endpoint);
    endSession.search = new URLSearchParams({
      id_token_hint: body.id_token!,
      post_logout_redirect_uri: redirectUri,
      state: 'bye',
    }).toString();
    const out = await followRedirects(endSession, { jar, stopBefore: (u) => u.href.startsWith(redirectUri) });
    op.setBackchannelLogoutUri(undefined);
    expect(out.stoppedAt).toBe(`${redirectUri}?state=bye`);
    expect(op.count('end_session.success')).toBe(1);
    expect(op.count('backchannel.success')).toBe(1);
    expect(rec.received.filter((r) => r.url === '/backchannel')).toHaveLength(1);

    // The session at the provider is gone, so the next authorization logs in again: as bob now.
    op.setAccount('bob');
    try {
      const again = await codeFlow(op, jar, redirectUri);
      expect((await verifyIdToken(op, again.body.id_token!)).sub).toBe('bob');
    } finally {
      op.setAccount('alice');
    }
  });

  test('without a new login the provider session keeps the same account', async () => {
    const jar = new CookieJar();
    await codeFlow(op, jar, redirectUri);
    op.setAccount('bob');
    try {
      const again = await codeFlow(op, jar, redirectUri);
      expect((await verifyIdToken(op, again.body.id_token!)).sub).toBe('alice');
    } finally {
      op.setAccount('alice');
    }
  });
});

describe('test OP options', () => {
  let rp: Listening;
  const providers: TestProvider[] = [];
  beforeAll(async () => {
    rp = await listen(recorder().handler);
  });
  afterAll(async () => {
    await Promise.all(providers.map((p) => p.stop()));
    await rp?.close();
  });

  test('rotateRefreshToken: false keeps the refresh token', async () => {
    const op = await startProvider({ rotateRefreshToken: false, accessTokenTtl: 30, redirectUris: [`${rp.url}/cb`] });
    providers.push(op);
    const { body } = await codeFlow(op, new CookieJar(), `${rp.url}/cb`);
    expect(body.expires_in).toBe(30);
    const refreshed = await token(op, { grant_type: 'refresh_token', refresh_token: body.refresh_token! });
    expect(refreshed.status).toBe(200);
    const again = await token(op, { grant_type: 'refresh_token', refresh_token: body.refresh_token! });
    expect(again.status).toBe(200);
    expect(op.count('grant.revoked')).toBe(0);
  });

  test("'form' interactions: a user-name form, consent granted without a page", async () => {
    const op = await startProvider({ interactions: 'form', clientId: 'form-app', redirectUris: [`${rp.url}/cb`] });
    providers.push(op);
    const jar = new CookieJar();
    const shown = await followRedirects(authorizeUrl(await discover(op), op, `${rp.url}/cb`), { jar });
    expect(shown.response?.status).toBe(200);
    const html = await shown.response!.text();
    expect(html).toContain('User name');
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    expect(action).toMatch(/^\/interaction\/[^/]+\/login$/);

    const done = await followRedirects(new URL(action!, op.issuer), {
      jar,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'carol' }),
      stopBefore: (u) => u.href.startsWith(`${rp.url}/cb`),
    });
    const code = new URL(done.stoppedAt!).searchParams.get('code')!;
    const { body } = await token(op, { grant_type: 'authorization_code', code, redirect_uri: `${rp.url}/cb` });
    expect((await verifyIdToken(op, body.id_token!)).sub).toBe('carol');
    expect((await userinfo(op, body.access_token!)).body).toMatchObject({ name: 'Carol Test', email: 'carol@example.test' });
  });

  test("'form' interactions and logout work in Chromium", async () => {
    const op = await startProvider({ interactions: 'form', redirectUris: [`${rp.url}/cb`], postLogoutRedirectUris: [`${rp.url}/cb`] });
    providers.push(op);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(authorizeUrl(await discover(op), op, `${rp.url}/cb`).href);
      await page.getByLabel('User name').fill('dave');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((u) => u.href.startsWith(`${rp.url}/cb`));
      const code = new URL(page.url()).searchParams.get('code')!;
      const { body } = await token(op, { grant_type: 'authorization_code', code, redirect_uri: `${rp.url}/cb` });
      expect((await verifyIdToken(op, body.id_token!)).sub).toBe('dave');

      const endSession = new URL((await discover(op)).end_session_endpoint);
      endSession.search = new URLSearchParams({ id_token_hint: body.id_token!, post_logout_redirect_uri: `${rp.url}/cb` }).toString();
      await page.goto(endSession.href);
      await page.waitForURL(`${rp.url}/cb`);
      expect(op.count('end_session.success')).toBe(1);
    } finally {
      await browser.close();
    }
  });
});

describe('login helper', () => {
  let op: TestProvider;
  let app: Listening;

  // A minimal relying party: enough of the real routes to drive login() end to end.
  beforeAll(async () => {
    op = await startProvider();
    app = await reserveServer();
    const states = new Map<string, string>();
    op.allowRedirect(`${app.url}/auth/callback`);
    app.attach((req, res) => {
      void (async () => {
        const url = new URL(req.url ?? '/', app.url);
        if (url.pathname === '/auth/login') {
          const state = crypto.randomUUID();
          states.set(state, url.searchParams.get('returnTo') ?? '/');
          const target = authorizeUrl(await discover(op), op, `${app.url}/auth/callback`, state);
          res.writeHead(302, { location: target.href, 'set-cookie': 'rp=1; Path=/; HttpOnly' }).end();
        } else if (url.pathname === '/auth/callback') {
          const returnTo = states.get(url.searchParams.get('state') ?? '');
          const { status } = await token(op, {
            grant_type: 'authorization_code',
            code: url.searchParams.get('code') ?? '',
            redirect_uri: `${app.url}/auth/callback`,
          });
          if (!returnTo || status !== 200) res.writeHead(400).end('bad callback');
          else res.writeHead(302, { location: returnTo }).end();
        } else res.writeHead(404).end();
      })();
    });
  });
  afterAll(async () => {
    await op?.stop();
    await app?.close();
  });

  test('login() follows the flow and stops at the redirect after the callback', async () => {
    const jar = new CookieJar();
    const result = await login(app.url, { jar, returnTo: '/after' });
    expect(result).toMatchObject({ status: 302, location: '/after' });
    expect(result.hops[0]).toBe(`302 ${app.url}/auth/login?returnTo=%2Fafter`);
    expect(result.hops.at(-1)).toMatch(new RegExp(`^302 ${app.url}/auth/callback\\?code=`));
    expect(jar.get('rp')).toBe('1');
    expect(jar.get('_session')).toBeTruthy();
  });

  test('startLogin() stops before the callback; replaying the callback fails at the code exchange', async () => {
    op.resetCounts();
    const jar = new CookieJar();
    const started = await startLogin(app.url, { jar });
    expect(started.callbackUrl).toMatch(new RegExp(`^${app.url}/auth/callback\\?code=`));
    expect(op.count('grant.success')).toBe(0);
    expect(await completeLogin(started.callbackUrl, { jar })).toMatchObject({ status: 302, location: '/' });
    expect((await completeLogin(started.callbackUrl, { jar })).status).toBe(400);
  });
});

describe('server helper', () => {
  test('answers 503 until an app is attached, and close() ends keep-alive connections', async () => {
    const server = await reserveServer();
    expect((await fetch(server.url)).status).toBe(503);
    server.attach((_req, res) => res.end('hi'));
    const response = await fetch(server.url);
    expect(await response.text()).toBe('hi');
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(fetch(server.url)).rejects.toThrow();
  });
});

describe('redis helper', () => {
  const connect = async (url: string) => {
    const client = createClient({ url, socket: { connectTimeout: 1000, reconnectStrategy: false } });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };

  test('start, ping, pause and resume', async () => {
    const redis = await startRedis();
    try {
      const client = await connect(redis.url);
      expect(await client.ping()).toBe('PONG');
      redis.pause();
      const ping = client.ping();
      const early = await Promise.race([ping, sleep(300).then(() => 'no answer')]);
      expect(early).toBe('no answer');
      redis.resume();
      expect(await ping).toBe('PONG');
      client.destroy();
    } finally {
      await redis.stop();
    }
  });

  test('restart keeps data only with persistence, even after kill', async () => {
    const durable = await startRedis({ persistence: true });
    const volatile = await startRedis();
    try {
      for (const redis of [durable, volatile]) {
        const client = await connect(redis.url);
        await client.set('k', 'v');
        client.destroy();
      }
      await durable.kill();
      await durable.restart();
      await volatile.restart();
      const d = await connect(durable.url);
      const v = await connect(volatile.url);
      expect(await d.get('k')).toBe('v');
      expect(await v.get('k')).toBeNull();
      d.destroy();
      v.destroy();
    } finally {
      await durable.stop();
      await volatile.stop();
    }
  });
});

describe('cookie jar', () => {
  const app = 'http://127.0.0.1:4000';

  test('scopes by path, ignores ports, honours deletion', () => {
    const jar = new CookieJar();
    jar.store(`${app}/auth/login`, ['a=1; Path=/', 'b=2', 'c=3; Path=/auth/callback', 'd=4; Path=/; Max-Age=60']);
    expect(jar.header('http://127.0.0.1:5000/')).toBe('a=1; d=4');
    expect(jar.header(`${app}/auth/x`)).toBe('b=2; a=1; d=4');
    expect(jar.header(`${app}/auth/callback?x=1`)).toBe('c=3; b=2; a=1; d=4');
    expect(jar.header(`${app}/authx`)).toBe('a=1; d=4');
    expect(jar.header('http://localhost:4000/')).toBe('');

    jar.store(`${app}/`, ['a=; Path=/; Max-Age=0', 'd=x; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'b=22; Path=/auth']);
    expect(jar.get('a')).toBeUndefined();
    expect(jar.get('d')).toBeUndefined();
    expect(jar.header(`${app}/auth/x`)).toBe('b=22');
  });

  test('refuses invalid __Host- cookies like a browser, and set() tampers', () => {
    const jar = new CookieJar();
    jar.store(app, ['__Host-bad=1; Path=/', '__Host-good=2; Path=/; Secure; HttpOnly; SameSite=Lax']);
    expect(jar.rejected).toEqual(['__Host-bad=1; Path=/']);
    expect(jar.getCookie('__Host-good')).toMatchObject({ value: '2', secure: true, httpOnly: true, sameSite: 'lax' });
    jar.set('__Host-good', 'tampered');
    jar.set('new', 'x');
    expect(jar.header(`${app}/`)).toBe('__Host-good=tampered; new=x');
  });
});
