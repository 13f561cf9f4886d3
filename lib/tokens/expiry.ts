/** When to refresh: `leeway` seconds before expiry, but never earlier than half the token's lifetime. */
import type { TokenRecord } from './token-store.js';

export function refreshDue(record: TokenRecord, leewaySeconds: number, now = Date.now()): boolean {
  if (!record.refreshToken || record.accessTokenExpires === undefined) return false;
  const lifetime = record.accessTokenIssued !== undefined ? record.accessTokenExpires - record.accessTokenIssued : Infinity;
  const leeway = Math.min(leewaySeconds * 1000, lifetime / 2);
  return record.accessTokenExpires - now <= leeway;
}

/** During a back-off after a failed attempt no new grant is sent. */
export function inBackoff(record: TokenRecord, now = Date.now()): boolean {
  return record.retryAt !== undefined && record.retryAt > now;
}

/** 1 s, 2 s, 4 s … capped at 60 s. */
export function backoffDelay(attempts: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attempts - 1));
}
