// Client authentication with private_key_jwt, PAR, DPoP and profile 'fapi2' against the real oidc-provider,
// configured for each: the client registered with its public JWKS only (no secret it could fall back on),
// pushedAuthorizationRequests required, DPoP with nonces required everywhere and the client's access tokens
// DPoP-bound, and oidc-provider's FAPI 2.0 profile. The provider's own userinfo endpoint is the DPoP resource
// server the tests call through fetchWithToken and remoteApi; a second upstream asks for a nonce and checks
// every proof itself.

import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { calculateJwkThumbprint, EmbeddedJWK, exportJWK, generateKeyPair, type JWK, jwtVerify, SignJWT } from 'jose';
import { fetchWithToken, type OidcSessionOptions, oidcSession, remoteApi } from '../../lib/index.js';
import { startApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { type AppProcess, startAppProcess } from '../helpers/app-process.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { followRedirects, login, request, startLogin } from '../helpers/login.js';
import { type StartProviderOptions, startProvider, type TestProvider } from '../helpers/op.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { type Listening, listen } from '../helpers/server.js';

interface Tokens {
  accessToken: string;
  accessTokenExpires: number;
  refreshToken: string;
  tokenType: string;
  error?: string;
}

async function clientKeyPair(kid: string): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
  };
}

/** A client registered for private_key_jwt with `publicJwk` (its client_secret is never accepted). */
function keyClient(publicJwk: JWK, extra: Record<string, unknown> = {}): StartProviderOptions['clientMetadata'] {
  return { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] }, ...extra };
}

async function sessionJwtKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: 'jwt-1', alg: 'ES256' };
}

const DPOP_NONCES = { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true };

async function tokens(app: TestApp, jar: CookieJar): Promise<Tokens> {
  return (await (await request(`${app.url}/api/tokens`, { jar })).json()) as Tokens;
}

/** Waits until the access token is inside the refresh window (half of its 2 s lifetime). */
async function untilDue(t: Tokens): Promise<void> {
  const wait = t.accessTokenExpires - 1000 - Date.now() + 50;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** Routes calling the provider's userinfo endpoint (a DPoP resource server) through the BFF. */
function idpRoutes(op: TestProvider, extra?: (app: import('express').Express) => void) {
  return (app: import('express').Express) => {
    app.get('/api/userinfo-fetch', async (req, res) => {
      const upstream = await fetchWithToken(req, `${op.issuer}/me`);
      res.status(upstream.status).json({ status: upstream.status, body: await upstream.json().catch(() => null) });
    });
    app.use('/api/userinfo-proxy', remoteApi(`${op.issuer}/me`));
    extra?.(app);
  };
}

/** A signed RFC 7523 assertion made by the test, to use a refresh token at the provider directly. */
async function refreshAtProvider(op: TestProvider, privateJwk: JWK, refreshToken: string): Promise<number> {
  const { importJWK } = await import('jose');
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid })
    .setIssuer(op.clientId)
    .setSubject(op.clientId)
    .setAudience(op.issuer)
    .setJti(randomBytes(12).toString('hex'))
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(await importJWK(privateJwk, 'ES256'));
  const res = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: op.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  await res.body?.cancel();
  return res.status;
}

