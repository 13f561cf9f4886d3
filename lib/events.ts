/** Calls an app's event hook without letting it break the request that triggered it. */
import { debuglog } from 'node:util';

const log = debuglog('oidc-session');

export function fire<T>(hook: ((info: T) => void | Promise<void>) | undefined, info: T, name: string): void {
  if (!hook) return;
  try {
    const result = hook(info);
    if (result && typeof (result as Promise<void>).catch === 'function') {
      (result as Promise<void>).catch((err: unknown) => report(name, err));
    }
  } catch (err) {
    report(name, err);
  }
}

function report(name: string, err: unknown): void {
  // The message only: an app's error object may carry request data we must not print.
  console.error(`express-oidc-session: events.${name} threw: ${(err as Error)?.message ?? String(err)}`);
}

export { log as debug };
