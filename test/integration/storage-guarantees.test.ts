// The storage guarantees of the default (in-process) backend, each made real against the real provider:
// a refresh held at the provider while the session ends, a double-submitted callback, a flood of
// anonymous sessions against a small store, tokens deleted behind the app's back, an IdP outage, and
// responses that carry session data.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PruningMemoryStore, sessionScript } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request, startLogin } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

let op: TestProvider;
let app: TestApp;
/** ms the next refresh grant is held at the provider before it is answered (0: not held) */
let holdRefresh = 0;
let heldArrived: (() => void) | undefined;
/** while true the token endpoint answers 500 to refresh grants */
let refreshDown = false;
const store = new PruningMemoryStore({ max: 40 });

beforeAll(async () => {
  op = await startProvider({
    intercept: (req, res) => {
      if (req.method !== 'POST' || !req.url?.startsWith('/token')) return false;
      if (refreshDown) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"server_error"}');
        return true;
      }
      if (holdRefresh === 0) return false;
      const ms = holdRefresh;
      holdRefresh = 0;
      heldArrived?.();
      // Answered for real by the provider, only later: the grant is in flight meanwhile.
      setTimeout(() => op.provider.callback()(req, res), ms);
      return true;
    },
  });
  // No revocation at logout here: the held grant must succeed at the provider for this file's first test.
  app = await startApp(op, { store, idpLogout: false, revokeTokensOnLogout: false }, (target) => {
    target.get('/api/visit', (req, res) => {
      (req.session as unknown as { visits?: number }).visits = 1;
      res.send('ok');
    });
    target.get('/page', async (req, res) => {
      res.send(`<!doctype html>${await sessionScript(req)}`);
    });
  });
});
afterAll(async () => {
  await app?.close();
  await op?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
interface Tokens {
  accessToken?: string;
  accessTokenExpires: number;
  error?: string;
}

async function signIn(): Promise<CookieJar> {
  const jar = new CookieJar();
  expect((await login(app.url, { jar })).status).toBe(302);
  return jar;
}

async function tokens(jar: CookieJar): Promise<Tokens | null> {
  return (await (await request(`${app.url}/api/tokens`, { jar })).json()) as Tokens | null;
}

const logout = (jar: CookieJar) => request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { origin: app.url } });

describe('ended stays ended', () => {
  it('a refresh grant in flight when the session is logged out does not sign it in again', async () => {
    const jar = await signIn();
    const first = await tokens(jar);
    await sleep(first!.accessTokenExpires - Date.now() + 20);
    op.resetCounts();
    holdRefresh = 800;
    const arrived = new Promise<void>((resolve) => {
      heldArrived = resolve;
    });
    const pending = request(`${app.url}/api/tokens`, { jar: jar.clone() });
    await arrived;
    // Logout in another tab while the grant is held at the provider.
    expect((await logout(jar.clone())).status).toBe(303);
    const answer = await pending;
    expect(op.count('refresh_token.consumed')).toBe(1); // the grant did happen…
    expect(await answer.json()).toBeNull(); // …but its result was not written: the session had ended
    expect(await tokens(jar)).toBeNull();
    expect((await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } })).status).toBe(401);
  });
});

describe('the callback claims its state once', () => {
  it('a double-submitted callback exchanges the code once: one sign-in, no grant revoked', async () => {
    const jar = new CookieJar();
    const { callbackUrl } = await startLogin(app.url, { jar });
    op.resetCounts();
    const [a, b] = await Promise.all([request(callbackUrl, { jar: jar.clone() }), request(callbackUrl, { jar: jar.clone() })]);
    expect([a.status, b.status].sort()).toEqual([302, 400]);
    const refused = a.status === 400 ? a : b;
    expect(await refused.json()).toMatchObject({ code: 'ERR_LOGIN_STATE_MISMATCH' });
    expect(op.count('grant.success')).toBe(1);
    expect(op.count('grant.revoked')).toBe(0);
  });

  it('several tabs may log in at once, each with its own pending login', async () => {
    const jar = new CookieJar();
    const first = await startLogin(app.url, { jar });
    const second = await startLogin(app.url, { jar });
    expect(jar.all().filter((c) => c.name.includes('.tx.'))).toHaveLength(2);
    expect((await request(second.callbackUrl, { jar })).status).toBe(302);
    expect((await request(first.callbackUrl, { jar })).status).toBe(302);
    expect((await tokens(jar))?.accessToken).toBeTruthy();
  });
});

