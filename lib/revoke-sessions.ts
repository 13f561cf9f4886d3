/**
 * "Sign out everywhere": every session of a user (`sub`) or of one IdP session (`sid`), found through the
 * session index kept in the shared store, so sessions living on other instances go too. Back-channel
 * logout uses the same path.
 */
import type { Request } from 'express';
import { contextOf, type OidcContext } from './context.js';
import { endOwnSession, endSessionsById } from './end-session.js';
import { AuthError, ErrorCodes } from './errors.js';
import type { OidcSessionState } from './store/ttl.js';

export type RevokeQuery = { sub: string; sid?: undefined } | { sid: string; sub?: undefined };

/**
 * Destroys every session of that user or IdP session in every instance sharing the store; resolves to how
 * many there were. When the calling request's own session is one of them it ends too, within this request.
 * @example app.post('/account/sign-out-everywhere', requiresAuth(), async (req, res) => {
 *   const session = await getServerSession(req);
 *   res.json({ ended: await revokeSessions(req, { sub: session!.user.sub }) });
 * });
 */
export async function revokeSessions(req: Request, query: RevokeQuery): Promise<number> {
  const ctx = contextOf(req, 'revokeSessions');
  const sub = (query as { sub?: unknown } | undefined)?.sub;
  const sid = (query as { sid?: unknown } | undefined)?.sid;
  const valid = (v: unknown): v is string => typeof v === 'string' && v !== '';
  // Exactly one key: `{ sub, sid }` would be ambiguous (both, or only that IdP session?).
  if (valid(sub) === valid(sid) || (sub !== undefined && !valid(sub)) || (sid !== undefined && !valid(sid))) {
    throw new AuthError(ErrorCodes.BAD_REQUEST, 400, 'revokeSessions(req, query): query must be { sub: string } or { sid: string }');
  }
  return destroyMatchingSessions(ctx, valid(sub) ? { sub } : { sid: sid as string }, req);
}

/**
 * Ends the sessions of `query` (exactly one of sub, sid). `req`, when given, is the calling request: its
 * own session is ended through it, because destroying it only in the store would let express-session save
 * it again at the end of that very request.
 */
export async function destroyMatchingSessions(ctx: OidcContext, query: { sub?: string; sid?: string }, req?: Request): Promise<number> {
  const own = req?.session?.oidc;
  const ownMatches = !!own && ((query.sub !== undefined && own.sub === query.sub) || (query.sid !== undefined && own.sid === query.sid));
  const ownId = ownMatches ? req!.sessionID : undefined;
  const ids = (await ctx.index.lookup(query)).filter((id) => id !== ownId);
  // Read each first: the index may list sessions that already expired, which must not be counted, and the
  // blob tells which other index entries (the user's, or the IdP session's) point at it.
  const states: OidcSessionState[] = [];
  for (const id of ids) {
    const blob = (await ctx.stores.store.getAsync(id)) as { oidc?: OidcSessionState } | null;
    if (blob?.oidc) states.push(blob.oidc);
  }
  await endSessionsById(ctx, ids);
  let ended = states.length;
  if (ownId !== undefined) {
    await endOwnSession(ctx, req!);
    ended++;
  }
  await ctx.index.drop(query);
  await unlinkOtherKeys(ctx, query, ids, states);
  return ended;
}

/** Keeps the other index keys from pointing at sessions that are gone. */
async function unlinkOtherKeys(ctx: OidcContext, query: { sub?: string; sid?: string }, ids: string[], states: OidcSessionState[]): Promise<void> {
  if (query.sub !== undefined) {
    // Every session of the user is gone, so each of their IdP sessions' entries is empty now.
    for (const sid of new Set(states.map((s) => s.sid))) if (sid) await ctx.index.drop({ sid });
    return;
  }
  const subs = new Set(states.map((s) => s.sub));
  for (const sub of subs) for (const id of ids) await ctx.index.remove(id, sub);
}
