/**
 * Step-up authentication: what a route asks of the sign-in (`acr`, `max_age`), whether a session or a fresh
 * ID token meets it (OIDC Core §3.1.3.7), and how a refusal is told to an API client (RFC 9470).
 */
import { ConfigError } from '../errors.js';
import type { SessionAuth } from '../types.js';
import { ID_TOKEN_LEEWAY } from './id-token.js';
import { MAX_MAX_AGE } from './login-params.js';

export interface AuthRequirement {
  /** Acceptable `acr` values, in order of preference. */
  acr?: readonly string[];
  /** Seconds since the user last authenticated at the IdP. */
  maxAge?: number;
}

/** Checks requiresAuth()'s `acr` / `maxAge` once, at startup. */
export function authRequirement(acr: string | readonly string[] | undefined, maxAge: number | undefined): AuthRequirement {
  const out: AuthRequirement = {};
  if (acr !== undefined) {
    const list = typeof acr === 'string' ? [acr] : acr;
    if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string' && /^[\x21-\x7e]+$/.test(v))) {
      throw new ConfigError(
        `requiresAuth(): "acr" must be an acr value or a non-empty array of them (visible ASCII, no spaces); got ${JSON.stringify(acr)}`,
      );
    }
    out.acr = [...list];
  }
  if (maxAge !== undefined) {
    if (!Number.isInteger(maxAge) || maxAge < 0 || maxAge > MAX_MAX_AGE) {
      throw new ConfigError(`requiresAuth(): "maxAge" must be a whole number of seconds from 0 to ${MAX_MAX_AGE}; got ${String(maxAge)}`);
    }
    out.maxAge = maxAge;
  }
  return out;
}

/** Whether the session's sign-in meets the requirement (an unknown acr or auth_time meets none). */
export function satisfies(auth: SessionAuth | undefined, need: AuthRequirement, now = Date.now()): boolean {
  if (need.acr && (auth?.acr === undefined || !need.acr.includes(auth.acr))) return false;
  if (need.maxAge !== undefined && (auth?.authTime === undefined || now - auth.authTime > need.maxAge * 1000)) return false;
  return true;
}

/** The login query that asks the IdP for it. */
export function stepUpQuery(need: AuthRequirement): string {
  let q = '';
  if (need.acr) q += `&acr_values=${encodeURIComponent(need.acr.join(' '))}`;
  if (need.maxAge !== undefined) q += `&max_age=${need.maxAge}`;
  return q;
}

/** RFC 9470 §3: `Bearer error="insufficient_user_authentication", acr_values="…", max_age=…`. */
export function stepUpChallenge(need: AuthRequirement): string {
  let header = 'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required"';
  if (need.acr) header += `, acr_values="${need.acr.join(' ').replace(/["\\]/g, '\\$&')}"`;
  if (need.maxAge !== undefined) header += `, max_age=${need.maxAge}`;
  return header;
}

/**
 * OIDC Core §3.1.3.7 items 11–12 for a login that asked for `acr_values` / `max_age`: why its ID token does not
 * answer the request, or undefined when it does. `issued` is when the login started (ms): the IdP measured
 * max_age from about then.
 */
export function unmetByIdToken(
  asked: { acrValues?: string; maxAge?: number; issued?: number },
  claims: Readonly<Record<string, unknown>>,
  now = Date.now(),
): string | undefined {
  if (asked.acrValues !== undefined) {
    const wanted = asked.acrValues.split(' ');
    if (typeof claims.acr !== 'string' || !wanted.includes(claims.acr)) {
      return `the identity provider signed the user in with acr ${typeof claims.acr === 'string' ? `"${claims.acr}"` : '(none)'}, not one of those asked for`;
    }
  }
  if (asked.maxAge !== undefined) {
    if (typeof claims.auth_time !== 'number' || !Number.isFinite(claims.auth_time))
      return 'the ID token has no auth_time, which max_age requires';
    const from = (asked.issued ?? now) - (asked.maxAge + ID_TOKEN_LEEWAY) * 1000;
    if (claims.auth_time * 1000 < from) return 'the identity provider did not re-authenticate the user within max_age';
  }
  return undefined;
}

/** The sign-in facts kept beside the user: `acr`, `amr`, `auth_time` (as ms) of the login's ID token. */
export function sessionAuthOf(claims: Readonly<Record<string, unknown>>): SessionAuth {
  const auth: SessionAuth = {};
  if (typeof claims.acr === 'string') auth.acr = claims.acr;
  if (Array.isArray(claims.amr) && claims.amr.every((m) => typeof m === 'string')) auth.amr = claims.amr.slice(0, 16);
  if (typeof claims.auth_time === 'number' && Number.isFinite(claims.auth_time)) auth.authTime = claims.auth_time * 1000;
  return auth;
}
