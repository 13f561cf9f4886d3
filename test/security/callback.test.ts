// Checklist 1–4 and 7–12: the callback against the real provider. Forged or malformed ID tokens — which
// the real provider never sends — are produced inside the provider: its ID token issuance is wrapped so
// that the token endpoint answers with claims re-signed by the provider's own key, or by an attacker's.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { completeLogin, login, request, startLogin } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import {
  attackerKey,
  closeAll,
  type Forge,
  hmacWithPublicKey,
  hookIdTokens,
  meStatus,
  providerPublicPem,
  resign as resignWith,
  sessionIdOf,
  sessionOf,
  signWith,
  tamperSignature,
  unsignedJwt,
} from './support.js';

let op: TestProvider;
let app: TestApp;
let hook: ReturnType<typeof hookIdTokens>;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 300 });
  hook = hookIdTokens(op);
  app = await startApp(op, { idpLogout: false });
});
afterEach(() => {
  hook.forge = undefined;
});
afterAll(() => closeAll(app, op));

function resign(changes: Record<string, unknown>, header: Record<string, unknown> = {}): Forge {
  return resignWith(op, changes, header);
}

function changeClaims(changes: Record<string, unknown>): (idToken: string) => Record<string, unknown> {
  return (idToken) => {
    const out: Record<string, unknown> = { ...decodeJwt(idToken), ...changes };
    for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
    return out;
  };
}

function storedKey(key: string): Promise<unknown> {
  // Token records live in the backend, not in the session store.
  return key.startsWith('tok:') ? app.router.context.tokens.read(key.slice(4)) : app.router.context.store.getAsync(key);
}

/** Runs a login whose token response carries `forged`; returns the app's answer to the callback. */
async function loginWith(forged: Forge | undefined): Promise<{ status: number; body: string; jar: CookieJar }> {
  const jar = new CookieJar();
  const started = await startLogin(app.url, { jar });
  hook.forge = forged;
  const res = await request(started.callbackUrl, { jar, headers: { accept: 'application/json' } });
  hook.forge = undefined;
  return { status: res.status, body: await res.text(), jar };
}

/** The login must fail cleanly: an error status, a coded body, no session, no token record kept. */
async function expectRejected(forged: Forge): Promise<{ status: number; code: string }> {
  const { status, body, jar } = await loginWith(forged);
  expect(status).toBeGreaterThanOrEqual(400);
  expect(status).not.toBe(500);
  const parsed = JSON.parse(body) as { code: string; message: string };
  expect(parsed.code).toBe('ERR_ID_TOKEN_INVALID');
  expect(status).toBe(401);
  expect(body).not.toMatch(/eyJ[\w-]+\.eyJ/); // no token echoed
  expect(await sessionOf(app, jar)).toBeNull();
  expect(await meStatus(app, jar)).toBe(401);
  const id = sessionIdOf(jar);
  if (id) {
    expect(await storedKey(`tok:${id}`)).toBeNull();
    expect(((await storedKey(id)) as { oidc?: unknown } | null)?.oidc).toBeUndefined();
  }
  return { status, code: parsed.code };
}

expect.extend({
  toBeClientError(received: unknown) {
    const pass = typeof received === 'number' && received >= 400 && received < 500;
    return { pass, message: () => `expected a 4xx status, got ${String(received)}` };
  },
});
declare module 'expect' {
  interface AsymmetricMatchers {
    toBeClientError(): void;
  }
  interface Matchers<R> {
    toBeClientError(): R;
  }
}

