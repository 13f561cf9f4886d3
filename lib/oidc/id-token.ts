/**
 * ID token verification with jose. passport-openidconnect only base64-decodes the token; we check the
 * signature (algorithm allowlist: the IdP's asymmetric ones, or `idTokenAlgorithms`), iss, aud/azp, exp, iat, nonce.
 */
import { decodeProtectedHeader, type JWTPayload, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose';
import { AuthError, ErrorCodes } from '../errors.js';

/** The default allowlist: an HMAC "signature" made with the IdP's public key must never verify. */
export const ASYMMETRIC_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
/** Opt-in through `idTokenAlgorithms`; keyed with the client secret, never with a JWKS key. */
export const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
/** Every name `idTokenAlgorithms` accepts. */
export const ID_TOKEN_ALGS: readonly string[] = [...ASYMMETRIC_ALGS, ...HMAC_ALGS];
/** Seconds of clock skew tolerated on exp and iat. */
export const ID_TOKEN_LEEWAY = 60;

export interface IdTokenExpectations {
  issuer: string;
  clientId: string;
  /** The nonce of the login transaction; absent for tokens from a refresh. */
  nonce?: string;
  /** On refresh: the subject of the session, which must not change (OIDC Core §12.2). */
  sub?: string;
  /** The accepted algorithms, from acceptedAlgorithms(). */
  algorithms: readonly string[];
  /** The key of HS* tokens (OIDC Core §10.1); used only when `algorithms` lists one. */
  clientSecret?: string;
}

/** What login and refresh verify ID tokens with, from the options and the discovered metadata. */
export function idTokenPolicy(
  config: { issuer: string; clientId: string; clientSecret: string; idTokenAlgorithms?: readonly string[] },
  meta: { id_token_signing_alg_values_supported?: unknown },
): Pick<IdTokenExpectations, 'issuer' | 'clientId' | 'algorithms' | 'clientSecret'> {
  return {
    issuer: config.issuer,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    algorithms: acceptedAlgorithms(config.idTokenAlgorithms, meta.id_token_signing_alg_values_supported),
  };
}

/** `idTokenAlgorithms` when set; else the asymmetric algorithms the IdP advertises; else every asymmetric one. */
export function acceptedAlgorithms(configured: readonly string[] | undefined, advertised: unknown): string[] {
  if (configured) return [...configured];
  const offered = Array.isArray(advertised) ? advertised.filter((a): a is string => isAsymmetric(a)) : [];
  return offered.length > 0 ? offered : [...ASYMMETRIC_ALGS];
}

/**
 * HS* JWTs are checked with the client secret, every other algorithm with the IdP's key set: an HMAC never
 * meets a JWKS key (which would let anyone holding the public key forge tokens).
 */
export function signatureKey(jwks: JWTVerifyGetKey, clientSecret: string | undefined): JWTVerifyGetKey {
  return (header, token) => {
    if (isHmac(header.alg)) {
      if (!clientSecret) throw new joseErrors.JWSSignatureVerificationFailed('no client secret to check an HMAC signature with');
      return new TextEncoder().encode(clientSecret);
    }
    return jwks(header, token);
  };
}

/** Why a JWT's algorithm is refused, in words that say what to change; undefined when it is accepted. */
export function refusedAlgorithm(what: string, alg: unknown, accepted: readonly string[]): string | undefined {
  if (typeof alg === 'string' && accepted.includes(alg)) return undefined;
  if (alg === undefined || alg === 'none') return `${what} is not signed (alg "none"), which is never accepted`;
  if (isHmac(alg)) {
    return (
      `${what} is signed with ${alg} (an HMAC keyed with the client secret), which is not accepted by default; ` +
      `if your provider is configured to sign this way, list it in the idTokenAlgorithms option, e.g. idTokenAlgorithms: ['RS256', '${alg}']`
    );
  }
  return (
    `${what} is signed with ${String(alg)}, not one of the accepted algorithms (${accepted.join(', ')}); ` +
    `set the idTokenAlgorithms option to the algorithms your provider signs with`
  );
}

export async function verifyIdToken(
  idToken: string,
  keys: JWTVerifyGetKey,
  expect: IdTokenExpectations,
): Promise<JWTPayload & { sub: string }> {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(idToken).alg;
  } catch (err) {
    throw invalid('ID token rejected: it is not a JWT', err);
  }
  const refused = refusedAlgorithm('ID token', alg, expect.algorithms);
  if (refused) throw invalid(refused);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, signatureKey(keys, expect.clientSecret), {
      issuer: expect.issuer,
      audience: expect.clientId,
      algorithms: [...expect.algorithms],
      clockTolerance: ID_TOKEN_LEEWAY,
      requiredClaims: ['sub', 'iat', 'exp'],
    }));
  } catch (err) {
    throw keySetError('ID token', err) ?? invalid(`ID token rejected: ${(err as Error).message}`, err);
  }
  const aud = payload.aud;
  if (Array.isArray(aud) && aud.length > 1 && payload.azp !== expect.clientId)
    throw invalid('ID token has several audiences and no matching azp');
  if (payload.azp !== undefined && payload.azp !== expect.clientId) throw invalid('ID token azp is not this client');
  if ((payload.iat as number) > Date.now() / 1000 + ID_TOKEN_LEEWAY) throw invalid('ID token iat is in the future');
  if (typeof payload.sub !== 'string' || payload.sub === '') throw invalid('ID token has no sub');
  if (expect.nonce !== undefined && payload.nonce !== expect.nonce) throw invalid('ID token nonce does not match the login request');
  if (expect.sub !== undefined && payload.sub !== expect.sub) throw invalid('refreshed ID token is for another subject');
  return payload as JWTPayload & { sub: string };
}

/** The IdP's key set failing to load is the IdP being down (503/504), not a bad token. */
export function keySetError(what: string, err: unknown): AuthError | undefined {
  if (err instanceof joseErrors.JWKSTimeout) {
    return new AuthError(ErrorCodes.IDP_TIMEOUT, 504, `${what}: the provider's key set did not load in time`, { cause: err });
  }
  if (err instanceof TypeError || (err as { code?: string }).code === 'ERR_JOSE_GENERIC') {
    return new AuthError(ErrorCodes.IDP_UNAVAILABLE, 503, `${what}: the provider's key set could not be loaded`, { cause: err });
  }
  return undefined;
}

function isAsymmetric(alg: unknown): boolean {
  return (ASYMMETRIC_ALGS as readonly unknown[]).includes(alg);
}

function isHmac(alg: unknown): boolean {
  return (HMAC_ALGS as readonly unknown[]).includes(alg);
}

function invalid(message: string, cause?: unknown): AuthError {
  return new AuthError(ErrorCodes.ID_TOKEN_INVALID, 401, message, { cause });
}
