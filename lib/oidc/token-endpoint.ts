/**
 * The token endpoint: code exchange and refresh grant, with client authentication and coded errors. Client
 * assertions (RFC 7523) are jose SignJWT calls and DPoP proofs node:crypto signatures: openid-client does both, but it would be a
 * second HTTP client and token model beside passport-openidconnect's, for about 40 lines of signing.
 */
import { SignJWT } from 'jose';
import type { Config } from '../config.js';
import { AuthError, ErrorCodes } from '../errors.js';
import { type IdpResponse, idpFetch } from '../util/idp-fetch.js';
import { type DpopKey, dpopProof, rememberNonce } from './dpop.js';
import { randomToken } from './pending-login.js';

export interface TokenResponse {
  access_token: string;
  token_type?: string;
  expires_in?: number;
  refresh_token?: string;
  id_token?: string;
  scope?: string;
}

type ClientConfig = Pick<
  Config,
  'issuer' | 'clientId' | 'clientSecret' | 'clientAuthMethod' | 'clientKey' | 'clientAssertionAudience' | 'httpTimeout'
>;

/** RFC 7523 §3: short-lived, and the IdP refuses a jti it has seen. */
const ASSERTION_TTL_S = 60;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/**
 * A form body and headers for a request to one of the IdP's client-authenticated endpoints (token,
 * revocation, PAR): the client authenticates the way the login does. A JWT method signs a new assertion
 * per request (its jti is single-use).
 */
export async function authenticatedForm(
  config: ClientConfig,
  params: Record<string, string>,
  tokenEndpoint: string,
): Promise<{ headers: Record<string, string>; body: URLSearchParams }> {
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (config.clientAuthMethod === 'client_secret_basic') {
    const user = encodeURIComponent(config.clientId);
    const pass = encodeURIComponent(config.clientSecret);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  } else if (config.clientAuthMethod === 'private_key_jwt' || config.clientAuthMethod === 'client_secret_jwt') {
    body.set('client_id', config.clientId);
    body.set('client_assertion_type', ASSERTION_TYPE);
    body.set('client_assertion', await clientAssertion(config, tokenEndpoint));
  } else {
    body.set('client_id', config.clientId);
    body.set('client_secret', config.clientSecret);
  }
  return { headers, body };
}

/**
 * `aud` is the issuer (FAPI 2.0; oidc-provider, Keycloak, Auth0 accept it), or with clientAssertionAudience
 * 'tokenEndpoint' the token endpoint URL (RFC 7523 §3 names it; Entra ID and Okta document it), also for
 * revocation and PAR.
 */
function clientAssertion(config: ClientConfig, tokenEndpoint: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({})
    .setIssuer(config.clientId)
    .setSubject(config.clientId)
    .setAudience(config.clientAssertionAudience === 'tokenEndpoint' ? tokenEndpoint : config.issuer)
    .setJti(randomToken(18))
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + ASSERTION_TTL_S);
  const key = config.clientKey;
  if (config.clientAuthMethod === 'private_key_jwt' && key) {
    // x5t / x5t#S256 from the JWK: Entra ID finds a certificate credential by its thumbprint, not by kid.
    return jwt.setProtectedHeader({ ...key.header, alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.key);
  }
  return jwt.setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(config.clientSecret));
}

/**
 * POSTs a client-authenticated form, with a DPoP proof when `dpop` is given. A server answering
 * `use_dpop_nonce` (400 JSON, or 401 `WWW-Authenticate: DPoP error="use_dpop_nonce"`) with a `DPoP-Nonce`
 * header gets the same request once more, with a new proof carrying that nonce (and a new assertion).
 */
export async function clientPost(
  config: ClientConfig,
  url: string,
  params: Record<string, string>,
  what: string,
  endpoint: string,
  options: { dpop?: DpopKey; tokenEndpoint?: string } = {},
): Promise<IdpResponse> {
  const { dpop } = options;
  for (let attempt = 0; ; attempt++) {
    const { headers, body } = await authenticatedForm(config, params, options.tokenEndpoint ?? url);
    if (dpop) headers.dpop = await dpopProof(dpop, 'POST', url);
    const res = await idpFetch(url, { method: 'POST', headers, body }, config.httpTimeout, what, endpoint);
    const gotNonce = dpop ? rememberNonce(url, res.headers) : false;
    const askedNonce = (res.status === 400 || res.status === 401) && res.json?.error === 'use_dpop_nonce';
    if (!dpop || attempt > 0 || !askedNonce || !gotNonce) return res;
  }
}

/**
 * POSTs a grant. A 400 `invalid_grant` becomes `ERR_REFRESH_FAILED` (401) so callers can tell a dead refresh
 * token from an IdP that is down (`ERR_IDP_UNAVAILABLE`/`ERR_IDP_TIMEOUT`, 503/504); the IdP's
 * `error_description` stays on `cause` and is never echoed to the browser.
 */
export async function tokenRequest(
  config: ClientConfig,
  tokenEndpoint: string,
  params: Record<string, string>,
  what: string,
  dpop?: DpopKey,
): Promise<TokenResponse> {
  const res = await clientPost(config, tokenEndpoint, params, what, 'token', { dpop });
  if (res.status >= 500) {
    throw new AuthError(ErrorCodes.IDP_UNAVAILABLE, 503, `${what}: the token endpoint answered ${res.status}`);
  }
  const json = res.json;
  if (res.status !== 200 || !json) {
    const error = typeof json?.error === 'string' ? json.error : `http_${res.status}`;
    const cause = new Error(`${error}: ${String(json?.error_description ?? res.text.slice(0, 200))}`);
    if (error === 'invalid_grant') {
      throw new AuthError(ErrorCodes.REFRESH_FAILED, 401, `${what}: the identity provider refused the grant (invalid_grant)`, { cause });
    }
    throw new AuthError(ErrorCodes.TOKEN_EXCHANGE_FAILED, 502, `${what}: the token endpoint refused the request (${error})`, { cause });
  }
  if (typeof json.access_token !== 'string' || json.access_token === '') {
    throw new AuthError(ErrorCodes.TOKEN_EXCHANGE_FAILED, 502, `${what}: the token response has no access_token`);
  }
  const expiresIn = Number(json.expires_in);
  return {
    access_token: json.access_token,
    token_type: typeof json.token_type === 'string' ? json.token_type : undefined,
    expires_in: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : undefined,
    refresh_token: typeof json.refresh_token === 'string' && json.refresh_token ? json.refresh_token : undefined,
    id_token: typeof json.id_token === 'string' && json.id_token ? json.id_token : undefined,
    scope: typeof json.scope === 'string' ? json.scope : undefined,
  };
}
