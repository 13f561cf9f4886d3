/** The token endpoint: code exchange and refresh grant, with client authentication and coded errors. */
import type { Config } from '../config.js';
import { AuthError, ErrorCodes } from '../errors.js';
import { idpFetch } from '../util/idp-fetch.js';

export interface TokenResponse {
  access_token: string;
  token_type?: string;
  expires_in?: number;
  refresh_token?: string;
  id_token?: string;
  scope?: string;
}

type ClientConfig = Pick<Config, 'clientId' | 'clientSecret' | 'clientAuthMethod' | 'httpTimeout'>;

/**
 * A form body and headers for a request to one of the IdP's client-authenticated endpoints (token,
 * revocation): the client authenticates the way the login does.
 */
export function authenticatedForm(config: ClientConfig, params: Record<string, string>): { headers: Record<string, string>; body: URLSearchParams } {
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (config.clientAuthMethod === 'client_secret_basic') {
    const user = encodeURIComponent(config.clientId);
    const pass = encodeURIComponent(config.clientSecret);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  } else {
    body.set('client_id', config.clientId);
    body.set('client_secret', config.clientSecret);
  }
  return { headers, body };
}

/**
 * POSTs a grant. A 400 `invalid_grant` becomes `ERR_REFRESH_FAILED` (401) so callers can tell a dead refresh
 * token from an IdP that is down (`ERR_IDP_UNAVAILABLE`/`ERR_IDP_TIMEOUT`, 503/504); the IdP's
 * `error_description` stays on `cause` and is never echoed to the browser.
 */
export async function tokenRequest(config: ClientConfig, tokenEndpoint: string, params: Record<string, string>,
  what: string): Promise<TokenResponse> {
  const res = await idpFetch(tokenEndpoint, { method: 'POST', ...authenticatedForm(config, params) }, config.httpTimeout, what, 'token');
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
