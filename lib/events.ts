/** Calls an app's event hook without letting it break the request that triggered it; and the debug log. */
import createDebug from 'debug';

/** A debug logger: printf-style, like `console.log`. Never pass it a token, a secret or a session id. */
export type DebugLog = (format: string, ...args: unknown[]) => void;

// The old switch, NODE_DEBUG=oidc-session, still works; DEBUG=express-oidc-session* is the documented one.
const nodeDebug = (process.env.NODE_DEBUG ?? '').split(/[\s,]+/).some((name) => name.toLowerCase() === 'oidc-session');

/** `express-oidc-session:<area>` with the `debug` package (the Express ecosystem's convention). */
export function debugLog(area?: string): DebugLog {
  const log = createDebug(area ? `express-oidc-session:${area}` : 'express-oidc-session');
  if (nodeDebug) log.enabled = true;
  return log;
}

const log = debugLog();

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
