/** Ends sessions: the caller's own (logout, expiry) or any by id (back-channel logout, revokeSessions). */
import type { Request } from 'express';
import type { OidcContext } from '../context.js';
import { revokeTokens } from '../oidc/revocation.js';
import type { OidcSessionState } from '../store/ttl.js';
import type { TokenRecord } from '../tokens/token-store.js';
import { forgetServerSession } from './server-session.js';

/**
 * How a session's tokens are revoked at the IdP when it ends: awaited (a logout, a revocation: bounded by
 * httpTimeout), in the background (an expiry noticed on some request, which must not wait for the IdP), or not.
 */
export type Revocation = 'await' | 'background' | 'none';

/**
 * Destroys the request's session: its tokens first (their absence is what "ended" means to every instance,
 * so a failure after this point still leaves it signed out), then its index entries and its blob.
 * Returns the ID token for id_token_hint.
 */
export async function endOwnSession(
  ctx: OidcContext,
  req: Request,
  revoke: Revocation = 'await',
): Promise<{ idToken?: string; sub?: string; sid?: string }> {
  const state = req.session?.oidc;
  const sessionId = req.sessionID;
  let idToken: string | undefined;
  if (state) idToken = (await endSessionById(ctx, sessionId, state, { blob: false, revoke }))?.idToken;
  if (req.session) {
    await new Promise<void>((resolve, reject) => req.session.destroy((err: unknown) => (err ? reject(err) : resolve())));
  }
  forgetServerSession(req);
  req.user = undefined;
  return { idToken, sub: state?.sub, sid: state?.sid };
}

/** Ends one session by id in the shared backend, so every instance sees it gone; resolves to its last tokens. */
export async function endSessionById(
  ctx: OidcContext,
  sessionId: string,
  state: OidcSessionState,
  { blob = true, revoke = 'await' }: { blob?: boolean; revoke?: Revocation } = {},
): Promise<TokenRecord | null> {
  // From the store, not this process's cache: the refresh token to revoke is the live one, wherever it was rotated.
  const record = await ctx.tokens.read(sessionId).catch(() => null);
  await ctx.tokens.destroy(sessionId);
  ctx.jwt.forget(state.jsid);
  await ctx.index.remove(sessionId, state);
  if (blob) await ctx.store.destroyAsync(sessionId);
  if (revoke === 'await') await revokeTokens(ctx.config, ctx.discovery, record);
  else if (revoke === 'background') void revokeTokens(ctx.config, ctx.discovery, record);
  return record;
}
