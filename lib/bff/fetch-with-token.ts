/** fetchWithToken(req, input, init?): `fetch` with the session's fresh access token, renewed once after a 401. */
import type { IncomingMessage } from 'node:http';
import { AuthError, ErrorCodes } from '../errors.js';
import { asksForNonce, type DpopKey, dpopProof, rememberNonce } from '../oidc/dpop.js';
import { dpopKeyOf, getServerSession, refreshServerSession } from '../session/server-session.js';
import { RETRY_MIN_AGE_MS } from './credentials.js';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * Calls `fetch(input, init)` with `Authorization: Bearer <access token>` of the request's session (refreshed
 * first when due); with DPoP-bound tokens (option dpop) `Authorization: DPoP <token>` and a `DPoP` proof
 * (`htm`, `htu`, `ath`, the server's nonce), sent once more when the API answers 401 `use_dpop_nonce`. When the API answers 401 to an idempotent request (GET, HEAD, OPTIONS, PUT, DELETE) whose
 * body can be sent again (none, or not a stream), the token is refreshed once — unless it was obtained less
 * than 1 s ago — and the request is sent once more; the second answer is returned as it is.
 * Rejects with 401 `ERR_UNAUTHENTICATED` (no session), 401 `ERR_REFRESH_FAILED` (the session can no longer be
 * refreshed) or 503 `ERR_REFRESH_UNAVAILABLE` (the IdP is down and the token has expired), before any fetch.
 *
 * @example
 * app.get('/orders', requiresAuth(), async (req, res) => {
 *   const upstream = await fetchWithToken(req, 'https://orders.internal/v1/orders', { signal: AbortSignal.timeout(5000) });
 *   res.status(upstream.status).json(await upstream.json());
 * });
 */
export async function fetchWithToken(req: IncomingMessage, input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const session = await getServerSession(req as never);
  const token = session?.accessToken;
  if (!token) {
    if (session?.error === 'RefreshAccessTokenUnavailable') {
      throw new AuthError(
        ErrorCodes.REFRESH_UNAVAILABLE,
        503,
        'fetchWithToken: the identity provider cannot be reached to refresh the session',
      );
    }
    throw session
      ? new AuthError(ErrorCodes.REFRESH_FAILED, 401, 'fetchWithToken: the session can no longer be refreshed; sign in again')
      : new AuthError(ErrorCodes.UNAUTHENTICATED, 401, 'fetchWithToken: the request has no signed-in session');
  }
  const dpop = session.tokenType === 'DPoP' ? await dpopKeyOf(req as never) : undefined;
  const send = async (t: string): Promise<Response> => {
    let res = await fetch(input, await withToken(input, init, t, dpop));
    if (
      dpop &&
      rememberNonce(urlOf(input), res.headers) &&
      asksForNonce(res.status, res.headers.get('www-authenticate')) &&
      resendable(input, init)
    ) {
      // Refused before it was processed (RFC 9449 §9): the same request with a proof carrying the nonce.
      await res.body?.cancel();
      res = await fetch(input, await withToken(input, init, t, dpop));
    }
    return res;
  };
  const res = await send(token);
  if (res.status !== 401 || !replayable(input, init)) return res;
  const renewed = (await refreshServerSession(req as never, RETRY_MIN_AGE_MS))?.accessToken;
  if (!renewed || renewed === token) return res;
  await res.body?.cancel();
  return send(renewed);
}

async function withToken(input: string | URL | Request, init: RequestInit, token: string, dpop: DpopKey | undefined): Promise<RequestInit> {
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  if (dpop) {
    headers.set('authorization', `DPoP ${token}`);
    headers.set('dpop', await dpopProof(dpop, methodOf(input, init), urlOf(input), token));
  } else {
    headers.set('authorization', `Bearer ${token}`);
  }
  return { ...init, headers };
}

function urlOf(input: string | URL | Request): string {
  return input instanceof Request ? input.url : String(input);
}

function methodOf(input: string | URL | Request, init: RequestInit): string {
  return (init.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
}

/** A body that can be sent twice: none, or not a stream. */
function resendable(input: string | URL | Request, init: RequestInit): boolean {
  if (init.body !== undefined && init.body !== null) return !(init.body instanceof ReadableStream) && !isNodeStream(init.body);
  return !(input instanceof Request && input.body !== null);
}

function replayable(input: string | URL | Request, init: RequestInit): boolean {
  // A stream is read by the first send; a Request's own body is one too.
  return IDEMPOTENT.has(methodOf(input, init)) && resendable(input, init);
}

function isNodeStream(body: unknown): boolean {
  return (
    typeof (body as { pipe?: unknown }).pipe === 'function' ||
    typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}
