/**
 * "Your devices": the sessions of a user, found through the session index, each with an opaque handle
 * that `revokeSessions(req, { handle })` takes to end it. The handle is an HMAC of the session id under the
 * app's secret: stable, not the session id, and no way back to it, so it can never be turned into a cookie.
 */
import { createHmac } from 'node:crypto';
import type { Request } from 'express';
import { contextOf, type OidcContext } from '../context.js';
import { AuthError, ErrorCodes } from '../errors.js';
import { type OidcSessionState, sessionDeadline } from '../store/ttl.js';

/** One session of `listSessions`. Times are ms since the epoch. */
export interface SessionListing {
  /** Opaque; pass it to `revokeSessions(req, { handle })`. Not the session id. */
  handle: string;
  createdAt: number;
  /** Last recorded activity (recorded at most once a minute). */
  lastActiveAt: number;
  /** When it ends if nothing else happens: the earlier of its idle and absolute deadlines. */
  expiresAt: number;
  /** The browser's User-Agent at sign-in, truncated. */
  userAgent?: string;
  /** True for the calling request's own session. */
  current: boolean;
}

/** @internal */
export function sessionHandle(secret: string, sessionId: string): string {
  return createHmac('sha256', secret).update(`session-handle:${sessionId}`).digest('base64url').slice(0, 22);
}

/**
 * The user's live sessions on every instance sharing the backend, newest first.
 * @example app.get('/account/devices', requiresAuth(), async (req, res) => {
 *   const session = await getServerSession(req);
 *   res.json(await listSessions(req, { sub: session!.user.sub }));
 * });
 */
export async function listSessions(req: Request, query: { sub: string }): Promise<SessionListing[]> {
  const ctx = contextOf(req, 'listSessions');
  const sub = (query as { sub?: unknown } | undefined)?.sub;
  if (typeof sub !== 'string' || sub === '')
    throw new AuthError(ErrorCodes.BAD_REQUEST, 400, 'listSessions(req, query): query must be { sub: string }');
  const out: SessionListing[] = [];
  for (const [id, state] of await sessionsOf(ctx, sub)) {
    out.push({
      handle: sessionHandle(ctx.config.secrets[0]!, id),
      createdAt: state.created,
      lastActiveAt: state.seen,
      expiresAt: sessionDeadline(state, ctx.config),
      ...(state.ua !== undefined ? { userAgent: state.ua } : {}),
      current: id === req.sessionID,
    });
  }
  return out.sort((a, b) => b.createdAt - a.createdAt);
}

/**
 * The session id behind `handle` among the user's sessions (any of the secrets may have made it), or undefined.
 * @internal
 */
export async function sessionOfHandle(ctx: OidcContext, sub: string, handle: string): Promise<[string, OidcSessionState] | undefined> {
  for (const entry of await sessionsOf(ctx, sub)) {
    if (ctx.config.secrets.some((secret) => sessionHandle(secret, entry[0]) === handle)) return entry;
  }
  return undefined;
}

async function sessionsOf(ctx: OidcContext, sub: string): Promise<Array<[string, OidcSessionState]>> {
  const now = Date.now();
  const found: Array<[string, OidcSessionState]> = [];
  for (const id of await ctx.index.members({ sub })) {
    const blob = (await ctx.store.getAsync(id)) as { oidc?: OidcSessionState } | null;
    const state = blob?.oidc;
    if (state && state.sub === sub && sessionDeadline(state, ctx.config) > now) found.push([id, state]);
  }
  return found;
}
