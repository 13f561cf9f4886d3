/** Every call to the IdP goes through here so that none can hang a request: a timeout and coded errors. */
import { SpanKind } from '@opentelemetry/api';
import { AuthError, ErrorCodes } from '../errors.js';
import { inSpan } from '../telemetry.js';

export interface IdpResponse {
  status: number;
  json: Record<string, unknown> | null;
  text: string;
  /** The response's headers (DPoP-Nonce, WWW-Authenticate). */
  headers: Headers;
}

/**
 * Fetches with a timeout; network failures become 503 `ERR_IDP_UNAVAILABLE`, timeouts 504 `ERR_IDP_TIMEOUT`.
 * Each call is an `oidc_session.idp_request` span whose `endpoint` is `endpoint` (default: `what`).
 */
export function idpFetch(url: string, init: RequestInit, timeoutMs: number, what: string, endpoint = what): Promise<IdpResponse> {
  // The endpoint's name only: URLs and bodies may carry codes, tokens or client credentials.
  return inSpan(
    'oidc_session.idp_request',
    { endpoint },
    async (span) => {
      const res = await send(url, init, timeoutMs, what);
      span.setAttribute('http.response.status_code', res.status);
      return res;
    },
    SpanKind.CLIENT,
  );
}

/** The fetch jose uses for the JWKS it downloads itself: the same span, endpoint `jwks`. */
export function jwksFetch(url: string, init: RequestInit): Promise<Response> {
  return inSpan(
    'oidc_session.idp_request',
    JWKS_ENDPOINT,
    async (span) => {
      const res = await fetch(url, init);
      span.setAttribute('http.response.status_code', res.status);
      return res;
    },
    SpanKind.CLIENT,
  );
}

const JWKS_ENDPOINT = Object.freeze({ endpoint: 'jwks' });

async function send(url: string, init: RequestInit, timeoutMs: number, what: string): Promise<IdpResponse> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
    text = await res.text();
  } catch (err) {
    if (isTimeout(err)) {
      throw new AuthError(ErrorCodes.IDP_TIMEOUT, 504, `${what}: the identity provider did not answer within ${timeoutMs} ms`, {
        cause: err,
      });
    }
    throw new AuthError(ErrorCodes.IDP_UNAVAILABLE, 503, `${what}: the identity provider could not be reached`, { cause: err });
  }
  let json: Record<string, unknown> | null = null;
  if (text && (res.headers.get('content-type') ?? '').includes('json')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
    } catch {
      json = null;
    }
  }
  return { status: res.status, json, text, headers: res.headers };
}

function isTimeout(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  const causeName = (err as { cause?: { name?: string } })?.cause?.name;
  return name === 'TimeoutError' || causeName === 'TimeoutError' || name === 'AbortError';
}
