// Providers that sign differently, against the real oidc-provider configured like them: signed UserInfo
// (OIDC Core §5.3.2), HS256 ID tokens (refused unless idTokenAlgorithms lists them, then checked with the
// client secret only), and no prompt=consent of our own for offline_access.

import type http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { idTokenPolicy, verifyIdToken } from '../../lib/oidc/id-token.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request, startLogin } from '../helpers/login.js';
import { startProvider, TEST_CLIENT_SECRET, type TestProvider } from '../helpers/op.js';

const closing: Array<{ close?(): Promise<void>; stop?(): Promise<void> }> = [];
afterAll(async () => {
  for (const c of closing.reverse()) await (c.close ?? c.stop)!.call(c);
});

async function provider(opts: Parameters<typeof startProvider>[0]): Promise<TestProvider> {
  const op = await startProvider(opts);
  closing.push(op);
  return op;
}

async function app(op: TestProvider, options: Parameters<typeof startApp>[1] = {}): Promise<TestApp> {
  const started = await startApp(op, options);
  closing.push(started);
  return started;
}

async function tokensOf(
  target: TestApp,
  jar: CookieJar,
): Promise<{ accessToken: string; idToken: string; refreshToken?: string; user: Record<string, unknown> }> {
  return (await request(`${target.url}/api/tokens`, { jar })).json() as never;
}

/** Runs a login up to the callback and returns the app's answer to it as JSON. */
async function callbackAnswer(target: TestApp): Promise<{ status: number; body: { code?: string; message?: string } }> {
  const jar = new CookieJar();
  const started = await startLogin(target.url, { jar });
  const res = await request(started.callbackUrl, { jar, headers: { accept: 'application/json' } });
  return { status: res.status, body: (await res.json()) as { code?: string; message?: string } };
}

