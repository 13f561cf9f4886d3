/**
 * `verifySessionJwt`: lets other services check a session JWT minted by this middleware, against the
 * app's `GET {basePath}/jwks.json` or against public keys they hold.
 */

import type { JWK, JWTPayload, JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';
import { AuthError, ErrorCodes } from './errors.js';
import { toPublicJwk } from './tokens/jwt-keys.js';

/** Options of {@link verifySessionJwt}. Give exactly one of `jwksUrl` and `keys`. */
export interface VerifySessionJwtOptions {
  /** The app's JWKS, e.g. `https://app.example.com/auth/jwks.json`. Fetched with a 5 s timeout, cached per URL (10 min, re-fetched at once for an unknown `kid`). */
  jwksUrl?: string | URL;
  /** Public (or private: only their public halves are used) JWKs, as an array or a JWKS. Pass the same object on every call: the imported keys are cached per object. */
  keys?: JWK[] | { keys: JWK[] };
  /** Expected `iss`: the app's `baseURL`. Default: not checked (set it). */
  issuer?: string;
  /** Expected `aud` (the app's `clientId` unless configured otherwise). Default: not checked (set it). */
  audience?: string | string[];
  /** Accepted `alg` values. Default `['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256']`; `none` and HS* are refused. */
  algorithms?: string[];
  /** Seconds of clock skew tolerated for `exp`/`iat`/`nbf`. Default 0. */
  clockTolerance?: number;
}

/** Claims of a verified session JWT. */
export type SessionJwtClaims = JWTPayload & { sub: string; sid: string };

const DEFAULT_ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];
const REMOTE_TIMEOUT_MS = 5_000;
const MAX_REMOTE_SETS = 100;

// One remote set per URL, so its cache and cooldown work across calls.
const remoteSets = new Map<string, JWTVerifyGetKey>();
const localSets = new WeakMap<object, JWTVerifyGetKey>();

/**
 * Verifies a session JWT minted by this middleware (signature, `typ: JWT`, `exp`, `iat`, `sub`, `sid`,
 * and `iss`/`aud` when given) and resolves to its claims.
 *
 * @throws TypeError for bad options (neither or both of `jwksUrl`/`keys`, a symmetric key, `none`/HS* in `algorithms`)
 * @throws AuthError `ERR_JWT_EXPIRED` (401) for an expired JWT, `ERR_JWT_INVALID` (401) for anything else
 *   (including an unreachable JWKS); the jose error is the `cause`.
 * @example
 * const claims = await verifySessionJwt(token, {
 *   jwksUrl: 'https://app.example.com/auth/jwks.json', issuer: 'https://app.example.com', audience: 'my-app',
 * });
 * claims.sub; // the user
 */
export async function verifySessionJwt(token: string, options: VerifySessionJwtOptions): Promise<SessionJwtClaims> {
  const keySet = resolveKeySet(options);
  const algorithms = checkAlgorithms(options.algorithms ?? DEFAULT_ALGORITHMS);
  if (typeof token !== 'string' || token === '') {
    throw new AuthError(ErrorCodes.JWT_INVALID, 401, 'Invalid session JWT: no token.');
  }
  try {
    const { payload } = await jwtVerify(token, keySet, {
      algorithms,
      typ: 'JWT',
      requiredClaims: ['sub', 'sid', 'iat', 'exp'],
      ...(options.issuer !== undefined && { issuer: options.issuer }),
      ...(options.audience !== undefined && { audience: options.audience }),
      ...(options.clockTolerance !== undefined && { clockTolerance: options.clockTolerance }),
    });
    // jose checks presence only; the session JWT's sub and sid are strings.
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string' || !payload.sub || !payload.sid) {
      throw new AuthError(ErrorCodes.JWT_INVALID, 401, 'Invalid session JWT: sub and sid must be non-empty strings.');
    }
    return payload as SessionJwtClaims;
  } catch (err) {
    if (err instanceof AuthError) throw err;
    if ((err as { code?: unknown }).code === 'ERR_JWT_EXPIRED') {
      throw new AuthError(ErrorCodes.JWT_EXPIRED, 401, 'The session JWT has expired.', { cause: err });
    }
    throw new AuthError(ErrorCodes.JWT_INVALID, 401, `Invalid session JWT: ${(err as Error).message}`, { cause: err });
  }
}

function resolveKeySet(options: VerifySessionJwtOptions): JWTVerifyGetKey {
  const { jwksUrl, keys } = options ?? {};
  if ((jwksUrl === undefined) === (keys === undefined)) {
    throw new TypeError('verifySessionJwt: give exactly one of jwksUrl and keys.');
  }
  if (jwksUrl !== undefined) {
    const url = new URL(jwksUrl); // throws TypeError for a malformed URL
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('verifySessionJwt: jwksUrl must be http(s).');
    let set = remoteSets.get(url.href);
    if (!set) {
      set = createRemoteJWKSet(url, { timeoutDuration: REMOTE_TIMEOUT_MS });
      if (remoteSets.size >= MAX_REMOTE_SETS) remoteSets.delete(remoteSets.keys().next().value as string);
      remoteSets.set(url.href, set);
    }
    return set;
  }
  const cacheKey = keys as object;
  let set = localSets.get(cacheKey);
  if (!set) {
    const list = Array.isArray(keys) ? keys : keys?.keys;
    if (!Array.isArray(list) || list.length === 0)
      throw new TypeError('verifySessionJwt: keys must be a non-empty array of JWKs or a JWKS.');
    // Public halves only: a private JWK imports as a signing key, and a symmetric one must never verify.
    set = createLocalJWKSet({ keys: list.map(toPublicJwk) });
    localSets.set(cacheKey, set);
  }
  return set;
}

function checkAlgorithms(algorithms: string[]): string[] {
  if (!Array.isArray(algorithms) || algorithms.length === 0) throw new TypeError('verifySessionJwt: algorithms must be a non-empty array.');
  for (const alg of algorithms) {
    if (typeof alg !== 'string' || alg.toLowerCase() === 'none' || /^HS/i.test(alg)) {
      throw new TypeError(
        `verifySessionJwt: algorithm ${JSON.stringify(alg)} is not allowed (session JWTs are signed with asymmetric keys).`,
      );
    }
  }
  return algorithms;
}
