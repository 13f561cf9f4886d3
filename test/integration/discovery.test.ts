// The IdP at startup and during login: down, hanging, or claiming another issuer → bounded, coded answers,
// the app keeps serving and recovers by itself (checklist 15, 16, 17); basePath moves every route.

import type http from 'node:http';
import { afterAll, describe, expect, it } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request, startLogin } from '../helpers/login.js';
import { startProvider, TEST_CLIENT_SECRET, type TestProvider } from '../helpers/op.js';
import { freePort, listen } from '../helpers/server.js';

const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

async function json(res: Response): Promise<{ code?: string }> {
  return (await res.json()) as { code?: string };
}

describe('discovery and IdP faults at login', () => {
  it('16: IdP down at startup → login answers 503 ERR_IDP_UNAVAILABLE; once it is up, login works without a restart', async () => {
    const port = await freePort();
    // The app is configured (and started) before anything listens on the issuer's port.
    const fakeOp = {
      issuer: `http://127.0.0.1:${port}`,
      clientId: 'app',
      clientSecret: TEST_CLIENT_SECRET,
      allowRedirect: () => undefined,
    };
    const app: TestApp = await startApp(fakeOp as unknown as TestProvider, { idpLogout: false });
    cleanup.push(() => app.close());
    const down = await request(`${app.url}/auth/login`, { jar: new CookieJar(), headers: { accept: 'application/json' } });
    expect(down.status).toBe(503);
    expect(await json(down)).toMatchObject({ code: 'ERR_IDP_UNAVAILABLE' });
    expect((await request(`${app.url}/auth/session`, { jar: new CookieJar() })).status).toBe(200); // the app still serves

    const op = await startProvider({ port, accessTokenTtl: 60 });
    cleanup.push(() => op.stop());
    op.allowRedirect(`${app.url}/auth/callback`);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the discovery retry cooldown
    const jar = new CookieJar();
    expect((await login(app.url, { jar })).status).toBe(302);
    expect((await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } })).status).toBe(200);
  });

  it('15: a discovered issuer that differs from the configured one (trailing slash) → 503 ERR_ISSUER_MISMATCH, no redirect', async () => {
    const op = await startProvider();
    cleanup.push(() => op.stop());
    const app = await startApp({ ...op, issuer: `${op.issuer}/`, allowRedirect: (u: string) => op.allowRedirect(u) } as TestProvider, {});
    cleanup.push(() => app.close());
    const res = await request(`${app.url}/auth/login`, { jar: new CookieJar(), headers: { accept: 'application/json' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('location')).toBeNull();
    expect(await json(res)).toMatchObject({ code: 'ERR_ISSUER_MISMATCH' });
  });

  it('16: a discovery endpoint that hangs → 504 ERR_IDP_TIMEOUT within the configured timeout', async () => {
    const hanging = await listen(() => undefined); // accepts, never answers
    cleanup.push(() => hanging.close());
    const fakeOp = { issuer: hanging.url, clientId: 'app', clientSecret: 'x'.repeat(40), allowRedirect: () => undefined };
    const app = await startApp(fakeOp as unknown as TestProvider, { httpTimeout: 400 });
    cleanup.push(() => app.close());
    const started = Date.now();
    const res = await request(`${app.url}/auth/login`, { jar: new CookieJar(), headers: { accept: 'application/json' } });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(504);
    expect(await json(res)).toMatchObject({ code: 'ERR_IDP_TIMEOUT' });
  });

  it('17: a token endpoint that hangs during the code exchange → 504 within the timeout, no session', async () => {
    let hang = false;
    const op = await startProvider({
      intercept: (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (!hang || !req.url?.startsWith('/token')) return false;
        setTimeout(() => res.destroy(), 5000);
        return true;
      },
    });
    cleanup.push(() => op.stop());
    const app = await startApp(op, { httpTimeout: 400 });
    cleanup.push(() => app.close());
    const jar = new CookieJar();
    const { callbackUrl } = await startLogin(app.url, { jar });
    hang = true;
    const started = Date.now();
    const res = await request(callbackUrl, { jar, headers: { accept: 'application/json' } });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.status).toBe(504);
    expect(await json(res)).toMatchObject({ code: 'ERR_IDP_TIMEOUT' });
    expect(await (await request(`${app.url}/auth/session`, { jar })).json()).toBeNull();
  });

  it('basePath moves every route', async () => {
    const op = await startProvider({ accessTokenTtl: 60 });
    cleanup.push(() => op.stop());
    const app = await startApp(op, { basePath: '/account', idpLogout: false });
    cleanup.push(() => app.close());
    const jar = new CookieJar();
    expect((await login(app.url, { jar, basePath: '/account' })).status).toBe(302);
    const s = (await (await request(`${app.url}/account/session`, { jar })).json()) as { user: { sub: string } };
    expect(s.user.sub).toBe('alice');
    expect((await request(`${app.url}/account/jwks.json`, { jar })).status).toBe(200);
    expect((await request(`${app.url}/auth/session`, { jar })).status).toBe(404);
    const out = await request(`${app.url}/account/logout`, { jar, method: 'POST', headers: { origin: app.url } });
    expect(out.status).toBe(303);
    expect(await (await request(`${app.url}/account/session`, { jar })).json()).toBeNull();
  });
});
