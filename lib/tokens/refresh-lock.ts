/**
 * Cross-instance mutual exclusion for the refresh grant. With Redis: `SET lock:<sid> <token> NX PX ttl`,
 * released only by its holder (compare-and-delete), so a crashed holder delays the next refresh by at most
 * the TTL. Without Redis there is one instance, and the in-process single flight is the lock.
 */
import { randomBytes } from 'node:crypto';
import { AuthError, ErrorCodes, isAuthError } from '../errors.js';
import { debug } from '../events.js';
import type { RedisClientLike } from '../types.js';

export interface RefreshLock {
  /** Resolves to a release token, or null when another holder has it. */
  acquire(sid: string, ttlMs: number): Promise<string | null>;
  release(sid: string, token: string): Promise<void>;
  /** True when other processes may hold the lock (waiters must poll the store). */
  readonly shared: boolean;
}

export const localLock: RefreshLock = {
  shared: false,
  async acquire() { return 'local'; },
  async release() {},
};

const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

export function redisLock(client: RedisClientLike, prefix = 'oidc-session:lock:'): RefreshLock {
  return {
    shared: true,
    async acquire(sid, ttlMs) {
      const token = randomBytes(16).toString('base64url');
      const ok = await client.set(prefix + sid, token, { NX: true, PX: Math.ceil(ttlMs) });
      return ok === 'OK' ? token : null;
    },
    async release(sid, token) {
      await client.eval(RELEASE, { keys: [prefix + sid], arguments: [token] });
    },
  };
}

/**
 * The lock talks to Redis directly, not through the GuardedStore: without this bound a Redis that freezes
 * between the session read and the refresh would hang the request until Redis answers (node-redis has no
 * timeout for a command already written to the socket). A lock acquired after its caller gave up is released
 * at once, or it would block every refresh of that session for its whole TTL.
 */
export function boundedLock(lock: RefreshLock, timeoutMs: number): RefreshLock {
  const bound = <T>(op: string, pending: Promise<T>, late?: (value: T) => void): Promise<T> => new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, `refresh lock ${op} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    pending.then((value) => {
      clearTimeout(timer);
      if (timedOut) late?.(value);
      else resolve(value);
    }, (err: unknown) => {
      clearTimeout(timer);
      reject(isAuthError(err) ? err : new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, `refresh lock ${op} failed`, { cause: err }));
    });
  });
  return {
    shared: lock.shared,
    acquire: (sid, ttlMs) => bound('acquire', lock.acquire(sid, ttlMs), (token) => {
      if (token) lock.release(sid, token).catch((err: unknown) => debug('late lock release failed: %s', (err as Error).message));
    }),
    release: (sid, token) => bound('release', lock.release(sid, token)),
  };
}
