/**
 * Signing keys of the session JWT: user-configured (`jwt.keys`) or generated once and shared through
 * the session store, so a JWT minted by one instance verifies at every other instance.
 */

import type { CryptoKey, JWK } from 'jose';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import { AuthError, ConfigError, ErrorCodes } from '../errors.js';
import type { KeyBackend } from './jwt-key-backends.js';
import { checkAlg, checkConfigured, type JwtAlg } from './jwt-key-config.js';

export * from './jwt-key-backends.js';
export { JWT_ALGS, type JwtAlg } from './jwt-key-config.js';

/** The keys a keyring hands out: one to sign with, every one that verifies, and their public JWKS. */
export interface SigningKeys {
  /** `alg` of the signing key. */
  alg: string;
  signing: { kid: string; key: CryptoKey };
  /** Public keys, signing key first. */
  verify: Array<{ kid: string; key: CryptoKey }>;
  /** Public JWKs of `verify` (never a private member), each with `kid`, `alg` and `use: 'sig'`. */
  publicJwks: { keys: JWK[] };
}

/** Options of {@link createKeyring}. */
export interface KeyringOptions {
  /** Algorithm for a generated key, and the default for configured keys without `alg`. One of {@link JWT_ALGS}. */
  alg: string;
  /** `jwt.keys`: private JWKs, newest first. The first signs; all verify (keep an old key until its JWTs have expired). */
  configured?: JWK[];
  /** Where a generated key is shared. Unused with `configured` keys. */
  backend: KeyBackend;
  /** Called once, at creation, when no keys are configured. Default: none. */
  warn?: (msg: string) => void;
  /**
   * How often (ms) a generated key is re-read from the backend, so that instances that raced on a
   * store without "set if absent", or that outlived a flushed store, converge on one key. Default 60 000.
   */
  recheckInterval?: number;
}

/** The keyring: `get()` loads lazily, memoises, and retries a failed load on the next call. */
export interface Keyring {
  get(): Promise<SigningKeys>;
}

/** How many keys a keyring keeps for verification after adopting another instance's generated key. */
const MAX_ADOPTED_KEYS = 3;

/**
 * Creates the session JWT keyring.
 *
 * `configured` = user-supplied private JWKs (`jwt.keys`): the first signs, all verify. Without them, one
 * key pair for `alg` is generated, its private JWK (with `kid`) is stored through `backend` so every
 * instance uses the same key, and `warn` is called once with a message saying how to configure `jwt.keys`.
 *
 * @throws ConfigError for an unsupported `alg` or an unusable `configured` key (public-only, symmetric, …)
 * @example
 * const keyring = createKeyring({ alg: 'ES256', backend: redisKeyBackend(client), warn: console.warn });
 * const { signing } = await keyring.get();
 */
export function createKeyring(opts: KeyringOptions): Keyring {
  const alg = checkAlg(opts.alg, 'jwt.alg');
  if (opts.configured !== undefined) {
    const configured = checkConfigured(opts.configured, alg);
    return memoise(() => loadConfigured(configured));
  }
  opts.warn?.(
    `express-oidc-session: no jwt.keys configured, so a ${alg} signing key for the session JWT was generated and is shared ` +
      'through the session store (anyone who can read the store can mint session JWTs). For production, set ' +
      'jwt.keys to an array of private JWKs, newest first, loaded from a secret: e.g. ' +
      `\`const { privateKey } = await generateKeyPair('${alg}', { extractable: true }); ` +
      `console.log(JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'k1', alg: '${alg}' }))\` with jose. ` +
      'To rotate, put the new key first and keep the old one until its JWTs have expired (jwt.ttl).',
  );
  return generatedKeyring(alg, opts.backend, opts.warn, opts.recheckInterval ?? 60_000);
}

/**
 * The public members of a JWK (whitelisted per key type, so no private member can slip through),
 * with `kid`, `alg` and `use: 'sig'` when known.
 * @throws TypeError for a symmetric ("oct") or unknown key type
 */
export function toPublicJwk(jwk: JWK): JWK {
  let pub: JWK;
  switch (jwk.kty) {
    case 'EC':
      pub = { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
      break;
    case 'OKP':
      pub = { kty: 'OKP', crv: jwk.crv, x: jwk.x };
      break;
    case 'RSA':
      pub = { kty: 'RSA', n: jwk.n, e: jwk.e };
      break;
    default:
      throw new TypeError(`JWK of type "${String(jwk.kty)}" is not an asymmetric signing key (use EC, OKP or RSA)`);
  }
  if (jwk.kid !== undefined) pub.kid = jwk.kid;
  if (jwk.alg !== undefined) pub.alg = jwk.alg;
  pub.use = 'sig';
  return pub;
}

// ---------------------------------------------------------------------------------------------

interface LoadedKey {
  kid: string;
  alg: JwtAlg;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

function memoise(load: () => Promise<SigningKeys>): Keyring {
  let pending: Promise<SigningKeys> | undefined;
  return {
    get() {
      pending ??= load().catch((err: unknown) => {
        pending = undefined; // retried on the next get()
        throw err;
      });
      return pending;
    },
  };
}

async function importKey(jwk: JWK, alg: JwtAlg): Promise<LoadedKey> {
  const publicJwk = toPublicJwk(jwk);
  // RFC 7638 thumbprint: stable across instances and restarts without anyone choosing a kid.
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk));
  publicJwk.kid = kid;
  publicJwk.alg = alg;
  // key_ops/use of the input could contradict signing; the private key never needs exporting again.
  const { key_ops: _ops, use: _use, ...bare } = jwk;
  const privateKey = (await importJWK({ ...bare, ext: false }, alg)) as CryptoKey;
  const publicKey = (await importJWK(publicJwk, alg)) as CryptoKey;
  return { kid, alg, privateKey, publicKey, publicJwk };
}

