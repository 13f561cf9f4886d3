/**
 * Logout tokens (OIDC Back-Channel Logout 1.0 §2.4, §2.6), verified with jose like an ID token — signature
 * from the IdP's JWKS with an asymmetric-only algorithm allowlist, `iss`, `aud`, `iat`, `exp` — plus the
 * logout rules: the back-channel member in `events`, `sub` or `sid`, no `nonce`, a `jti` for replay
 * detection, and an explicit `typ` (logout+jwt or JWT) where one is set. Replay itself is checked by the
 * caller (see jti-replay.ts) only after everything here passed, so forged tokens cannot fill that memory.
 */
import { type JWTPayload, type JWTVerifyGetKey, errors as joseErrors, jwtVerify, type ProtectedHeaderParameters } from 'jose';
import { AuthError, ErrorCodes } from '../errors.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * Asymmetric algorithms only (the same list as ID tokens): `none` and HMAC never verify, so neither an
 * unsigned token nor one "signed" with the IdP's public key as an HMAC secret can pass.
 */
const ALLOWED = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** Seconds of clock skew tolerated on `exp` and `iat`, as for ID tokens. */
export const LOGOUT_TOKEN_LEEWAY = 60;
/**
 * Oldest `iat` accepted (s). Bounds how long a `jti` must be remembered even when `exp` is far away or
 * absent; the OpenID conformance suite uses the same day-long bound.
 */
export const LOGOUT_TOKEN_MAX_AGE = 86_400;
/** A token without `exp` is treated as expiring this long after `iat` (s); OPs are told to use ~2 minutes. */
export const LOGOUT_TOKEN_DEFAULT_TTL = 600;
/** A real logout token is well under 2 KB; anything near this is not one and is not worth parsing. */
const MAX_TOKEN_LENGTH = 16_384;
/** Explicit typing (RFC 8725 §3.11) against cross-JWT confusion; media types compare case-insensitively. */
const TYPES = new Set(['logout+jwt', 'application/logout+jwt', 'jwt', 'application/jwt']);

export interface LogoutTokenExpectations {
  issuer: string;
  clientId: string;
  /** IdP-advertised algorithms (`id_token_signing_alg_values_supported`); intersected with the allowlist. */
  algorithms?: string[];
  /** Clock in ms, for tests. */
  now?: number;
}

export interface LogoutClaims {
  sub?: string;
  sid?: string;
  jti: string;
  /** Seconds since the epoch after which this token can no longer be accepted: its `jti` must be kept until then. */
  acceptableUntil: number;
}

/** Resolves to the token's subject; rejects with `ERR_LOGOUT_TOKEN_INVALID` (400), or 503/504 when the IdP's keys cannot be loaded. */
export async function verifyLogoutToken(token: unknown, keys: JWTVerifyGetKey, expect: LogoutTokenExpectations): Promise<LogoutClaims> {
  if (typeof token !== 'string' || token === '') throw invalid('logout_token is missing');
  if (token.length > MAX_TOKEN_LENGTH) throw invalid('logout_token is too long');
  const advertised = expect.algorithms?.filter((a) => ALLOWED.includes(a));
  const now = (expect.now ?? Date.now()) / 1000;
  let payload: JWTPayload;
  let header: ProtectedHeaderParameters;
  try {
    ({ payload, protectedHeader: header } = await jwtVerify(token, keys, {
      issuer: expect.issuer,
      audience: expect.clientId,
      algorithms: advertised && advertised.length > 0 ? advertised : ALLOWED,
      clockTolerance: LOGOUT_TOKEN_LEEWAY,
      currentDate: new Date(now * 1000),
      requiredClaims: ['iat', 'jti'],
    }));
  } catch (err) {
    throw keySetError(err) ?? invalid(`logout_token rejected: ${safeMessage(err)}`, err);
  }
  if (header.typ !== undefined && !TYPES.has(String(header.typ).toLowerCase())) {
    throw invalid('logout_token typ must be logout+jwt');
  }
  const iat = payload.iat as number;
  if (iat > now + LOGOUT_TOKEN_LEEWAY) throw invalid('logout_token iat is in the future');
  if (iat < now - LOGOUT_TOKEN_MAX_AGE) throw invalid('logout_token iat is too old');
  const until =
    Math.min(typeof payload.exp === 'number' ? payload.exp : iat + LOGOUT_TOKEN_DEFAULT_TTL, iat + LOGOUT_TOKEN_MAX_AGE) +
    LOGOUT_TOKEN_LEEWAY;
  if (until < now) throw invalid('logout_token is expired');

  const events = payload.events;
  if (!isObject(events) || !Object.hasOwn(events, BACKCHANNEL_LOGOUT_EVENT) || !isObject(events[BACKCHANNEL_LOGOUT_EVENT])) {
    throw invalid(`logout_token events must contain ${BACKCHANNEL_LOGOUT_EVENT} with an object value`);
  }
  // A nonce would make it an ID token: refusing it stops an ID token from being replayed as a logout token.
  if (Object.hasOwn(payload, 'nonce')) throw invalid('logout_token must not contain a nonce');
  const sub = optionalString(payload, 'sub');
  const sid = optionalString(payload, 'sid');
  if (sub === undefined && sid === undefined) throw invalid('logout_token needs sub or sid');
  if (typeof payload.jti !== 'string' || payload.jti === '') throw invalid('logout_token jti must be a non-empty string');
  return { sub, sid, jti: payload.jti, acceptableUntil: Math.ceil(until) };
}

export function invalid(message: string, cause?: unknown): AuthError {
  return new AuthError(ErrorCodes.LOGOUT_TOKEN_INVALID, 400, message, { cause });
}

/** The IdP's key set being unreachable is our problem, not the token's: 503/504 so the IdP may retry. */
function keySetError(err: unknown): AuthError | undefined {
  if (err instanceof joseErrors.JWKSTimeout) {
    return new AuthError(ErrorCodes.IDP_TIMEOUT, 504, "logout_token: the provider's key set did not load in time", { cause: err });
  }
  // fetch() failures are TypeErrors with a cause; jose's own non-200 JWKS answer is a plain JOSEError.
  const network = err instanceof TypeError && (err as { cause?: unknown }).cause !== undefined;
  if (network || (err as { code?: string })?.code === 'ERR_JOSE_GENERIC') {
    return new AuthError(ErrorCodes.IDP_UNAVAILABLE, 503, "logout_token: the provider's key set could not be loaded", { cause: err });
  }
  return undefined;
}

/** jose's messages name the failed check and never echo the token; anything else is summarised. */
function safeMessage(err: unknown): string {
  return err instanceof joseErrors.JOSEError ? err.message : 'malformed token';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(payload: JWTPayload, claim: 'sub' | 'sid'): string | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw invalid(`logout_token ${claim} must be a non-empty string`);
  return value;
}
