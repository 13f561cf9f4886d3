/**
 * What the package keeps besides the express-session blob, behind one small interface with atomic
 * primitives. Three implementations: memory (the default), Redis (standalone, Cluster, Sentinel) and any
 * express-session Store (weaker: see `store-backend.ts`). Everything above this layer (tokens, index,
 * refresh, logout) is written against this interface only.
 */
import type { SessionData, Store } from 'express-session';
import type { JWK } from 'jose';
import type { KeyBackend } from '../tokens/jwt-key-backends.js';
import type { RedisClientLike } from '../types.js';

/** The tokens of one session, written only by login and refresh. `v` grows by one with every write. */
export interface TokenRecord {
  v: number;
  accessToken?: string;
  accessTokenExpires?: number;
  /** When the current access token was obtained (ms): half its lifetime bounds the refresh leeway. */
  accessTokenIssued?: number;
  refreshToken?: string;
  idToken?: string;
  idTokenExpires?: number;
  /** 'DPoP' when the IdP bound the access token to `dpopKey`; absent means 'Bearer'. */
  tokenType?: 'Bearer' | 'DPoP';
  /**
   * The session's DPoP private key (option dpop), a JWK with `alg`: kept with the tokens it is bound to, in the
   * same record every instance reads, so whichever instance wins the refresh lock signs with it.
   */
  dpopKey?: JWK;
  error?: 'RefreshAccessTokenError' | 'RefreshAccessTokenUnavailable' | 'IdTokenError';
  /** After a failed attempt, no new attempt before this time (ms)… */
  retryAt?: number;
  /** …unless the IdP answered a grant after this failure (ms). */
  failedAt?: number;
  attempts?: number;
}

/** A key claimed once (callback state, logout-token jti). */
export interface Claim {
  /** Gives the key back (the work it guarded could not be done), so a retry is accepted. */
  release(): Promise<void>;
}

/** Cross-instance mutual exclusion for the refresh grant. */
export interface RefreshLock {
  /** Resolves to a release token, or null when another holder has it. */
  acquire(name: string, ttlMs: number): Promise<string | null>;
  release(name: string, token: string): Promise<void>;
  /** True when other processes may hold the lock (waiters must poll the store). */
  readonly shared: boolean;
}

export interface StorageBackend {
  readonly kind: 'memory' | 'redis' | 'store';
  /** True when several processes may share what is kept here. */
  readonly shared: boolean;
  /** The express-session Store the session blobs live in. It admits a signed-in blob only while its token record exists. */
  readonly sessions: Store;
  /**
   * For session stores that cannot check admission themselves (an app's `store`): resolves true while the
   * session's token record exists, extending the records to live `ttlMs` more. Checked, then written: not atomic.
   */
  admit?(sessionId: string, sess: SessionData, ttlMs: number): Promise<boolean>;

  /** In-process backends answer synchronously (the hot path); shared ones leave this out. */
  peekRecord?(sessionId: string): TokenRecord | undefined;
  getRecord(sessionId: string): Promise<TokenRecord | null>;
  /**
   * Compare-and-set: writes `record` only if the stored record is at version `expected` (null: no record may
   * exist). Resolves false, writing nothing, otherwise — a session ended meanwhile stays ended.
   */
  putRecord(sessionId: string, record: TokenRecord, expected: number | null, ttlMs: number): Promise<boolean>;
  deleteRecord(sessionId: string): Promise<void>;

  /** Set membership (the sub/sid index): atomic, unbounded; the set lives at least `ttlMs` more. */
  addMember(set: string, member: string, ttlMs: number): Promise<void>;
  removeMember(set: string, member: string): Promise<void>;
  members(set: string): Promise<string[]>;
  deleteSet(set: string): Promise<void>;

  /** Claims `key` for `ttlMs`; null when it is already claimed. */
  claim(key: string, ttlMs: number): Promise<Claim | null>;
  /** A short-lived shared value (the app's client-credentials token), null when absent or expired. */
  getValue(key: string): Promise<string | null>;
  /** Writes `value` for `ttlMs`, replacing what was there. */
  setValue(key: string, value: string, ttlMs: number): Promise<void>;
  readonly lock: RefreshLock;
  /** Where generated session-JWT keys are shared. */
  readonly keys: KeyBackend;

  /**
   * Present when a change made by any instance is pushed to this one (Redis client-side caching): `listener`
   * hears the session id whose token record changed (null: everything may have). Caches above this layer may
   * then keep what they read until told, instead of re-reading.
   */
  onInvalidate?(listener: (sessionId: string | null) => void): void;
  /** The Redis client, for the Redis backend (health checks, tests). */
  readonly redis?: RedisClientLike;
  /** Resolves when the backend can serve (Redis connected, startup checks done); never rejects. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** The in-process lock: with one process, the refresher's own single flight is the lock. */
export const localLock: RefreshLock = {
  shared: false,
  async acquire() {
    return 'local';
  },
  async release() {},
};
