/**
 * The one timeout helper for storage calls. node-redis has no timeout for a command already written to the
 * socket, and an express-session Store may never call back: without a deadline a frozen store would hang the
 * request. Failures of any kind become 503 `ERR_STORE_UNAVAILABLE`, never "not found" (which would read as
 * "signed out").
 */
import { AuthError, ErrorCodes, isAuthError } from '../errors.js';

/**
 * Resolves like `pending`, or rejects with a coded 503 after `timeoutMs`. `late` receives a value that
 * arrives after the deadline (e.g. a lock acquired after its caller gave up, which must be released).
 */
export function withDeadline<T>(pending: Promise<T>, timeoutMs: number, what: string, late?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, `${what} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.then((value) => {
      clearTimeout(timer);
      if (timedOut) late?.(value);
      else resolve(value);
    }, (err: unknown) => {
      clearTimeout(timer);
      if (!timedOut) reject(storeError(err, what));
    });
  });
}

/** A store failure as the coded 503 every caller handles. */
export function storeError(err: unknown, what: string): AuthError {
  return isAuthError(err) ? err : new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, `${what} failed`, { cause: err });
}
