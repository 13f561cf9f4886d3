/** When to refresh, how long to back off after a failure, and how long an access token lives. */
import { decodeJwt } from 'jose';
import type { TokenRecord } from '../store/backend.js';

export function refreshDue(record: TokenRecord, leewaySeconds: number, now = Date.now()): boolean {
  if (!record.refreshToken || record.accessTokenExpires === undefined) return false;
  const lifetime = record.accessTokenIssued !== undefined ? record.accessTokenExpires - record.accessTokenIssued : Infinity;
  const leeway = Math.min(leewaySeconds * 1000, lifetime / 2);
  return record.accessTokenExpires - now <= leeway;
}

/** During a back-off after a failed attempt no new grant is sent — unless the IdP has answered a grant since. */
export function inBackoff(record: TokenRecord, healthySince: number, now = Date.now()): boolean {
  return record.retryAt !== undefined && record.retryAt > now && !(healthySince > (record.failedAt ?? 0));
}

/** BACKOFF_CAP_MS: the longest wait between two attempts of one session. */
export const BACKOFF_CAP_MS = 15_000;

/** 1 s, 2 s, 4 s … capped, each with ±50 % jitter so sessions that failed together do not retry together. */
export function backoffDelay(attempts: number, random = Math.random()): number {
  const base = Math.min(BACKOFF_CAP_MS, 1000 * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.5 + random));
}

const MIN_LIFETIME_S = 1;
const MAX_LIFETIME_S = 86_400;

/**
 * Expiry (ms) of an access token obtained at `now`: `expires_in` when usable, else the token's own `exp`
 * when it is a JWT, else `fallbackSeconds`; clamped to 1 s … 24 h, so no token lives forever for the session.
 */
export function accessTokenExpiry(expiresIn: number | undefined, accessToken: string, now: number, fallbackSeconds: number): number {
  let seconds = expiresIn !== undefined && Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : undefined;
  if (seconds === undefined) {
    try {
      const { exp } = decodeJwt(accessToken);
      if (typeof exp === 'number' && Number.isFinite(exp)) seconds = exp - now / 1000;
    } catch {
      // Opaque token: nothing to read.
    }
  }
  seconds ??= fallbackSeconds;
  return now + Math.round(Math.min(MAX_LIFETIME_S, Math.max(MIN_LIFETIME_S, seconds)) * 1000);
}
