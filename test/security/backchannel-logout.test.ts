// Checklist 50–51: every invalid logout token is answered 400 and touches no session. Each forged token
// targets a live session (its sid and sub), so an acceptance would show up as a signed-out user.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import {
  attackerKey,
  BACKCHANNEL_EVENT,
  closeAll,
  hmacWithPublicKey,
  idClaimsOf,
  logoutClaims,
  meStatus,
  postLogoutToken,
  providerPublicPem,
  sessionOf,
  signWith,
  tamperSignature,
  unsignedJwt,
} from './support.js';

let op: TestProvider;
let app: TestApp;
let jar: CookieJar;
let target: { sub: string; sid: string };

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 300 });
  app = await startApp(op, { idpLogout: false });
  jar = new CookieJar();
  expect((await login(app.url, { jar })).status).toBe(302);
  const claims = await idClaimsOf(app, jar);
  target = { sub: claims.sub, sid: claims.sid };
});
afterAll(() => closeAll(app, op));

/** The forged token must be refused with the documented 400, and the target session must still be alive. */
async function expectRefused(res: Response, reason?: RegExp): Promise<void> {
  expect(res.status).toBe(400);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.getSetCookie()).toEqual([]);
  const body = (await res.json()) as { message: string };
  expect(body).toMatchObject({ error: 'invalid_request', code: 'ERR_LOGOUT_TOKEN_INVALID', message: expect.any(String) });
  if (reason) expect(body.message).toMatch(reason);
  expect(await meStatus(app, jar)).toBe(200);
}

/** `reason` pins the check that refused it, so a refusal for an unrelated reason cannot pass silently. */
async function refuse(token: string, reason?: RegExp): Promise<void> {
  await expectRefused(await postLogoutToken(app, token), reason);
}

