// Automatic refresh against a real oidc-provider with 2-second access tokens, clockTolerance 0 and
// refresh-token rotation: any refresh token sent twice makes the provider revoke the grant, so the
// provider itself is the oracle for "exactly once".
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Request } from 'express';
import { FORCE_MIN_INTERVAL_MS } from '../../lib/tokens/refresh.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { restoreClock, shiftClock } from '../helpers/clock.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

let op: TestProvider;
let app: TestApp;
const events: string[] = [];
let releaseSlow: (() => void) | undefined;
let slowLoaded: (() => void) | undefined;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 2 });
  app = await startApp(
    op,
    {
      idpLogout: false,
      events: {
        refresh: () => {
          events.push('refresh');
        },
        refreshError: ({ error }) => {
          events.push(`refreshError:${error}`);
        },
        sessionExpired: ({ reason }) => {
          events.push(`sessionExpired:${reason}`);
        },
      },
      callbacks: {
        // Lets the browser store a theme on the user; everything else from the browser is ignored.
        session: (session, _req, { update }) => {
          const theme = (update as { theme?: unknown } | undefined)?.theme;
          return typeof theme === 'string' ? { ...session, user: { ...session.user, theme } } : session;
        },
      },
    },
    (express) => {
      // Loads the session, waits, then modifies and saves it: the "slow request" of the lost-update case.
      express.get('/slow', async (req: Request, res) => {
        (req.session as unknown as { note?: number }).note = Date.now();
        await new Promise<void>((resolve) => {
          releaseSlow = resolve;
          slowLoaded?.();
        });
        res.json({ ok: true });
      });
    },
  );
});
afterAll(async () => {
  await app?.close();
  await op?.stop();
});

interface Tokens {
  accessToken?: string;
  accessTokenExpires: number;
  refreshToken?: string;
  error?: string;
}

