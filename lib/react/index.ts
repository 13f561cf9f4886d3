/**
 * `express-oidc-session/react`: the browser observer as a React hook. Every component shares the
 * page's one store (one fetch, one set of timers); react is an optional peer dependency.
 */
import { useEffect, useMemo, useRef, useSyncExternalStore } from 'react';
import { createSnapshot } from '../client/snapshot.js';
import { getStore } from '../client/store.js';
import type { SessionHandle, SessionSnapshot, UseSessionOptions } from '../client/types.js';

export type * from '../client/types.js';

/**
 * The snapshot plus the actions of the page's shared observer; a union on `state` like the snapshot,
 * so `session.state === 'authenticated'` makes `session.user` present.
 */
export type UseSessionResult = SessionSnapshot & Pick<SessionHandle, 'refetch' | 'update' | 'signIn' | 'signOut'>;

// Server rendering and hydration see `loading`; the store only exists in a browser.
const serverSnapshot = createSnapshot({ data: undefined, status: 0, headers: {}, error: null, loading: false }, '/auth');
const getServerSnapshot = () => serverSnapshot;
const noSubscribe = () => () => {};
const noop = () => Promise.resolve(serverSnapshot);
const serverHandle = { refetch: noop, update: noop, signIn() {}, signOut() {} };

/**
 * Subscribes the component to the session; callbacks fire once per transition, as with
 * `OidcSession.useSession`. The latest render's callbacks are the ones called.
 *
 * @example
 * function Account() {
 *   const session = useSession({ required: true, onSignOut: () => location.reload() });
 *   if (session.state !== 'authenticated') return <p>Loading…</p>;
 *   return <button onClick={() => session.signOut()}>Sign out {session.user.name}</button>;
 * }
 */
export function useSession(options: UseSessionOptions = {}): UseSessionResult {
  const store = typeof document == 'undefined' ? undefined : getStore(options.basePath);
  const latest = useRef(options);
  latest.current = options;

  useEffect(() => {
    if (!store) return;
    // The store reads the watcher at call time, so a proxy to the latest options means one
    // registration per mount however often the options object changes.
    const watcher = new Proxy({} as UseSessionOptions, { get: (_, key) => latest.current[key as keyof UseSessionOptions] });
    return store.watch(watcher);
  }, [store]);

  const handle = store ? store.handle : undefined;
  const snapshot = useSyncExternalStore(
    handle ? handle.subscribe : noSubscribe,
    handle ? handle.getSnapshot : getServerSnapshot,
    getServerSnapshot,
  );
  return useMemo(() => {
    const { refetch, update, signIn, signOut } = handle || serverHandle;
    return { ...snapshot, refetch, update, signIn, signOut };
  }, [snapshot, handle]);
}
