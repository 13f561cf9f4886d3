// Login control against the real provider: strict RFC 9207 iss, per-login parameters on GET /login, silent login
// (prompt=none and attemptSilentLogin()), and step-up with requiresAuth({ acr, maxAge }) (RFC 9470, OIDC Core §3.1.3.7).
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { attemptSilentLogin, getServerSession, requiresAuth } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { restoreClock, shiftClock } from '../helpers/clock.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { followRedirects, login, request, startLogin } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { closeAll, hookIdTokens, resign, sessionOf } from '../security/support.js';

const BASIC = 'urn:x:basic';
const STRONG = 'urn:x:strong';

let op: TestProvider;
let app: TestApp;
let hook: ReturnType<typeof hookIdTokens>;
const signIns: string[] = [];

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 300, acrValues: [BASIC, STRONG] });
  hook = hookIdTokens(op);
  app = await startApp(op, { idpLogout: false, events: { signIn: ({ sub }) => void signIns.push(sub ?? '') } }, (a) => {
    a.get('/page', attemptSilentLogin(), async (req, res) => {
      res.type('text').send((await getServerSession(req)) ? 'signed in' : 'signed out');
    });
    a.get('/strong', requiresAuth({ acr: STRONG }), (_req, res) => res.type('text').send('strong'));
    a.get('/recent', requiresAuth({ maxAge: 60 }), (_req, res) => res.type('text').send('recent'));
    a.get('/api/auth', async (req, res) => res.json((await getServerSession(req))?.auth ?? null));
  });
});
afterEach(() => {
  hook.forge = undefined;
  op.setAcr(undefined);
  restoreClock();
});
afterAll(() => closeAll(app, op));

const HTML = { accept: 'text/html,application/xhtml+xml' };
const JSON_ACCEPT = { accept: 'application/json' };

/** GET {app}{path} and the redirects after it, up to the provider's authorization endpoint (not requested). */
async function authorizationRequest(path: string, jar = new CookieJar()): Promise<URL> {
  const result = await followRedirects(`${app.url}${path}`, {
    jar,
    stopBefore: (url) => url.origin === op.issuer && url.pathname === '/auth',
  });
  if (!result.stoppedAt) throw new Error(`no authorization request:\n${result.hops.join('\n')}`);
  return new URL(result.stoppedAt);
}

/** Follows a flow from `path` until the browser is back at the app outside /auth; returns that URL and the hops. */
async function roundTrip(
  path: string,
  jar: CookieJar,
  headers: Record<string, string> = HTML,
): Promise<{ url: string; status: number; hops: string[]; body: string }> {
  const result = await followRedirects(`${app.url}${path}`, { jar, headers });
  return { url: result.url, status: result.response?.status ?? 0, hops: result.hops, body: (await result.response?.text()) ?? '' };
}

async function signedInJar(returnTo = '/'): Promise<CookieJar> {
  const jar = new CookieJar();
  const done = await login(app.url, { jar, returnTo });
  expect(done.status).toBe(302);
  return jar;
}