describe('private_key_jwt', () => {
  let op: TestProvider;
  let app: TestApp;
  let keys: { privateJwk: JWK; publicJwk: JWK };

  beforeAll(async () => {
    keys = await clientKeyPair('app-key-1');
    op = await startProvider({ accessTokenTtl: 2, clientMetadata: keyClient(keys.publicJwk) });
    app = await startApp(op, {
      clientSecret: undefined,
      clientAuthMethod: 'private_key_jwt',
      clientKey: keys.privateJwk,
      idpLogout: false,
    });
  });
  afterAll(async () => {
    await app?.close();
    await op?.stop();
  });

  it('signs in (code exchange), refreshes and revokes with client assertions only', async () => {
    const jar = new CookieJar();
    expect((await login(app.url, { jar })).status).toBe(302);
    const first = await tokens(app, jar);
    expect(first.accessToken).toBeTruthy();
    expect(first.tokenType).toBe('Bearer');
    await untilDue(first);
    op.resetCounts();
    const second = await tokens(app, jar);
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.error).toBeUndefined();
    // The control, on another session: its refresh token works at the provider (with a test-made assertion).
    const control = new CookieJar();
    expect((await login(app.url, { jar: control })).status).toBe(302);
    expect(await refreshAtProvider(op, keys.privateJwk, (await tokens(app, control)).refreshToken)).toBe(200);
    // Logout revokes (client-authenticated the same way): the session's refresh token is dead at the provider.
    op.resetCounts();
    expect((await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { origin: app.url } })).status).toBe(303);
    expect(op.events).not.toContain('revocation.error');
    expect(await refreshAtProvider(op, keys.privateJwk, second.refreshToken)).toBe(400);
  });

  it('the same client with another key: the code exchange is refused, a coded error, no session', async () => {
    const wrong = await clientKeyPair('app-key-1');
    const other = await startApp(op, {
      clientSecret: undefined,
      clientAuthMethod: 'private_key_jwt',
      clientKey: wrong.privateJwk,
      idpLogout: false,
    });
    try {
      const jar = new CookieJar();
      const { callbackUrl } = await startLogin(other.url, { jar });
      const res = await request(callbackUrl, { jar, headers: { accept: 'application/json' } });
      expect(res.status).toBe(502);
      expect(await res.json()).toMatchObject({ code: 'ERR_TOKEN_EXCHANGE_FAILED' });
      expect(await (await request(`${other.url}/api/tokens`, { jar })).json()).toBeNull();
    } finally {
      await other.close();
    }
  });

  it("clientAssertionAudience 'tokenEndpoint': the provider accepts the token endpoint as aud too", async () => {
    const byEndpoint = await startApp(op, {
      clientSecret: undefined,
      clientAuthMethod: 'private_key_jwt',
      clientKey: keys.privateJwk,
      clientAssertionAudience: 'tokenEndpoint',
      idpLogout: false,
    });
    try {
      const jar = new CookieJar();
      expect((await login(byEndpoint.url, { jar })).status).toBe(302);
      expect((await tokens(byEndpoint, jar)).accessToken).toBeTruthy();
    } finally {
      await byEndpoint.close();
    }
  });

  it('client_secret_jwt: an HS256 assertion made with the secret', async () => {
    const hsOp = await startProvider({ accessTokenTtl: 60, clientMetadata: { token_endpoint_auth_method: 'client_secret_jwt' } });
    const hsApp = await startApp(hsOp, { clientAuthMethod: 'client_secret_jwt', idpLogout: false });
    try {
      const jar = new CookieJar();
      expect((await login(hsApp.url, { jar })).status).toBe(302);
      expect((await tokens(hsApp, jar)).accessToken).toBeTruthy();
    } finally {
      await hsApp.close();
      await hsOp.stop();
    }
  });
});

