// The observer's fetch() in Chromium against the real middleware, provider and remoteApi in front of a
// real upstream: it sends the header remoteApi requires (a plain fetch is refused), and a 401
// `unauthenticated` after the session ended elsewhere moves the page to unauthenticated, once.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { remoteApi, sessionScript } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { launchChromium } from '../helpers/chromium.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { type Listening, listen } from '../helpers/server.js';

let op: TestProvider;
let app: TestApp;
let upstream: Listening;
let browser: Browser;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 300 });
  upstream = await listen((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, bearer: /^Bearer \S+$/.test(req.headers.authorization ?? '') }));
  });
  app = await startApp(op, { idpLogout: false }, (target) => {
    target.use('/api/up', remoteApi(upstream.url, { token: 'user' }));
    target.get('/page', async (req, res) => {
      res.type('html').send(`<!doctype html><html><head>${await sessionScript(req)}</head><body><script>
window.__log = [];
window.session = OidcSession.useSession({ onSignOut: () => __log.push('onSignOut'), onUnauthenticated: () => __log.push('onUnauthenticated') });
</script></body></html>`);
    });
  });
  browser = await launchChromium();
}, 30_000);
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await upstream?.close();
  await op?.stop();
});

type PageWindow = Window & { __log: string[]; session: { fetch(i: string): Promise<Response>; getSnapshot(): { state: string } } };

describe('session.fetch', () => {
  it('calls remoteApi with its header and the user token; a 401 unauthenticated signs the page out once', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/auth/login?returnTo=/page`);
    await page.waitForURL(`${app.url}/page`);
    await page.waitForFunction(() => 'session' in window);
    const viaHandle = await page.evaluate(async () => {
      const res = await (window as unknown as PageWindow).session.fetch('/api/up/orders?x=1');
      return { status: res.status, body: await res.json() };
    });
    expect(viaHandle).toEqual({ status: 200, body: { path: '/orders?x=1', bearer: true } });
    const plain = await page.evaluate(async () => (await fetch('/api/up/orders')).status);
    expect(plain).toBe(403);

    // The session ends elsewhere (logout from another tab of this browser, without this page hearing of it).
    const cookie = (await context.cookies())
      .filter((c) => c.name === 'oidc.sid')
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    const out = await fetch(`${app.url}/auth/logout`, { method: 'POST', headers: { cookie, origin: app.url }, redirect: 'manual' });
    expect(out.status).toBe(303);
    expect(await page.evaluate(() => (window as unknown as PageWindow).session.getSnapshot().state)).toBe('authenticated');
    const after = await page.evaluate(async () => (await (window as unknown as PageWindow).session.fetch('/api/up/orders')).status);
    expect(after).toBe(401);
    await page.waitForFunction(() => (window as unknown as PageWindow).session.getSnapshot().state === 'unauthenticated', undefined, {
      timeout: 3000,
    });
    await page.waitForTimeout(200);
    const log = await page.evaluate(() => (window as unknown as PageWindow).__log);
    expect(log.filter((n) => n === 'onSignOut')).toHaveLength(1);
    expect(log.filter((n) => n === 'onUnauthenticated')).toHaveLength(1);
    await context.close();
  }, 20_000);
});
