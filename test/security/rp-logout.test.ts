// 52: RP-initiated logout — the local session is destroyed first, then a redirect to the IdP's
// end_session_endpoint with id_token_hint, the registered post_logout_redirect_uri and a fresh state;
// nothing a caller sends can turn it into an open redirect.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { followRedirects, login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

let op: TestProvider;
let app: TestApp;
let local: TestApp;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 60 });
  app = await startApp(op);
  local = await startApp(op, { idpLogout: false, postLogoutRedirect: '/bye' });
});
afterAll(async () => {
  await app?.close();
  await local?.close();
  await op?.stop();
});

function sessionIdOf(jar: CookieJar): string {
  const raw = decodeURIComponent(jar.get('oidc.sid') ?? '');
  return raw.slice(2, raw.lastIndexOf('.'));
}

async function signedIn(target: TestApp): Promise<{ jar: CookieJar; idToken: string }> {
  const jar = new CookieJar();
  expect((await login(target.url, { jar })).status).toBe(302);
  const tokens = await (await request(`${target.url}/api/tokens`, { jar })).json() as { idToken: string };
  return { jar, idToken: tokens.idToken };
}

describe('52: RP-initiated logout', () => {
  it('destroys the local session first, then redirects to end_session_endpoint with id_token_hint, the registered URI and a fresh state', async () => {
    const states: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { jar, idToken } = await signedIn(app);
      const sid = sessionIdOf(jar);
      const res = await request(`${app.url}/auth/logout?returnTo=${encodeURIComponent('https://evil.example/')}`, { jar, method: 'POST', headers: { origin: app.url } });
      expect(res.status).toBe(303);
      expect(res.headers.get('cache-control')).toBe('no-store');
      // Gone from the store by the time the browser is sent to the IdP.
      expect(await app.router.context.stores.store.getAsync(sid)).toBeNull();
      expect(await app.router.context.stores.store.getAsync(`tok:${sid}`)).toBeNull();
      const location = new URL(res.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe(`${op.issuer}/session/end`);
      expect(location.searchParams.get('id_token_hint')).toBe(idToken);
      expect(location.searchParams.get('client_id')).toBe(op.clientId);
      expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${app.url}/`);
      const state = location.searchParams.get('state')!;
      expect(state.length).toBeGreaterThanOrEqual(16);
      states.push(state);
      // The provider honours it and sends the browser back to the registered page, never elsewhere.
      const back = await followRedirects(location, { jar });
      expect(new URL(back.url).origin).toBe(app.url);
      expect(new URL(back.url).pathname).toBe('/');
      expect(await (await request(`${app.url}/auth/session`, { jar })).json()).toBeNull();
    }
    expect(states[0]).not.toBe(states[1]);
  });

  it('a return with a foreign or missing state lands on the fixed page; local logout ignores foreign returnTo', async () => {
    for (const q of ['', '?state=forged', '?state=']) {
      const res = await request(`${app.url}/${q}`, { jar: new CookieJar() });
      expect(res.headers.get('location')).toBeNull(); // no redirect taken from the query
    }
    for (const returnTo of ['//evil.example', 'https://evil.example/', '/\\evil.example', '/ok?x=1']) {
      const { jar } = await signedIn(local);
      const res = await request(`${local.url}/auth/logout?returnTo=${encodeURIComponent(returnTo)}`, { jar, method: 'POST', headers: { origin: local.url } });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe(returnTo === '/ok?x=1' ? `${local.url}/ok?x=1` : `${local.url}/bye`);
    }
  });
});
