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
  /** Concurrent misses for one session share one store read (a cold instance under a burst). */
  private readonly reading = new Map<string, Promise<TokenRecord | null>>();

  constructor(private readonly backend: StorageBackend) {}

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
    return record;
  }

  /**
   * Writes `record` if the stored one is still at version `expected` (null: a new session's first record).
   * Resolves false when it is not — the session ended, or another writer won — and then writes nothing.
   */
  async write(sid: string, record: TokenRecord, expected: number | null, expiresAt: number): Promise<boolean> {
    const ok = await this.backend.putRecord(sid, record, expected, Math.max(1000, expiresAt - Date.now()));
    if (!this.backend.peekRecord) {
      if (ok) this.remember(sid, record);
      else this.cache.delete(sid);
    }
    return ok;
  }

  async destroy(sid: string): Promise<void> {
    this.cache.delete(sid);
    await this.backend.deleteRecord(sid);
  }

  private remember(sid: string, record: TokenRecord): void {
    const current = this.cache.get(sid);
    if (current && current.v > record.v) return;
    this.cache.delete(sid);
    this.cache.set(sid, record);
    if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
  }
}