describe('PAR', () => {
  let op: TestProvider;
  let app: TestApp;

  beforeAll(async () => {
    op = await startProvider({
      accessTokenTtl: 60,
      features: { pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true } },
    });
    app = await startApp(op, { idpLogout: false });
  });
  afterAll(async () => {
    await app?.close();
    await op?.stop();
  });

  it("par 'auto' obeys require_pushed_authorization_requests: the browser carries only client_id and request_uri", async () => {
    const jar = new CookieJar();
    const result = await login(app.url, { jar, returnTo: '/after' });
    expect(result).toMatchObject({ status: 302, location: '/after' });
    const authorize = result.hops.map((h) => new URL(h.split(' ')[1]!)).find((u) => u.origin === op.issuer && u.pathname === '/auth')!;
    expect([...authorize.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(authorize.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect((await tokens(app, jar)).accessToken).toBeTruthy();
  });

  it('par: true at an IdP without a PAR endpoint: the login answers ERR_DISCOVERY_FAILED naming the fix', async () => {
    const noPar = await startProvider({ features: { pushedAuthorizationRequests: { enabled: false } } });
    const pushing = await startApp(noPar, { idpLogout: false, par: true });
    try {
      const res = await request(`${pushing.url}/auth/login`, { jar: new CookieJar(), headers: { accept: 'application/json' } });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({
        code: 'ERR_DISCOVERY_FAILED',
        message: expect.stringMatching(/pushed_authorization_request_endpoint.*par: 'auto'/),
      });
    } finally {
      await pushing.close();
      await noPar.stop();
    }
  });

  it('the control: par: false sends the parameters through the browser, which the provider refuses', async () => {
    const plain = await startApp(op, { idpLogout: false, par: false });
    try {
      const jar = new CookieJar();
      const result = await followRedirects(`${plain.url}/auth/login`, { jar });
      const authorize = result.hops.map((h) => new URL(h.split(' ')[1]!)).find((u) => u.origin === op.issuer && u.pathname === '/auth')!;
      expect(authorize.searchParams.get('state')).toBeTruthy();
      const callback = new URL(result.hops.at(-1)!.split(' ')[1]!);
      expect(callback.pathname).toBe('/auth/callback');
      expect(callback.searchParams.get('error')).toBe('invalid_request');
      expect(callback.searchParams.get('error_description')).toMatch(/pushed authorization request/i);
      await result.response!.body?.cancel();
    } finally {
      await plain.close();
    }
  });
});

describe('DPoP', () => {
  let op: TestProvider;
  let app: TestApp;
  let checker: Listening;
  /** What the nonce-asking upstream saw: one entry per request. */
  const seen: Array<{ status: number; problem?: string; jkt?: string; token?: string }> = [];
  /** The nonce the upstream wants; a test changes it to make the API ask again. */
  let upstreamNonce = 'upstream-nonce-1';

  beforeAll(async () => {
    // An API that asks for its own nonce, then checks the proof as RFC 9449 §4.3 says.
    checker = await listen((req, res) => {
      void (async () => {
        const auth = req.headers.authorization ?? '';
        const proof = req.headers.dpop;
        const deny = (problem: string, nonce = false) => {
          seen.push({ status: 401, problem });
          res
            .writeHead(401, {
              'www-authenticate': nonce ? 'DPoP error="use_dpop_nonce", error_description="nonce required"' : 'DPoP error="invalid_token"',
              ...(nonce ? { 'dpop-nonce': upstreamNonce } : {}),
            })
            .end();
        };
        if (!auth.startsWith('DPoP ') || typeof proof !== 'string') return deny('no DPoP');
        const token = auth.slice(5);
        const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', maxTokenAge: 60 });
        if (payload.nonce !== upstreamNonce) return deny('nonce', true);
        const url = `${checker.url}${req.url!.split('?')[0]}`;
        if (payload.htm !== req.method || payload.htu !== url) return deny(`htm/htu ${String(payload.htm)} ${String(payload.htu)}`);
        if (payload.ath !== createHash('sha256').update(token).digest('base64url')) return deny('ath');
        const jkt = await calculateJwkThumbprint(protectedHeader.jwk!);
        seen.push({ status: 200, jkt, token });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
      })().catch((err: unknown) => {
        res.writeHead(500).end(String(err));
      });
    });
    op = await startProvider({
      accessTokenTtl: 2,
      clientCredentials: true,
      clientMetadata: { dpop_bound_access_tokens: true },
      features: { dPoP: DPOP_NONCES },
    });
    app = await startApp(
      op,
      { idpLogout: false, dpop: true },
      idpRoutes(op, (target) => {
        target.get('/api/checker-fetch', async (req, res) => {
          const upstream = await fetchWithToken(req, `${checker.url}/orders?x=1`);
          res.status(upstream.status).end();
        });
        target.use('/api/checker-proxy', remoteApi(`${checker.url}/v1`));
        target.use('/api/checker-client', remoteApi(`${checker.url}/v1`, { token: 'client' }));
      }),
    );
  });
  afterAll(async () => {
    await app?.close();
    await op?.stop();
    await checker?.close();
  });

  it('binds the code and tokens to the session key: dpop_jkt at login, a DPoP token the provider refuses as Bearer', async () => {
    const jar = new CookieJar();
    const result = await login(app.url, { jar });
    expect(result.status).toBe(302);
    const authorize = result.hops.map((h) => new URL(h.split(' ')[1]!)).find((u) => u.origin === op.issuer && u.pathname === '/auth')!;
    const jkt = authorize.searchParams.get('dpop_jkt');
    expect(jkt).toMatch(/^[\w-]{43}$/);
    const t = await tokens(app, jar);
    expect(t.tokenType).toBe('DPoP');
    // The access token carries cnf.jkt = that thumbprint (oidc-provider issues opaque tokens: check via the proof below).
    const asBearer = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${t.accessToken}` } });
    expect(asBearer.status).toBe(401);
    const noProof = await fetch(`${op.issuer}/me`, { headers: { authorization: `DPoP ${t.accessToken}` } });
    expect(noProof.status).toBe(400);
    // Through the BFF, with the session's proof: accepted.
    const viaFetch = await request(`${app.url}/api/userinfo-fetch`, { jar });
    expect(await viaFetch.json()).toMatchObject({ status: 200, body: { sub: 'alice' } });
    const viaProxy = await request(`${app.url}/api/userinfo-proxy`, { jar, headers: { 'x-oidc-session': '1' } });
    expect(viaProxy.status).toBe(200);
    expect(await viaProxy.json()).toMatchObject({ sub: 'alice' });
    // The key is the one whose thumbprint the login sent.
    seen.length = 0;
    expect((await request(`${app.url}/api/checker-fetch`, { jar })).status).toBe(200);
    expect(seen.map((s) => s.status)).toEqual([401, 200]);
    expect(seen[1]!.jkt).toBe(jkt);
  });

  it('remoteApi and fetchWithToken answer an API asking for a nonce with one retry; the browser cannot add its own proof', async () => {
    const jar = new CookieJar();
    expect((await login(app.url, { jar })).status).toBe(302);
    seen.length = 0;
    upstreamNonce = 'upstream-nonce-2';
    const res = await request(`${app.url}/api/checker-proxy/items?y=2`, { jar, headers: { 'x-oidc-session': '1', dpop: 'forged' } });
    expect(res.status).toBe(200);
    // Refused for the nonce, then accepted with it (htu without the query, ath of this token).
    expect(seen.map((s) => s.status)).toEqual([401, 200]);
    // The nonce is remembered per server: the next call is accepted at once.
    seen.length = 0;
    expect((await request(`${app.url}/api/checker-fetch`, { jar })).status).toBe(200);
    expect(seen.map((s) => s.status)).toEqual([200]);
  });

  it("client credentials (remoteApi { token: 'client' }): the app's token is DPoP-bound too and goes with a proof", async () => {
    seen.length = 0;
    const res = await request(`${app.url}/api/checker-client/report`, { jar: new CookieJar(), headers: { 'x-oidc-session': '1' } });
    expect(res.status).toBe(200);
    const accepted = seen.find((s) => s.status === 200)!;
    // The provider bound it to the key whose proof the upstream checked.
    const intro = await fetch(`${op.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: accepted.token!, client_id: op.clientId, client_secret: op.clientSecret }),
    });
    expect(await intro.json()).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: accepted.jkt } });
  });

  it('refresh sends a proof with the stored key; the refreshed token still works at userinfo', async () => {
    const jar = new CookieJar();
    expect((await login(app.url, { jar })).status).toBe(302);
    const first = await tokens(app, jar);
    await untilDue(first);
    op.resetCounts();
    const second = await tokens(app, jar);
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.tokenType).toBe('DPoP');
    expect(await (await request(`${app.url}/api/userinfo-fetch`, { jar })).json()).toMatchObject({ status: 200 });
  });

  it('a login in flight while secret rotates (new first, old kept) finds its DPoP key at the callback', async () => {
    const rotated = await startApp(op, { idpLogout: false, dpop: true });
    const next = express();
    const router = oidcSession({
      issuer: op.issuer,
      clientId: op.clientId,
      clientSecret: op.clientSecret,
      baseURL: rotated.url,
      secret: ['a-new-session-secret-0123456789abcdefghij', TEST_SECRET],
      idpLogout: false,
      dpop: true,
      jwt: { keys: [await sessionJwtKey()] },
    });
    next.use(router);
    next.get('/api/tokens', async (req, res) => {
      res.json(await req.getServerSession());
    });
    try {
      const jar = new CookieJar();
      const { callbackUrl } = await startLogin(rotated.url, { jar });
      // The app restarts with the rotated secret before the browser comes back.
      rotated.server.attach(next);
      await router.ready;
      expect((await request(callbackUrl, { jar })).status).toBe(302);
      expect(await (await request(`${rotated.url}/api/tokens`, { jar })).json()).toMatchObject({ tokenType: 'DPoP' });
    } finally {
      await rotated.close();
      await router.close();
    }
  });

  it("dpop: { alg: 'EdDSA' }: an Ed25519 session key, derived the same way, accepted at login and at userinfo", async () => {
    const ed = await startApp(op, { idpLogout: false, dpop: { alg: 'EdDSA' } }, idpRoutes(op));
    try {
      const jar = new CookieJar();
      expect((await login(ed.url, { jar })).status).toBe(302);
      expect((await tokens(ed, jar)).tokenType).toBe('DPoP');
      expect(await (await request(`${ed.url}/api/userinfo-fetch`, { jar })).json()).toMatchObject({ status: 200, body: { sub: 'alice' } });
    } finally {
      await ed.close();
    }
  });

  it("dpop: { alg: 'PS256' }: a key made at the code exchange (no dpop_jkt at login), kept and used like the others", async () => {
    const rsaOp = await startProvider({
      accessTokenTtl: 2,
      clientMetadata: { dpop_bound_access_tokens: true },
      features: { dPoP: DPOP_NONCES },
      configuration: { enabledJWA: { dPoPSigningAlgValues: ['ES256', 'EdDSA', 'PS256'] } },
    });
    const rsa = await startApp(rsaOp, { idpLogout: false, dpop: { alg: 'PS256' } }, idpRoutes(rsaOp));
    try {
      const jar = new CookieJar();
      const result = await login(rsa.url, { jar });
      expect(result.status).toBe(302);
      const authorize = result.hops.map((h) => new URL(h.split(' ')[1]!)).find((u) => u.origin === rsaOp.issuer && u.pathname === '/auth')!;
      expect(authorize.searchParams.has('dpop_jkt')).toBe(false);
      const first = await tokens(rsa, jar);
      expect(first.tokenType).toBe('DPoP');
      await untilDue(first);
      expect((await tokens(rsa, jar)).accessToken).not.toBe(first.accessToken);
      expect(await (await request(`${rsa.url}/api/userinfo-fetch`, { jar })).json()).toMatchObject({ status: 200, body: { sub: 'alice' } });
    } finally {
      await rsa.close();
      await rsaOp.stop();
    }
  });

  it('logout revokes DPoP-bound tokens too: the access token is inactive at the provider afterwards', async () => {
    const jar = new CookieJar();
    expect((await login(app.url, { jar })).status).toBe(302);
    const { accessToken } = await tokens(app, jar);
    const introspect = async () =>
      (await (
        await fetch(`${op.issuer}/token/introspection`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: accessToken, client_id: op.clientId, client_secret: op.clientSecret }),
        })
      ).json()) as { active: boolean; token_type?: string };
    expect(await introspect()).toMatchObject({ active: true, token_type: 'DPoP' });
    expect((await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { origin: app.url } })).status).toBe(303);
    expect(await introspect()).toMatchObject({ active: false });
  });

  it('the key never reaches the browser: the session route holds no private key material', async () => {
    const jar = new CookieJar();
    expect((await login(app.url, { jar })).status).toBe(302);
    const text = await (await request(`${app.url}/auth/session`, { jar })).text();
    expect(text).not.toMatch(/"d"\s*:|dpopKey/);
    expect(jar.header(app.url) ?? '').not.toMatch(/dpop/i);
  });
});

