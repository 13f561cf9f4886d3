/**
 * Mints the session JWT (`jwt`, `jwtExpires`, `jwtPayload`) and caches it per session, so a request
 * costs a Map lookup, not a signature.
 */

import type { JWK } from 'jose';
import { SignJWT } from 'jose';
import type { Keyring } from './jwt-keys.js';

/** Options of {@link createSessionJwt}. */
export interface SessionJwtOptions {
  /** `iss` claim: the app's `baseURL`. */
  issuer: string;
  /** `aud` claim; the caller's default is the `clientId`. */
  audience: string;
  /** Lifetime in seconds (`jwt.ttl`, default 300 at the option level). */
  ttl: number;
  /** From `createKeyring()`. */
  keyring: Keyring;
  /** Most cached JWTs kept (least recently used dropped first). Default 10 000. */
  maxEntries?: number;
}

import type { SessionJwtPayload } from '../types.js';

export type { SessionJwtPayload };

/** A minted session JWT and what the session object exposes of it. Frozen: it is shared by every request of the session. */
export interface MintedJwt {
  jwt: string;
  /** `exp` in ms since the epoch. */
  jwtExpires: number;
  jwtPayload: SessionJwtPayload;
}

/** The session JWT minter returned by {@link createSessionJwt}. */
export interface SessionJwt {
  /**
   * Returns the cached JWT for this `(sessionKey, sub, sid)` while it has more than ~10 % of its ttl left
   * (at least 5 s, at most half the ttl), otherwise mints a new one. Concurrent calls for one session share one mint.
   * @throws TypeError for an empty `sub` or `sid`; AuthError `ERR_STORE_UNAVAILABLE` when the keys cannot be loaded
   */
  get(sessionKey: string, claims: { sub: string; sid: string }): Promise<MintedJwt>;
  /** The cached JWT when `get` would return it without minting; lets the hot path skip a promise. */
  peek(sessionKey: string, claims: { sub: string; sid: string }): MintedJwt | undefined;
  /** Drops the cached JWT of a session (sign-out, session regenerated). */
  forget(sessionKey: string): void;
  /** The public JWKS served at `GET {basePath}/jwks.json`: no private member, each key with `kid`, `alg`, `use: 'sig'`. */
  jwks(): Promise<{ keys: JWK[] }>;
}

/**
 * Creates the session JWT minter.
 *
 * @example
 * const sessionJwt = createSessionJwt({ issuer: baseURL, audience: clientId, ttl: 300, keyring });
 * const { jwt, jwtExpires, jwtPayload } = await sessionJwt.get(req.sessionID, { sub, sid });
 */
export function createSessionJwt(opts: SessionJwtOptions): SessionJwt {
  const { issuer, audience, ttl, keyring } = opts;
  const maxEntries = opts.maxEntries ?? 10_000;
  if (!(Number.isFinite(ttl) && ttl >= 1)) throw new TypeError(`jwt.ttl must be a number of seconds >= 1 (got ${String(ttl)}).`);
  if (!issuer || !audience) throw new TypeError('The session JWT needs an issuer (baseURL) and an audience (clientId).');
  if (!(Number.isInteger(maxEntries) && maxEntries >= 1)) throw new TypeError('maxEntries must be a positive integer.');

  const ttlSeconds = Math.floor(ttl);
  // Re-mint early so a JWT handed out is never about to expire in the receiver's hands.
  const minRemainingMs = Math.min(Math.max(ttlSeconds * 100, 5_000), ttlSeconds * 500);

  const cache = new Map<string, MintedJwt>();
  const inflight = new Map<string, Promise<MintedJwt>>();

  const mint = async (sub: string, sid: string): Promise<MintedJwt> => {
    const keys = await keyring.get();
    const iat = Math.floor(Date.now() / 1000);
    const exp = iat + ttlSeconds;
    const jwt = await new SignJWT({ sid })
      .setProtectedHeader({ alg: keys.alg, kid: keys.signing.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(sub)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(keys.signing.key);
    const jwtPayload = Object.freeze({ iss: issuer, aud: audience, sub, sid, iat, exp });
    return Object.freeze({ jwt, jwtExpires: exp * 1000, jwtPayload });
  };

  const peek = (sessionKey: string, sub: string, sid: string): MintedJwt | undefined => {
    const hit = cache.get(sessionKey);
    if (hit && hit.jwtPayload.sub === sub && hit.jwtPayload.sid === sid && hit.jwtExpires - Date.now() > minRemainingMs) {
      // Re-insert: Map iteration order is insertion order, so the first key is the least recently used.
      cache.delete(sessionKey);
      cache.set(sessionKey, hit);
      return hit;
    }
    return undefined;
  };

  return {
    peek(sessionKey, { sub, sid }) {
      return peek(sessionKey, sub, sid);
    },

    async get(sessionKey, { sub, sid }) {
      if (typeof sub !== 'string' || !sub || typeof sid !== 'string' || !sid) {
        throw new TypeError('The session JWT needs a non-empty sub and sid.');
      }
      const hit = peek(sessionKey, sub, sid);
      if (hit) return hit;
      const flightKey = `${sessionKey}\u0000${sub}\u0000${sid}`;
      let pending = inflight.get(flightKey);
      if (!pending) {
        pending = mint(sub, sid)
          .then((minted) => {
            if (inflight.get(flightKey) === pending) {
              cache.delete(sessionKey);
              cache.set(sessionKey, minted);
              if (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
            }
            return minted;
          })
          .finally(() => {
            if (inflight.get(flightKey) === pending) inflight.delete(flightKey);
          });
        inflight.set(flightKey, pending);
      }
      return pending;
    },

    forget(sessionKey) {
      cache.delete(sessionKey);
      // A mint in flight must not re-fill the cache of a forgotten session.
      for (const key of inflight.keys()) if (key.startsWith(`${sessionKey}\u0000`)) inflight.delete(key);
    },

    async jwks() {
      const { publicJwks } = await keyring.get();
      return { keys: publicJwks.keys.map((k) => ({ ...k })) };
    },
  };
}
