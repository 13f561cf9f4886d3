/**
 * DPoP (RFC 9449): the session's key pair and its proofs. The key of a login is derived from the app's
 * secret and the login's state handle, so `GET /login` can send its thumbprint (`dpop_jkt`) while storing
 * nothing, and the callback derives the same key again and keeps it in the session's token record — on the
 * server only, never in a cookie. Written on node:crypto and jose (already dependencies): a proof is one
 * signed JWT, and openid-client would bring a second HTTP stack beside passport-openidconnect's.
 */
import { constants, createECDH, createHash, createPrivateKey, hkdfSync, type KeyObject, sign } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { randomToken } from './pending-login.js';

export type DpopAlg = 'ES256' | 'PS256' | 'EdDSA';

/** A session's DPoP key: a private JWK with its `alg`. */
export type DpopKey = JWK & { alg: DpopAlg };

/** P-256 group order: a derived scalar must be below it. */
const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const PRIVATE_FIELDS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'];
const KEYS_MAX = 1000;

/**
 * The key of one login, the same at `GET /login` and at the callback. PS256 keys cannot be derived (RSA
 * key generation is not a function of a seed one can cheaply compute), so they have no `dpop_jkt` and are
 * generated at the code exchange: `undefined` here.
 */
export function deriveDpopKey(alg: DpopAlg, secret: string, handle: string): DpopKey | undefined {
  if (alg === 'PS256') return undefined;
  for (let counter = 0; ; counter++) {
    const seed = Buffer.from(hkdfSync('sha256', secret, 'express-oidc-session', `dpop:${alg}:${counter}:${handle}`, 32));
    if (alg === 'EdDSA') {
      const jwk = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
      return { ...(jwk as JWK), alg };
    }
    const scalar = BigInt(`0x${seed.toString('hex')}`);
    // Below the order and not zero: true but for about 1 in 2^32 seeds, which take the next counter.
    if (scalar === 0n || scalar >= P256_N) continue;
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(seed);
    const point = ecdh.getPublicKey();
    return {
      kty: 'EC',
      crv: 'P-256',
      alg,
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33, 65).toString('base64url'),
      d: seed.toString('base64url'),
    };
  }
}

/** A new random key (PS256, whose keys are not derived). */
export async function generateDpopKey(alg: DpopAlg): Promise<DpopKey> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), alg };
}

export function publicJwk(key: JWK): JWK {
  const pub: JWK = {};
  for (const [k, v] of Object.entries(key)) if (!PRIVATE_FIELDS.includes(k) && k !== 'alg') (pub as Record<string, unknown>)[k] = v;
  return pub;
}

/** The RFC 7638 thumbprint (SHA-256), as `dpop_jkt` and the token's `cnf.jkt` carry it. */
export function jwkThumbprint(key: JWK): string {
  const members =
    key.kty === 'EC'
      ? { crv: key.crv, kty: key.kty, x: key.x, y: key.y }
      : key.kty === 'OKP'
        ? { crv: key.crv, kty: key.kty, x: key.x }
        : { e: key.e, kty: key.kty, n: key.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** What every proof of one key shares: the KeyObject and the encoded protected header. */
interface Signer {
  key: KeyObject;
  header: string;
  alg: DpopAlg;
  lastToken?: string;
  lastAth?: string;
}

/**
 * Keyed by the JWK object itself: a session's record (and so its dpopKey) is the same object from request to
 * request, so the key is imported and the header encoded once, not per proof. The thumbprint map catches
 * copies of the same key (a record read again from the store).
 */
const signers = new WeakMap<JWK, Signer>();
const byThumbprint = new Map<string, Signer>();
function signerOf(key: DpopKey): Signer {
  let signer = signers.get(key);
  if (signer) return signer;
  const id = jwkThumbprint(key);
  signer = byThumbprint.get(id);
  if (!signer) {
    const header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: key.alg, jwk: publicJwk(key) })).toString('base64url');
    signer = { key: createPrivateKey({ key: key as never, format: 'jwk' }), header, alg: key.alg };
    if (byThumbprint.size >= KEYS_MAX) byThumbprint.delete(byThumbprint.keys().next().value!);
    byThumbprint.set(id, signer);
  }
  signers.set(key, signer);
  return signer;
}

/** node:crypto's one-shot sign: a third of WebCrypto's cost here, and a proof goes with every proxied call. */
function signature(signer: Signer, input: string): Buffer {
  const data = Buffer.from(input);
  if (signer.alg === 'ES256') return sign('sha256', data, { key: signer.key, dsaEncoding: 'ieee-p1363' });
  if (signer.alg === 'PS256') return sign('sha256', data, { key: signer.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  return sign(null, data, signer.key);
}

/** The nonces servers handed out (`DPoP-Nonce`), per origin: the next proof to that server carries it. */
const nonces = new Map<string, string>();

/** A DPoP proof for one request; `accessToken` adds `ath` (resource requests). */
export function dpopProof(key: DpopKey, method: string, url: string, accessToken?: string): Promise<string> {
  const signer = signerOf(key);
  const u = new URL(url);
  // htu: the URL without query and fragment (RFC 9449 §4.2).
  const claims: Record<string, unknown> = {
    htm: method.toUpperCase(),
    htu: `${u.origin}${u.pathname}`,
    jti: randomToken(16),
    iat: Math.floor(Date.now() / 1000),
  };
  const nonce = nonces.get(u.origin);
  if (nonce) claims.nonce = nonce;
  if (accessToken) {
    // One hash per access token, not per request.
    if (signer.lastToken !== accessToken) {
      signer.lastToken = accessToken;
      signer.lastAth = createHash('sha256').update(accessToken).digest('base64url');
    }
    claims.ath = signer.lastAth;
  }
  const input = `${signer.header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return Promise.resolve(`${input}.${signature(signer, input).toString('base64url')}`);
}

/** Keeps the server's newest nonce; true when it sent one. */
export function rememberNonce(url: string, headers: Headers | Record<string, string | string[] | undefined>): boolean {
  const value = headers instanceof Headers ? headers.get('dpop-nonce') : headers['dpop-nonce'];
  const nonce = Array.isArray(value) ? value[0] : value;
  if (typeof nonce !== 'string' || nonce === '' || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(nonce)) return false;
  const origin = new URL(url).origin;
  if (nonces.get(origin) === nonce) return true;
  if (nonces.size >= KEYS_MAX) nonces.delete(nonces.keys().next().value!);
  nonces.set(origin, nonce);
  return true;
}

/** A resource server's 401 asking for a nonce: `WWW-Authenticate: DPoP error="use_dpop_nonce"`. */
export function asksForNonce(status: number, wwwAuthenticate: string | string[] | null | undefined): boolean {
  const value = Array.isArray(wwwAuthenticate) ? wwwAuthenticate.join(', ') : (wwwAuthenticate ?? '');
  return status === 401 && /\bDPoP\b/i.test(value) && /error\s*=\s*"?use_dpop_nonce"?/i.test(value);
}