describe('DPoP refresh across two instances sharing Redis', () => {
  let op: TestProvider;
  let redis: TestRedis;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    [op, redis] = await Promise.all([
      startProvider({ accessTokenTtl: 2, clientMetadata: { dpop_bound_access_tokens: true }, features: { dPoP: DPOP_NONCES } }),
      startRedis(),
    ]);
    const options: OidcSessionOptions = { redis: redis.url, idpLogout: false, dpop: true, storeTimeout: 1000 };
    a = await startApp(op, options, idpRoutes(op));
    b = await startApp(op, options, idpRoutes(op));
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
    await op?.stop();
  });

  it('one grant for 20 concurrent requests on both instances, no DPoP errors, and the new token works from either', async () => {
    const jar = new CookieJar();
    expect((await login(a.url, { jar })).status).toBe(302);
    const first = await tokens(b, jar);
    expect(first.tokenType).toBe('DPoP');
    await untilDue(first);
    op.resetCounts();
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => tokens(i % 2 ? a : b, jar)));
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(op.events.filter((e) => e.endsWith('.error'))).toEqual([]);
    expect(new Set(all.map((t) => t.accessToken)).size).toBe(1);
    expect(all.every((t) => t.error === undefined && t.tokenType === 'DPoP')).toBe(true);
    for (const app of [a, b]) {
      expect(await (await request(`${app.url}/api/userinfo-fetch`, { jar })).json()).toMatchObject({ status: 200, body: { sub: 'alice' } });
    }
  });
});

