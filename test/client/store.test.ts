// The observer's store against a fake browser and fake timers: bootstrap, expiry timers corrected
// by the server clock, wake-up checks, refetch policy, outages with backoff, tabs sharing one
// fetch, and that every callback fires once per transition.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { createStore, type Store } from '../../lib/client/store.js';
import { EXPIRY_MARGIN } from '../../lib/client/transitions.js';
import type { UseSessionOptions } from '../../lib/client/types.js';
import { type FakeBrowser, installFakeBrowser, recorder, sessionJson } from './harness.js';

const START = Date.UTC(2026, 0, 1, 12);
/** The server's clock runs 10 minutes ahead of the browser's: no deadline may depend on that. */
const SKEW = 600_000;
const serverNow = () => Date.now() + SKEW;

let browser: FakeBrowser;

beforeEach(() => {
  jest.useFakeTimers({ now: START, doNotFake: ['queueMicrotask', 'nextTick'] });
  browser = installFakeBrowser();
});
afterEach(() => {
  jest.clearAllTimers();
  jest.useRealTimers();
});

/** Lets fetches, microtasks and the given fake time run. */
const flush = (ms = 0) => jest.advanceTimersByTimeAsync(ms);

function tab(options: UseSessionOptions = {}, bootstrap?: unknown): { store: Store; log: string[] } {
  browser.document.bootstrap = bootstrap === undefined ? null : JSON.stringify(bootstrap);
  const store = createStore('/auth');
  const { log, callbacks } = recorder();
  store.watch({ ...callbacks, ...options });
  return { store, log };
}

const gets = () => browser.requests.filter((r) => r.method === 'GET');
const peeks = () => gets().filter((r) => r.headers['X-Session-Peek'] === '1');

describe('start', () => {
  it('with the server-rendered bootstrap: authenticated at once, never loading, no fetch', async () => {
    const { store } = tab({}, sessionJson(serverNow()));
    const first = store.handle.getSnapshot();
    expect(first).toMatchObject({ state: 'authenticated', loading: false, status: 200, user: { sub: 'alice' } });
    await flush(5000);
    expect(browser.requests).toEqual([]);
    expect(store.handle.getSnapshot()).toBe(first);
  });

  it('a bootstrapped null is unauthenticated at once: onUnauthenticated fires once, after this tick', async () => {
    const { store, log } = tab({}, null);
    expect(store.handle.getSnapshot().state).toBe('unauthenticated');
    expect(log).toEqual([]);
    await flush();
    expect(log).toEqual(['onUnauthenticated']);
    await flush(60_000);
    expect(log).toEqual(['onUnauthenticated']);
  });

  it('without bootstrap: loading, then one non-peek GET', async () => {
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    const { store, log } = tab();
    expect(store.handle.getSnapshot()).toMatchObject({ state: 'loading', loading: true });
    await flush();
    expect(store.handle.getSnapshot()).toMatchObject({ state: 'authenticated', loading: false, headers: { 'x-test': 'yes' } });
    expect(gets()).toHaveLength(1);
    expect(peeks()).toHaveLength(0);
    expect(log).toEqual([]);
  });

  it('required redirects to login with this page as returnTo, unless onUnauthenticated is given', async () => {
    tab({ required: true, onUnauthenticated: undefined }, null);
    await flush();
    expect(browser.location.assign).toHaveBeenCalledWith('/auth/login?returnTo=%2Fpage%3Ftab%3D1');
    browser.location.assign.mockClear();
    const own = jest.fn();
    tab({ required: true, onUnauthenticated: own }, null);
    await flush();
    expect(own).toHaveBeenCalledTimes(1);
    expect(browser.location.assign).not.toHaveBeenCalled();
  });
});

