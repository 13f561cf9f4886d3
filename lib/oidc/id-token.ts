/**
 * ID token verification with jose. passport-openidconnect only base64-decodes the token; we check the
 * signature against the IdP's JWKS (algorithm allowlist, never `none` or HMAC), iss, aud/azp, exp, iat, nonce.
 */
import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AuthError, ErrorCodes } from '../errors.js';

/** Asymmetric algorithms only: an HMAC "signature" made with the IdP's public key must never verify. */
const ALLOWED = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** Seconds of clock skew tolerated on exp and iat. */
export const ID_TOKEN_LEEWAY = 60;

export interface IdTokenExpectations {
  issuer: string;
  clientId: string;
  /** The nonce of the login transaction; absent for tokens from a refresh. */
  nonce?: string;
  /** On refresh: the subject of the session, which must not change (OIDC Core §12.2). */
  sub?: string;
  /** IdP-advertised algorithms; intersected with the allowlist. */
  algorithms?: string[];
}

export async function verifyIdToken(idToken: string, keys: JWTVerifyGetKey, expect: IdTokenExpectations): Promise<JWTPayload & { sub: string }> {
  const algorithms = expect.algorithms?.filter((a) => ALLOWED.includes(a));
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, keys, {
      issuer: expect.issuer,
      audience: expect.clientId,
      algorithms: algorithms && algorithms.length > 0 ? algorithms : ALLOWED,
      clockTolerance: ID_TOKEN_LEEWAY,
      requiredClaims: ['sub', 'iat', 'exp'],
    }));
  } catch (err) {
    if (err instanceof joseErrors.JWKSTimeout) {
      throw new AuthError(ErrorCodes.IDP_TIMEOUT, 504, 'ID token: the provider\'s key set did not load in time', { cause: err });
    }
    if (err instanceof TypeError || (err as { code?: string }).code === 'ERR_JOSE_GENERIC') {
      throw new AuthError(ErrorCodes.IDP_UNAVAILABLE, 503, 'ID token: the provider\'s key set could not be loaded', { cause: err });
    }
    throw invalid(`ID token rejected: ${(err as Error).message}`, err);
  }
  const aud = payload.aud;
  if (Array.isArray(aud) && aud.length > 1 && payload.azp !== expect.clientId) throw invalid('ID token has several audiences and no matching azp');
  if (payload.azp !== undefined && payload.azp !== expect.clientId) throw invalid('ID token azp is not this client');
  if ((payload.iat as number) > Date.now() / 1000 + ID_TOKEN_LEEWAY) throw invalid('ID token iat is in the future');
  if (typeof payload.sub !== 'string' || payload.sub === '') throw invalid('ID token has no sub');
  if (expect.nonce !== undefined && payload.nonce !== expect.nonce) throw invalid('ID token nonce does not match the login request');
  if (expect.sub !== undefined && payload.sub !== expect.sub) throw invalid('refreshed ID token is for another subject');
  return payload as JWTPayload & { sub: string };
}

function invalid(message: string, cause?: unknown): AuthError {
  return new AuthError(ErrorCodes.ID_TOKEN_INVALID, 401, message, { cause });
}
