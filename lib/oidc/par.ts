/**
 * Pushed authorization requests (RFC 9126): the server posts the authorization parameters to the IdP with
 * client authentication, and the browser is sent to the authorization endpoint with only `client_id` and
 * the `request_uri` it got back. Nothing the browser (or an extension, or a log) sees can be altered or
 * read, and the IdP knows the request came from this client.
 */
import type { Config } from '../config.js';
import { AuthError, ErrorCodes } from '../errors.js';
import type { ProviderMetadata } from './discovery.js';
import { clientPost } from './token-endpoint.js';

/** Whether this login is pushed: always with `par: true`, with 'auto' when the IdP requires it. */
export function usesPar(config: Pick<Config, 'par'>, meta: ProviderMetadata): boolean {
  return config.par === true || (config.par === 'auto' && meta.require_pushed_authorization_requests === true);
}

/**
 * Pushes the parameters of `authorizationUrl` (the URL passport-openidconnect built: the endpoint's own query
 * plus every parameter of this login) and resolves to the URL the browser goes to instead.
 */
export async function pushedAuthorizationUrl(config: Config, meta: ProviderMetadata, authorizationUrl: string): Promise<string> {
  const endpoint = meta.pushed_authorization_request_endpoint;
  if (typeof endpoint !== 'string') {
    throw new AuthError(
      ErrorCodes.DISCOVERY_FAILED,
      503,
      'PAR: option par is true (or profile "fapi2") but discovery lists no ' +
        "pushed_authorization_request_endpoint; enable PAR at the identity provider, or set par: 'auto'",
    );
  }
  const own = new URL(meta.authorization_endpoint);
  const params: Record<string, string> = {};
  for (const [name, value] of new URL(authorizationUrl).searchParams) {
    // The endpoint's own query (e.g. a tenant policy) stays on the browser's URL.
    if (own.searchParams.get(name) !== value) params[name] = value;
  }
  const res = await clientPost(config, endpoint, params, 'pushed authorization request', 'par', { tokenEndpoint: meta.token_endpoint });
  if (res.status >= 500) throw new AuthError(ErrorCodes.IDP_UNAVAILABLE, 503, `PAR: the endpoint answered ${res.status}`);
  const requestUri = res.json?.request_uri;
  if ((res.status !== 201 && res.status !== 200) || typeof requestUri !== 'string' || requestUri === '') {
    const error = typeof res.json?.error === 'string' ? res.json.error : `http_${res.status}`;
    const cause = new Error(`${error}: ${String(res.json?.error_description ?? res.text.slice(0, 200))}`);
    throw new AuthError(ErrorCodes.LOGIN_FAILED, 502, `PAR: the identity provider refused the pushed authorization request (${error})`, {
      cause,
    });
  }
  own.searchParams.set('client_id', config.clientId);
  own.searchParams.set('request_uri', requestUri);
  return own.href;
}