describe('expiry', () => {
  it('onAccessTokenExpired fires once at the server-clock deadline, then a peek refetch brings the refreshed token', async () => {
    const expiresAt = serverNow() + 30_000;
    const { store, log } = tab({}, sessionJson(serverNow(), { accessTokenExpires: expiresAt }));
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow(), { accessTokenExpires: serverNow() + 30_000 }) });
    await flush(30_000 + EXPIRY_MARGIN - 10);
    expect(log).toEqual([]);
    expect(browser.requests).toEqual([]);
    await flush(20);
    expect(log).toEqual(['onAccessTokenExpired', 'onSessionUpdate']);
    expect(peeks()).toHaveLength(1);
    expect(store.handle.getSnapshot().data!.accessTokenExpires).toBeGreaterThan(expiresAt);
    // The new token expires in turn, 30 s later: one more callback, one more refetch.
    await flush(30_000 + EXPIRY_MARGIN);
    expect(log.filter((n) => n === 'onAccessTokenExpired')).toHaveLength(2);
    expect(peeks()).toHaveLength(2);
  });

  it('a server that does not refresh cannot make it loop: one callback, one refetch', async () => {
    const session = sessionJson(serverNow(), { accessTokenExpires: serverNow() + 5000 });
    const { log } = tab({}, session);
    browser.handler = () => ({ status: 200, body: { ...session, now: serverNow() } });
    await flush(120_000);
    expect(log).toEqual(['onAccessTokenExpired']);
    expect(peeks()).toHaveLength(1);
  });

  it('the JWT expiring refetches too; the ID token expiring fires its callback', async () => {
    const now = serverNow();
    const { log } = tab({}, sessionJson(now, { jwtExpires: now + 2000, idTokenExpires: now + 4000 }));
    browser.handler = () => ({
      status: 200,
      body: sessionJson(serverNow(), { jwtExpires: serverNow() + 300_000, idTokenExpires: now + 4000 }),
    });
    await flush(2000 + EXPIRY_MARGIN);
    expect(log).toEqual(['onJwtExpired', 'onSessionUpdate']);
    // The ID token expiring asks the server too, in case its refresh renewed it.
    await flush(2000);
    expect(log).toEqual(['onJwtExpired', 'onSessionUpdate', 'onIdTokenExpired', 'onSessionUpdate']);
    expect(peeks()).toHaveLength(2);
  });

  it('an observer created long after page load still times expiries from when the page was rendered', async () => {
    const rendered = serverNow(); // at navigation start
    await flush(120_000); // the app only calls useSession() two minutes later
    const { log } = tab({}, sessionJson(rendered, { accessTokenExpires: rendered + 180_000 }));
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    await flush(60_000 + EXPIRY_MARGIN - 10);
    expect(log).toEqual([]);
    await flush(20);
    expect(log[0]).toBe('onAccessTokenExpired');
  });

  it('timers that slept through the deadline are caught up on wake-up (visibilitychange)', async () => {
    const now = serverNow();
    const { log } = tab({ refetchOnWindowFocus: false }, sessionJson(now, { accessTokenExpires: now + 10_000 }));
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    // The laptop sleeps: the wall clock jumps, no timer has run.
    jest.setSystemTime(Date.now() + 3_600_000);
    browser.document.dispatchEvent(new Event('visibilitychange'));
    await flush();
    expect(log).toContain('onAccessTokenExpired');
    expect(peeks()).toHaveLength(1);
  });

  it('the session timing out is onSessionExpired (confirmed by the server), not onSignOut', async () => {
    const now = serverNow();
    const { store, log } = tab({}, sessionJson(now, { expires: now + 5000 }));
    browser.handler = () => ({ status: 200, body: null });
    await flush(5000 + EXPIRY_MARGIN);
    expect(log).toEqual(['onSessionExpired', 'onUnauthenticated']);
    expect(store.handle.getSnapshot().state).toBe('unauthenticated');
  });

  it('a session the server extended meanwhile is not reported as expired', async () => {
    const now = serverNow();
    const { log } = tab({}, sessionJson(now, { expires: now + 5000 }));
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow(), { expires: serverNow() + 3_600_000 }) });
    await flush(5000 + EXPIRY_MARGIN);
    expect(log).toEqual(['onSessionUpdate']);
  });
});

