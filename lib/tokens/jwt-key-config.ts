/** Checks the configured `jwt.keys` and `jwt.alg`: which algorithm each key can sign with, or a ConfigError. */
import type { JWK } from 'jose';
import { ConfigError } from '../errors.js';

/** Algorithms the session JWT can be signed with. All asymmetric: verifiers need only public keys. */
export const JWT_ALGS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'] as const;
export type JwtAlg = (typeof JWT_ALGS)[number];

export function checkAlg(alg: unknown, option: string): JwtAlg {
  if (typeof alg !== 'string' || !(JWT_ALGS as readonly string[]).includes(alg)) {
    throw new ConfigError(`${option} must be one of ${JWT_ALGS.join(', ')} (got ${JSON.stringify(alg)}).`);
  }
  return alg as JwtAlg;
}

/** The alg a key of this type can sign with: its own `alg`, else the default when it fits, else the natural one. */
function algFor(jwk: JWK, fallback: JwtAlg, option: string): JwtAlg {
  if (jwk.alg !== undefined) {
    const alg = checkAlg(jwk.alg, `${option}.alg`);
    if (!fits(jwk, alg)) throw new ConfigError(`${option}: alg ${alg} does not fit a ${describe(jwk)} key.`);
    return alg;
  }
  if (fits(jwk, fallback)) return fallback;
  const natural = JWT_ALGS.find((a) => fits(jwk, a));
  if (!natural) throw new ConfigError(`${option}: a ${describe(jwk)} key cannot sign with any of ${JWT_ALGS.join(', ')}.`);
  return natural;
}

function fits(jwk: JWK, alg: JwtAlg): boolean {
  switch (alg) {
    case 'ES256':
      return jwk.kty === 'EC' && jwk.crv === 'P-256';
    case 'ES384':
      return jwk.kty === 'EC' && jwk.crv === 'P-384';
    case 'EdDSA':
      return jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
    case 'RS256':
    case 'PS256':
      return jwk.kty === 'RSA';
  }
}

function describe(jwk: JWK): string {
  return jwk.crv ? `${String(jwk.kty)} ${jwk.crv}` : String(jwk.kty);
}

export function checkConfigured(keys: unknown, fallback: JwtAlg): Array<{ jwk: JWK; alg: JwtAlg }> {
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new ConfigError('jwt.keys must be a non-empty array of private JWKs (newest first), or be left out to use a generated key.');
  }
  return keys.map((jwk: unknown, i) => {
    const option = `jwt.keys[${i}]`;
    if (typeof jwk !== 'object' || jwk === null || typeof (jwk as JWK).kty !== 'string') {
      throw new ConfigError(`${option} must be a JWK object (parse JSON strings first).`);
    }
    const k = jwk as JWK;
    if (k.kty === 'oct') {
      throw new ConfigError(
        `${option} is a symmetric key; the session JWT needs an asymmetric private key (EC, OKP or RSA) so verifiers only get public keys.`,
      );
    }
    if (typeof k.d !== 'string') {
      throw new ConfigError(
        `${option} has no private part ("d"); jwt.keys takes private JWKs (their public halves are published at /jwks.json).`,
      );
    }
    return { jwk: k, alg: algFor(k, fallback, option) };
  });
}
