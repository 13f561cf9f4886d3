/**
 * Wraps whatever Store the app uses: every call gets a timeout and a coded 503 error, so a slow or dead
 * store answers "unavailable" instead of hanging, and never looks like "signed out" (express-session would
 * create a fresh empty session on some errors). It has no `touch`: idle time is tracked in the session
 * itself, so a background poll (`X-Session-Peek`) cannot extend a session, and a plain read costs one call.
 */
import session, { type SessionData, type Store } from 'express-session';
import { AuthError, ErrorCodes } from '../errors.js';
import { PruningMemoryStore } from './memory-store.js';

type Callback<T = unknown> = (err?: unknown, value?: T) => void;

export class GuardedStore extends session.Store {
  /** Our in-process store answers synchronously: no timer needed on the hot path. */
  private readonly sync: boolean;

  constructor(readonly inner: Store, private readonly timeoutMs: number) {
    super();
    this.sync = inner instanceof PruningMemoryStore;
  }

  override get(sid: string, cb: Callback<SessionData | null>): void {
    this.call<SessionData | null>('get', (done) => this.inner.get(sid, done), cb);
  }

  /**
   * Asked before a signed-in session blob is written. A request that loaded the session before it was ended
   * elsewhere (logout, back-channel logout, revokeSessions on another instance) must not write it back.
   */
  admitSession?: (sid: string) => Promise<boolean>;

  override set(sid: string, sess: SessionData, cb?: Callback): void {
    const admit = this.admitSession;
    if (!admit || !(sess as { oidc?: unknown }).oidc) {
      this.call('set', (done) => this.inner.set(sid, sess, done), cb);
      return;
    }
    admit(sid).then((ok) => {
      if (ok) this.call('set', (done) => this.inner.set(sid, sess, done), cb);
      else cb?.();
    }, (err: unknown) => cb?.(err));
  }

  override destroy(sid: string, cb?: Callback): void {
    this.call('destroy', (done) => this.inner.destroy(sid, done), cb);
  }

  /** Promise forms used by the token store and the session index. */
  getAsync(key: string): Promise<SessionData | null> {
    return new Promise((resolve, reject) => this.get(key, (err, v) => (err ? reject(err) : resolve(v ?? null))));
  }

  setAsync(key: string, value: SessionData): Promise<void> {
    return new Promise((resolve, reject) => this.set(key, value, (err) => (err ? reject(err) : resolve())));
  }

  destroyAsync(key: string): Promise<void> {
    return new Promise((resolve, reject) => this.destroy(key, (err) => (err ? reject(err) : resolve())));
  }

  private call<T>(op: string, run: (done: Callback<T>) => unknown, cb?: Callback<T>): void {
    if (this.sync) {
      run((err, value) => cb?.(err, value));
      return;
    }
    let settled = false;
    const timer = setTimeout(() => finish(new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503,
      `session store ${op} did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    const finish = (err?: unknown, value?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err && !(err instanceof AuthError)) {
        err = new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, `session store ${op} failed`, { cause: err });
      }
      cb?.(err, value);
    };
    try {
      const result = run(finish) as unknown;
      // connect-redis returns a promise and also calls back; a rejection must not go unhandled.
      if (result && typeof (result as Promise<unknown>).catch === 'function') (result as Promise<unknown>).catch(finish);
    } catch (err) {
      finish(err);
    }
  }
}