describe('DPoP refresh across two processes sharing Redis', () => {
  let op: TestProvider;
  let redis: TestRedis;
  let a: AppProcess;
  let b: AppProcess;
  const refusals: string[] = [];

  beforeAll(async () => {
    [op, redis] = await Promise.all([
      startProvider({ accessTokenTtl: 2, clientMetadata: { dpop_bound_access_tokens: true }, features: { dPoP: DPOP_NONCES } }),
      startRedis(),
    ]);
    const env = {
      ISSUER_URL: op.issuer,
      CLIENT_ID: op.clientId,
      CLIENT_SECRET: op.clientSecret,
      SESSION_SECRET: TEST_SECRET,
      REDIS_URL: redis.url,
      APP_DPOP: '1',
    };
    [a, b] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
    op.allowRedirect(`${a.url}/auth/callback`);
    op.allowRedirect(`${b.url}/auth/callback`);
    for (const event of ['grant.error', 'userinfo.error']) {
      (op.provider as unknown as { on(e: string, f: (ctx: unknown, err: { error?: string }) => void): void }).on(event, (_ctx, err) =>
        refusals.push(String(err.error)),
      );
    }
  }, 40_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await Promise.all([op?.stop(), redis?.stop()]);
  });

  it('one grant for 40 concurrent requests on both, each process learning the nonce on its own, and the token works from either', async () => {
    const jar = new CookieJar();
    expect((await login(a.url, { jar })).status).toBe(302);
    const get = async (base: string): Promise<Tokens> => (await (await request(`${base}/api/tokens`, { jar })).json()) as Tokens;
    const first = await get(a.url);
    expect(first.tokenType).toBe('DPoP');
    await get(b.url);
    await untilDue(first);
    op.resetCounts();
    refusals.length = 0;
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => get(i % 2 ? b.url : a.url)));
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(op.count('grant.revoked')).toBe(0);
    expect(all.every((t) => t.error === undefined && t.tokenType === 'DPoP')).toBe(true);
    expect(new Set(all.map((t) => t.accessToken)).size).toBe(1);
    // Whichever process refreshed, both sign proofs with the key from the shared record.
    for (const base of [a.url, b.url]) {
      const res = await request(`${base}/api/userinfo`, { jar });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ sub: 'alice' });
    }
    // A nonce asked for (use_dpop_nonce) is answered by the retry: the only errors the provider saw, if any.
    // The only refusals: a process's first call to an endpoint asks for its nonce (use_dpop_nonce), answered by the
    // retry; none for a proof, the key or the token.
    expect(refusals.every((e) => e === 'use_dpop_nonce')).toBe(true);
    expect(refusals.length).toBeLessThanOrEqual(2);
  });
});

