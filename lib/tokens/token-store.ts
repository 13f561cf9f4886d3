/**
 * Token records, one per session, written only by login and refresh — so an ordinary request that saves
 * the session blob cannot roll tokens back (the lost update of express-openid-connect#408). Every write is
 * a compare-and-set on the record's version: a refresh that finishes after its session ended finds no
 * record at its version and writes nothing. Shared backends get an in-process cache for the hot path.
 */
import type { StorageBackend, TokenRecord } from '../store/backend.js';

export type { TokenRecord } from '../store/backend.js';

const CACHE_MAX = 10_000;

export class TokenStore {
  private readonly cache = new Map<string, TokenRecord>();
  /**
   * The newest record this process has seen of each recent session, kept even when the cache drops it (an
   * invalidation, a reconnect): a store that comes back older (Redis restarted from a snapshot) is then noticed.
   */
  private readonly known = new Map<string, TokenRecord>();
  /** Concurrent misses for one session share one store read (a cold instance under a burst). */
  private readonly reading = new Map<string, Promise<TokenRecord | null>>();

  /**
   * True when the backend pushes changes (Redis client-side caching): only what was read is cached then, since
   * only a read makes Redis track the key for us; a record this process wrote is read once more when next needed.
   */
  private readonly tracked: boolean;

  constructor(private readonly backend: StorageBackend) {
    this.tracked = backend.onInvalidate !== undefined;
    // A change made by any instance (a refresh, a logout, a revocation) drops the copy here at once.
    backend.onInvalidate?.((sid) => (sid === null ? this.cache.clear() : this.cache.delete(sid)));
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

  /** The known record, without a store round trip. */
  peek(sid: string): TokenRecord | undefined {
    return this.backend.peekRecord ? this.backend.peekRecord(sid) : this.cache.get(sid);
  }

  /** Reads the store, bypassing the cache (refresh does this under its lock). */
  async read(sid: string): Promise<TokenRecord | null> {
    const record = await this.backend.getRecord(sid);
    if (!this.backend.peekRecord) {
      if (record) this.remember(sid, record);
      else this.cache.delete(sid);
    }
    if (record) this.know(sid, record);
    return record;
  }

  /** `record`, or the newer one this process has seen of that session. */
  latest(sid: string, record: TokenRecord): TokenRecord {
    const known = this.known.get(sid);
    return known && known.v > record.v ? known : record;
  }

  /**
   * Writes `record` if the stored one is still at version `expected` (null: a new session's first record).
   * Resolves false when it is not — the session ended, or another writer won — and then writes nothing.
   */
  async write(sid: string, record: TokenRecord, expected: number | null, expiresAt: number): Promise<boolean> {
    const ok = await this.backend.putRecord(sid, record, expected, Math.max(1000, expiresAt - Date.now()));
    if (!this.backend.peekRecord) {
      if (ok && !this.tracked) this.remember(sid, record);
      else this.cache.delete(sid);
    }
    if (ok) this.know(sid, record);
    return ok;
  }

  async destroy(sid: string): Promise<void> {
    this.cache.delete(sid);
    this.known.delete(sid);
    await this.backend.deleteRecord(sid);
  }

  private know(sid: string, record: TokenRecord): void {
    if (this.backend.peekRecord) return;
    const current = this.known.get(sid);
    if (current && current.v >= record.v) return;
    this.known.delete(sid);
    this.known.set(sid, record);
    if (this.known.size > CACHE_MAX) this.known.delete(this.known.keys().next().value as string);
  }

  private remember(sid: string, record: TokenRecord): void {
    const current = this.cache.get(sid);
    if (current && current.v > record.v) return;
    this.cache.delete(sid);
    this.cache.set(sid, record);
    if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
  }
}
