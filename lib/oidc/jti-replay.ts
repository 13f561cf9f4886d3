/**
 * Memory of the logout tokens already used (their `jti`), until each could no longer be accepted anyway.
 * With Redis the memory is shared (`SET NX EX`), so a token replayed to another instance is caught too;
 * without it each process remembers its own, bounded in size. Keys are hashes: a `jti` is IdP-chosen text.
 */
import { createHash } from 'node:crypto';
import { AuthError, ErrorCodes } from '../errors.js';
import type { RedisClientLike } from '../types.js';

export interface ReplayGuard {
  /** Records the jti until `untilSec` (epoch seconds); resolves to false when it was already recorded. */
  claim(jti: string, untilSec: number): Promise<boolean>;
  /** Forgets a jti whose logout could not be carried out, so that the IdP's retry of the same token is accepted. */
  release(jti: string): Promise<void>;
}

function keyOf(jti: string): string {
  return createHash('sha256').update(jti).digest('base64url');
}

/** Per-process memory; the oldest entries go first when full (only IdP-signed tokens ever reach it). */
export function memoryReplayGuard(max = 10_000): ReplayGuard {
  const seen = new Map<string, number>();
  const prune = (now: number): void => {
    for (const [key, until] of seen) if (until <= now) seen.delete(key);
    while (seen.size >= max) seen.delete(seen.keys().next().value as string);
  };
  return {
    async claim(jti, untilSec) {
      const key = keyOf(jti);
      const now = Date.now();
      const until = seen.get(key);
      if (until !== undefined && until > now) return false;
      if (seen.size >= max) prune(now);
      seen.delete(key);
      seen.set(key, untilSec * 1000);
      return true;
    },
    async release(jti) {
      seen.delete(keyOf(jti));
    },
  };
}

/** Shared memory in Redis; a slow or dead Redis answers 503 within `timeoutMs`, never "not seen". */
export function redisReplayGuard(client: RedisClientLike, timeoutMs: number, prefix = 'oidc-session:jti:'): ReplayGuard {
  return {
    async claim(jti, untilSec) {
      const ttl = Math.max(1, Math.ceil(untilSec - Date.now() / 1000));
      const ok = await bounded(client.set(prefix + keyOf(jti), '1', { NX: true, EX: ttl }), timeoutMs, 'set');
      return ok === 'OK';
    },
    async release(jti) {
      await bounded(client.del(prefix + keyOf(jti)), timeoutMs, 'del');
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