describe('server verdicts', () => {
  it('signed out on the server before expiry: onSignOut and onUnauthenticated once each', async () => {
    const { store, log } = tab({}, sessionJson(serverNow()));
    browser.handler = () => ({ status: 200, body: null });
    await store.handle.refetch();
    await store.handle.refetch();
    await flush();
    expect(log).toEqual(['onSignOut', 'onUnauthenticated']);
  });

  it('onAccessTokenError fires once while the error persists, again after it clears and returns', async () => {
    const { store, log } = tab({}, sessionJson(serverNow(), { error: 'RefreshAccessTokenError' }));
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow(), { error: 'RefreshAccessTokenError' }) });
    await store.handle.refetch();
    await flush();
    expect(log).toEqual(['onAccessTokenError']);
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    await store.handle.refetch();
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow(), { error: 'RefreshAccessTokenError' }) });
    await store.handle.refetch();
    await flush();
    expect(log.filter((n) => n === 'onAccessTokenError')).toHaveLength(2);
  });

  it('RefreshAccessTokenUnavailable (IdP down) is retried with backoff', async () => {
    const unavailable = () => ({ status: 200, body: sessionJson(serverNow(), { error: 'RefreshAccessTokenUnavailable' }) });
    const { log } = tab({}, unavailable().body);
    browser.handler = unavailable;
    await flush(1000);
    expect(peeks()).toHaveLength(1);
    await flush(2000);
    expect(peeks()).toHaveLength(2);
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    await flush(4000);
    expect(peeks()).toHaveLength(3);
    await flush(120_000);
    expect(peeks()).toHaveLength(3);
    expect(log.filter((n) => n === 'onAccessTokenError')).toHaveLength(1);
  });
});

describe('outages', () => {
  it('503 keeps the user, sets error and status, backs off 1 s, 2 s, 4 s, recovers; never a sign-out', async () => {
    const session = sessionJson(serverNow());
    const { store, log } = tab({}, session);
    browser.handler = () => ({ status: 503, body: { error: 'service_unavailable', code: 'ERR_STORE_UNAVAILABLE', message: 'store down' } });
    await store.handle.refetch();
    let snapshot = store.handle.getSnapshot();
    expect(snapshot).toMatchObject({ state: 'authenticated', status: 503, user: { sub: 'alice' } });
    expect(snapshot.error).toMatchObject({ message: 'store down', status: 503, code: 'ERR_STORE_UNAVAILABLE' });
    expect(() => snapshot.throwIfError()).toThrow('store down');
    await flush(999);
    expect(gets()).toHaveLength(1);
    await flush(1);
    expect(gets()).toHaveLength(2);
    await flush(2000);
    expect(gets()).toHaveLength(3);
    browser.handler = () => ({ status: 200, body: { ...session, now: serverNow() } });
    await flush(4000);
    expect(gets()).toHaveLength(4);
    snapshot = store.handle.getSnapshot();
    expect(snapshot).toMatchObject({ state: 'authenticated', status: 200, error: null });
    expect(log).toEqual([]);
  });

  it('a network error is status 0 with the last state kept', async () => {
    const { store, log } = tab({}, sessionJson(serverNow()));
    browser.handler = () => new TypeError('Failed to fetch');
    const snapshot = await store.handle.refetch();
    expect(snapshot).toMatchObject({ state: 'authenticated', status: 0, error: { message: 'Failed to fetch' } });
    expect(log).toEqual([]);
  });

  it('a first fetch that fails stays loading (not signed out) and retries', async () => {
    browser.handler = () => ({ status: 502, body: 'bad gateway' });
    const { store, log } = tab();
    await flush();
    expect(store.handle.getSnapshot()).toMatchObject({ state: 'loading', status: 502, error: { message: 'HTTP 502' } });
    browser.handler = () => ({ status: 200, body: null });
    await flush(1000);
    expect(store.handle.getSnapshot().state).toBe('unauthenticated');
    await flush();
    expect(log).toEqual(['onUnauthenticated']);
  });
});