async function tokens(jar: CookieJar): Promise<Tokens> {
  const res = await request(`${app.url}/api/tokens`, { jar });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

async function signIn(account = 'alice'): Promise<CookieJar> {
  op.setAccount(account);
  const jar = new CookieJar();
  const result = await login(app.url, { jar });
  expect(result.status).toBe(302);
  return jar;
}

/** Waits until the access token is inside the refresh window (half of its 2 s lifetime). */
async function untilDue(t: Tokens): Promise<void> {
  const wait = t.accessTokenExpires - 1000 - Date.now() + 50;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

describe('automatic refresh', () => {
  it('refreshes a (nearly) expired token on the next getServerSession and stores the new tokens', async () => {
    const jar = await signIn();
    const first = await tokens(jar);
    expect(await tokens(jar)).toEqual(first); // not due yet: no grant
    op.resetCounts();
    await untilDue(first);
    const second = await tokens(jar);
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(second.accessToken).not.toBe(first.accessToken);
    expect(second.refreshToken).not.toBe(first.refreshToken); // rotated and stored
    expect(second.accessTokenExpires).toBeGreaterThan(first.accessTokenExpires);
    expect(second.error).toBeUndefined();
    // The stored (not just returned) tokens are the new ones: the next request serves them without a grant.
    expect((await tokens(jar)).accessToken).toBe(second.accessToken);
    expect(op.count('refresh_token.consumed')).toBe(1);
  });

  it('37: 50 concurrent requests with an expired token cause exactly one refresh grant', async () => {
    const jar = await signIn();
    const first = await tokens(jar);
    await untilDue(first);
    op.resetCounts();
    const all = await Promise.all(Array.from({ length: 50 }, () => tokens(jar)));
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(op.count('grant.revoked')).toBe(0);
    const fresh = new Set(all.map((t) => t.accessToken));
    expect(fresh.size).toBe(1);
    expect(fresh.has(first.accessToken)).toBe(false);
    expect(all.every((t) => t.error === undefined)).toBe(true);
  });

  it('39: a slow request that saves after a refresh does not roll the tokens back', async () => {
    const jar = await signIn();
    const first = await tokens(jar);
    const loaded = new Promise<void>((resolve) => {
      slowLoaded = resolve;
    });
    const slow = request(`${app.url}/slow`, { jar });
    await loaded;
    await untilDue(first);
    op.resetCounts();
    const refreshed = await tokens(jar);
    expect(op.count('refresh_token.consumed')).toBe(1);
    releaseSlow!();
    expect((await slow).status).toBe(200);
    // The slow request saved a session blob loaded before the refresh; the tokens must survive it.
    const after = await tokens(jar);
    expect(after.accessToken).toBe(refreshed.accessToken);
    expect(after.refreshToken).toBe(refreshed.refreshToken);
    expect(op.count('refresh_token.consumed')).toBe(1);
  });

  it('40: invalid_grant marks the session RefreshAccessTokenError, clears tokens, fires refreshError, and never retries', async () => {
    const jar = await signIn('carol');
    const first = await tokens(jar);
    await op.revokeGrants('carol');
    await untilDue(first);
    events.length = 0;
    op.resetCounts();
    const failed = await tokens(jar);
    expect(failed.error).toBe('RefreshAccessTokenError');
    expect(failed.accessToken).toBeUndefined();
    expect(failed.refreshToken).toBeUndefined();
    expect(events).toEqual(['refreshError:RefreshAccessTokenError', 'sessionExpired:refresh']);
    const attempts = op.events.length;
    await tokens(jar);
    await tokens(jar);
    expect(op.events.length).toBe(attempts); // no retry loop: the provider saw nothing more
    const me = await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } });
    expect(me.status).toBe(401);
    expect(await me.json()).toMatchObject({ error: 'unauthenticated', code: 'ERR_REFRESH_FAILED' });
    const session = (await (await request(`${app.url}/auth/session`, { jar })).json()) as Tokens;
    expect(session.error).toBe('RefreshAccessTokenError');
  });

  it('POST /auth/session { refresh: true } forces one refresh, then at most one per 10 s (within it: the current session)', async () => {
    const jar = await signIn();
    const first = await tokens(jar);
    // Right after sign-in the tokens are fresh: a burst of forced refreshes sends no grant at all.
    const burst = { origin: app.url, 'x-oidc-session': '1', 'content-type': 'application/json' };
    op.resetCounts();
    const early = await Promise.all(
      Array.from({ length: 30 }, () =>
        request(`${app.url}/auth/session`, { jar, method: 'POST', headers: burst, body: '{"refresh":true}' }),
      ),
    );
    expect(early.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(op.count('refresh_token.consumed')).toBe(0);
    shiftClock(Date.now() + FORCE_MIN_INTERVAL_MS + 1000);
    op.resetCounts();
    const headers = { origin: app.url, 'x-oidc-session': '1', 'content-type': 'application/json' };
    const [a, b] = await Promise.all([
      request(`${app.url}/auth/session`, { jar, method: 'POST', headers, body: '{"refresh":true}' }),
      request(`${app.url}/auth/session`, { jar, method: 'POST', headers, body: '{"refresh":true}' }),
    ]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(op.count('refresh_token.consumed')).toBeGreaterThanOrEqual(1);
    expect(op.count('grant.revoked')).toBe(0);
    const after = await tokens(jar);
    expect(after.accessToken).not.toBe(first.accessToken);
    expect(after.error).toBeUndefined();
    // Within the interval again: 30 more forced refreshes answer the current session, no grant.
    op.resetCounts();
    const again = await Promise.all(
      Array.from({ length: 30 }, () =>
        request(`${app.url}/auth/session`, { jar, method: 'POST', headers: burst, body: '{"refresh":true}' }),
      ),
    );
    expect(again.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(op.count('refresh_token.consumed')).toBe(0);
    restoreClock();
  });

  it('POST /auth/session { data } goes through callbacks.session and is stored', async () => {
    const jar = await signIn();
    const headers = { origin: app.url, 'x-oidc-session': '1', 'content-type': 'application/json' };
    const res = await request(`${app.url}/auth/session`, {
      jar,
      method: 'POST',
      headers,
      body: JSON.stringify({ data: { theme: 'dark', sub: 'mallory' } }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { user: Record<string, unknown> }).user).toMatchObject({ sub: 'alice', theme: 'dark' });
    const later = (await (await request(`${app.url}/auth/session`, { jar })).json()) as { user: Record<string, unknown> };
    expect(later.user).toMatchObject({ sub: 'alice', theme: 'dark' });
  });
});
