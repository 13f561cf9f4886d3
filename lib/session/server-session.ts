/**
 * getServerSession(req): the session object, refreshed first when the access token is (nearly) expired.
 * Memoised per request, so a handler, `requiresAuth()` and `sessionScript()` share one load and one refresh.
 */
import type { Request } from 'express';
import { type ContextRequest, contextOf, MEMO, type OidcContext } from '../context.js';
import { debug } from '../events.js';
import type { DpopKey } from '../oidc/dpop.js';
import { type OidcSessionState, RECORD_SLACK_MS, sessionDeadline } from '../store/ttl.js';
import type { RefreshSubject } from '../tokens/refresh.js';
import type { MintedJwt } from '../tokens/session-jwt.js';
import type { TokenRecord } from '../tokens/token-store.js';
import type { PublicSession, Session, SessionUser } from '../types.js';

/** Resolves to the session, or `null` when the request is not signed in. */
export function getServerSession(req: Request): Promise<Session | null> {
  const r = req as ContextRequest;
  const memo = r[MEMO];
  if (memo) return memo;
  let ctx: OidcContext;
  try {
    ctx = contextOf(req, 'getServerSession');
  } catch (err) {
    return Promise.reject(err);
  }
  const loaded = load(ctx, req);
  r[MEMO] = loaded;
  return loaded;
}

/** Installed as `req.getServerSession` on every request; a shared function, so no closure per request. */
export function getServerSessionMethod(this: Request): Promise<Session | null> {
  return getServerSession(this);
}

/** Drops the memo after a change in this request (update, forced refresh). */
export function forgetServerSession(req: Request): void {
  delete (req as ContextRequest)[MEMO];
}

/**
 * Builds the session. The common case (tokens cached, no refresh due, JWT cached) runs without a single
 * await: every request passes through here, and each promise hop is garbage to collect.
 */
function load(ctx: OidcContext, req: Request, record?: TokenRecord | null): Promise<Session | null> {
  const state = req.session?.oidc;
  const user = req.session?.passport?.user;
  if (!state || !user) return Promise.resolve(null);
  const cached = record ?? ctx.tokens.peek(req.sessionID);
  if (cached) {
    const fresh = ctx.refresher.ensureFresh(subjectOf(ctx, req, state), cached);
    // The JWT names the session by its opaque jsid, never the IdP sid: the JWT travels to the browser and to other
    // services, and the IdP sid is what front-channel logout takes to end the session.
    const jwtClaims = { sub: state.sub, sid: state.jsid };
    const minted = fresh instanceof Promise ? undefined : ctx.jwt.peek(state.jsid, jwtClaims);
    if (minted && !(fresh instanceof Promise)) return finish(ctx, req, state, user, fresh, minted);
  }
  return loadSlow(ctx, req, state, user, cached);
}

async function loadSlow(
  ctx: OidcContext,
  req: Request,
  state: OidcSessionState,
  user: SessionUser,
  cached: TokenRecord | null | undefined,
): Promise<Session | null> {
  let record = cached ?? (await ctx.tokens.get(req.sessionID));
  if (record) record = await ctx.refresher.ensureFresh(subjectOf(ctx, req, state), record);
  if (!record) return dropHalfSession(req);
  let minted: MintedJwt | undefined;
  try {
    minted = await ctx.jwt.get(state.jsid, { sub: state.sub, sid: state.jsid });
  } catch (err) {
    // The session stands without its JWT (the key store may be down); the browser hears of it as 'JwtError'.
    debug('session JWT could not be minted: %s', (err as Error).message);
  }
  return finish(ctx, req, state, user, record, minted);
}

/**
 * A blob whose tokens are gone (ended elsewhere, a logout that failed half-way, an eviction) is signed out:
 * it is dropped, so the cookie does not keep pointing at it and the next sign-in starts clean.
 */
async function dropHalfSession(req: Request): Promise<null> {
  await new Promise<void>((resolve) => req.session.destroy(() => resolve()));
  req.user = undefined;
  return null;
}

/** What the refresher needs to know of the request's session; its records must live until its deadline. */
function subjectOf(ctx: OidcContext, req: Request, state: OidcSessionState): RefreshSubject {
  return { sessionId: req.sessionID, sub: state.sub, sid: state.sid, req, expiresAt: sessionDeadline(state, ctx.config) + RECORD_SLACK_MS };
}

function finish(
  ctx: OidcContext,
  req: Request,
  state: OidcSessionState,
  user: SessionUser,
  record: TokenRecord,
  minted: MintedJwt | undefined,
): Promise<Session> {
  const tokenValid = record.accessTokenExpires === undefined || record.accessTokenExpires > Date.now();
  const session: Session = {
    user,
    expires: sessionDeadline(state, ctx.config),
    accessToken: record.error === 'RefreshAccessTokenUnavailable' && !tokenValid ? undefined : record.accessToken,
    accessTokenExpires: record.accessTokenExpires,
    tokenType: record.tokenType ?? 'Bearer',
    refreshToken: record.refreshToken,
    idToken: record.idToken,
    idTokenExpires: record.idTokenExpires,
    jwt: minted?.jwt,
    jwtExpires: minted?.jwtExpires,
    jwtPayload: minted?.jwtPayload,
  };
  if (state.acr !== undefined || state.amr !== undefined || state.authTime !== undefined) {
    session.auth = { acr: state.acr, amr: state.amr, authTime: state.authTime };
  }
  if (record.error) session.error = record.error;
  else if (!minted) session.error = 'JwtError';
  const shape = ctx.config.callbacks.session;
  return shape ? Promise.resolve(shape(session, req, {})) : Promise.resolve(session);
}

/**
 * Loads with a forced refresh (POST {basePath}/session `{ refresh: true }`; the BFF after an API's 401). No grant
 * when the access token is younger than `minIntervalMs` (default: the refresher's FORCE_MIN_INTERVAL_MS).
 */
export async function refreshServerSession(req: Request, minIntervalMs?: number): Promise<Session | null> {
  const ctx = contextOf(req, 'refresh');
  const state = req.session?.oidc;
  if (!state) return null;
  const current = await ctx.tokens.get(req.sessionID);
  if (!current) return null;
  const record = await ctx.refresher.force(subjectOf(ctx, req, state), current, minIntervalMs);
  forgetServerSession(req);
  const loaded = load(ctx, req, record);
  (req as ContextRequest)[MEMO] = loaded;
  return loaded;
}

/** The session's DPoP key, for the BFF's proofs (never part of the Session object). @internal */
export async function dpopKeyOf(req: Request): Promise<DpopKey | undefined> {
  const record = await contextOf(req, 'dpop').tokens.get(req.sessionID);
  return record?.tokenType === 'DPoP' ? (record.dpopKey as DpopKey | undefined) : undefined;
}

/** The session as the browser may see it: tokens only where `expose` lists them, plus the server clock. */
export function toPublicSession(session: Session, expose: ReadonlySet<string>): PublicSession {
  const out: PublicSession = { ...session, now: Date.now() };
  if (!expose.has('accessToken')) delete out.accessToken;
  if (!expose.has('idToken')) delete out.idToken;
  if (!expose.has('refreshToken')) delete out.refreshToken;
  if (!expose.has('jwt')) delete out.jwt;
  return out;
}