describe('RFC 9207: the iss of the authorization response', () => {
  it('the provider advertises authorization_response_iss_parameter_supported and sends iss', async () => {
    const meta = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(meta.authorization_response_iss_parameter_supported).toBe(true);
    const started = await startLogin(app.url, { jar: new CookieJar() });
    expect(new URL(started.callbackUrl).searchParams.get('iss')).toBe(op.issuer);
  });

  it.each([
    ['forged', (u: URL) => u.searchParams.set('iss', 'https://evil.example')],
    ['missing', (u: URL) => u.searchParams.delete('iss')],
    ['repeated', (u: URL) => u.searchParams.append('iss', op.issuer)],
  ])('a %s iss is refused: 400 ERR_LOGIN_FAILED, no session', async (_name, tamper) => {
    const jar = new CookieJar();
    const started = await startLogin(app.url, { jar });
    const url = new URL(started.callbackUrl);
    tamper(url);
    const res = await request(url, { jar, headers: JSON_ACCEPT });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'ERR_LOGIN_FAILED' });
    expect(await sessionOf(app, jar)).toBeNull();
  });

  it('also on an error response (login_required) without iss', async () => {
    const jar = new CookieJar();
    const result = await followRedirects(`${app.url}/auth/login?prompt=none&returnTo=/x`, {
      jar,
      stopBefore: (url) => url.origin === app.url && url.pathname === '/auth/callback',
    });
    const url = new URL(result.stoppedAt!);
    expect(url.searchParams.get('error')).toBe('login_required');
    url.searchParams.delete('iss');
    const res = await request(url, { jar, headers: JSON_ACCEPT });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'ERR_LOGIN_FAILED' });
  });

  describe('a provider that does not advertise it', () => {
    let quiet: TestProvider;
    let quietApp: TestApp;
    beforeAll(async () => {
      quiet = await startProvider({
        accessTokenTtl: 300,
        // Its discovery document without the flag (the provider's own, fetched again with a marker header).
        intercept: (req, res) => {
          if (req.url !== '/.well-known/openid-configuration' || req.headers['x-test-real']) return false;
          void fetch(`${quiet.issuer}${req.url}`, { headers: { 'x-test-real': '1' } })
            .then((r) => r.json())
            .then((meta) => {
              delete (meta as Record<string, unknown>).authorization_response_iss_parameter_supported;
              res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(meta));
            });
          return true;
        },
      });
      quietApp = await startApp(quiet, { idpLogout: false });
    });
    afterAll(() => closeAll(quietApp, quiet));

    it('a response without iss is accepted; with strictIss (profile fapi2) it is refused', async () => {
      const meta = (await (await fetch(`${quiet.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(meta).not.toHaveProperty('authorization_response_iss_parameter_supported');
      const jar = new CookieJar();
      const started = await startLogin(quietApp.url, { jar });
      const url = new URL(started.callbackUrl);
      url.searchParams.delete('iss');
      const res = await request(url, { jar });
      expect(res.status).toBe(302);
      expect((await sessionOf(quietApp, jar))?.user).toMatchObject({ sub: 'alice' });

      // strictIss comes with profile 'fapi2' (which also needs private_key_jwt, PAR and DPoP): set on this app's config alone.
      const ctx = quietApp.router.context as unknown as { config: Record<string, unknown> };
      const config = ctx.config;
      ctx.config = { ...config, strictIss: true };
      try {
        const jar2 = new CookieJar();
        const second = new URL((await startLogin(quietApp.url, { jar: jar2 })).callbackUrl);
        second.searchParams.delete('iss');
        const refused = await request(second, { jar: jar2, headers: JSON_ACCEPT });
        expect(refused.status).toBe(400);
        expect(await refused.json()).toMatchObject({ code: 'ERR_LOGIN_FAILED' });
      } finally {
        ctx.config = config;
      }
    });
  });
});

describe('per-login parameters on GET /login', () => {
  it.each(
    [
      ['max_age=-1'],
      ['max_age=1.5'],
      ['max_age=315360001'],
      ['prompt=evil'],
      ['prompt=none%20login'],
      ['prompt=login&prompt=consent'],
      [`login_hint=${'a'.repeat(10 * 1024)}`],
      ['login_hint=a%0Ab'],
      ['ui_locales=%3Cscript%3E'],
      [`acr_values=${'x'.repeat(257)}`],
      ['silent=yes'],
      ['silent=true&prompt=login'],
    ].map(([q]) => [q!.length > 60 ? `${q!.slice(0, 24)}… (${q!.length} characters)` : q!, q!]),
  )('%s → 400 ERR_BAD_REQUEST, no redirect to the IdP, no pending login', async (_label, query) => {
    const res = await fetch(`${app.url}/auth/login?${query}`, { redirect: 'manual', headers: JSON_ACCEPT });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.getSetCookie().filter((c) => c.includes('.tx.'))).toEqual([]);
    expect(await res.json()).toMatchObject({ code: 'ERR_BAD_REQUEST' });
  });

  it('login_hint, ui_locales, acr_values, max_age and prompt reach the authorization request; other parameters do not', async () => {
    const url = await authorizationRequest(
      '/auth/login?prompt=login&login_hint=alice%40example.test&ui_locales=fr-CA%20en' +
        `&acr_values=${encodeURIComponent(`${STRONG} ${BASIC}`)}&max_age=300&foo=bar&scope=admin&redirect_uri=https://evil.example`,
    );
    const p = url.searchParams;
    expect(p.get('prompt')).toBe('login');
    expect(p.get('login_hint')).toBe('alice@example.test');
    expect(p.get('ui_locales')).toBe('fr-CA en');
    expect(p.get('acr_values')).toBe(`${STRONG} ${BASIC}`);
    expect(p.get('max_age')).toBe('300');
    expect(p.has('foo')).toBe(false);
    expect(p.get('scope')).toBe('openid profile email offline_access');
    expect(p.get('redirect_uri')).toBe(`${app.url}/auth/callback`);
  });

  it('the camelCase names of signIn() (loginHint, silent=true…) are the same parameters', async () => {
    const p = (await authorizationRequest('/auth/login?silent=true&loginHint=bob&uiLocales=de&acrValues=urn%3Ax%3Astrong&maxAge=0'))
      .searchParams;
    expect([p.get('prompt'), p.get('login_hint'), p.get('ui_locales'), p.get('acr_values'), p.get('max_age')]).toEqual([
      'none',
      'bob',
      'de',
      STRONG,
      '0',
    ]);
    const res = await fetch(`${app.url}/auth/login?login_hint=a&loginHint=b`, { redirect: 'manual', headers: JSON_ACCEPT });
    expect(res.status).toBe(400);
  });

  it('a login with the hint completes as usual', async () => {
    const jar = new CookieJar();
    const done = await roundTrip('/auth/login?login_hint=alice&ui_locales=en&returnTo=/done', jar);
    expect(done.url).toBe(`${app.url}/done`);
    expect((await sessionOf(app, jar))?.user).toMatchObject({ sub: 'alice' });
  });
});

describe('silent login', () => {
  it('no session at the IdP: back at returnTo signed out, no error page, no signIn event', async () => {
    const jar = new CookieJar();
    const before = signIns.length;
    const done = await roundTrip('/auth/login?prompt=none&returnTo=/x%3Fy%3D1', jar);
    expect(done.url).toBe(`${app.url}/x?y=1`);
    expect(done.hops.some((h) => h.includes('/auth/callback?') && h.includes('error=login_required'))).toBe(true);
    expect(done.hops.find((h) => h.includes('/auth/callback?'))).toMatch(/^302 /);
    expect(await sessionOf(app, jar)).toBeNull();
    expect(signIns.length).toBe(before);
    // The state was claimed: the same callback again is refused.
    const callback = done.hops.find((h) => h.includes('/auth/callback?'))!.split(' ')[1]!;
    expect((await request(callback, { jar, headers: JSON_ACCEPT })).status).toBe(400);
  });

  it('a login_required for a login that was not prompt=none is an error, not a silent return', async () => {
    const jar = new CookieJar();
    const started = await followRedirects(`${app.url}/auth/login?returnTo=/x`, { jar, stopBefore: (url) => url.origin === op.issuer });
    const state = new URL(started.stoppedAt!).searchParams.get('state')!;
    const res = await request(`${app.url}/auth/callback?error=login_required&state=${state}&iss=${encodeURIComponent(op.issuer)}`, {
      jar,
      headers: JSON_ACCEPT,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 'ERR_LOGIN_FAILED' });
  });

  it('signed in at the IdP: signed in silently', async () => {
    const jar = await signedInJar();
    jar.delete('oidc.sid');
    expect(await sessionOf(app, jar)).toBeNull();
    const before = signIns.length;
    const done = await roundTrip('/auth/login?prompt=none&returnTo=/y', jar);
    expect(done.url).toBe(`${app.url}/y`);
    expect((await sessionOf(app, jar))?.user).toMatchObject({ sub: 'alice' });
    expect(signIns.length).toBe(before + 1);
  });

  it('attemptSilentLogin() tries once per browser session, for page loads only', async () => {
    const jar = new CookieJar();
    const api = await request(`${app.url}/page`, { jar, headers: JSON_ACCEPT });
    expect(api.status).toBe(200);
    const first = await request(`${app.url}/page`, { jar, headers: HTML });
    expect(first.status).toBe(302);
    expect(first.headers.get('location')).toBe('/auth/login?prompt=none&returnTo=%2Fpage');
    const mark = first.headers.getSetCookie().find((c) => c.startsWith('oidc.sid.silent='));
    expect(mark).toMatch(/^oidc\.sid\.silent=1; Path=\/; HttpOnly; SameSite=Lax$/);
    const done = await roundTrip('/page', jar);
    expect(done.url).toBe(`${app.url}/page`);
    expect(done.body).toBe('signed out');
    // Not again in this browser session.
    const again = await request(`${app.url}/page`, { jar, headers: HTML });
    expect(again.status).toBe(200);
    expect(await again.text()).toBe('signed out');
  });

  it('attemptSilentLogin() signs in a browser that has an IdP session', async () => {
    const jar = await signedInJar();
    jar.delete('oidc.sid');
    const done = await roundTrip('/page', jar);
    expect(done.url).toBe(`${app.url}/page`);
    expect(done.body).toBe('signed in');
    expect(done.hops.length).toBeGreaterThan(2);
    // Signed in: no further round trip.
    const again = await roundTrip('/page', jar);
    expect(again.hops).toHaveLength(1);
  });

  it('GET /login?prompt=none marks the attempt too, so attemptSilentLogin() does not repeat a signIn({ silent: true })', async () => {
    const jar = new CookieJar();
    await roundTrip('/auth/login?prompt=none&returnTo=/elsewhere', jar);
    expect(jar.get('oidc.sid.silent')).toBe('1');
    const page = await request(`${app.url}/page`, { jar, headers: HTML });
    expect(page.status).toBe(200);
  });
});

describe('step-up: requiresAuth({ acr, maxAge })', () => {
  it('keeps acr, amr and auth_time as session.auth', async () => {
    const jar = await signedInJar();
    const auth = (await (await request(`${app.url}/api/auth`, { jar })).json()) as Record<string, unknown>;
    expect(auth).toMatchObject({ acr: BASIC, amr: ['pwd'] });
    expect(auth.authTime).toBeGreaterThan(Date.now() - 60_000);
    expect((await sessionOf(app, jar))?.auth).toMatchObject({ acr: BASIC });
    // The user stays free of protocol claims.
    expect((await sessionOf(app, jar))?.user).not.toHaveProperty('acr');
  });

  it('a weaker acr: page → login with acr_values, API → 401 with WWW-Authenticate; after the step-up the route passes', async () => {
    const jar = await signedInJar();
    const apiRes = await request(`${app.url}/strong`, { jar, headers: JSON_ACCEPT });
    expect(apiRes.status).toBe(401);
    expect(apiRes.headers.get('www-authenticate')).toBe(
      `Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="${STRONG}"`,
    );
    expect(await apiRes.json()).toMatchObject({
      error: 'insufficient_user_authentication',
      code: 'ERR_INSUFFICIENT_AUTHENTICATION',
      acr_values: STRONG,
    });

    const page = await request(`${app.url}/strong`, { jar, headers: HTML });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe(`/auth/login?returnTo=%2Fstrong&acr_values=${encodeURIComponent(STRONG)}`);

    const done = await roundTrip('/strong', jar);
    expect(done.url).toBe(`${app.url}/strong`);
    expect(done.body).toBe('strong');
    expect(done.hops.some((h) => h.includes('/interaction/'))).toBe(true); // the IdP authenticated again
    expect((await sessionOf(app, jar))?.auth).toMatchObject({ acr: STRONG });
  });

  it('without a session the first sign-in already asks for the acr', async () => {
    const page = await request(`${app.url}/strong`, { jar: new CookieJar(), headers: HTML });
    expect(page.headers.get('location')).toBe(`/auth/login?returnTo=%2Fstrong&acr_values=${encodeURIComponent(STRONG)}`);
    const api = await request(`${app.url}/strong`, { jar: new CookieJar(), headers: JSON_ACCEPT });
    expect(api.status).toBe(401);
    expect(await api.json()).toMatchObject({ error: 'unauthenticated' });
  });

  it('a callback whose acr is not one requested is refused with 401 ERR_INSUFFICIENT_AUTHENTICATION', async () => {
    op.setAcr(BASIC);
    op.resetCounts();
    const jar = new CookieJar();
    const withAcr = await followRedirects(`${app.url}/auth/login?acr_values=${encodeURIComponent(STRONG)}&returnTo=/strong`, {
      jar,
      stopBefore: (url) => url.origin === app.url && url.pathname === '/auth/callback',
    });
    const res = await request(withAcr.stoppedAt!, { jar, headers: JSON_ACCEPT });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('ERR_INSUFFICIENT_AUTHENTICATION');
    expect(body.message).toContain(BASIC);
    expect(await sessionOf(app, jar)).toBeNull();
    // The tokens nobody will hold are revoked at the provider (in the background).
    for (let i = 0; i < 50 && op.count('grant.revoked') === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(op.count('grant.revoked')).toBe(1);
  });

  it('maxAge: a sign-in older than maxAge steps up with max_age, and the IdP re-authenticates', async () => {
    const jar = await signedInJar();
    expect((await request(`${app.url}/recent`, { jar, headers: JSON_ACCEPT })).status).toBe(200);
    shiftClock(Date.now() + 120_000);
    const api = await request(`${app.url}/recent`, { jar, headers: JSON_ACCEPT });
    expect(api.status).toBe(401);
    expect(api.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_user_authentication", .*, max_age=60$/);
    const page = await request(`${app.url}/recent`, { jar, headers: HTML });
    expect(page.headers.get('location')).toBe('/auth/login?returnTo=%2Frecent&max_age=60');
    const done = await roundTrip('/recent', jar);
    expect(done.url).toBe(`${app.url}/recent`);
    expect(done.body).toBe('recent');
    const auth = (await (await request(`${app.url}/api/auth`, { jar })).json()) as { authTime: number };
    expect(auth.authTime).toBeGreaterThan(Date.now() - 10_000);
  });

  it('a callback whose auth_time does not satisfy max_age is refused', async () => {
    const jar = new CookieJar();
    const started = await followRedirects(`${app.url}/auth/login?max_age=60&returnTo=/recent`, {
      jar,
      stopBefore: (url) => url.origin === app.url && url.pathname === '/auth/callback',
    });
    hook.forge = resign(op, { auth_time: Math.floor(Date.now() / 1000) - 3600 });
    const res = await request(started.stoppedAt!, { jar, headers: JSON_ACCEPT });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'ERR_INSUFFICIENT_AUTHENTICATION' });
    expect(await sessionOf(app, jar)).toBeNull();

    const jar2 = new CookieJar();
    const second = await followRedirects(`${app.url}/auth/login?max_age=60`, {
      jar: jar2,
      stopBefore: (url) => url.origin === app.url && url.pathname === '/auth/callback',
    });
    hook.forge = resign(op, { auth_time: undefined });
    const missing = await request(second.stoppedAt!, { jar: jar2, headers: JSON_ACCEPT });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ code: 'ERR_INSUFFICIENT_AUTHENTICATION' });
  });

  it('bad options are a ConfigError at startup', () => {
    expect(() => requiresAuth({ acr: [] })).toThrow(/"acr" must be/);
    expect(() => requiresAuth({ acr: 'a b' })).toThrow(/"acr" must be/);
    expect(() => requiresAuth({ maxAge: -1 })).toThrow(/"maxAge" must be/);
    expect(() => requiresAuth({ maxAge: 1.5 })).toThrow(/"maxAge" must be/);
  });
});
