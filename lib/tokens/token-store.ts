/**
 * Token records, one per session, written only by login and refresh — so an ordinary request that saves
 * the session blob cannot roll tokens back (the lost update of express-openid-connect#408). Every write is
 * a compare-and-set on the record's version: a refresh that finishes after its session ended finds no
 * record at its version and writes nothing. Shared backends get an in-process cache for the hot path.
 */
import type { StorageBackend, TokenRecord } from '../store/backend.js';

export type { TokenRecord } from '../store/backend.js';

const CACHE_MAX = 10_000;
/** How long a cached record is served when the backend pushes changes: a bound for a partition only. */
const TRACKED_MAX_AGE_MS = 10_000;
/** …and when it does not: changes made by another instance are seen this soon (the contract's 50 ms). */
const UNTRACKED_MAX_AGE_MS = 50;

interface Cached {
  record: TokenRecord;
  at: number;
}

export class TokenStore {
  private readonly cache = new Map<string, Cached>();
  /**
   * The newest record this process has seen of each recent session, kept when the cache is dropped on a
   * reconnect: a store that comes back older (Redis restarted from a snapshot) is then noticed, and a record
   * whose save failed after the IdP rotated its refresh token is written back by the next refresh.
   */
  private readonly newestSeen = new Map<string, TokenRecord>();
  /** Concurrent misses for one session share one store read (a cold instance under a burst). */
  private readonly reading = new Map<string, Promise<TokenRecord | null>>();
  /** Counts invalidations: a read that an invalidation overtook is not cached (it may hold the old value). */
  private invalidations = 0;
  private readonly maxAgeMs: number;
  /**
   * True when the backend pushes changes (Redis client-side caching): only what was read is cached then, since
   * only a read makes Redis track the key for us; a record this process wrote is read once more when next needed.
   */
  private readonly tracked: boolean;

  constructor(private readonly backend: StorageBackend) {
    this.tracked = backend.onInvalidate !== undefined;
    this.maxAgeMs = this.tracked ? TRACKED_MAX_AGE_MS : UNTRACKED_MAX_AGE_MS;
    // A change made by any instance (a refresh, a logout, a revocation) drops the copy here at once.
    backend.onInvalidate?.((sid) => {
      this.invalidations++;
      if (sid === null) {
        this.cache.clear();
        return;
      }
      this.cache.delete(sid);
      this.newestSeen.delete(sid);
    });
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
    if (this.backend.peekRecord) return this.backend.peekRecord(sid);
    const hit = this.cache.get(sid);
    return hit && Date.now() - hit.at < this.maxAgeMs ? hit.record : undefined;
  }

  /** Reads the store, bypassing the cache (refresh does this under its lock). */
  async read(sid: string): Promise<TokenRecord | null> {
    const before = this.invalidations;
    const record = await this.backend.getRecord(sid);
    if (!this.backend.peekRecord) {
      if (record && this.invalidations === before) this.remember(sid, record);
      else this.cache.delete(sid);
      if (record) this.noteNewest(sid, record);
    }
    return record;
  }

  /** `record`, or the newer one this process has seen of that session. */
  latest(sid: string, record: TokenRecord): TokenRecord {
    const newest = this.newestSeen.get(sid);
    return newest && newest.v > record.v ? newest : record;
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
      if (ok) this.noteNewest(sid, record);
    }
    return ok;
  }

  async destroy(sid: string): Promise<void> {
    this.cache.delete(sid);
    this.newestSeen.delete(sid);
    await this.backend.deleteRecord(sid);
  }

  /** Remembers `record` as the newest of its session unless a newer one is known (shared backends only). */
  noteNewest(sid: string, record: TokenRecord): void {
    if (this.backend.peekRecord) return;
    const current = this.newestSeen.get(sid);
    if (current && current.v >= record.v) return;
    this.newestSeen.delete(sid);
    this.newestSeen.set(sid, record);
    if (this.newestSeen.size > CACHE_MAX) this.newestSeen.delete(this.newestSeen.keys().next().value as string);
  }

  private remember(sid: string, record: TokenRecord): void {
    const current = this.cache.get(sid);
    if (current && current.record.v > record.v) return;
    this.cache.delete(sid);
    this.cache.set(sid, { record, at: Date.now() });
    if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
  }
}
