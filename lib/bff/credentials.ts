/**
 * Which token a proxied request carries: the session's (refreshed when due, DPoP-bound with its key), the
 * app's own client-credentials token, or none, by `remoteApi`'s `token` mode — and a fresh one after the
 * upstream refused it.
 */
import type { IncomingMessage } from 'node:http';
import { AuthError, ErrorCodes } from '../errors.js';
import type { DpopKey } from '../oidc/dpop.js';
import { dpopKeyOf, getServerSession, refreshServerSession } from '../session/server-session.js';
import { type ClientTokenOptions, getClientCredential, refuseClientToken } from './client-token.js';

/** Which access token `remoteApi` attaches. */
export type RemoteApiToken = 'user' | 'client' | 'userOrClient' | 'userOrNone' | 'none';

interface Upstream {
  mode: RemoteApiToken;
  client: ClientTokenOptions;
}

/** A user token younger than this is not refreshed again after a 401: the upstream refuses it for another reason. */
export const RETRY_MIN_AGE_MS = 1000;

/**
 * The token of one request and where it came from (none with 'none' and a signed-out 'userOrNone'); `dpop`
 * the session's key when the token is DPoP-bound.
 */
export interface Credential {
  token?: string;
  kind?: 'user' | 'client';
  dpop?: DpopKey;
}

/** The token `mode` attaches to this request; coded errors when there is none to be had. */
export async function credentialOf(proxy: Pick<Upstream, 'mode' | 'client'>, req: IncomingMessage): Promise<Credential> {
  if (proxy.mode === 'client') return { ...(await getClientCredential(req, proxy.client)), kind: 'client' };
  const session = await getServerSession(req as never);
  if (session?.accessToken) return userCredential(req, session.accessToken, session.tokenType);
  if (proxy.mode === 'userOrClient') return { ...(await getClientCredential(req, proxy.client)), kind: 'client' };
  if (proxy.mode === 'userOrNone') return {};
  if (session?.error === 'RefreshAccessTokenUnavailable') {
    throw new AuthError(
      ErrorCodes.REFRESH_UNAVAILABLE,
      503,
      'the identity provider cannot be reached to refresh the session; retry shortly',
    );
  }
  throw session
    ? new AuthError(ErrorCodes.REFRESH_FAILED, 401, 'the session can no longer be refreshed; sign in again')
    : new AuthError(ErrorCodes.UNAUTHENTICATED, 401, 'sign in first');
}

/** A fresh token after the upstream refused `used`, or undefined when there is none newer. */
export async function renewed(proxy: Pick<Upstream, 'client'>, req: IncomingMessage, used: Credential): Promise<Credential | undefined> {
  if (used.kind === 'client') {
    refuseClientToken(req, proxy.client, used.token!);
    const next = await getClientCredential(req, proxy.client);
    return next.token === used.token ? undefined : { ...next, kind: 'client' };
  }
  const session = await refreshServerSession(req as never, RETRY_MIN_AGE_MS);
  return session?.accessToken && session.accessToken !== used.token
    ? userCredential(req, session.accessToken, session.tokenType)
    : undefined;
}

async function userCredential(req: IncomingMessage, token: string, type: 'Bearer' | 'DPoP'): Promise<Credential> {
  return { token, kind: 'user', dpop: type === 'DPoP' ? await dpopKeyOf(req as never) : undefined };
}