describe('signed UserInfo (application/jwt)', () => {
  let op: TestProvider;
  let rp: TestApp;
  /** When set, the provider's userinfo endpoint answers this body as application/jwt instead. */
  let forgedUserinfo: string | undefined;

  beforeAll(async () => {
    op = await provider({
      accessTokenTtl: 300,
      clientMetadata: { userinfo_signed_response_alg: 'RS256' },
      intercept: (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (forgedUserinfo === undefined || !req.url?.startsWith('/me')) return false;
        res.writeHead(200, { 'content-type': 'application/jwt' }).end(forgedUserinfo);
        return true;
      },
    });
    rp = await app(op, { idpLogout: false });
  });

  it('the provider really signs UserInfo, and its claims reach the session user', async () => {
    const jar = new CookieJar();
    expect((await login(rp.url, { jar })).status).toBe(302);
    const tokens = await tokensOf(rp, jar);
    // name and email are not in the ID token (oidc-provider puts them only in UserInfo when an access token is issued).
    const idClaims = decodeJwt(tokens.idToken);
    expect(idClaims.name).toBeUndefined();
    expect(idClaims.email).toBeUndefined();
    expect(tokens.user).toMatchObject({ sub: 'alice', name: 'Alice Test', email: 'alice@example.test' });
    // No protocol claims of the UserInfo JWT leak into the user.
    for (const claim of ['iss', 'aud', 'iat', 'exp']) expect(tokens.user).not.toHaveProperty(claim);

    const userinfo = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${tokens.accessToken}` } });
    expect(userinfo.headers.get('content-type')).toMatch(/^application\/jwt/);
    const body = await userinfo.text();
    expect(decodeProtectedHeader(body).alg).toBe('RS256');
    expect(decodeJwt(body)).toMatchObject({ iss: op.issuer, aud: op.clientId, sub: 'alice' });
  });

  it('a UserInfo JWT for another audience, from another issuer, or signed by another key fails the login (401)', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const base = { sub: 'alice', name: 'Mallory', events: undefined, jti: undefined };
    const forgeries = [
      await op.signLogoutToken({ ...base, aud: 'another-client' }, { typ: 'JWT' }),
      await op.signLogoutToken({ ...base, iss: 'https://evil.example' }, { typ: 'JWT' }),
      await op.signLogoutToken({ ...base, aud: undefined }, { typ: 'JWT' }),
      await new SignJWT({ sub: 'alice', name: 'Mallory' })
        .setProtectedHeader({ alg: 'RS256', kid: 'test-rs256' })
        .setIssuer(op.issuer)
        .setAudience(op.clientId)
        .setIssuedAt()
        .sign(privateKey),
      // An HMAC keyed with the client secret is not accepted unless idTokenAlgorithms lists it.
      await new SignJWT({ sub: 'alice', name: 'Mallory' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(op.issuer)
        .setAudience(op.clientId)
        .sign(new TextEncoder().encode(TEST_CLIENT_SECRET)),
    ];
    try {
      for (const forged of forgeries) {
        forgedUserinfo = forged;
        const { status, body } = await callbackAnswer(rp);
        expect(status).toBe(401);
        expect(body.code).toBe('ERR_ID_TOKEN_INVALID');
        expect(body.message).toMatch(/signed userinfo/);
      }
    } finally {
      forgedUserinfo = undefined;
    }
  });

  it('an encrypted UserInfo answer is refused with a message saying so (502), not "answered 200"', async () => {
    forgedUserinfo = 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.Y2lwaGVy.dGFn';
    try {
      const { status, body } = await callbackAnswer(rp);
      expect(status).toBe(502);
      expect(body.message).toMatch(/encrypted/);
    } finally {
      forgedUserinfo = undefined;
    }
  });
});

describe('HS256 ID tokens and idTokenAlgorithms', () => {
  let op: TestProvider;

  beforeAll(async () => {
    op = await provider({ accessTokenTtl: 2, clientMetadata: { id_token_signed_response_alg: 'HS256' } });
  });

  it('are refused by default, with a message naming HS256 and idTokenAlgorithms', async () => {
    const rp = await app(op, { idpLogout: false });
    const { status, body } = await callbackAnswer(rp);
    expect(status).toBe(401);
    expect(body.code).toBe('ERR_ID_TOKEN_INVALID');
    expect(body.message).toContain('HS256');
    expect(body.message).toContain('idTokenAlgorithms');
  });

  it("are accepted with idTokenAlgorithms: ['RS256', 'HS256'], at login and on refresh", async () => {
    const rp = await app(op, { idpLogout: false, idTokenAlgorithms: ['RS256', 'HS256'] });
    const jar = new CookieJar();
    expect((await login(rp.url, { jar })).status).toBe(302);
    const first = await tokensOf(rp, jar);
    expect(decodeProtectedHeader(first.idToken).alg).toBe('HS256');
    expect(first.user).toMatchObject({ sub: 'alice', name: 'Alice Test' });
    // The 2 s access token expires: the refresh answers a new HS256 ID token, verified the same way.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const refreshed = await tokensOf(rp, jar);
    expect(refreshed.accessToken).not.toBe(first.accessToken);
    expect(refreshed.idToken).not.toBe(first.idToken);
    expect(decodeProtectedHeader(refreshed.idToken).alg).toBe('HS256');
    expect(refreshed).not.toHaveProperty('error');
  });

  it('an HMAC is checked with the client secret only, never with a key of the JWKS', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256' };
    const keys = createLocalJWKSet({ keys: [publicJwk] });
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: 'https://idp.example', aud: 'app', sub: 'alice', iat: now, exp: now + 60 };
    const policy = idTokenPolicy(
      { issuer: 'https://idp.example', clientId: 'app', clientSecret: 'the-client-secret', idTokenAlgorithms: ['RS256', 'HS256'] },
      {},
    );
    const hs = (secret: Uint8Array, header: Record<string, unknown> = {}) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...header }).sign(secret);

    expect((await verifyIdToken(await hs(new TextEncoder().encode('the-client-secret')), keys, policy)).sub).toBe('alice');
    expect(
      (await verifyIdToken(await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(privateKey), keys, policy)).sub,
    ).toBe('alice');
    // The public key's bytes as the HMAC secret, with the JWKS key's kid: the classic algorithm confusion.
    for (const secret of [JSON.stringify(publicJwk), publicJwk.n!]) {
      await expect(verifyIdToken(await hs(new TextEncoder().encode(secret), { kid: 'k1' }), keys, policy)).rejects.toMatchObject({
        code: 'ERR_ID_TOKEN_INVALID',
      });
    }
    // Without the option, the default is the asymmetric algorithms the IdP advertises.
    const byDefault = idTokenPolicy(
      { issuer: 'https://idp.example', clientId: 'app', clientSecret: 'the-client-secret' },
      { id_token_signing_alg_values_supported: ['HS256', 'RS256', 'none'] },
    );
    expect(byDefault.algorithms).toEqual(['RS256']);
    await expect(verifyIdToken(await hs(new TextEncoder().encode('the-client-secret')), keys, byDefault)).rejects.toThrow(
      /HS256.*idTokenAlgorithms/,
    );
  });
});

describe('offline_access without prompt=consent', () => {
  it('the authorization request carries no prompt of ours, and the login still gets a refresh token', async () => {
    const op = await provider({ accessTokenTtl: 300 });
    const rp = await app(op, { idpLogout: false });
    const jar = new CookieJar();
    const res = await request(`${rp.url}/auth/login`, { jar });
    const authorize = new URL(res.headers.get('location')!);
    expect(authorize.searchParams.get('scope')?.split(' ')).toContain('offline_access');
    expect(authorize.searchParams.has('prompt')).toBe(false);

    expect((await login(rp.url, { jar: new CookieJar() })).status).toBe(302);
    const signedIn = new CookieJar();
    expect((await login(rp.url, { jar: signedIn })).status).toBe(302);
    expect(typeof (await tokensOf(rp, signedIn)).refreshToken).toBe('string');

    // Asked for explicitly, it is sent.
    const consenting = await app(op, { idpLogout: false, authorizationParams: { prompt: 'consent' } });
    const again = await request(`${consenting.url}/auth/login`, { jar: new CookieJar() });
    expect(new URL(again.headers.get('location')!).searchParams.get('prompt')).toBe('consent');
  });
});
