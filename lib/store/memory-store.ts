/**
 * The default store: in-process, but unlike express-session's MemoryStore it forgets expired sessions
 * (a sweep every minute, plus a check on read) and caps its size, so it cannot grow without bound.
 * Entries are kept as JSON so every `get` hands express-session a private copy to mutate.
 */
import session, { type SessionData } from 'express-session';

type Callback<T = unknown> = (err?: unknown, value?: T) => void;

export interface MemoryStoreOptions {
  /** Seconds a session lives after its last save. @default 86400 */
  ttl?: number | ((sess: SessionData) => number);
  /** Entries kept at most; the oldest are dropped first. @default 1_000_000 */
  max?: number;
  /** Sweep interval in ms. @default 60000 */
  sweepInterval?: number;
}

/** A session is kept as JSON (express-session mutates what `get` returns); a record of ours as a frozen object. */
interface Entry { json?: string; value?: unknown; expires: number }

export class PruningMemoryStore extends session.Store {
  private readonly entries = new Map<string, Entry>();
  private readonly ttl: number | ((sess: SessionData) => number);
  private readonly max: number;
  private readonly timer: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    super();
    this.ttl = options.ttl ?? 86400;
    this.max = options.max ?? 1_000_000;
    this.timer = setInterval(() => this.prune(), options.sweepInterval ?? 60_000);
    // A sweep timer must not keep a process alive on its own.
    this.timer.unref();
  }

  override get(sid: string, cb: Callback<SessionData | null>): void {
    const entry = this.entries.get(sid);
    if (!entry) return cb(null, null);
    if (entry.expires <= Date.now()) {
      this.entries.delete(sid);
      return cb(null, null);
    }
    if (entry.json === undefined) return cb(null, entry.value as SessionData);
    let value: SessionData;
    try {
      value = JSON.parse(entry.json) as SessionData;
    } catch (err) {
      return cb(err);
    }
    cb(null, value);
  }

  override set(sid: string, sess: SessionData, cb?: Callback): void {
    const ttl = typeof this.ttl === 'function' ? this.ttl(sess) : this.ttl;
    if (!(ttl > 0)) {
      this.entries.delete(sid);
    } else {
      // Re-insert so Map order stays roughly oldest-first for the size cap.
      this.entries.delete(sid);
      this.entries.set(sid, { json: JSON.stringify(sess), expires: Date.now() + ttl * 1000 });
      if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
    }
    cb?.();
  }

  override destroy(sid: string, cb?: Callback): void {
    this.entries.delete(sid);
    cb?.();
  }

  override length(cb: Callback<number>): void {
    cb(null, this.entries.size);
  }

  override clear(cb?: Callback): void {
    this.entries.clear();
    cb?.();
  }

  /**
   * In-process records (token records): kept as the (frozen) object itself, neither serialised nor copied, so
   * the token strings are held once and a read costs a Map lookup.
   */
  getRecord<T>(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value as T;
  }

  setRecord(key: string, value: unknown, ttlMs: number): void {
    this.entries.delete(key);
    this.entries.set(key, { value, expires: Date.now() + ttlMs });
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** Live records whose key starts with `prefix`, for the rare lookups that replace an index (logout everywhere). */
  *records<T>(prefix: string): Generator<[string, T]> {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.json === undefined && entry.expires > now && key.startsWith(prefix)) yield [key, entry.value as T];
    }
  }

  /** Drops every expired entry; returns how many were dropped. */
  prune(now = Date.now()): number {
    let dropped = 0;
    for (const [sid, entry] of this.entries) {
      if (entry.expires <= now) {
        this.entries.delete(sid);
        dropped++;
      }
    }
    return dropped;
  }

  /** Stops the sweep timer (tests, graceful shutdown). */
  close(): void {
    clearInterval(this.timer);
  }
}