function toSigningKeys(keys: LoadedKey[]): SigningKeys {
  const [first] = keys as [LoadedKey, ...LoadedKey[]];
  return {
    alg: first.alg,
    signing: { kid: first.kid, key: first.privateKey },
    verify: keys.map((k) => ({ kid: k.kid, key: k.publicKey })),
    publicJwks: { keys: keys.map((k) => ({ ...k.publicJwk })) },
  };
}

async function loadConfigured(keys: Array<{ jwk: JWK; alg: JwtAlg }>): Promise<SigningKeys> {
  let loaded: LoadedKey[];
  try {
    loaded = await Promise.all(keys.map(({ jwk, alg }) => importKey(jwk, alg)));
  } catch (err) {
    throw new ConfigError(`jwt.keys: a key could not be imported (${(err as Error).message}); check that each is a complete private JWK.`);
  }
  const kids = new Set(loaded.map((k) => k.kid));
  if (kids.size !== loaded.length) throw new ConfigError('jwt.keys: two keys have the same kid; give each key its own kid.');
  return toSigningKeys(loaded);
}

async function generate(alg: JwtAlg): Promise<string> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}) });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(toPublicJwk(jwk));
  return JSON.stringify({ ...jwk, kid, alg });
}

async function parseStored(raw: string): Promise<LoadedKey> {
  try {
    const jwk = JSON.parse(raw) as JWK;
    if (typeof jwk.d !== 'string' || typeof jwk.kid !== 'string') throw new TypeError('not a private JWK with a kid');
    const alg = checkAlg(jwk.alg, 'stored key alg');
    return await importKey(jwk, alg);
  } catch (err) {
    throw new AuthError(
      ErrorCodes.STORE_UNAVAILABLE,
      500,
      'The generated session JWT key in the store is unreadable; delete it so a new one is generated, or configure jwt.keys.',
      { cause: err },
    );
  }
}

function storeError(err: unknown): AuthError {
  return err instanceof AuthError
    ? err
    : new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, 'Could not load the session JWT key from the session store.', { cause: err });
}

/**
 * A generated key shared through the backend. After loading, the backend is re-read at most every
 * `recheckInterval` ms in the background (the caller never waits for it): a different stored key is
 * adopted for signing, with the previous keys kept for verification; an emptied store gets our key back.
 */
function generatedKeyring(alg: JwtAlg, backend: KeyBackend, warn: ((msg: string) => void) | undefined, recheckInterval: number): Keyring {
  let current: { raw: string; keys: LoadedKey[]; signingKeys: SigningKeys; checkedAt: number } | undefined;
  let rechecking = false;
  let warnedAlg = false;

  const adopt = async (raw: string, previous: LoadedKey[]) => {
    const key = await parseStored(raw);
    if (key.alg !== alg && !warnedAlg) {
      warnedAlg = true;
      warn?.(
        `express-oidc-session: the shared generated session JWT key is ${key.alg} but jwt.alg is ${alg}; using the shared key. Delete it from the store to generate a ${alg} key, or configure jwt.keys.`,
      );
    }
    const keys = [key, ...previous.filter((k) => k.kid !== key.kid)].slice(0, MAX_ADOPTED_KEYS);
    current = { raw, keys, signingKeys: toSigningKeys(keys), checkedAt: Date.now() };
    return current.signingKeys;
  };

  const load = async (): Promise<SigningKeys> => {
    let raw: string | null;
    try {
      raw = await backend.get();
      // Generate only when nothing is stored: a key pair is cheap for EC/EdDSA, not for RSA.
      raw ??= await backend.setIfAbsent(await generate(alg));
    } catch (err) {
      throw storeError(err);
    }
    return adopt(raw, []);
  };

  const recheck = async (state: NonNullable<typeof current>) => {
    try {
      const raw = (await backend.get()) ?? (await backend.setIfAbsent(state.raw));
      if (raw !== state.raw) await adopt(raw, state.keys);
    } catch {
      // Keep signing with the key we have; the next recheck tries again.
    } finally {
      if (current) current.checkedAt = Date.now();
      rechecking = false;
    }
  };

  const loader = memoise(load);
  return {
    async get() {
      if (!current) return loader.get();
      if (!rechecking && Date.now() - current.checkedAt >= recheckInterval) {
        rechecking = true;
        void recheck(current);
      }
      return current.signingKeys;
    },
  };
}
