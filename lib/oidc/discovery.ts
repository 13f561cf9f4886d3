/** Lazy, cached OIDC discovery: the IdP being down at startup must not crash the app, only delay logins. */
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config.js';
import { AuthError, ErrorCodes } from '../errors.js';
import { idpFetch, jwksFetch } from '../util/idp-fetch.js';

export interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  end_session_endpoint?: string;
  id_token_signing_alg_values_supported?: string[];
  code_challenge_methods_supported?: string[];
  [key: string]: unknown;
}

export interface Discovery {
  /** Resolves the metadata, fetching it on first use; a failure is retried after a short cooldown. */
  get(): Promise<ProviderMetadata>;
  /** The IdP's key set; jose re-fetches it once on an unknown `kid` (key rotation), at most every 30 s. */
  jwks(): Promise<JWTVerifyGetKey>;
}

const RETRY_COOLDOWN_MS = 1000;

export function createDiscovery(config: Pick<Config, 'issuer' | 'httpTimeout'>): Discovery {
  let cached: ProviderMetadata | undefined;
  let pending: Promise<ProviderMetadata> | undefined;
  let failedAt = 0;
  let lastError: unknown;
  let keySet: JWTVerifyGetKey | undefined;

  async function load(): Promise<ProviderMetadata> {
    const url = `${config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const res = await idpFetch(url, { headers: { accept: 'application/json' } }, config.httpTimeout, 'discovery');
    if (res.status !== 200 || !res.json) {
      throw new AuthError(ErrorCodes.DISCOVERY_FAILED, 503, `discovery: ${url} answered ${res.status}, not a JSON document`);
    }
    const meta = res.json as ProviderMetadata;
    // Exact match, trailing slash included (OIDC Discovery §4.3): a mismatch is a mix-up or a misconfiguration.
    if (meta.issuer !== config.issuer) {
      throw new AuthError(
        ErrorCodes.ISSUER_MISMATCH,
        503,
        `discovery: the provider says its issuer is "${String(meta.issuer)}" but the option issuer is "${config.issuer}"; set issuer to exactly the discovered value`,
      );
    }
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
      if (typeof meta[key] !== 'string') throw new AuthError(ErrorCodes.DISCOVERY_FAILED, 503, `discovery: ${key} is missing`);
    }
    return meta;
  }

  async function get(): Promise<ProviderMetadata> {
    if (cached) return cached;
    if (pending) return pending;
    if (Date.now() - failedAt < RETRY_COOLDOWN_MS) throw lastError;
    pending = load().then(
      (meta) => {
        cached = meta;
        pending = undefined;
        return meta;
      },
      (err: unknown) => {
        failedAt = Date.now();
        lastError = err;
        pending = undefined;
        throw err;
      },
    );
    return pending;
  }

  async function jwks(): Promise<JWTVerifyGetKey> {
    if (keySet) return keySet;
    const meta = await get();
    keySet = createRemoteJWKSet(new URL(meta.jwks_uri), {
      timeoutDuration: config.httpTimeout,
      cooldownDuration: 30_000,
      cacheMaxAge: 600_000,
      [customFetch]: jwksFetch,
    });
    return keySet;
  }

  return { get, jwks };
}
