// The observer against the real middleware and the in-process oidc-provider, in Chromium: sign in
// through the provider, bootstrap from sessionScript() (no loading state), the access token
// expiring and being refreshed with no reload, and a sign-out through the IdP reaching a second tab.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { createClientRoute } from '../../lib/client-route.js';
import { sessionScript } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { launchChromium } from '../helpers/chromium.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

interface Logged {
  name: string;
  at: number;
}
type PageWindow = Window & { __log: Logged[]; __states: string[]; session: { getSnapshot(): any } };

let op: TestProvider;
let app: TestApp;
let browser: Browser;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 4 });
  app = await startApp(op, {}, (express) => {
    // Until the middleware serves it itself, the route is mounted beside it.
    express.get('/auth/client.js', createClientRoute());
    express.get('/page', async (req, res) => {
      const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64');
      res.set('Content-Security-Policy', `script-src 'nonce-${nonce}'; object-src 'none'; base-uri 'none'`);
      res.type('html').send(`<!doctype html><html><head>${await sessionScript(req, { nonce })}</head><body>
<script nonce="${nonce}">
window.__log = []; window.__states = [];
const names = ['onUnauthenticated','onSessionExpired','onAccessTokenExpired','onAccessTokenError','onIdTokenExpired','onIdTokenError','onJwtExpired','onJwtError','onSignOut','onSignIn','onSessionUpdate'];
window.session = OidcSession.useSession(Object.fromEntries(names.map((n) => [n, () => __log.push({ name: n, at: Date.now() })])));
__states.push(session.getSnapshot().state);
session.subscribe((s) => __states.push(s.state));
</script></body></html>`);
    });
  });
  browser = await launchChromium();
}, 30_000);
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await op?.stop();
});

const names = (page: Page) => page.evaluate(() => (window as unknown as PageWindow).__log.map((l) => l.name));
const snapshotOf = (page: Page) =>
  page.evaluate(() => {
    const s = (window as unknown as PageWindow).session.getSnapshot();
    return { state: s.state, loading: s.loading, user: s.user, data: s.data, error: s.error?.message };
  });

describe('with the real middleware and provider', () => {
  it('signs in, starts authenticated, lives through an access token refresh, and signs out in every tab', async () => {
    const context = await browser.newContext();
    const errors: string[] = [];
    const page = await context.newPage();
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${app.url}/auth/login?returnTo=/page`);
    await page.waitForURL(`${app.url}/page`);
    await page.waitForFunction(() => 'session' in window);
    expect(await page.evaluate(() => (window as unknown as PageWindow).__states)).toEqual(['authenticated']);
    const first = await snapshotOf(page);
    expect(first).toMatchObject({ state: 'authenticated', loading: false, user: { sub: 'alice' } });
    expect(first.data.accessToken).toBeUndefined();
    expect(first.data.jwt).toEqual(expect.any(String));

    // The access token (4 s) expires: one callback, then the refreshed session, no reload.
    await page.waitForFunction(
      (old) => (window as unknown as PageWindow).session.getSnapshot().data.accessTokenExpires > old,
      first.data.accessTokenExpires,
      { timeout: 10_000 },
    );
    expect((await names(page)).filter((n) => n === 'onAccessTokenExpired')).toHaveLength(1);
    expect(await names(page)).not.toContain('onSignOut');
    expect((await snapshotOf(page)).state).toBe('authenticated');

    // A second tab; signing out in the first (through the IdP) reaches it within a second.
    const other = await context.newPage();
    other.on('pageerror', (err) => errors.push(err.message));
    await other.goto(`${app.url}/page`);
    await other.waitForFunction(() => 'session' in window);
    const clicked = Date.now();
    await page.evaluate(() => (window as unknown as { session: { signOut(): void } }).session.signOut());
    await other.waitForFunction(() => (window as unknown as PageWindow).__log.some((l) => l.name === 'onSignOut'), undefined, {
      timeout: 3000,
    });
    const heard = await other.evaluate(() => (window as unknown as PageWindow).__log.find((l) => l.name === 'onSignOut')!.at);
    expect(heard - clicked).toBeLessThan(1000);
    expect((await snapshotOf(other)).state).toBe('unauthenticated');
    expect(errors).toEqual([]);
    await context.close();
  }, 30_000);
});