describe('callback: state and transaction (1–4)', () => {
  it('1: a mismatched state → 400, no code exchange, no session; the real transaction stays one-time', async () => {
    const jar = new CookieJar();
    const started = await startLogin(app.url, { jar });
    const forged = new URL(started.callbackUrl);
    forged.searchParams.set('state', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    op.resetCounts();
    const res = await request(forged, { jar, headers: { accept: 'application/json' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'ERR_LOGIN_STATE_MISMATCH' });
    expect(op.events.filter((e) => e.startsWith('grant.'))).toEqual([]); // the code was never sent to the token endpoint
    expect(await sessionOf(app, jar)).toBeNull();
    // Several logins may be pending (tabs), so a foreign state does not cancel the real one; it still works exactly once.
    expect((await completeLogin(started.callbackUrl, { jar })).status).toBe(302);
    expect(await meStatus(app, jar)).toBe(200);
  });

  it('1: a missing or repeated state parameter → 400, no session', async () => {
    for (const mutate of [(u: URL) => u.searchParams.delete('state'), (u: URL) => u.searchParams.append('state', 'x')]) {
      const jar = new CookieJar();
      const started = await startLogin(app.url, { jar });
      const url = new URL(started.callbackUrl);
      mutate(url);
      const res = await request(url, { jar, headers: { accept: 'application/json' } });
      expect(res.status).toBe(400);
      await res.body?.cancel();
      expect(await sessionOf(app, jar)).toBeNull();
    }
  });

  it('2: no transaction (cookie dropped) → 400 with a clear message, no code exchange', async () => {
    const started = await startLogin(app.url, { jar: new CookieJar() });
    op.resetCounts();
    const fresh = new CookieJar();
    const res = await request(started.callbackUrl, { jar: fresh, headers: { accept: 'application/json' } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('ERR_LOGIN_STATE_MISMATCH');
    expect(body.message).toMatch(/sign-in could not be completed/);
    expect(op.events.filter((e) => e.startsWith('grant.'))).toEqual([]);
    expect(await sessionOf(app, fresh)).toBeNull();
    // As a page: an HTML error page, no stack trace.
    const page = await request(started.callbackUrl, { jar: new CookieJar(), headers: { accept: 'text/html' } });
    expect(page.status).toBe(400);
    const html = await page.text();
    expect(html).toContain('ERR_LOGIN_STATE_MISMATCH');
    expect(html).not.toMatch(/\bat \w+ \(|node_modules|\.ts:\d+/);
  });

  it('3: the same callback URL replayed → 400; the session it created is unchanged and the code is not redeemed twice', async () => {
    const jar = new CookieJar();
    const started = await startLogin(app.url, { jar });
    expect((await completeLogin(started.callbackUrl, { jar })).status).toBe(302);
    const cookie = jar.get('oidc.sid');
    const before = (await (await request(`${app.url}/api/tokens`, { jar })).json()) as { accessToken: string };
    op.resetCounts();
    const replay = await request(started.callbackUrl, { jar, headers: { accept: 'application/json' } });
    expect(replay.status).toBe(400);
    await replay.body?.cancel();
    // A second redemption would make the provider revoke the whole grant (RFC 6749 §4.1.2).
    expect(op.events.filter((e) => e.startsWith('grant.'))).toEqual([]);
    expect(jar.get('oidc.sid')).toBe(cookie);
    const after = (await (await request(`${app.url}/api/tokens`, { jar })).json()) as { accessToken: string; user: { sub: string } };
    expect(after.user.sub).toBe('alice');
    expect(after.accessToken).toBe(before.accessToken);
  });

  it('4: error=access_denied → 403 error page, no session, no 500, the description is not reflected as HTML', async () => {
    const jar = new CookieJar();
    const started = await startLogin(app.url, { jar });
    const state = new URL(started.callbackUrl).searchParams.get('state')!;
    const denied = new URL(`${app.url}/auth/callback`);
    denied.searchParams.set('error', 'access_denied');
    denied.searchParams.set('error_description', '<script>alert(1)</script>');
    denied.searchParams.set('state', state);
    const page = await request(denied, { jar, headers: { accept: 'text/html' } });
    expect(page.status).toBe(403);
    expect(page.headers.get('content-type')).toMatch(/html/);
    const html = await page.text();
    expect(html).toContain('ERR_LOGIN_DENIED');
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(await sessionOf(app, jar)).toBeNull();
  });

  it('4: other IdP errors, access_denied without a state, an unknown code → 4xx, never 500', async () => {
    for (const query of [
      'error=access_denied',
      'error=server_error&state=x',
      'error=invalid_scope&error_description=%00%ff',
      'code=abc',
      'code=abc&state=x&state=y',
    ]) {
      const res = await request(`${app.url}/auth/callback?${query}`, { jar: new CookieJar(), headers: { accept: 'application/json' } });
      expect({ query, status: res.status }).toEqual({ query, status: expect.toBeClientError() });
      expect(await res.json()).toMatchObject({ code: expect.stringMatching(/^ERR_/) });
    }
  });

  it('2/4: a callback with no code and no error (bare, bracketed or repeated keys) → 400, not a new login', async () => {
    for (const query of ['', 'state=x', 'error[]=x&state[]=y', 'code[]=x&state[]=y', 'code=a&code=b']) {
      const res = await request(`${app.url}/auth/callback?${query}`, { jar: new CookieJar(), headers: { accept: 'application/json' } });
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(res.headers.get('location')).toBeNull();
      await res.body?.cancel();
    }
  });

  it('2/4: a callback with an empty code or error → 400, not 502', async () => {
    for (const query of ['code=', 'error=', 'state=&code=', 'code=&error=']) {
      const res = await request(`${app.url}/auth/callback?${query}`, { jar: new CookieJar(), headers: { accept: 'application/json' } });
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      await res.body?.cancel();
    }
  });
});

describe('callback: ID token claims (7–11)', () => {
  it('control: the real ID token re-signed unchanged is accepted (the forging harness itself works)', async () => {
    const { status, jar } = await loginWith(resign({}));
    expect(status).toBe(302);
    expect(await meStatus(app, jar)).toBe(200);
  });

  it('7: a nonce other than the stored one, or none → rejected; no token stored or used at userinfo', async () => {
    for (const nonce of ['attacker-chosen-nonce', undefined, '']) {
      hook.accessTokenLookups = 0;
      await expectRejected(resign({ nonce }));
      expect(hook.accessTokenLookups).toBe(0);
    }
  });

  it('8: iss ≠ configured issuer (trailing slash, other host, other scheme) → rejected', async () => {
    for (const iss of [
      `${op.issuer}/`,
      op.issuer.replace('127.0.0.1', 'localhost'),
      op.issuer.replace('http:', 'https:'),
      'https://evil.example',
    ]) {
      await expectRejected(resign({ iss }));
    }
  });

  it('9: aud without the client id, or with an extra audience and no (or a foreign) azp → rejected', async () => {
    for (const changes of [
      { aud: 'another-client' },
      { aud: ['another-client'] },
      { aud: [op.clientId, 'untrusted'] },
      { aud: [op.clientId, 'untrusted'], azp: 'untrusted' },
      { azp: 'untrusted' },
      { aud: undefined },
    ]) {
      await expectRejected(resign(changes));
    }
  });

  it('9 (control): several audiences with azp = client id are accepted (OIDC Core §3.1.3.7)', async () => {
    const { status } = await loginWith(resign({ aud: [op.clientId, 'api'], azp: op.clientId }));
    expect(status).toBe(302);
  });

  it('10: exp past the 60 s leeway, or iat far in the future → rejected', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expectRejected(resign({ iat: now - 600, exp: now - 90 }));
    await expectRejected(resign({ iat: now + 3600, exp: now + 7200 }));
  });

  it('11: missing sub, empty sub, or missing iat → rejected', async () => {
    await expectRejected(resign({ sub: undefined }));
    await expectRejected(resign({ sub: '' }));
    await expectRejected(resign({ iat: undefined }));
  });
});

describe('callback: ID token signature (12)', () => {
  it('12: alg none, NoNe and an RS256 header with no signature → rejected', async () => {
    for (const alg of ['none', 'NoNe', 'RS256']) {
      await expectRejected(async (idToken) => unsignedJwt(changeClaims({})(idToken), alg, { kid: decodeProtectedHeader(idToken).kid }));
    }
  });

  it("12: HS256 signed with the provider's RSA public key → rejected", async () => {
    const { pem, jwk } = await providerPublicPem(op);
    await expectRejected(async (idToken) => hmacWithPublicKey(changeClaims({})(idToken), pem, { kid: jwk.kid }));
    await expectRejected(async (idToken) => hmacWithPublicKey(changeClaims({})(idToken), JSON.stringify(jwk), { kid: jwk.kid }));
  });

  it('12: a bad RS256 signature (one character changed) → rejected', async () => {
    await expectRejected(async (idToken) => tamperSignature(idToken));
  });

  it("12: an attacker key under an unknown kid, under the provider's kid, embedded as jwk, or behind jku → rejected", async () => {
    const { privateKey, publicJwk } = await attackerKey();
    const { jwk } = await providerPublicPem(op);
    const headers = [
      { alg: 'RS256', kid: 'attacker-kid' },
      { alg: 'RS256', kid: jwk.kid },
      { alg: 'RS256', jwk: publicJwk },
      { alg: 'RS256', kid: 'attacker-kid', jku: 'http://127.0.0.1:9/jwks.json' },
    ];
    for (const header of headers) {
      await expectRejected(async (idToken) => signWith(privateKey, changeClaims({})(idToken), header));
    }
  });
});

describe('callback: forged ID tokens and the access token (7, 12; RFC 9700 §4.5.3.2)', () => {
  it('12: a forged ID token is rejected before its access token is used at userinfo', async () => {
    const { privateKey } = await attackerKey();
    hook.accessTokenLookups = 0;
    await expectRejected(async (idToken) => tamperSignature(idToken));
    await expectRejected(async (idToken) => unsignedJwt(changeClaims({})(idToken), 'none'));
    await expectRejected(async (idToken) => signWith(privateKey, changeClaims({})(idToken), { alg: 'RS256', kid: 'attacker-kid' }));
    expect(hook.accessTokenLookups).toBe(0);
  });
});

describe('callback: one full login still works after all of the above', () => {
  it('signs in', async () => {
    const jar = new CookieJar();
    expect((await login(app.url, { jar })).status).toBe(302);
    expect(await meStatus(app, jar)).toBe(200);
  });
});