describe('refetch policy', () => {
  it('refetchInterval polls with X-Session-Peek while signed in, not while signed out', async () => {
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    tab({ refetchInterval: 60 }, sessionJson(serverNow()));
    await flush(60_000);
    expect(peeks()).toHaveLength(1);
    await flush(60_000);
    expect(peeks()).toHaveLength(2);
    browser.handler = () => ({ status: 200, body: null });
    await flush(60_000);
    expect(peeks()).toHaveLength(3);
    await flush(600_000);
    expect(peeks()).toHaveLength(3);
  });

  it('focus refetches (peek) unless refetchOnWindowFocus is false; an answer under 1 s old is enough', async () => {
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    tab({}, sessionJson(serverNow()));
    await flush(5000);
    dispatchEvent(new Event('focus'));
    document.dispatchEvent(new Event('visibilitychange'));
    await flush(300);
    expect(peeks()).toHaveLength(1);
    dispatchEvent(new Event('focus'));
    await flush(300);
    expect(peeks()).toHaveLength(1);

    browser = installFakeBrowser();
    tab({ refetchOnWindowFocus: false }, sessionJson(serverNow()));
    await flush(5000);
    dispatchEvent(new Event('focus'));
    await flush(300);
    expect(browser.requests).toHaveLength(0);
  });

  it('offline: no background refetch unless refetchWhenOffline; back online refetches', async () => {
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    browser.navigator.onLine = false;
    tab({ refetchInterval: 10 }, sessionJson(serverNow()));
    await flush(60_000);
    expect(browser.requests).toHaveLength(0);
    browser.navigator.onLine = true;
    dispatchEvent(new Event('online'));
    await flush();
    expect(peeks()).toHaveLength(1);
  });

  it('update(data) POSTs { data } with the CSRF header; refetch({ refresh: true }) POSTs { refresh: true }', async () => {
    const { store, log } = tab({}, sessionJson(serverNow()));
    browser.handler = (request) => ({
      status: 200,
      body: sessionJson(serverNow(), { theme: (request.body as { data?: { theme?: string } })?.data?.theme ?? 'none' }),
    });
    const pending = store.handle.update({ theme: 'dark' });
    expect(store.handle.getSnapshot().loading).toBe(true);
    const snapshot = await pending;
    expect(browser.requests[0]).toEqual({
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-OIDC-Session': '1' },
      body: { data: { theme: 'dark' } },
    });
    expect(snapshot).toMatchObject({ loading: false, data: { theme: 'dark' } });
    await store.handle.refetch({ refresh: true });
    expect(browser.requests[1]).toMatchObject({ method: 'POST', body: { refresh: true } });
    await flush();
    expect(log).toEqual(['onSessionUpdate', 'onSessionUpdate']);
  });

  it('the snapshot object stays the same when a poll changes nothing but `now`; a change notifies', async () => {
    const session = sessionJson(serverNow());
    const { store } = tab({ refetchInterval: 30 }, session);
    const listener = jest.fn();
    store.handle.subscribe(listener);
    const before = store.handle.getSnapshot();
    browser.handler = () => ({ status: 200, body: { ...session, now: serverNow() } });
    await flush(90_000);
    expect(peeks()).toHaveLength(3);
    expect(store.handle.getSnapshot()).toBe(before);
    expect(listener).not.toHaveBeenCalled();
    browser.handler = () => ({ status: 200, body: { ...session, user: { sub: 'alice', name: 'Al' }, now: serverNow() } });
    await flush(30_000);
    expect(store.handle.getSnapshot()).not.toBe(before);
    expect(listener).toHaveBeenCalledTimes(1);
    // The listener is handed the new snapshot, the same object getSnapshot() returns.
    expect(listener).toHaveBeenCalledWith(store.handle.getSnapshot());
  });

  it('subscribe((s) => …) gets each snapshot as it changes, and stops after unsubscribe', async () => {
    const { store } = tab({}, null);
    const seen: unknown[] = [];
    const unsubscribe = store.handle.subscribe((s) => seen.push([s.state, s.user?.name]));
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    await store.handle.refetch();
    await flush();
    expect(seen).toEqual([
      ['unauthenticated', undefined],
      ['authenticated', 'Alice'],
    ]);
    unsubscribe();
    browser.handler = () => ({ status: 200, body: null });
    await store.handle.refetch();
    await flush();
    expect(seen).toHaveLength(2);
  });

  it('refetch() shows loading while it runs (a foreground fetch), then the answer', async () => {
    const { store } = tab({}, sessionJson(serverNow()));
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    const pending = store.handle.refetch();
    expect(store.handle.getSnapshot()).toMatchObject({ loading: true, state: 'authenticated' });
    expect(await pending).toMatchObject({ loading: false, state: 'authenticated' });
    expect(gets()[0].headers).toEqual({});
  });
});

