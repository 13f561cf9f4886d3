/**
 * Cross-instance mutual exclusion for the refresh grant. With Redis: `SET lock:<sid> <token> NX PX ttl`,
 * released only by its holder (compare-and-delete), so a crashed holder delays the next refresh by at most
 * the TTL. Without Redis there is one instance, and the in-process single flight is the lock.
 */
import { randomBytes } from 'node:crypto';
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