describe('nothing stored for strangers, and strangers cannot evict members', () => {
  it('anonymous GET /login stores nothing', async () => {
    const before = await count();
    for (let i = 0; i < 50; i++) await (await request(`${app.url}/auth/login`, { jar: new CookieJar() })).body?.cancel();
    expect(await count()).toBe(before);
  });

  it('a flood of anonymous sessions against a full store leaves the signed-in user signed in', async () => {
    const jar = await signIn();
    for (let wave = 0; wave < 10; wave++) {
      await Promise.all(
        Array.from({ length: 20 }, async () => (await request(`${app.url}/api/visit`, { jar: new CookieJar() })).body?.cancel()),
      );
    }
    expect(await count()).toBeLessThanOrEqual(40);
    expect((await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } })).status).toBe(200);
  });
});

describe('a broken half-session heals', () => {
  it("tokens deleted behind the app's back: signed out, the blob is dropped, and signing in with the same cookie works", async () => {
    const jar = await signIn();
    const id = decodeURIComponent(jar.get('oidc.sid')!).slice(2).split('.')[0]!;
    await app.router.context.tokens.destroy(id);
    expect(await tokens(jar)).toBeNull();
    expect(await app.router.context.store.getAsync(id)).toBeNull();
    expect((await login(app.url, { jar })).status).toBe(302);
    expect((await tokens(jar))?.accessToken).toBeTruthy();
  });
});

describe('the IdP coming back is noticed', () => {
  it('after an outage every session refreshes again within seconds, not after its own back-off', async () => {
    const jars = await Promise.all(Array.from({ length: 4 }, () => signIn()));
    const expiry = Math.max(...(await Promise.all(jars.map(tokens))).map((t) => t!.accessTokenExpires));
    await sleep(expiry - Date.now() + 20);
    refreshDown = true;
    // Several failed attempts per session: their back-offs grow (1, 2, 4 … s).
    for (let round = 0; round < 3; round++) {
      for (const jar of jars) expect((await tokens(jar))?.accessToken).toBeUndefined();
      await sleep(1100);
    }
    refreshDown = false;
    const back = Date.now();
    const pending = new Set(jars);
    while (pending.size > 0 && Date.now() - back < 6000) {
      for (const jar of pending) if ((await tokens(jar))?.error === undefined) pending.delete(jar);
      await sleep(200);
    }
    expect(pending.size).toBe(0);
    expect(Date.now() - back).toBeLessThan(4500);
  });
});

describe('responses that carry session data are not cached', () => {
  it('a page rendered with sessionScript() is no-store and varies on Cookie', async () => {
    const jar = await signIn();
    const page = await request(`${app.url}/page`, { jar });
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('vary')).toMatch(/Cookie/i);
  });

  it('a fresh session cookie set for a request that carried a stale one is no-store', async () => {
    const jar = new CookieJar();
    jar.set('oidc.sid', 's%3Astale-session-id-that-the-store-does-not-know.x', { url: app.url });
    const visit = await request(`${app.url}/api/visit`, { jar });
    expect(visit.headers.getSetCookie().some((c) => c.startsWith('oidc.sid='))).toBe(true);
    expect(visit.headers.get('cache-control')).toBe('no-store');
  });
});

function count(): Promise<number> {
  return new Promise((resolve) => store.length((_err, n) => resolve(n ?? 0)));
}
