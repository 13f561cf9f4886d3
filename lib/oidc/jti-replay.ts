/**
 * Memory of the logout tokens already used (their `jti`), until each could no longer be accepted anyway.
 * With Redis the memory is shared (`SET NX EX`), so a token replayed to another instance is caught too;
 * without it each process remembers its own, bounded in size. Keys are hashes: a `jti` is IdP-chosen text.
 */
import { createHash, randomBytes } from 'node:crypto';
import { AuthError, ErrorCodes } from '../errors.js';
import type { RedisClientLike } from '../types.js';

export interface ReplayGuard {
  /** Records the jti until `untilSec` (epoch seconds); null when it was already recorded (a replay). */
  claim(jti: string, untilSec: number): Promise<Claim | null>;
}

export interface Claim {
  /** Forgets this use again (the logout could not be carried out), so that the IdP's retry of the same token is accepted. */
  release(): Promise<void>;
}

function keyOf(jti: string): string {
  return createHash('sha256').update(jti).digest('base64url');
}

/** Per-process memory; the oldest entries go first when full (only IdP-signed tokens ever reach it). */
export function memoryReplayGuard(max = 10_000): ReplayGuard {
  const seen = new Map<string, { until: number }>();
  const prune = (now: number): void => {
    for (const [key, entry] of seen) if (entry.until <= now) seen.delete(key);
    while (seen.size >= max) seen.delete(seen.keys().next().value as string);
  };
  return {
    async claim(jti, untilSec) {
      const key = keyOf(jti);
      const now = Date.now();
      const existing = seen.get(key);
      if (existing && existing.until > now) return null;
      if (seen.size >= max) prune(now);
      const entry = { until: untilSec * 1000 };
      seen.delete(key);
      seen.set(key, entry);
      return {
        async release() {
          if (seen.get(key) === entry) seen.delete(key);
        },
      };
    },
  };
}

// Deletes the key only if it still holds our value: a release never forgets another instance's claim.
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/** Shared memory in Redis; a slow or dead Redis answers 503 within `timeoutMs`, never "not seen". */
export function redisReplayGuard(client: RedisClientLike, timeoutMs: number, prefix = 'oidc-session:jti:'): ReplayGuard {
  return {
    async claim(jti, untilSec) {
      const key = prefix + keyOf(jti);
      const value = randomBytes(12).toString('base64url');
      const release = () => bounded(client.eval(RELEASE, { keys: [key], arguments: [value] }), timeoutMs, 'release').then(() => undefined);
      const ttl = Math.max(1, Math.ceil(untilSec - Date.now() / 1000));
      let ok: unknown;
      try {
        ok = await bounded(client.set(key, value, { NX: true, EX: ttl }), timeoutMs, 'set');
      } catch (err) {
        // A timed-out SET may still run when Redis wakes up; undo it then (same connection, so in order),
        // or the IdP's retry of this token would be refused as a replay.
        release().catch(() => undefined);
        throw err;
      }
      return ok === 'OK' ? { release } : null;
    },
  };
}

async function bounded<T>(call: Promise<T>, timeoutMs: number, op: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  // A late rejection after the timeout won must not surface as an unhandled rejection.
  call.catch(() => undefined);
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503,
      `logout token replay check (${op}) did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([call, timeout]);
  } catch (err) {
    if (err instanceof AuthError) throw err;
    throw new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, `logout token replay check (${op}) failed`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
