// onIdTokenError and onJwtError in Chromium, against the real middleware and provider: the server reports
// 'IdTokenError' when a refresh returns an ID token that fails verification (here: issued for another
// subject, re-signed by the provider's own key), and 'JwtError' when the session JWT cannot be minted
// (here: the store holding the JWT signing keys fails). Each callback fires once.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Express } from 'express';
import session, { type SessionData } from 'express-session';
import type { Browser, Page } from 'playwright-core';
import { PruningMemoryStore, sessionScript } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { launchChromium } from '../helpers/chromium.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { hookIdTokens, resign } from '../security/support.js';

type Callback<T = unknown> = (err?: unknown, value?: T) => void;

/** An app's own Store whose record of the JWT signing keys can be made unreadable: the key store is down. */
class KeysDownStore extends session.Store {
  keysDown = false;
  private readonly inner = new PruningMemoryStore();
  override get(sid: string, cb: Callback<SessionData | null>): void {
    if (this.keysDown && sid.includes('jwt-keys')) return cb(new Error('key store unreachable'));
    this.inner.get(sid, cb);
  }
  override set(sid: string, sess: SessionData, cb?: Callback): void {
    this.inner.set(sid, sess, cb);
  }
  override destroy(sid: string, cb?: Callback): void {
    this.inner.destroy(sid, cb);
  }
}

let op: TestProvider;
let app: TestApp;
let jwtApp: TestApp;
let browser: Browser;
let hook: ReturnType<typeof hookIdTokens>;
const keysStore = new KeysDownStore();

const page = (target: Express) =>
  target.get('/page', async (req, res) => {
    res.type('html').send(`<!doctype html><html><head>${await sessionScript(req)}</head><body><script>
window.__log = [];
const names = ['onUnauthenticated','onSessionExpired','onAccessTokenExpired','onAccessTokenError','onIdTokenExpired','onIdTokenError','onJwtExpired','onJwtError','onSignOut','onSignIn','onSessionUpdate'];
window.session = OidcSession.useSession(Object.fromEntries(names.map((n) => [n, () => __log.push(n)])));
</script></body></html>`);
  });

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 2 });
  hook = hookIdTokens(op);
  app = await startApp(op, { idpLogout: false }, page);
  // Generated keys (no jwt.keys), kept in the app's store: the first mint must read them from there.
  jwtApp = await startApp(op, { idpLogout: false, store: keysStore, jwt: { ttl: 300 } }, page);
  browser = await launchChromium();
}, 30_000);
afterAll(async () => {
  await browser?.close();
  await app?.close();
  await jwtApp?.close();
  await op?.stop();
});

const logOf = (p: Page) => p.evaluate(() => (window as unknown as { __log: string[] }).__log);

async function signedInPage(target: TestApp): Promise<Page> {
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(`${target.url}/auth/login?returnTo=/page`);
  await p.waitForURL(`${target.url}/page`);
  await p.waitForFunction(() => 'session' in window);
  return p;
}

describe('server-reported errors reach their seed callbacks', () => {
  it('onIdTokenError: the ID token of a refresh is for another subject', async () => {
    const p = await signedInPage(app);
    hook.forge = resign(op, { sub: 'mallory' });
    try {
      await p.waitForFunction(() => (window as unknown as { __log: string[] }).__log.includes('onIdTokenError'), undefined, {
        timeout: 10_000,
      });
    } finally {
      hook.forge = undefined;
    }
    await p.waitForTimeout(300);
    expect((await logOf(p)).filter((n) => n === 'onIdTokenError')).toHaveLength(1);
    const state = await p.evaluate(
      () =>
        (window as unknown as { session: { getSnapshot(): { data: { error?: string; accessToken?: string } } } }).session.getSnapshot()
          .data,
    );
    expect(state.error).toBe('IdTokenError');
    await p.context().close();
  }, 20_000);

  it('onJwtError: the session JWT cannot be minted because the key store is down; the session stays', async () => {
    keysStore.keysDown = true;
    try {
      const p = await signedInPage(jwtApp);
      await p.waitForFunction(() => (window as unknown as { __log: string[] }).__log.includes('onJwtError'), undefined, { timeout: 5000 });
      expect((await logOf(p)).filter((n) => n === 'onJwtError')).toHaveLength(1);
      const snap = await p.evaluate(() => {
        const s = (
          window as unknown as { session: { getSnapshot(): { state: string; data: { error?: string; jwt?: string } } } }
        ).session.getSnapshot();
        return { state: s.state, error: s.data.error, jwt: s.data.jwt };
      });
      expect(snap).toEqual({ state: 'authenticated', error: 'JwtError', jwt: undefined });
      await p.context().close();
    } finally {
      keysStore.keysDown = false;
    }
  }, 20_000);
});
