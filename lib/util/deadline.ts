/**
 * The one timeout helper for storage calls. node-redis has no timeout for a command already written to the
 * socket, and an express-session Store may never call back: without a deadline a frozen store would hang the
 * request. Failures of any kind become 503 `ERR_STORE_UNAVAILABLE`, never "not found" (which would read as
 * "signed out").
 */
import { AuthError, ErrorCodes, isAuthError } from '../errors.js';
import { clock, recordStoreCall } from '../telemetry.js';

/**
 * Resolves like `pending`, or rejects with a coded 503 after `timeoutMs`. `late` receives a value that
 * arrives after the deadline (e.g. a lock acquired after its caller gave up, which must be released).
 * `operation` (a literal such as `'redis.get'`) names the call in the `oidc_session.store.duration`
 * histogram, recorded once: when it settles or when its deadline passes.
 */
export function withDeadline<T>(
  pending: Promise<T>,
  timeoutMs: number,
  what: string,
  late?: (value: T) => void,
  operation?: string,
): Promise<T> {
  const startedAt = operation === undefined ? 0 : clock();
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (operation !== undefined) recordStoreCall(operation, startedAt);
      reject(new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, `${what} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.then(
      (value) => {
        clearTimeout(timer);
        if (timedOut) {
          late?.(value);
          return;
        }
        if (operation !== undefined) recordStoreCall(operation, startedAt);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (timedOut) return;
        if (operation !== undefined) recordStoreCall(operation, startedAt);
        reject(storeError(err, what));
      },
    );
  });
}

/**
 * The same deadline for a callback-style call (an express-session Store's), without a promise per call: the
 * session store is read on every request. `cb` is called exactly once.
 */
export function callWithDeadline<T>(
  run: (done: (err?: unknown, value?: T) => void) => unknown,
  timeoutMs: number,
  what: string,
  operation: string,
  cb: (err?: unknown, value?: T) => void,
): void {
  const startedAt = clock();
  let settled = false;
  const finish = (err?: unknown, value?: T): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    recordStoreCall(operation, startedAt);
    cb(err === undefined || err === null ? undefined : storeError(err, what), value);
  };
  const timer = setTimeout(
    () => finish(new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, `${what} did not answer within ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    const result = run(finish) as unknown;
    // connect-redis returns a promise and also calls back; a rejection must not go unhandled.
    if (result && typeof (result as Promise<unknown>).catch === 'function') (result as Promise<unknown>).catch(finish);
  } catch (err) {
    finish(err);
  }
}

/** A store failure as the coded 503 every caller handles. */
export function storeError(err: unknown, what: string): AuthError {
  return isAuthError(err) ? err : new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, `${what} failed`, { cause: err });
}
