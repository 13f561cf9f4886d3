// The README's first command serves this app: start example/server.ts as a process and sign in and out
// through its own provider's login form, the way a person would (minus the browser); call its API through
// remoteApi, list and end "your devices"; and, in Chromium, the page's timeline, API button and devices list.

import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { launchChromium } from '../helpers/chromium.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { followRedirects, request } from '../helpers/login.js';
import { freePort } from '../helpers/server.js';

/** Short, so the Chromium test sees a refresh renew the access-token bar within seconds. */
const ACCESS_TOKEN_TTL = 6;

let child: ChildProcess;
let base: string;
let apiUrl: string;
let output = '';

beforeAll(async () => {
  const [port, idpPort] = [await freePort(), await freePort()];
  base = `http://localhost:${port}`;
  child = spawn(process.execPath, ['--import', 'tsx', 'example/server.ts'], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      PORT: String(port),
      IDP_PORT: String(idpPort),
      ISSUER_URL: '',
      REDIS_URL: '',
      API_PORT: '0',
      ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const deadline = Date.now() + 20_000;
  while (!output.includes('example app:')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`example did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  apiUrl = /example API: (\S+)/.exec(output)![1]!;
}, 30_000);
afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
});

/** Signs in through the provider's form as `username`; returns the jar and the page the app answered. */
async function signIn(username: string): Promise<{ jar: CookieJar; page: string }> {
  const jar = new CookieJar();
  const toForm = await followRedirects(`${base}/auth/login?returnTo=/`, { jar });
  const form = await toForm.response!.text();
  const action = /action="([^"]+)"/.exec(form)?.[1];
  expect(action).toBeTruthy();
  const done = await followRedirects(new URL(action!.replace(/&amp;/g, '&'), toForm.url), {
    jar,
    method: 'POST',
    body: new URLSearchParams({ username }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  expect(done.url).toBe(`${base}/`);
  return { jar, page: await done.response!.text() };
}

const json = { accept: 'application/json' };
const fromPage = { ...json, 'x-oidc-session': '1' };
const me = async (jar: CookieJar) => (await request(`${base}/api/me`, { jar, headers: json })).status;

interface Device {
  handle: string;
  current: boolean;
  userAgent?: string;
  createdAt: number;
  expiresAt: number;
}

describe('example app', () => {
  it('signs in through the local provider form and out again', async () => {
    const home = await request(`${base}/`, { jar: new CookieJar() });
    expect(home.status).toBe(200);
    expect(home.headers.get('content-security-policy')).toMatch(/script-src 'nonce-/);
    expect(home.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(await home.text()).toContain('Signed out');

    const { jar, page } = await signIn('dora');
    expect(page).toContain('Signed in as <b>');
    expect(page).toContain('"sub":"dora"');
    const answer = await request(`${base}/api/me`, { jar, headers: json });
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { user: { sub: string } }).user.sub).toBe('dora');

    const out = await followRedirects(`${base}/auth/logout`, { jar, method: 'POST', headers: { origin: base } });
    expect(new URL(out.url).pathname).toBe('/'); // back from the IdP end_session_endpoint, with its state
    expect(await out.response!.text()).toContain('Signed out');
    expect(await me(jar)).toBe(401);
  });

  it('calls its own API through remoteApi with the user token, which the API checks at the provider', async () => {
    // The API on its own: no token, or one the provider does not know, is a 401.
    const bare = await fetch(`${apiUrl}/orders`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe('Bearer');
    const forged = await fetch(`${apiUrl}/orders`, { headers: { authorization: 'Bearer not-a-token-of-the-provider' } });
    expect(forged.status).toBe(401);
    expect(await forged.json()).toEqual({ error: 'invalid_token' });

    expect((await request(`${base}/api/orders`, { jar: new CookieJar(), headers: fromPage })).status).toBe(401);
    const { jar } = await signIn('erin');
    const noHeader = await request(`${base}/api/orders`, { jar, headers: json });
    expect(noHeader.status).toBe(403);
    expect(((await noHeader.json()) as { code: string }).code).toBe('ERR_CSRF_HEADER_MISSING');

    const before = Date.now();
    const answer = await request(`${base}/api/orders`, { jar, headers: fromPage });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await answer.json()) as { sub: string; verifiedBy: string; verifiedAt: number; tokenExpiresAt: number };
    expect(body).toMatchObject({ sub: 'erin', verifiedBy: 'introspection' });
    expect(body.verifiedAt).toBeGreaterThanOrEqual(before);
    // The provider's exp of the token remoteApi sent: a live access token of this lifetime.
    expect(body.tokenExpiresAt).toBeGreaterThan(before);
    expect(body.tokenExpiresAt).toBeLessThanOrEqual(Date.now() + ACCESS_TOKEN_TTL * 1000 + 1000);
  });

  it("lists the user's sessions as devices and ends one, then its own, which signs out", async () => {
    const laptop = await signIn('fay');
    const phone = await signIn('fay');
    const listed = await request(`${base}/api/devices`, { jar: laptop.jar, headers: json });
    expect(listed.status).toBe(200);
    const devices = (await listed.json()) as Device[];
    expect(devices).toHaveLength(2);
    expect(devices.filter((d) => d.current)).toHaveLength(1);
    expect(devices.every((d) => typeof d.handle === 'string' && d.expiresAt > Date.now() && d.userAgent)).toBe(true);
    const own = devices.find((d) => d.current)!;
    const other = devices.find((d) => !d.current)!;

    const end = (handle: string, headers: Record<string, string>) =>
      request(`${base}/api/devices/end`, {
        jar: laptop.jar,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ handle }),
      });
    // A state change: refused without our origin or without the header no cross-site form can send.
    expect((await end(own.handle, fromPage)).status).toBe(403);
    expect((await end(own.handle, { origin: 'http://evil.test', ...fromPage })).status).toBe(403);
    expect((await end(own.handle, { origin: base, ...json })).status).toBe(403);
    expect(await me(laptop.jar)).toBe(200);

    const ended = await end(other.handle, { origin: base, ...fromPage });
    expect(await ended.json()).toEqual({ ended: 1 });
    expect(await me(phone.jar)).toBe(401);
    expect(await me(laptop.jar)).toBe(200);
    const left = (await (await request(`${base}/api/devices`, { jar: laptop.jar, headers: json })).json()) as Device[];
    expect(left.map((d) => d.handle)).toEqual([own.handle]);

    expect(await (await end(own.handle, { origin: base, ...fromPage })).json()).toEqual({ ended: 1 });
    expect(await me(laptop.jar)).toBe(401);
    expect(await (await request(`${base}/auth/session`, { jar: laptop.jar, headers: json })).json()).toBeNull();
    expect((await request(`${base}/api/devices`, { jar: laptop.jar, headers: json })).status).toBe(401);
  });

  it('in Chromium: draws the timeline, renews the access-token bar on a refresh, calls the API, ends the session; no console or CSP errors', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        // The browser's own favicon requests (neither app nor provider serves one) are not the page's doing.
        const at = message.location().url;
        if ((message.type() === 'error' || message.type() === 'warning') && !at.endsWith('/favicon.ico'))
          problems.push(`${message.text()} (${at})`);
      });
      page.on('pageerror', (err) => problems.push(err.message));
      await page.goto(`${base}/`);
      await page.click('#sign-in button');
      await page.fill('input[name=username]', 'gus');
      await page.click('button[type=submit]');
      await page.waitForURL(`${base}/`);
      await page.waitForFunction(() => document.getElementById('who')!.textContent === 'Signed in as Gus');

      const widths = () => page.$$eval('#timeline .bar', (bars) => bars.map((bar) => parseFloat((bar as HTMLElement).style.width)));
      expect(await page.$$eval('#timeline .row > span:first-child', (spans) => spans.map((s) => s.textContent))).toEqual([
        'access token',
        'ID token',
        'session JWT',
        'session',
      ]);
      expect((await widths()).every((w) => w > 0)).toBe(true);

      // The access token runs out, the observer asks, the server refreshes: the bar fills up again.
      const expiresOf = () => page.evaluate('session.getSnapshot().data.accessTokenExpires') as Promise<number>;
      const first = await expiresOf();
      await page.waitForSelector('#bar-accessTokenExpires .bar.renewed', { timeout: (ACCESS_TOKEN_TTL + 6) * 1000 });
      expect(await expiresOf()).toBeGreaterThan(first);
      const renewed = (await widths())[0]!;
      expect(renewed).toBeGreaterThan(50);
      await page.waitForTimeout(1200);
      expect((await widths())[0]).toBeLessThan(renewed);

      await page.click('#call-api');
      await page.waitForFunction(() => document.getElementById('api-status')!.textContent!.startsWith('200'));
      expect(JSON.parse((await page.textContent('#api-body'))!)).toMatchObject({ sub: 'gus', verifiedBy: 'introspection' });
      expect(await page.textContent('#api-expiry')).toMatch(/^The token the API saw expires in \d+ s/);

      await page.waitForSelector('#devices tr');
      expect(await page.textContent('#devices')).toContain('(this one)');
      await page.click('#devices button');
      await page.waitForFunction(() => document.getElementById('who')!.textContent === 'Signed out');
      expect(await page.isVisible('#sign-in')).toBe(true);
      expect(await page.textContent('#log')).toContain('onSignOut');
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 40_000);
});
