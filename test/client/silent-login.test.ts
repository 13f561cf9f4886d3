// signIn({ silent: true }) in Chromium against the real middleware and provider: a top-level prompt=none round
// trip that comes back to the page signed out (no IdP session) or signed in (an IdP session), with no page shown.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { createClientRoute } from '../../lib/client-route.js';
import { sessionScript } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { launchChromium } from '../helpers/chromium.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

type PageWindow = Window & { session: { getSnapshot(): { state: string; user?: { sub: string } }; signIn(o?: unknown): void } };

let op: TestProvider;
let app: TestApp;
let browser: Browser;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 300 });
  app = await startApp(op, { idpLogout: false }, (express) => {
    // As in e2e.test.ts: the route mounted beside the middleware.
    express.get('/auth/client.js', createClientRoute());
    express.get('/page', async (req, res) => {
      const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64');
      res.set('Content-Security-Policy', `script-src 'nonce-${nonce}'; object-src 'none'; base-uri 'none'`);
      res.type('html').send(`<!doctype html><html><head>${await sessionScript(req, { nonce })}</head><body>
<script nonce="${nonce}">window.session = OidcSession.useSession();</script></body></html>`);
    });
  });
  browser = await launchChromium();
}, 30_000);
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await op?.stop();
});

const stateOf = async (page: Page) => {
  await page.waitForFunction(() => 'session' in window);
  return page.evaluate(() => {
    const s = (window as unknown as PageWindow).session.getSnapshot();
    return { state: s.state, sub: s.user?.sub };
  });
};

/** Calls signIn(options) on the page and waits for the browser to land on /page again; returns the URLs it went through. */
async function signInFromPage(page: Page, options: unknown): Promise<string[]> {
  const seen: string[] = [];
  // Each redirect hop of the navigation is a request of its own.
  page.on('request', (r) => void (r.isNavigationRequest() && seen.push(r.url())));
  await Promise.all([
    page.waitForURL((url) => url.pathname === '/page' && seen.length > 0),
    page.evaluate((o) => (window as unknown as PageWindow).session.signIn(o), options),
  ]);
  return seen;
}

describe('signIn({ silent: true })', () => {
  it('without an IdP session: back on the page, signed out, no error page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${app.url}/page`);
    expect(await stateOf(page)).toEqual({ state: 'unauthenticated', sub: undefined });
    const seen = await signInFromPage(page, { silent: true });
    expect(seen[0]).toBe(`${app.url}/auth/login?returnTo=%2Fpage&silent=true`);
    expect(seen.some((u) => u.startsWith(`${op.issuer}/auth?`) && new URL(u).searchParams.get('prompt') === 'none')).toBe(true);
    expect(seen.some((u) => u.includes('/auth/callback?') && u.includes('error=login_required'))).toBe(true);
    expect(seen.at(-1)).toBe(`${app.url}/page`);
    expect(await stateOf(page)).toEqual({ state: 'unauthenticated', sub: undefined });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('with an IdP session: back on the page, signed in, without an interaction page', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/auth/login?returnTo=/page`);
    await page.waitForURL(`${app.url}/page`);
    expect((await stateOf(page)).state).toBe('authenticated');
    // Signed out here only: the IdP's session stays.
    await context.clearCookies({ name: 'oidc.sid' });
    await page.goto(`${app.url}/page`);
    expect((await stateOf(page)).state).toBe('unauthenticated');
    op.resetCounts();
    await signInFromPage(page, { silent: true });
    expect(await stateOf(page)).toEqual({ state: 'authenticated', sub: 'alice' });
    expect(op.count('interaction.started')).toBe(0);
    await context.close();
  });
});
