// Token revocation at the IdP (RFC 7009) when a session ends, checked the only way that matters: the old
// refresh token, used at the real provider afterwards, no longer works. Logout, revokeSessions and
// back-channel logout all revoke; a revocation endpoint that hangs delays logout by httpTimeout at most.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getServerSession, revokeSessions } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

let op: TestProvider;
let app: TestApp;
let hangRevocation = false;

beforeAll(async () => {
  op = await startProvider({
    accessTokenTtl: 300,
    intercept: (req, res) => {
      if (!hangRevocation || !req.url?.startsWith('/token/revocation')) return false;
      setTimeout(() => res.destroy(), 5000);
      return true;
    },
  });
  app = await startApp(op, { idpLogout: false, httpTimeout: 700 }, (target) => {
    target.post('/api/revoke-me', async (req, res) => {
      const session = await getServerSession(req);
      res.json({ ended: await revokeSessions(req, { sub: session!.user.sub }) });
    });
  });
  op.setBackchannelLogoutUri(`${app.url}/auth/backchannel-logout`);
});
afterAll(async () => {
  await app?.close();
  await op?.stop();
});

async function signIn(account = 'alice'): Promise<{ jar: CookieJar; refreshToken: string; sid?: string }> {
  const jar = new CookieJar();
  op.setAccount(account);
  try {
    expect((await login(app.url, { jar })).status).toBe(302);
  } finally {
    op.setAccount('alice');
  }
  const session = (await (await request(`${app.url}/api/tokens`, { jar })).json()) as { refreshToken: string; idToken: string };
  expect(session.refreshToken).toBeTruthy();
  const claims = JSON.parse(Buffer.from(session.idToken.split('.')[1]!, 'base64url').toString()) as { sid?: string };
  return { jar, refreshToken: session.refreshToken, sid: claims.sid };
}

/** The refresh grant with an old refresh token, sent straight to the provider by the test. */
async function refreshAtProvider(refreshToken: string): Promise<number> {
  const meta = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: op.clientId,
      client_secret: op.clientSecret,
    }),
  });
  await res.body?.cancel();
  return res.status;
}

describe('revocation at the IdP when a session ends', () => {
  it('the control: a refresh token of a live session works at the provider', async () => {
    const { refreshToken } = await signIn();
    expect(await refreshAtProvider(refreshToken)).toBe(200);
  });

  it('logout revokes the refresh token', async () => {
    const { jar, refreshToken } = await signIn();
    expect((await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { origin: app.url } })).status).toBe(303);
    expect(await refreshAtProvider(refreshToken)).toBe(400);
  });

  it('revokeSessions revokes the refresh token of every session it ends', async () => {
    const first = await signIn('rita');
    const second = await signIn('rita');
    const res = await request(`${app.url}/api/revoke-me`, { jar: first.jar, method: 'POST' });
    expect(await res.json()).toEqual({ ended: 2 });
    expect(await refreshAtProvider(first.refreshToken)).toBe(400);
    expect(await refreshAtProvider(second.refreshToken)).toBe(400);
  });

  it('back-channel logout revokes the refresh token', async () => {
    const { refreshToken, sid } = await signIn('bea');
    await op.backchannelLogout('bea', sid);
    expect(await refreshAtProvider(refreshToken)).toBe(400);
  });

  it('a hanging revocation endpoint delays logout by httpTimeout at most, and the session still ends', async () => {
    const { jar } = await signIn();
    hangRevocation = true;
    try {
      const started = Date.now();
      const out = await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { origin: app.url } });
      expect(out.status).toBe(303);
      expect(Date.now() - started).toBeLessThan(2500);
    } finally {
      hangRevocation = false;
    }
    expect(await (await request(`${app.url}/api/tokens`, { jar })).json()).toBeNull();
  });
});