describe('51: invalid logout tokens → 400, no session touched', () => {
  beforeEach(async () => {
    expect(await meStatus(app, jar)).toBe(200);
  });

  it('51: bad signature (IdP-signed token, one signature character changed)', async () => {
    await refuse(tamperSignature(await op.signLogoutToken({ ...target })), /signature/);
  });

  it("51: signed by another key under the IdP's kid", async () => {
    const { privateKey } = await attackerKey();
    await refuse(await signWith(privateKey, logoutClaims(op, target), { alg: 'RS256', kid: 'test-rs256', typ: 'logout+jwt' }), /signature/);
  });

  it('51: alg=none, and its case variants (NoNe, NONE)', async () => {
    for (const alg of ['none', 'NoNe', 'NONE']) await refuse(unsignedJwt(logoutClaims(op, target), alg, { typ: 'logout+jwt' }), /alg/i);
  });

  it("51/12: HS256 signed with the IdP's RSA public key as the secret", async () => {
    const { pem, jwk } = await providerPublicPem(op);
    await refuse(hmacWithPublicKey(logoutClaims(op, target), pem, { kid: jwk.kid, typ: 'logout+jwt' }), /alg/i);
    await refuse(hmacWithPublicKey(logoutClaims(op, target), JSON.stringify(jwk), { kid: jwk.kid }), /alg/i);
  });

  it('51/12: an unknown kid, an embedded jwk and a jku header pointing elsewhere', async () => {
    const { privateKey, publicJwk } = await attackerKey();
    await refuse(await signWith(privateKey, logoutClaims(op, target), { alg: 'RS256', kid: 'attacker' }));
    await refuse(await signWith(privateKey, logoutClaims(op, target), { alg: 'RS256', jwk: publicJwk }));
    await refuse(await signWith(privateKey, logoutClaims(op, target), { alg: 'RS256', kid: 'attacker', jku: 'http://127.0.0.1:9/jwks' }));
  });

  it('51: wrong iss (another issuer, and the right one with a trailing slash)', async () => {
    await refuse(await op.signLogoutToken({ ...target, iss: 'https://evil.example' }), /iss/);
    await refuse(await op.signLogoutToken({ ...target, iss: `${op.issuer}/` }), /iss/);
  });

  it('51: wrong aud, or no aud', async () => {
    await refuse(await op.signLogoutToken({ ...target, aud: 'another-client' }), /aud/);
    await refuse(await op.signLogoutToken({ ...target, aud: undefined }), /aud/);
  });

  it('51: expired (exp past the 60 s leeway)', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refuse(await op.signLogoutToken({ ...target, iat: now - 300, exp: now - 90 }), /exp/);
  });

  it('51: iat missing, in the future, or older than a day without exp', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refuse(await op.signLogoutToken({ ...target, iat: undefined }), /iat/);
    await refuse(await op.signLogoutToken({ ...target, iat: now + 3600, exp: now + 3700 }), /iat/);
    await refuse(await op.signLogoutToken({ ...target, iat: now - 2 * 86400, exp: undefined }), /iat/);
  });

  it('51: missing events', async () => {
    await refuse(await op.signLogoutToken({ ...target, events: undefined }), /events/);
  });

  it('51: wrong events (another event, a non-object value, an array)', async () => {
    await refuse(await op.signLogoutToken({ ...target, events: { 'http://schemas.openid.net/event/other': {} } }), /events/);
    await refuse(await op.signLogoutToken({ ...target, events: { [BACKCHANNEL_EVENT]: 'yes' } }), /events/);
    await refuse(await op.signLogoutToken({ ...target, events: { [BACKCHANNEL_EVENT]: null } }), /events/);
    await refuse(await op.signLogoutToken({ ...target, events: [BACKCHANNEL_EVENT] }), /events/);
  });

  it('51: nonce present', async () => {
    await refuse(await op.signLogoutToken({ ...target, nonce: 'n-0S6_WzA2Mj' }), /nonce/);
  });

  it('51: neither sub nor sid (or empty / non-string ones)', async () => {
    await refuse(await op.signLogoutToken({}), /sub or sid/);
    await refuse(await op.signLogoutToken({ sub: '', sid: '' }), /sub|sid/);
    await refuse(await op.signLogoutToken({ sid: 42 }), /sid/);
  });

  it('51: no jti', async () => {
    await refuse(await op.signLogoutToken({ ...target, jti: undefined }), /jti/);
  });

  it("51: a typ other than logout+jwt / JWT (e.g. an access token's at+jwt)", async () => {
    await refuse(await op.signLogoutToken({ ...target }, { typ: 'at+jwt' }), /typ/);
  });

  it("51: the user's own ID token posted as a logout token (nonce, no events)", async () => {
    const res = await request(`${app.url}/api/tokens`, { jar });
    const { idToken } = (await res.json()) as { idToken: string };
    await refuse(idToken);
  });

  it('51: replayed jti: a token used once is refused the second time, and a later sign-in survives it', async () => {
    const victim = new CookieJar();
    op.setAccount('mallory-target');
    try {
      expect((await login(app.url, { jar: victim })).status).toBe(302);
    } finally {
      op.setAccount('alice');
    }
    const token = await op.signLogoutToken({ sub: 'mallory-target' });
    expect((await postLogoutToken(app, token)).status).toBe(200);
    expect(await sessionOf(app, victim)).toBeNull();
    op.setAccount('mallory-target');
    try {
      expect((await login(app.url, { jar: victim })).status).toBe(302);
    } finally {
      op.setAccount('alice');
    }
    const replay = await postLogoutToken(app, token);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ code: 'ERR_LOGOUT_TOKEN_INVALID', message: expect.stringContaining('jti') });
    expect(await meStatus(app, victim)).toBe(200);
  });

  it('51: missing logout_token, a JSON body, two logout_token fields, garbage', async () => {
    await expectRefused(await postLogoutToken(app, undefined));
    await expectRefused(
      await postLogoutToken(app, undefined, { body: JSON.stringify({ logout_token: 'x' }), contentType: 'application/json' }),
    );
    const token = await op.signLogoutToken({ ...target });
    await expectRefused(await postLogoutToken(app, undefined, { body: `logout_token=${token}&logout_token=${token}` }));
    for (const junk of ['a', 'a.b.c', '...', 'eyJ.eyJ.', `${'x'.repeat(20_000)}`]) await refuse(junk);
  });

  it('51: GET (and other methods) → 405 with Allow: POST; no logout', async () => {
    const token = await op.signLogoutToken({ ...target });
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await fetch(`${app.url}/auth/backchannel-logout?logout_token=${token}`, {
        method,
        headers: { accept: 'application/json' },
      });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(res.headers.get('cache-control')).toBe('no-store');
      await res.body?.cancel();
    }
    expect(await meStatus(app, jar)).toBe(200);
  });
});

describe('50: valid logout tokens', () => {
  it('50: typ JWT and a token without exp are accepted (control for the refusals above)', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const token of [
      await op.signLogoutToken({ sid: 'control-1' }, { typ: 'JWT' }),
      await op.signLogoutToken({ sid: 'control-2', exp: undefined, iat: now - 30 }),
      await op.signLogoutToken({ sid: 'control-3', aud: [op.clientId, 'other'] }),
    ]) {
      const res = await postLogoutToken(app, token);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    expect(await meStatus(app, jar)).toBe(200);
  });

  it('50: the same forged-free token for the live session ends it (the refusals above were for the stated reason)', async () => {
    const res = await postLogoutToken(app, await op.signLogoutToken({ ...target }));
    expect(res.status).toBe(200);
    expect(await sessionOf(app, jar)).toBeNull();
    expect(await meStatus(app, jar)).toBe(401);
  });
});
