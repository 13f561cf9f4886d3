/**
 * The `clientKey` option of `private_key_jwt`, read once at startup: a private JWK with `kid`, or a jose
 * `CryptoKey` / node `KeyObject` plus `clientKeyId`. Checked synchronously (node:crypto imports a JWK
 * without awaiting), so a key that cannot sign fails `oidcSession()` rather than the first login.
 */
import { createPrivateKey, KeyObject } from 'node:crypto';
import type { JWK } from 'jose';

export interface ClientKey {
  key: KeyObject;
  kid: string;
  alg: string;
  /** Certificate thumbprints of the JWK (`x5t`, `x5t#S256`), sent in the assertion's header. */
  header: Record<string, string>;
}

/** What was wrong, for the ConfigError; the key otherwise. */
export function readClientKey(value: unknown, keyId: unknown): ClientKey | string {
  let key: KeyObject;
  let kid: unknown = keyId;
  let alg: unknown;
  const header: Record<string, string> = {};
  if (value instanceof KeyObject) key = value;
  else if (typeof CryptoKey !== 'undefined' && value instanceof CryptoKey) {
    try {
      key = KeyObject.from(value);
    } catch {
      return 'is a CryptoKey node:crypto cannot use';
    }
    // A KeyObject of an RSA-PSS CryptoKey says "rsa": the algorithm the CryptoKey was made for decides.
    const { name, hash } = value.algorithm as { name: string; hash?: { name?: string } };
    const bits = hash?.name?.replace('SHA-', '');
    if (name === 'RSA-PSS' && bits) alg = `PS${bits}`;
    else if (name === 'RSASSA-PKCS1-v1_5' && bits) alg = `RS${bits}`;
  } else if (typeof value === 'object' && value !== null && typeof (value as JWK).kty === 'string') {
    const jwk = value as JWK;
    if (typeof jwk.d !== 'string') return 'is a public JWK; pass the private one (with "d")';
    try {
      key = createPrivateKey({ key: jwk as never, format: 'jwk' });
    } catch (err) {
      return `is not a usable private JWK (${(err as Error).message})`;
    }
    kid = jwk.kid ?? keyId;
    alg = jwk.alg;
    for (const name of ['x5t', 'x5t#S256'] as const) if (typeof jwk[name] === 'string') header[name] = jwk[name];
  } else {
    return 'is missing or not a key';
  }
  if (key.type !== 'private') return 'must be a private key';
  if (typeof kid !== 'string' || kid === '') return 'has no key id: give the JWK a "kid" (as registered at the IdP), or pass clientKeyId';
  const derived = algOf(key);
  if (!derived) return `has an unsupported key type (${key.asymmetricKeyType ?? 'unknown'}); use an RSA, EC P-256/384/521 or Ed25519 key`;
  if (alg !== undefined && (typeof alg !== 'string' || !compatible(alg, derived)))
    return `has "alg" ${JSON.stringify(alg)}, which does not fit its key type`;
  return { key, kid, alg: typeof alg === 'string' ? alg : derived, header };
}

function algOf(key: KeyObject): string | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
    case 'ed25519':
      return 'EdDSA';
    case 'ec':
      return ({ prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' } as Record<string, string>)[
        key.asymmetricKeyDetails?.namedCurve ?? ''
      ];
    default:
      return undefined;
  }
}

function compatible(alg: string, derived: string): boolean {
  if (derived === 'RS256') return /^(RS|PS)(256|384|512)$/.test(alg);
  if (derived === 'EdDSA') return alg === 'EdDSA' || alg === 'Ed25519';
  return alg === derived;
}
