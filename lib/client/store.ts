/**
 * One store per page and basePath: the session state, the timers, the tab link and the watchers
 * (each `useSession` call's options). Every answer, fetched here or heard from another tab, goes
 * through `apply`, so all tabs make the same transitions.
 *
 * Tabs of one browser share one session: answers travel over a BroadcastChannel (or `storage`
 * events where there is none), and a tab that wants a background refetch must hold a Web Lock,
 * so N tabs waking at once cost one request while the others wait for its answer.
 */

import { loginUrl, postLogout } from './navigate.js';
import { PEEK, READ, type RequestKind, type Result, request, toError } from './request.js';
import { createSnapshot, type SnapshotInput, signature } from './snapshot.js';
import { FRESH_MS, HOLD_MS, RETRY_MS } from './timing.js';
import { backoff, events, scan } from './transitions.js';
import type { SessionCallback, SessionHandle, SessionListener, SessionSnapshot, UseSessionOptions } from './types.js';

export interface Store {
  handle: SessionHandle;
  /** Adds a watcher; its callbacks fire for the current conditions too (after this tick). */
  watch(options: UseSessionOptions): () => void;
}

export const createStore = (basePath: string): Store => {
  const name = 'oidc-session:' + basePath;
  let watchers: UseSessionOptions[] = [];
  const listeners = new Set<SessionListener>();
  // data (undefined: not known yet) and loading are set before each snapshot.
  const input = { status: 0, headers: {}, error: null } as unknown as SnapshotInput;
  // lastAt orders answers (request start, any tab); syncedAt (arrival here) times the next ones.
  let busy = 0,
    skew = 0,
    lastAt = 0,
    syncedAt = 0,
    failures = 0,
    expiryAt = Infinity,
    pending = false;
  let keys: string[] = [];
  let sig = '';
  let snapshot: SessionSnapshot;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let post: (message: Result) => void;

  const call = (watcher: UseSessionOptions, key: string) => {
    const callback = key.split('|')[0] as keyof UseSessionOptions;
    const snap = snapshot;
    // `required` redirects unless the watcher handles onUnauthenticated itself.
    const fn =
      (watcher[callback] as SessionCallback | undefined) ||
      (callback == 'onUnauthenticated' && watcher.required && (() => snap.redirect()));
    // As a microtask: a throwing callback is reported but cannot stop the others nor the store,
    // and a callback that calls refetch() does not re-enter a half-done render.
    if (fn) queueMicrotask(() => fn(snap));
  };

  /**
   * Adds the conditions that newly hold to `fired` and remembers the current ones; true when one
   * is a time reached ('callback|<ms>': a token or the session expired).
   */
  const check = (fired: string[]) => {
    const [current, next] = scan(input.data, skew, Date.now());
    const fresh = current.filter((key) => !keys.includes(key));
    expiryAt = next;
    keys = current;
    fired.push(...fresh);
    return fresh.some((key) => /\|\d+$/.test(key));
  };

  const render = (fired: string[] = []) => {
    input.loading = busy > 0;
    const nextSig = signature(input);
    const changed = nextSig != sig;
    if (changed) (sig = nextSig), (snapshot = createSnapshot(input, basePath));
    // A time reached is worth one question to the server: it refreshes or re-mints, or says the
    // session is over. Keys stop any loop.
    const due = check(fired);
    // Each listener gets the snapshot of this change, as a microtask for the reasons `call` gives.
    const snap = snapshot;
    if (changed) listeners.forEach((listener) => queueMicrotask(() => listener(snap)));
    for (const key of fired) for (const watcher of watchers) call(watcher, key);
    if (due) background();
    schedule();
  };

  /** `heard`: the answer came from another tab, so it is not shared again. */
  const apply = (result: Result, heard?: boolean) => {
    const fired: string[] = [];
    const data = result.d;
    // Answers are ordered by when their request started, whichever tab made it.
    if (result.at >= lastAt) {
      // Conditions reached under the old data fire first: a tab whose timer was late (hidden,
      // throttled) still sees its token expire before the leader's refreshed one replaces it.
      check(fired);
      // A 5xx or no answer at all: worth retrying, and never a reason to believe the user signed out.
      const transient = data === undefined && !(result.s > 0 && result.s < 500);
      if (!heard && (data !== undefined || transient)) post(result);
      lastAt = result.at;
      syncedAt = Date.now();
      input.status = result.s;
      input.headers = result.h;
      if (data === undefined) {
        // Keep the last good state: an outage is not a sign-out.
        input.error = toError(result);
      } else {
        fired.push(...events(input.data, data, syncedAt + skew));
        input.data = data;
        input.error = null;
        // Against the request's start (the bootstrap's: navigation start), so a late useSession()
        // or a broadcast measures the same; the error, one network hop, is within EXPIRY_MARGIN.
        skew = (data && data.now - result.at) || 0;
      }
      failures = transient || /Unavailable/.test((input.data && input.data.error) as string) ? failures + 1 : 0;
    }
    render(fired);
  };

  /** Client time of the next planned background refetch: a backoff retry, or a poll. */
  const dueAt = () =>
    syncedAt +
    (failures ? backoff(failures) : input.data ? Math.min(...watchers.map((w) => w.refetchInterval || Infinity)) * 1000 : Infinity);

  const schedule = () => {
    clearTimeout(timer);
    const now = Date.now();
    const due = dueAt();
    // Still due means it could not run; if another tab led it, its answer moves `due` first.
    const next = Math.min(due > now ? due : now + RETRY_MS, expiryAt);
    // Clamped: setTimeout fires at once for delays beyond 2^31 - 1 ms (and nothing due is Infinity).
    timer = setTimeout(tick, Math.min(next - now, 2e9));
  };

  const tick = () => {
    render();
    if (Date.now() >= dueAt()) background();
  };

  /** A foreground request: `loading` while it runs, and it counts as activity on the server. */
  const run = async (kind: RequestKind): Promise<SessionSnapshot> => {
    busy++;
    render();
    const result = await request(basePath, kind);
    busy--;
    apply(result);
    return snapshot;
  };

  /** A peek refetch, led by one tab for all; a `woken` one (focus, online) is skipped after a fresh answer. */
  const background = (woken?: boolean) => {
    const locks = navigator.locks;
    const peek = () => request(basePath, PEEK).then((result) => apply(result));
    if (pending || (!navigator.onLine && !watchers.some((w) => w.refetchWhenOffline)) || (woken && Date.now() - syncedAt < FRESH_MS))
      return;
    pending = true;
    // Without Web Locks (insecure origins, old browsers) or with locks refused (sandboxed frames),
    // each tab fetches for itself, which costs requests but never correctness.
    (locks
      ? locks
          .request(name, { ifAvailable: true }, (lock) => lock && peek().then(() => new Promise((done) => setTimeout(done, HOLD_MS))))
          .catch(peek)
      : peek()
    ).finally(() => (pending = false));
  };

  if (globalThis.BroadcastChannel) {
    const channel = new BroadcastChannel(name);
    channel.onmessage = (event) => apply(event.data, true);
    post = (message) => channel.postMessage(message);
  } else {
    addEventListener('storage', (event) => {
      if (event.key == name && event.newValue) apply(JSON.parse(event.newValue), true);
    });
    post = (message) => {
      try {
        localStorage.setItem(name, JSON.stringify(message));
      } catch {
        // Storage disabled or full: this tab just works alone.
      }
    };
  }

  const wake = (event: Event) => {
    if (document.hidden) return;
    // Timers fire late after sleep: the expiry check runs on every wake-up, not only on the timer.
    render();
    if (event.type == 'online' || watchers.some((w) => w.refetchOnWindowFocus !== false)) background(true);
  };
  document.addEventListener('visibilitychange', wake);
  addEventListener('focus', wake);
  addEventListener('online', wake);

  const handle: SessionHandle = {
    subscribe: (listener) => (listeners.add(listener), () => listeners.delete(listener)),
    getSnapshot: () => snapshot,
    refetch: (options) => run(options && options.refresh ? { refresh: true } : READ),
    update: (data) => run({ data }),
    signIn: (options) => location.assign(loginUrl(basePath, options)),
    // Other tabs hear of it when this page is left, i.e. once the server has answered the logout
    // POST: told earlier, a tab reloading at once could still find the session alive.
    signOut: (options) => postLogout(basePath, options && options.returnTo, () => post({ at: Date.now(), s: 200, h: {}, d: null })),
    // The header remoteApi requires; a 401 `unauthenticated` is checked with the server (an API's own 401
    // must not sign anyone out here), which moves every tab to unauthenticated once if it is so.
    fetch: (input, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('X-OIDC-Session', '1');
      return fetch(input, { ...init, headers }).then((res) => {
        if (res.status == 401)
          res
            .clone()
            .json()
            .then(
              (body: { error?: string }) => void (body.error == 'unauthenticated' && run(READ)),
              () => {},
            );
        return res;
      });
    },
  };

  // The `<script type="application/json">` that `sessionScript()` writes.
  const bootstrap = document.getElementById('oidc-session-data');
  if (bootstrap) {
    // Ordered by navigation start (before the server read it), on the Date.now() clock that other
    // answers use (performance.timeOrigin can drift from it by minutes after a system sleep).
    // Shared with the other tabs: the page after a sign-in is how they learn of it.
    apply({ at: Date.now() - performance.now(), s: 200, h: {}, d: JSON.parse(bootstrap.textContent!) });
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
      return () => (watchers = watchers.filter((watcher) => watcher != options));
    },
  };
};

const stores: Record<string, Store> = {};

/** The page's store for `basePath`, created on first use. */
export const getStore = (basePath = '/auth'): Store => stores[basePath] || (stores[basePath] = createStore(basePath));