describe('tabs', () => {
  it('N tabs focused at once cost one request; every tab gets the answer', async () => {
    const now = serverNow();
    const tabs = [0, 1, 2, 3].map(() => tab({}, sessionJson(now)));
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow(), { user: { sub: 'alice', name: 'Alice B.' } }) });
    await flush(5000);
    dispatchEvent(new Event('focus'));
    await flush(500);
    expect(browser.requests).toHaveLength(1);
    for (const { store, log } of tabs) {
      expect(store.handle.getSnapshot().user!.name).toBe('Alice B.');
      expect(log).toEqual(['onSessionUpdate']);
    }
  });

  it('an expiry reached in N tabs at once costs one refetch', async () => {
    const now = serverNow();
    const tabs = [0, 1, 2].map(() => tab({}, sessionJson(now, { accessTokenExpires: now + 10_000 })));
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow()) });
    await flush(10_000 + EXPIRY_MARGIN + 500);
    expect(peeks()).toHaveLength(1);
    for (const { log } of tabs) expect(log).toEqual(['onAccessTokenExpired', 'onSessionUpdate']);
  });

  it('a sign-out in one tab reaches the others as it leaves the page', async () => {
    const now = serverNow();
    const a = tab({}, sessionJson(now));
    const b = tab({}, sessionJson(now));
    a.store.handle.signOut({ returnTo: '/bye' });
    expect(browser.document.forms).toEqual([expect.objectContaining({ method: 'post', action: '/auth/logout?returnTo=%2Fbye' })]);
    dispatchEvent(new Event('pagehide'));
    await flush();
    expect(b.log).toEqual(['onSignOut', 'onUnauthenticated']);
    expect(b.store.handle.getSnapshot().state).toBe('unauthenticated');
  });

  it('a page bootstrapped after a sign-in tells the signed-out tabs', async () => {
    const out = tab({}, null);
    await flush(2000);
    const fresh = tab({}, sessionJson(serverNow()));
    await flush();
    expect(out.log).toEqual(['onUnauthenticated', 'onSignIn']);
    expect(out.store.handle.getSnapshot().state).toBe('authenticated');
    expect(fresh.log).toEqual([]);
  });

  it('an older answer never overwrites a newer one', async () => {
    const a = tab({}, sessionJson(serverNow()));
    await flush(5000);
    // a starts a slow request (the server still had the session); b's later request sees it gone.
    browser.handler = () => ({ status: 200, body: sessionJson(serverNow(), { user: { sub: 'alice', name: 'stale' } }) });
    const original = globalThis.fetch;
    let release: () => void = () => {};
    globalThis.fetch = ((...args: Parameters<typeof fetch>) => {
      const answer = original(...args);
      return new Promise<Response>((resolve) => (release = () => resolve(answer)));
    }) as typeof fetch;
    const slow = a.store.handle.refetch();
    globalThis.fetch = original;
    await flush(10);
    browser.handler = () => ({ status: 200, body: null });
    const b = tab();
    await flush();
    expect(a.store.handle.getSnapshot().state).toBe('unauthenticated');
    release();
    await slow;
    expect(a.store.handle.getSnapshot().state).toBe('unauthenticated');
    expect(a.log).toEqual(['onSignOut', 'onUnauthenticated']);
    expect(b.log).toEqual(['onUnauthenticated']);
  });
});

describe('callbacks', () => {
  it('a throwing callback neither stops the others nor the store', async () => {
    const { store } = tab({}, sessionJson(serverNow()));
    const after = jest.fn();
    store.watch({
      onSignOut: () => {
        throw new Error('app bug');
      },
    });
    store.watch({ onSignOut: after });
    // As a browser does: an exception in a microtask is reported, the next microtask still runs.
    const errors: unknown[] = [];
    const original = globalThis.queueMicrotask;
    globalThis.queueMicrotask = (fn) =>
      original(() => {
        try {
          fn();
        } catch (err) {
          errors.push(err);
        }
      });
    browser.handler = () => ({ status: 200, body: null });
    try {
      await store.handle.refetch();
      await flush();
    } finally {
      globalThis.queueMicrotask = original;
    }
    expect(errors).toEqual([new Error('app bug')]);
    expect(after).toHaveBeenCalledTimes(1);
    expect(store.handle.getSnapshot().state).toBe('unauthenticated');
  });

  it('a watcher added later gets the current conditions; an unwatched one gets nothing', async () => {
    const { store } = tab({}, null);
    const late = jest.fn();
    store.watch({ onUnauthenticated: late });
    const gone = jest.fn();
    store.watch({ onUnauthenticated: gone })();
    await flush();
    expect(late).toHaveBeenCalledTimes(1);
    expect(gone).not.toHaveBeenCalled();
  });
});
