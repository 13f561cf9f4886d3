// 52: RP-initiated logout — the local session is destroyed first, then a redirect to the IdP's
// end_session_endpoint with id_token_hint and the registered post_logout_redirect_uri, our own
// {basePath}/logged-out, which lands on postLogoutRedirect with no stray state in the URL (or shows a
// "signed out" page); nothing a caller sends can turn it into an open redirect.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { followRedirects, login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

let op: TestProvider;
let app: TestApp;
let local: TestApp;
let pageApp: TestApp;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 60 });
  app = await startApp(op);
  local = await startApp(op, { idpLogout: false, postLogoutRedirect: '/bye' });
  pageApp = await startApp(op, { postLogoutRedirect: '/auth/logged-out' });
});
afterAll(async () => {
  await app?.close();
  await local?.close();
  await pageApp?.close();
  await op?.stop();
});

function sessionIdOf(jar: CookieJar): string {
  const raw = decodeURIComponent(jar.get('oidc.sid') ?? '');
  return raw.slice(2, raw.lastIndexOf('.'));
}

async function signedIn(target: TestApp): Promise<{ jar: CookieJar; idToken: string }> {
  const jar = new CookieJar();
  expect((await login(target.url, { jar })).status).toBe(302);
  const tokens = (await (await request(`${target.url}/api/tokens`, { jar })).json()) as { idToken: string };
  return { jar, idToken: tokens.idToken };
}

describe('52: RP-initiated logout', () => {
  it('destroys the local session first, then redirects to end_session_endpoint with id_token_hint and {basePath}/logged-out, no state', async () => {
    for (let i = 0; i < 2; i++) {
      const { jar, idToken } = await signedIn(app);
      const sid = sessionIdOf(jar);
      const res = await request(`${app.url}/auth/logout?returnTo=${encodeURIComponent('https://evil.example/')}`, {
        jar,
        method: 'POST',
        headers: { origin: app.url },
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('cache-control')).toBe('no-store');
      // Gone from the store by the time the browser is sent to the IdP.
      expect(await app.router.context.store.getAsync(sid)).toBeNull();
      expect(await app.router.context.tokens.read(sid)).toBeNull();
      const location = new URL(res.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe(`${op.issuer}/session/end`);
      expect(location.searchParams.get('id_token_hint')).toBe(idToken);
      expect(location.searchParams.get('client_id')).toBe(op.clientId);
      expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${app.url}/auth/logged-out`);
      // Nothing on the way back would check it, so it would only end up in the landing page's URL.
      expect(location.searchParams.has('state')).toBe(false);
      // The provider honours it and sends the browser back to our landing route, which goes on to postLogoutRedirect.
      const back = await followRedirects(location, { jar });
      expect(back.hops).toContainEqual(`303 ${app.url}/auth/logged-out`);
      expect(back.url).toBe(`${app.url}/`);
      expect(await (await request(`${app.url}/auth/session`, { jar })).json()).toBeNull();
    }
  });

  it('the landing route checks nothing and redirects to postLogoutRedirect without the query; no session, no-store', async () => {
    for (const q of [
      '',
      '?state=forged',
      '?state=',
      '?returnTo=https://evil.example/',
      '?post_logout_redirect_uri=https://evil.example/',
    ]) {
      const jar = new CookieJar();
      const res = await request(`${app.url}/auth/logged-out${q}`, { jar });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe(`${app.url}/`);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('set-cookie')).toBeNull();
    }
    const bye = await request(`${local.url}/auth/logged-out?state=x`, { jar: new CookieJar() });
    expect(bye.headers.get('location')).toBe(`${local.url}/bye`);
  });

  it("postLogoutRedirect: '/auth/logged-out' ends RP-initiated logout on a small signed-out page (for apps without one)", async () => {
    const { jar } = await signedIn(pageApp);
    const res = await request(`${pageApp.url}/auth/logout`, { jar, method: 'POST', headers: { origin: pageApp.url } });
    const back = await followRedirects(new URL(res.headers.get('location')!), { jar });
    expect(back.url).toBe(`${pageApp.url}/auth/logged-out`);
    expect(back.response!.status).toBe(200);
    expect(back.response!.headers.get('cache-control')).toBe('no-store');
    expect(back.response!.headers.get('content-type')).toMatch(/^text\/html/);
    expect(back.response!.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    expect(await back.response!.text()).toMatch(/You are signed out/);
    // A query the IdP appends is dropped by one more redirect to the clean URL.
    const withQuery = await request(`${pageApp.url}/auth/logged-out?state=abc`, { jar: new CookieJar() });
    expect(withQuery.status).toBe(303);
    expect(withQuery.headers.get('location')).toBe(`${pageApp.url}/auth/logged-out`);
  });

  it('local logout ignores a foreign returnTo', async () => {
    for (const returnTo of ['//evil.example', 'https://evil.example/', '/\\evil.example', '/ok?x=1']) {
      const { jar } = await signedIn(local);
      const res = await request(`${local.url}/auth/logout?returnTo=${encodeURIComponent(returnTo)}`, {
        jar,
        method: 'POST',
        headers: { origin: local.url },
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe(returnTo === '/ok?x=1' ? `${local.url}/ok?x=1` : `${local.url}/bye`);
    }
  });
});
