/**
 * "Sign out everywhere": every session of a user (`sub`) or of one IdP session (`sid`), found through the
 * session index kept in the backend, so sessions living on other instances go too. Back-channel logout
 * uses the same path.
 */
import type { Request } from 'express';
import { contextOf, type OidcContext } from '../context.js';
import { AuthError, ErrorCodes } from '../errors.js';
import { debugLog } from '../events.js';
import type { OidcSessionState } from '../store/ttl.js';
import { countEnded, type EndReason } from '../telemetry.js';
import { endOwnSession, endSessionById } from './end-session.js';
import { sessionOfHandle } from './list-sessions.js';

const debug = debugLog('session');

/** Sessions ended at once by one revocation (each does a few store calls and a revocation at the IdP). */
const ENDING_CONCURRENCY = 8;

export type RevokeQuery =
  | { sub: string; sid?: undefined; handle?: undefined }
  | { sid: string; sub?: undefined; handle?: undefined }
  /** One session from `listSessions`; of the calling request's user unless `sub` names another. */
  | { handle: string; sub?: string; sid?: undefined };

/**
 * Destroys every session of that user or IdP session — or the one session of a `handle` from `listSessions` —
 * in every instance sharing the backend; resolves to how many there were. When the calling request's own
 * session is one of them it ends too, within this request.
 * @example app.post('/account/sign-out-everywhere', requiresAuth(), async (req, res) => {
 *   const session = await getServerSession(req);
 *   res.json({ ended: await revokeSessions(req, { sub: session!.user.sub }) });
 * });
 * @example app.post('/account/devices/end', requiresAuth(), express.json(), async (req, res) => {
 *   res.json({ ended: await revokeSessions(req, { handle: String(req.body.handle) }) });
 * });
 */
export async function revokeSessions(req: Request, query: RevokeQuery): Promise<number> {
  const ctx = contextOf(req, 'revokeSessions');
  const q = (query ?? {}) as { sub?: unknown; sid?: unknown; handle?: unknown };
  const valid = (v: unknown): v is string => typeof v === 'string' && v !== '';
  if (q.handle !== undefined) {
    if (!valid(q.handle) || q.sid !== undefined || (q.sub !== undefined && !valid(q.sub))) {
      throw new AuthError(ErrorCodes.BAD_REQUEST, 400, 'revokeSessions(req, query): a handle goes alone, or with the sub of its user');
    }
    return endHandle(ctx, req, q.handle, valid(q.sub) ? q.sub : undefined);
  }
  // Exactly one key: `{ sub, sid }` would be ambiguous (both, or only that IdP session?).
  if (valid(q.sub) === valid(q.sid) || (q.sub !== undefined && !valid(q.sub)) || (q.sid !== undefined && !valid(q.sid))) {
    throw new AuthError(
      ErrorCodes.BAD_REQUEST,
      400,
      'revokeSessions(req, query): query must be { sub: string }, { sid: string } or { handle: string }',
    );
  }
  return destroyMatchingSessions(ctx, valid(q.sub) ? { sub: q.sub } : { sid: q.sid as string }, req);
}

/** Ends the one session behind `handle`; 0 when the handle names none of the user's live sessions. */
async function endHandle(ctx: OidcContext, req: Request, handle: string, sub: string | undefined): Promise<number> {
  const owner = sub ?? req.session?.oidc?.sub;
  if (owner === undefined)
    throw new AuthError(ErrorCodes.UNAUTHENTICATED, 401, 'revokeSessions(req, { handle }): sign in first, or pass the sub of its user');
  const found = await sessionOfHandle(ctx, owner, handle);
  if (!found) return 0;
  if (found[0] === req.sessionID) await endOwnSession(ctx, req);
  else await endSessionById(ctx, found[0], found[1]);
  countEnded('revoked');
  return 1;
}

/**
 * Ends the sessions of `query`. With both `sid` and `sub` (a back-channel logout token may carry both): the
 * sessions of that IdP session, plus those of that user that were signed in without any IdP `sid`. `req`,
 * when given, is the calling request: its own session is ended through it, because destroying it only in
 * the store would let express-session save it again at the end of that very request. `reason` labels the
 * ended sessions in the `oidc_session.ended` counter.
 * @internal (kept out of the published .d.ts, which would otherwise reach passport's types)
 */
export async function destroyMatchingSessions(
  ctx: OidcContext,
  query: { sub?: string; sid?: string },
  req?: Request,
  reason: Extract<EndReason, 'revoked' | 'backchannel' | 'logout'> = 'revoked',
): Promise<number> {
  const matches = (s: OidcSessionState | undefined): boolean =>
    !!s &&
    (query.sid !== undefined
      ? s.sid === query.sid || (query.sub !== undefined && s.sub === query.sub && s.sid === undefined)
      : s.sub === query.sub);
  const own = req?.session?.oidc;
  const ownId = matches(own) ? req!.sessionID : undefined;
  const ids = new Set<string>();
  if (query.sid !== undefined) for (const id of await ctx.index.members({ sid: query.sid })) ids.add(id);
  if (query.sub !== undefined) for (const id of await ctx.index.members({ sub: query.sub })) ids.add(id);
  ids.delete(ownId as string);
  let ended = 0;
  const endOne = async (id: string): Promise<void> => {
    // Read first: the index may list sessions that already expired (not counted), and the blob says which
    // other index entries (the user's, or the IdP session's) point at it.
    const blob = (await ctx.store.getAsync(id)) as { oidc?: OidcSessionState } | null;
    if (!blob?.oidc) {
      await ctx.tokens.destroy(id);
      await ctx.index.forget(query, id);
    } else if (matches(blob.oidc)) {
      ended++;
      await endSessionById(ctx, id, blob.oidc);
      countEnded(reason);
    }
  };
  // A few at a time: each waits for its revocation at the IdP, and an IdP's back-channel call has a deadline.
  const queue = [...ids];
  await Promise.all(
    Array.from({ length: Math.min(ENDING_CONCURRENCY, queue.length) }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) await endOne(id);
    }),
  );
  if (ownId !== undefined) {
    await endOwnSession(ctx, req!);
    ended++;
    countEnded(reason);
  }
  if (query.sid !== undefined) await ctx.index.drop({ sid: query.sid });
  debug('%d session(s) ended (%s)', ended, reason);
  return ended;
}
