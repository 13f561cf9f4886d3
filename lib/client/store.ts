/**
 * One store per page and basePath: the session state, the timers, the tab link and the watchers
 * (each `useSession` call's options). Every answer, fetched here or heard from another tab, goes
 * through `apply`, so all tabs make the same transitions.
 */
import { PEEK, READ, request, isTransient, toError, type RequestKind, type Result } from './request.js';
import { loginUrl, postLogout } from './navigate.js';
import { createSnapshot, signature, type SnapshotInput } from './snapshot.js';
import { connectTabs } from './tabs.js';
import { backoff, events, scan } from './transitions.js';
import type { SessionCallback, SessionHandle, SessionSnapshot, UseSessionOptions } from './types.js';

/** Id of the `<script type="application/json">` that `sessionScript()` writes. */
export const BOOTSTRAP_ID = 'oidc-session-data';
/** An answer younger than this (from any tab) makes a focus refetch pointless. */
const FRESH_MS = 1000;
/** A planned refetch that could not run (offline, another tab leading) is retried after this. */
const RETRY_MS = 3000;

export interface Store {
  handle: SessionHandle;
  /** Adds a watcher; its callbacks fire for the current conditions too (after this tick). */
  watch(options: UseSessionOptions): () => void;
}

export function createStore(basePath: string): Store {
  let watchers: UseSessionOptions[] = [];
  const listeners = new Set<() => void>();
  const input: SnapshotInput = { data: undefined, status: 0, headers: {}, error: null, loading: false };
  // lastAt orders answers (request start, any tab); syncedAt (arrival here) times the next ones.
  let busy = 0, skew = 0, lastAt = 0, syncedAt = 0, failures = 0, expiryAt = Infinity, pending = false;
  let keys: string[] = [];
  let sig = '';
  let snapshot: SessionSnapshot;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tabs = connectTabs('oidc-session:' + basePath, (result: Result) => apply(result));

  function call(watcher: UseSessionOptions, key: string) {
    const name = key.split('|')[0] as keyof UseSessionOptions;
    const snap = snapshot;
    const fn = name == 'onUnauthenticated' && watcher.required && !watcher.onUnauthenticated
      ? () => snap.redirect()
      : (watcher[name] as SessionCallback | undefined);
    // As a microtask: a throwing callback is reported but cannot stop the others nor the store,
    // and a callback that calls refetch() does not re-enter a half-done render.
    if (fn) queueMicrotask(() => fn(snap));
  }

  function render(fired: string[] = []) {
    input.loading = busy > 0;
    const nextSig = signature(input);
    const changed = nextSig != sig;
    if (changed) (sig = nextSig), (snapshot = createSnapshot(input, basePath));
    const [current, nextExpiry] = scan(input.data, skew, Date.now());
    expiryAt = nextExpiry;
    // A time reached ('callback|<ms>': a token or the session expired) is worth one question to
    // the server: it refreshes or re-mints, or says the session is over. Keys stop any loop.
    let refetch = false;
    for (const key of current) if (!keys.includes(key)) fired.push(key), (refetch = refetch || /\|\d+$/.test(key));
    keys = current;
    if (changed) listeners.forEach(queueMicrotask);
    for (const key of fired) for (const watcher of watchers) call(watcher, key);
    if (refetch) background(true);
    schedule();
  }

  function apply(result: Result, share?: boolean) {
    const fired: string[] = [];
    // Answers are ordered by when their request started, whichever tab made it.
    if (result.at >= lastAt) {
      // Conditions reached under the old data fire first: a tab whose timer was late (hidden,
      // throttled) still sees its token expire before the leader's refreshed one replaces it.
      for (const key of scan(input.data, skew, Date.now())[0]) if (!keys.includes(key)) fired.push(key), keys.push(key);
      const transient = isTransient(result);
      if (share && (result.d !== undefined || transient)) tabs.post(result);
      lastAt = result.at;
      syncedAt = Date.now();
      input.status = result.s;
      input.headers = result.h;
      if (result.d === undefined) {
        // Keep the last good state: an outage is not a sign-out.
        input.error = toError(result);
      } else {
        fired.push(...events(input.data, result.d, Date.now() + skew));
        input.data = result.d;
        input.error = null;
        // Against the request's start (the bootstrap's: navigation start), so a late useSession()
        // or a broadcast measures the same; the error, one network hop, is within EXPIRY_MARGIN.
        skew = (result.d && result.d.now - result.at) || 0;
      }
      const data = input.data;
      failures = transient || (data && /Unavailable/.test(data.error!)) ? failures + 1 : 0;
    }
    render(fired);
  }

  /** Client time of the next planned background refetch: a backoff retry, or a poll. */
  function dueAt() {
    const every = Math.min(...watchers.map((w) => w.refetchInterval || Infinity)) * 1000;
    return syncedAt + (failures ? backoff(failures) : input.data ? every : Infinity);
  }

  function schedule() {
    clearTimeout(timer);
    const now = Date.now();
    const due = dueAt();
    // Still due means it could not run; if another tab led it, its answer moves `due` first.
    const next = Math.min(due > now ? due : now + RETRY_MS, expiryAt);
    // Clamped: setTimeout fires at once for delays beyond 2^31 - 1 ms.
    if (next < Infinity) timer = setTimeout(tick, Math.min(next - now, 2e9));
  }

  function tick() {
    render();
    if (Date.now() >= dueAt()) background(true);
  }

  async function run(kind: RequestKind): Promise<SessionSnapshot> {
    const foreground = kind !== PEEK;
    if (foreground) busy++, render();
    const result = await request(basePath, kind);
    if (foreground) busy--;
    apply(result, true);
    return snapshot;
  }

  /** A peek refetch, led by one tab for all; `due` skips the freshness check (timers, expiry). */
  function background(due?: boolean) {
    const offline = !navigator.onLine && !watchers.some((w) => w.refetchWhenOffline);
    if (pending || offline || (!due && Date.now() - syncedAt < FRESH_MS)) return;
    pending = true;
    tabs.lead(() => run(PEEK)).finally(() => (pending = false));
  }

  const wake = (event: Event) => {
    if (document.hidden) return;
    // Timers fire late after sleep: the expiry check runs on every wake-up, not only on the timer.
    render();
    if (event.type == 'online' || watchers.some((w) => w.refetchOnWindowFocus !== false)) background();
  };
  document.addEventListener('visibilitychange', wake);
  addEventListener('focus', wake);
  addEventListener('online', wake);

  const handle: SessionHandle = {
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    getSnapshot: () => snapshot,
    refetch: (options) => run(options && options.refresh ? { refresh: true } : READ),
    update: (data) => run({ data }),
    signIn: (options) => location.assign(loginUrl(basePath, options && options.returnTo)),
    // Other tabs hear of it when this page is left, i.e. once the server has answered the logout
    // POST: told earlier, a tab reloading at once could still find the session alive.
    signOut: (options) => postLogout(basePath, options && options.returnTo, () => tabs.post({ at: Date.now(), s: 200, h: {}, d: null })),
  };

  const bootstrap = document.getElementById(BOOTSTRAP_ID);
  if (bootstrap) {
    // Ordered by navigation start (before the server read it), on the Date.now() clock that other
    // answers use (performance.timeOrigin can drift from it by minutes after a system sleep).
    // Shared with the other tabs: the page after a sign-in is how they learn of it.
    apply({ at: Date.now() - performance.now(), s: 200, h: {}, d: JSON.parse(bootstrap.textContent!) }, true);
  } else {
    void run(READ);
  }

  return {
    handle,
    watch(options) {
      watchers.push(options);
      // After this tick: the caller may not have stored the handle yet when a callback runs.
      queueMicrotask(() => watchers.includes(options) && keys.forEach((key) => call(options, key)));
      schedule();
      return () => {
        watchers = watchers.filter((watcher) => watcher != options);
      };
    },
  };
}

const stores: Record<string, Store> = {};

/** The page's store for `basePath`, created on first use. */
export function getStore(basePath = '/auth'): Store {
  return stores[basePath] || (stores[basePath] = createStore(basePath));
}
