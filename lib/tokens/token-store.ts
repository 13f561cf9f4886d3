/**
 * Token records live beside the session, under `tok:<sessionID>`, and only login and refresh write them.
 * An ordinary request that saves the session blob therefore cannot roll tokens back (the lost update of
 * express-openid-connect#408). Records carry a version `v`; an in-process cache keyed by session id serves
 * the hot path without a store round trip, and refresh always re-reads the store under its lock.
 */
import type { SessionData } from 'express-session';
import type { GuardedStore } from '../store/guarded-store.js';
import { PruningMemoryStore } from '../store/memory-store.js';

export interface TokenRecord {
  v: number;
  /** Whose tokens: lets the in-process store find sessions by user or IdP session without an index. */
  sub?: string;
  sid?: string;
  accessToken?: string;
  accessTokenExpires?: number;
  /** When the current access token was obtained (ms): half its lifetime bounds the refresh leeway. */
  accessTokenIssued?: number;
  refreshToken?: string;
  idToken?: string;
  idTokenExpires?: number;
  scope?: string;
  error?: 'RefreshAccessTokenError' | 'RefreshAccessTokenUnavailable';
  /** After a failed attempt, no new attempt before this time (ms). */
  retryAt?: number;
  attempts?: number;
}

const PREFIX = 'tok:';
const CACHE_MAX = 10_000;

interface StoredRecord { cookie: { originalMaxAge: null; expires: string }; exp: number; t: TokenRecord }

export class TokenStore {
  private readonly cache = new Map<string, TokenRecord>();
  /** Concurrent misses for one session share one store read (a cold instance under a burst). */
  private readonly reading = new Map<string, Promise<TokenRecord | null>>();

  /** With our in-process store the records live there as objects: no cache beside them, no JSON. */
  private readonly local: PruningMemoryStore | undefined;

  constructor(private readonly store: GuardedStore, private readonly lifetimeMs: () => number) {
    this.local = store.inner instanceof PruningMemoryStore ? store.inner : undefined;
  }

  /** The record this process knows, reading the store on a miss. */
  async get(sid: string): Promise<TokenRecord | null> {
    const hit = this.peek(sid);
    if (hit) return hit;
    let pending = this.reading.get(sid);
    if (!pending) {
      pending = this.read(sid).finally(() => this.reading.delete(sid));
      this.reading.set(sid, pending);
    }
    return pending;
  }

  /** The cached record, without a store read. */
  peek(sid: string): TokenRecord | undefined {
    if (this.local) return this.local.getRecord<TokenRecord>(PREFIX + sid);
    return this.cache.get(sid);
  }

  /** Reads the store, bypassing the cache (refresh does this under its lock). */
  async read(sid: string): Promise<TokenRecord | null> {
    if (this.local) return this.local.getRecord<TokenRecord>(PREFIX + sid) ?? null;
    const raw = (await this.store.getAsync(PREFIX + sid)) as unknown as StoredRecord | null;
    const record = raw && typeof raw === 'object' && raw.t && typeof raw.t.v === 'number' ? raw.t : null;
    if (record) this.remember(sid, record);
    else this.cache.delete(sid);
    return record;
  }

  async write(sid: string, record: TokenRecord): Promise<void> {
    if (this.local) {
      this.local.setRecord(PREFIX + sid, Object.freeze(record), this.lifetimeMs());
      return;
    }
    const exp = Date.now() + this.lifetimeMs();
    const stored: StoredRecord = { cookie: { originalMaxAge: null, expires: new Date(exp).toISOString() }, exp, t: record };
    await this.store.setAsync(PREFIX + sid, stored as unknown as SessionData);
    this.remember(sid, record);
  }

  async destroy(sid: string): Promise<void> {
    if (this.local) {
      this.local.destroy(PREFIX + sid);
      return;
    }
    this.cache.delete(sid);
    await this.store.destroyAsync(PREFIX + sid);
  }


  private remember(sid: string, record: TokenRecord): void {
    const current = this.cache.get(sid);
    if (current && current.v > record.v) return;
    this.cache.delete(sid);
    this.cache.set(sid, record);
    if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
  }
}

/** Session ids whose token record belongs to that user or IdP session (in-process store only). */
export function* localSessionsOf(memory: PruningMemoryStore, query: { sub?: string; sid?: string }): Generator<string> {
  for (const [key, record] of memory.records<TokenRecord>(PREFIX)) {
    if ((query.sub !== undefined && record.sub === query.sub) || (query.sid !== undefined && record.sid === query.sid)) {
      yield key.slice(PREFIX.length);
    }
  }
}
