/**
 * The default session store: in-process, but unlike express-session's MemoryStore it forgets expired
 * sessions (a sweep every minute, plus a check on read) and is capped by entries and by bytes. Signed-in
 * sessions and anonymous ones are kept apart: anonymous data is evicted first and can never push a
 * signed-in session out, so no amount of anonymous traffic signs anyone out.
 * Entries are kept as JSON so every `get` hands express-session a private copy to mutate.
 */
import session, { type SessionData } from 'express-session';
import { debug } from '../events.js';

type Callback<T = unknown> = (err?: unknown, value?: T) => void;

export interface MemoryStoreOptions {
  /** Seconds a session lives after its last save. @default 86400 */
  ttl?: number | ((sess: SessionData) => number);
  /**
   * Sessions kept at most. When full, the oldest anonymous session goes first; a signed-in session only ever
   * makes room for another signed-in one. @default 1_000_000
   * @example new PruningMemoryStore({ max: 50_000 })
   */
  max?: number;
  /** Bytes of session JSON kept at most (approximate), with the same eviction order. @default 512 MiB */
  maxBytes?: number;
  /** Sweep interval in ms. @default 60000 */
  sweepInterval?: number;
}

/**
 * `cookie` is the JSON of the blob's cookie, kept apart: express-session's cookie is the same for every
 * session without maxAge, so one interned string serves them all instead of ~110 bytes each.
 */
interface Entry {
  json: string;
  cookie: string | undefined;
  expires: number;
}

/** Per-entry overhead counted against `maxBytes` besides the JSON itself (Map slot, entry object, key). */
const ENTRY_OVERHEAD = 120;

export class PruningMemoryStore extends session.Store {
  private readonly members = new Map<string, Entry>();
  private readonly anonymous = new Map<string, Entry>();
  private bytes = 0;
  private ttl: number | ((sess: SessionData) => number);
  private readonly ttlGiven: boolean;
  private readonly max: number;
  private readonly maxBytes: number;
  private readonly timer: NodeJS.Timeout;

  /** Set by the memory backend: asked before a signed-in blob is written (false: its session has ended, so it is not written). */
  admit?: (sid: string) => boolean;
  /** Set by the memory backend: told when a signed-in blob is gone (expired, evicted, destroyed), so its records go too. */
  dropped?: (sid: string) => void;
  /** Cookie JSONs shared between entries (see Entry). */
  private readonly cookies = new Map<string, string>();

  constructor(options: MemoryStoreOptions = {}) {
    super();
    this.ttl = options.ttl ?? 86400;
    this.ttlGiven = options.ttl !== undefined;
    this.max = options.max ?? 1_000_000;
    this.maxBytes = options.maxBytes ?? 512 * 1024 * 1024;
    this.timer = setInterval(() => this.prune(), options.sweepInterval ?? 60_000);
    // A sweep timer must not keep a process alive on its own.
    this.timer.unref();
  }

  /** The middleware's own lifetimes (idle/absolute deadline, 10 min for anonymous data), unless `ttl` was given. */
  adoptTtl(ttl: (sess: SessionData) => number): void {
    if (!this.ttlGiven) this.ttl = ttl;
  }

  override get(sid: string, cb: Callback<SessionData | null>): void {
    const map = this.members.has(sid) ? this.members : this.anonymous;
    const entry = map.get(sid);
    if (!entry) return cb(null, null);
    if (entry.expires <= Date.now()) {
      this.drop(map, sid, entry);
      return cb(null, null);
    }
    let value: SessionData;
    try {
      value = JSON.parse(entry.json) as SessionData;
      if (entry.cookie !== undefined) value.cookie = JSON.parse(entry.cookie) as SessionData['cookie'];
    } catch (err) {
      return cb(err);
    }
    cb(null, value);
  }

  /** True while a live signed-in blob is kept for `sid`. */
  holds(sid: string): boolean {
    const entry = this.members.get(sid);
    return entry !== undefined && entry.expires > Date.now();
  }

  override set(sid: string, sess: SessionData, cb?: Callback): void {
    const ttl = typeof this.ttl === 'function' ? this.ttl(sess) : this.ttl;
    if (!(ttl > 0)) {
      this.remove(sid, true);
      return cb?.();
    }
    const member = (sess as { oidc?: unknown }).oidc !== undefined;
    if (member && this.admit && !this.admit(sid)) {
      // Its session has ended (the tokens are gone): the old blob goes too, nothing new is written.
      this.remove(sid, true);
      return cb?.();
    }
    // A rewrite of the same session: its records stay.
    this.remove(sid, false);
    const entry = this.entryOf(sess, Date.now() + ttl * 1000);
    if (!this.makeRoom(entry, member)) {
      debug('memory store full: anonymous session not stored');
      return cb?.();
    }
    (member ? this.members : this.anonymous).set(sid, entry);
    this.bytes += size(entry);
    cb?.();
  }

  override destroy(sid: string, cb?: Callback): void {
    this.remove(sid, true);
    cb?.();
  }

  override length(cb: Callback<number>): void {
    cb(null, this.members.size + this.anonymous.size);
  }

  override clear(cb?: Callback): void {
    for (const sid of this.members.keys()) this.dropped?.(sid);
    this.members.clear();
    this.anonymous.clear();
    this.bytes = 0;
    cb?.();
  }

  /** Drops every expired entry; returns how many were dropped. */
  prune(now = Date.now()): number {
    let dropped = 0;
    for (const map of [this.members, this.anonymous]) {
      for (const [sid, entry] of map) {
        if (entry.expires <= now) {
          this.drop(map, sid, entry);
          dropped++;
        }
      }
    }
    return dropped;
  }

  /** Stops the sweep timer (tests, graceful shutdown). */
  close(): void {
    clearInterval(this.timer);
  }

  private entryOf(sess: SessionData, expires: number): Entry {
    const { cookie, ...rest } = sess as SessionData & { cookie?: { expires?: unknown } };
    // Only cookies without their own expiry are alike across sessions; any other stays in the JSON.
    if (!cookie || (cookie.expires !== null && cookie.expires !== undefined))
      return { json: JSON.stringify(sess), cookie: undefined, expires };
    const text = JSON.stringify(cookie);
    let shared = this.cookies.get(text);
    if (shared === undefined) {
      if (this.cookies.size >= 16) this.cookies.clear();
      shared = text;
      this.cookies.set(text, text);
    }
    return { json: JSON.stringify(rest), cookie: shared, expires };
  }

  /** Evicts oldest-first (Map order is insertion order): anonymous entries, then — for a member only — members. */
  private makeRoom(entry: Entry, member: boolean): boolean {
    const full = () => this.members.size + this.anonymous.size >= this.max || this.bytes + size(entry) > this.maxBytes;
    while (full()) {
      const victims = this.anonymous.size > 0 ? this.anonymous : member ? this.members : undefined;
      if (!victims || victims.size === 0) return !full();
      const [sid, oldest] = victims.entries().next().value as [string, Entry];
      this.drop(victims, sid, oldest);
    }
    return true;
  }

  private remove(sid: string, notify: boolean): void {
    for (const map of [this.members, this.anonymous]) {
      const entry = map.get(sid);
      if (entry) this.drop(map, sid, entry, notify);
    }
  }

  private drop(map: Map<string, Entry>, sid: string, entry: Entry, notify = true): void {
    map.delete(sid);
    this.bytes -= size(entry);
    if (notify && map === this.members) this.dropped?.(sid);
  }
}

function size(entry: Entry): number {
  return entry.json.length + ENTRY_OVERHEAD;
}
