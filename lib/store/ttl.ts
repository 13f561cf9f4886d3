/** How long the store keeps each kind of record: sessions to their idle/absolute deadline, records to their own. */
import type { SessionData } from 'express-session';
import type { Config } from '../config.js';

/** Anonymous sessions only carry login transactions, which are worthless after 10 minutes. */
export const ANONYMOUS_TTL_S = 600;

export interface OidcSessionState {
  /** Sign-in time, ms. */
  created: number;
  /** Last activity, ms; updated at most every `seenEvery(config)` ms so that reads stay read-only. */
  seen: number;
  sub: string;
  /** The IdP's session id, when it sent one. */
  sid?: string;
  /** Opaque id put in the session JWT instead of the session id. */
  jsid: string;
  /** The browser's User-Agent at sign-in, truncated ("your devices"). */
  ua?: string;
  /** The login ID token's `acr`, `amr` and `auth_time` (ms): `session.auth`, checked by `requiresAuth({ acr, maxAge })`. */
  acr?: string;
  amr?: string[];
  authTime?: number;
}

/** The index sets a signed-in session belongs to: its user's and, when the IdP named one, its IdP session's. */
export function indexSetsOf(state: Pick<OidcSessionState, 'sub' | 'sid'>): string[] {
  return state.sid !== undefined ? [`sub:${state.sub}`, `sid:${state.sid}`] : [`sub:${state.sub}`];
}

/** Records outlive the session's own deadline by this much, so a session read at its last moment finds them. */
export const RECORD_SLACK_MS = 60_000;

/** Minimum time between two writes of `seen`: idle tracking precise to a minute without a write per request. */
export function seenEvery(config: Pick<Config, 'idleTimeout'>): number {
  return Math.min(60_000, (config.idleTimeout * 1000) / 10);
}

/** Deadline (ms) of a signed-in session: the earlier of idle and absolute. */
export function sessionDeadline(state: OidcSessionState, config: Pick<Config, 'idleTimeout' | 'absoluteTimeout'>): number {
  return Math.min(state.seen + config.idleTimeout * 1000, state.created + config.absoluteTimeout * 1000);
}

/** The `ttl` function given to the store (seconds). */
export function storeTtl(config: Pick<Config, 'idleTimeout' | 'absoluteTimeout'>): (sess: SessionData) => number {
  const slack = seenEvery(config);
  return (sess) => {
    const record = sess as SessionData & { exp?: number; oidc?: OidcSessionState };
    const now = Date.now();
    if (typeof record.exp === 'number') return Math.ceil((record.exp - now) / 1000);
    const state = record.oidc;
    if (!state) return ANONYMOUS_TTL_S;
    // The slack covers the interval between two writes of `seen`; the session itself checks the exact deadline.
    const end = Math.min(state.seen + config.idleTimeout * 1000, state.created + config.absoluteTimeout * 1000) + slack;
    return Math.ceil((end - now) / 1000);
  };
}
