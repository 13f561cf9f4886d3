// The built observer (dist/client/oidc-session.js, served by the real client route) in headless
// Chromium against a stub of the session routes: bootstrap without a loading state, tabs sharing
// one fetch, sign-out reaching other tabs, outages, expiry callbacks with a skewed server clock,
// `required`, and all of it under a strict nonce CSP. The end-to-end version with the real
// middleware and provider belongs with the server's tests.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.js';
import { type StubServer, startStubServer } from './stub-server.js';

interface Logged {
  name: string;
  at: number;
  state: string;
}
type PageWindow = Window & {
  __log: Logged[];
  __states: string[];
  __csp: string[];
  session: { getSnapshot(): any; refetch(): Promise<any>; signOut(): void };
};

let browser: Browser;
let stub: StubServer;
let context: BrowserContext;
const errors: string[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});
beforeEach(async () => {
  stub = await startStubServer();
  stub.state.session = { user: { sub: 'alice', name: 'Alice' } };
  context = await browser.newContext();
  errors.length = 0;
});
afterEach(async () => {
  await context.close();
  await stub.close();
  expect(errors).toEqual([]);
});

async function open(query = ''): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${stub.url}/page${query}`);
  await page.waitForFunction(() => 'session' in window);
  return page;
}

const snapshot = (page: Page) =>
  page.evaluate(() => {
    const s = (window as unknown as PageWindow).session.getSnapshot();
    return { state: s.state, loading: s.loading, status: s.status, user: s.user, error: s.error?.message, data: s.data };
  });
const logOf = (page: Page) => page.evaluate(() => (window as unknown as PageWindow).__log.map((l) => l.name));
const focus = (page: Page) => page.evaluate(() => void dispatchEvent(new Event('focus')));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('bootstrap', () => {
  it('the first snapshot is already authenticated, never loading, and no session request is made', async () => {
    const page = await open();
    expect(await page.evaluate(() => (window as unknown as PageWindow).__states)).toEqual(['authenticated']);
    expect(await snapshot(page)).toMatchObject({ state: 'authenticated', loading: false, status: 200, user: { sub: 'alice' } });
    await sleep(1500);
    expect(stub.state.gets).toBe(0);
    expect(await logOf(page)).toEqual([]);
  });

  it('signed out: unauthenticated from the first snapshot; without bootstrap, loading then one GET', async () => {
    stub.state.session = null;
    const page = await open();
    expect(await page.evaluate(() => (window as unknown as PageWindow).__states)).toEqual(['unauthenticated']);
    expect(await logOf(page)).toEqual(['onUnauthenticated']);
    stub.state.session = { user: { sub: 'alice' } };
    const late = await open('?boot=0');
    await late.waitForFunction(() => (window as unknown as PageWindow).session.getSnapshot().state === 'authenticated');
    expect(await late.evaluate(() => (window as unknown as PageWindow).__states)).toEqual(['loading', 'authenticated']);
    expect(stub.state.gets).toBe(1);
    expect(stub.state.peeks).toBe(0);
  });

  it('a claim containing </script> is data, not markup, under a strict nonce CSP; the ESM build works too', async () => {
    stub.state.session = { user: { sub: 'mallory', name: '</script><script>window.__pwned = 1</script>' } };
    const page = await open();
    expect((await snapshot(page)).user).toEqual({ sub: 'mallory', name: '</script><script>window.__pwned = 1</script>' });
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.evaluate(() => (window as unknown as PageWindow).__csp)).toEqual([]);
    const esm = await open('?esm=1');
    expect(await snapshot(esm)).toMatchObject({ state: 'authenticated', user: { sub: 'mallory' } });
    expect(await esm.evaluate(() => (window as unknown as PageWindow).__csp)).toEqual([]);
  });

  it('required: true sends a signed-out visitor to login with this page as returnTo', async () => {
    stub.state.session = null;
    const page = await context.newPage();
    // The page records every callback; null takes its onUnauthenticated away so `required` acts.
    const query = `?opts=${encodeURIComponent('{"required":true,"onUnauthenticated":null}')}`;
    await page.goto(`${stub.url}/page${query}`);
    await page.waitForURL(/\/auth\/login/);
    expect(new URL(page.url()).searchParams.get('returnTo')).toBe(`/page${query}`);
  });
});

describe('tabs', () => {
  it('four tabs focused at once cost one session request, and all of them get the answer', async () => {
    const pages = [await open(), await open(), await open(), await open()];
    await sleep(1200); // past the 1 s freshness window of the bootstraps
    stub.state.gets = 0;
    stub.state.session = { user: { sub: 'alice', name: 'Alice Liddell' } };
    await Promise.all(pages.map(focus));
    for (const page of pages) {
      await page.waitForFunction(() => (window as unknown as PageWindow).session.getSnapshot().user.name === 'Alice Liddell');
    }
    await sleep(500);
    expect(stub.state.gets).toBe(1);
    expect(stub.state.peeks).toBe(1);
    for (const page of pages) expect(await logOf(page)).toEqual(['onSessionUpdate']);
  });

  it('a sign-out in one tab reaches the other within a second', async () => {
    const a = await open();
    const b = await open();
    const clicked = await a.evaluate(() => {
      const at = Date.now();
      (window as unknown as PageWindow).session.signOut();
      return at;
    });
    await a.waitForURL(/\/out$/);
    await b.waitForFunction(() => (window as unknown as PageWindow).__log.some((l) => l.name === 'onSignOut'), undefined, {
      timeout: 2000,
    });
    const heard = await b.evaluate(() => (window as unknown as PageWindow).__log.find((l) => l.name === 'onSignOut')!.at);
    expect(heard - clicked).toBeLessThan(1000);
    expect(await logOf(b)).toEqual(['onSignOut', 'onUnauthenticated']);
    expect((await snapshot(b)).state).toBe('unauthenticated');
    expect(stub.state.session).toBeNull();
  });
});

describe('outages and expiry', () => {
  it('503 keeps the user and sets error; when the server is back it recovers with no sign-out', async () => {
    const page = await open();
    stub.state.down = true;
    await page.evaluate(() => (window as unknown as PageWindow).session.refetch());
    expect(await snapshot(page)).toMatchObject({ state: 'authenticated', status: 503, user: { sub: 'alice' }, error: 'store unavailable' });
    stub.state.down = false;
    await page.waitForFunction(() => (window as unknown as PageWindow).session.getSnapshot().error === null, undefined, { timeout: 5000 });
    expect(await snapshot(page)).toMatchObject({ state: 'authenticated', status: 200, user: { sub: 'alice' } });
    expect(await logOf(page)).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as PageWindow).__states)).not.toContain('unauthenticated');
  });

  it('the access token expiring fires onAccessTokenExpired once and a peek refetch brings the refreshed one, though the server clock is 10 minutes ahead', async () => {
    stub.state.accessTokenTtl = 2500;
    const page = await open();
    const first = (await snapshot(page)).data.accessTokenExpires as number;
    const loadedAt = Date.now();
    await page.waitForFunction(() => (window as unknown as PageWindow).__log.some((l) => l.name === 'onAccessTokenExpired'), undefined, {
      timeout: 6000,
    });
    const firedAt = await page.evaluate(() => (window as unknown as PageWindow).__log.find((l) => l.name === 'onAccessTokenExpired')!.at);
    // Due 2.5 s after the answer plus the 1 s margin, in the browser's clock.
    expect(firedAt - loadedAt).toBeGreaterThan(2500);
    expect(firedAt - loadedAt).toBeLessThan(5000);
    await page.waitForFunction((old) => (window as unknown as PageWindow).session.getSnapshot().data.accessTokenExpires > old, first);
    expect(stub.state.peeks).toBeGreaterThanOrEqual(1);
    expect(stub.state.gets).toBe(stub.state.peeks);
    expect((await logOf(page)).filter((n) => n === 'onAccessTokenExpired')).toHaveLength(1);
    expect((await snapshot(page)).state).toBe('authenticated');
  });
});