describe("profile: 'fapi2' against oidc-provider's FAPI 2.0 profile", () => {
  let op: TestProvider;
  let app: TestApp;

  beforeAll(async () => {
    const keys = await clientKeyPair('fapi-key');
    op = await startProvider({
      accessTokenTtl: 2,
      clientMetadata: keyClient(keys.publicJwk, { dpop_bound_access_tokens: true, require_pushed_authorization_requests: true }),
      features: {
        fapi: { enabled: true, profile: '2.0' },
        pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
        dPoP: DPOP_NONCES,
      },
    });
    app = await startApp(op, { clientSecret: undefined, profile: 'fapi2', clientKey: keys.privateJwk, idpLogout: false }, idpRoutes(op));
  });
  afterAll(async () => {
    await app?.close();
    await op?.stop();
  });

  it('signs in (PAR, PKCE, private_key_jwt, DPoP), refreshes, and calls userinfo with the bound token', async () => {
    const jar = new CookieJar();
    const result = await login(app.url, { jar });
    expect(result.status).toBe(302);
    const authorize = result.hops.map((h) => new URL(h.split(' ')[1]!)).find((u) => u.origin === op.issuer && u.pathname === '/auth')!;
    expect([...authorize.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const callback = new URL(result.hops.at(-1)!.split(' ')[1]!);
    expect(callback.searchParams.get('iss')).toBe(op.issuer);
    const first = await tokens(app, jar);
    expect(first.tokenType).toBe('DPoP');
    await untilDue(first);
    op.resetCounts();
    const second = await tokens(app, jar);
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(await (await request(`${app.url}/api/userinfo-fetch`, { jar })).json()).toMatchObject({ status: 200, body: { sub: 'alice' } });
    expect(app.router.context.config.strictIss).toBe(true);
  });
});
