/**
 * Wraps the session store: every call gets a deadline and a coded 503 error, so a slow or dead store
 * answers "unavailable" instead of hanging, and never looks like "signed out" (express-session would
 * create a fresh empty session on some errors). It has no `touch`: idle time is tracked in the session
 * itself, so a background poll (`X-Session-Peek`) cannot extend a session, and a plain read costs one call.
 */
import session, { type SessionData, type Store } from 'express-session';
import { callWithDeadline, withDeadline } from '../util/deadline.js';

type Callback<T = unknown> = (err?: unknown, value?: T) => void;
type Admit = (sid: string, sess: SessionData, ttlMs: number) => Promise<boolean>;
type Operation = 'get' | 'set' | 'destroy';
/** `operation` attribute of `oidc_session.store.duration` for calls to the session store. */
const SESSION_OPERATIONS: Record<Operation, string> = { get: 'session.get', set: 'session.set', destroy: 'session.destroy' };

export class GuardedStore extends session.Store {
  constructor(
    readonly inner: Store,
    private readonly timeoutMs: number,
    /** Our in-process store answers synchronously: no timer needed on the hot path. */
    private readonly sync: boolean,
    /** Asked before a signed-in blob is written to a store that cannot check it itself. */
    private readonly admit?: Admit,
    private readonly ttlMs?: (sess: SessionData) => number,
  ) {
    super();
  }

  override get(sid: string, cb: Callback<SessionData | null>): void {
    this.call<SessionData | null>('get', (done) => this.inner.get(sid, done), cb);
  }

  override set(sid: string, sess: SessionData, cb?: Callback): void {
    const { admit } = this;
    if (!admit || !(sess as { oidc?: unknown }).oidc) {
      this.call('set', (done) => this.inner.set(sid, sess, done), cb);
      return;
    }
    withDeadline(admit(sid, sess, this.ttlMs?.(sess) ?? 0), this.timeoutMs, 'session admission', undefined, 'session.admit').then(
      (ok) => {
        if (ok) this.call('set', (done) => this.inner.set(sid, sess, done), cb);
        else cb?.();
      },
      (err: unknown) => cb?.(err),
    );
  }

  override destroy(sid: string, cb?: Callback): void {
    this.call('destroy', (done) => this.inner.destroy(sid, done), cb);
  }

  /** Promise forms, for code that reads or ends sessions by id (revocation). */
  getAsync(sid: string): Promise<SessionData | null> {
    return new Promise((resolve, reject) => this.get(sid, (err, v) => (err ? reject(err) : resolve(v ?? null))));
  }

  destroyAsync(sid: string): Promise<void> {
    return new Promise((resolve, reject) => this.destroy(sid, (err) => (err ? reject(err) : resolve())));
  }

  private call<T>(op: Operation, run: (done: Callback<T>) => unknown, cb?: Callback<T>): void {
    if (this.sync) {
      run((err, value) => cb?.(err, value));
      return;
    }
    callWithDeadline(run, this.timeoutMs, `session store ${op}`, SESSION_OPERATIONS[op], (err, value) => cb?.(err, value));
  }
}
