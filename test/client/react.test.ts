// The React hook's wiring, against a minimal stand-in for React's hooks (react itself is an
// optional peer and not installed here): one watcher per mount that always calls the latest
// render's callbacks, the store's snapshot through useSyncExternalStore, actions on the result,
// and no store at all during server rendering.
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { type FakeBrowser, installFakeBrowser, sessionJson } from './harness.js';

/** Hook state of the one component these tests render. */
const hooks = { slots: [] as unknown[], index: 0, effects: [] as Array<() => void | (() => void)>, cleanups: [] as Array<() => void> };

jest.unstable_mockModule(
  'react',
  () => ({
    useRef: <T>(value: T) => (hooks.slots[hooks.index++] ??= { current: value }) as { current: T },
    useEffect: (effect: () => void | (() => void)) => {
      if (hooks.slots[hooks.index++] === undefined) hooks.slots[hooks.index - 1] = hooks.effects.push(effect);
    },
    useMemo: <T>(make: () => T, deps: unknown[]) => {
      const slot = hooks.slots[hooks.index++] as { deps: unknown[]; value: T } | undefined;
      if (slot?.deps.every((dep, i) => dep === deps[i])) return slot.value;
      const value = make();
      hooks.slots[hooks.index - 1] = { deps, value };
      return value;
    },
    useSyncExternalStore: <T>(_subscribe: (listener: () => void) => () => void, getSnapshot: () => T) => getSnapshot(),
  }),
  { virtual: true },
);

let browser: FakeBrowser;
beforeEach(() => {
  // Fake timers: the stores' expiry timers must not outlive the test file.
  jest.useFakeTimers({ doNotFake: ['queueMicrotask', 'nextTick'] });
  browser = installFakeBrowser();
  Object.assign(hooks, { slots: [], index: 0, effects: [], cleanups: [] });
});
afterEach(() => {
  jest.clearAllTimers();
  jest.useRealTimers();
  delete (globalThis as Record<string, unknown>).document;
});

const settle = () => jest.advanceTimersByTimeAsync(0);

/** Renders the component once: runs the hook, then any effect not yet run (as React would). */
async function render<T>(hook: () => T): Promise<T> {
  hooks.index = 0;
  const result = hook();
  for (const effect of hooks.effects.splice(0)) {
    const cleanup = effect();
    if (cleanup) hooks.cleanups.push(cleanup);
  }
  await settle();
  return result;
}

describe('useSession (React)', () => {
  it('returns the shared snapshot with actions, registers one watcher per mount, calls the latest callbacks', async () => {
    browser.document.bootstrap = JSON.stringify(null);
    const { useSession } = await import('../../lib/react/index.js');
    const first = jest.fn();
    const second = jest.fn();
    const a = await render(() => useSession({ basePath: '/r1', onSignIn: first }));
    expect(a).toMatchObject({ state: 'unauthenticated', loading: false });
    expect(typeof a.signOut).toBe('function');
    // Re-render with a new callback: no new registration, but the new callback is the one called.
    const b = await render(() => useSession({ basePath: '/r1', onSignIn: second }));
    expect(b).toBe(a);
    browser.handler = () => ({ status: 200, body: sessionJson(Date.now()) });
    const snapshot = await b.refetch();
    await settle();
    expect(snapshot.state).toBe('authenticated');
    expect(first).not.toHaveBeenCalled();
    expect(second).toHaveBeenCalledTimes(1);
    const c = await render(() => useSession({ basePath: '/r1', onSignIn: second }));
    expect(c).not.toBe(a);
    expect(c.user).toEqual({ sub: 'alice', name: 'Alice' });
    // Unmounted: its callbacks stop.
    for (const cleanup of hooks.cleanups) cleanup();
    browser.handler = () => ({ status: 200, body: null });
    await c.refetch();
    browser.handler = () => ({ status: 200, body: sessionJson(Date.now()) });
    await c.refetch();
    await settle();
    expect(second).toHaveBeenCalledTimes(1);
  });

  it('renders on the server as loading, without touching browser APIs', async () => {
    delete (globalThis as Record<string, unknown>).document;
    const { useSession } = await import('../../lib/react/index.js');
    const result = await render(() => useSession({ basePath: '/ssr' }));
    expect(result).toMatchObject({ state: 'loading', loading: true, data: null });
    await expect(result.refetch()).resolves.toMatchObject({ state: 'loading' });
    expect(browser.requests).toEqual([]);
  });
});
