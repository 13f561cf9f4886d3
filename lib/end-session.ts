/** Ends sessions: the caller's own (logout, expiry) or any by id (back-channel logout, revokeSessions). */
import type { Request } from 'express';
import type { OidcContext } from './context.js';
import { forgetServerSession } from './server-session.js';

/** Destroys the request's session, its tokens and its index entries; returns the ID token for id_token_hint. */
export async function endOwnSession(ctx: OidcContext, req: Request): Promise<{ idToken?: string; sub?: string; sid?: string }> {
  const state = req.session?.oidc;
  const sessionId = req.sessionID;
  let idToken: string | undefined;
  if (state) {
    idToken = (await ctx.tokens.get(sessionId).catch(() => null))?.idToken;
    await ctx.tokens.destroy(sessionId);
    await ctx.index.remove(sessionId, state.sub, state.sid);
    ctx.jwt.forget(state.jsid);
  }
  if (req.session) {
    await new Promise<void>((resolve, reject) => req.session.destroy((err: unknown) => (err ? reject(err) : resolve())));
  }
  forgetServerSession(req);
  req.user = undefined;
  return { idToken, sub: state?.sub, sid: state?.sid };
}

/** Destroys sessions by id in the shared store, so every instance sees them gone. */
export async function endSessionsById(ctx: OidcContext, ids: string[]): Promise<void> {
  for (const id of ids) {
    await ctx.tokens.destroy(id);
    await ctx.stores.store.destroyAsync(id);
  }
}
