/**
 * GET {basePath}/callback: passport-openidconnect checks state and exchanges the code, our verify callback
 * checks the ID token with jose; then the session id is regenerated (session fixation), the tokens are
 * written beside the new session, and the browser goes back to `returnTo`.
 */
import type { NextFunction, Request, Response } from 'express';
import { type OidcContext, STRATEGY } from '../context.js';
import { AuthError, ErrorCodes, isAuthError } from '../errors.js';
import { debugLog, fire } from '../events.js';
import { attachResponse, randomToken, refuseAfterState, transactionOf } from '../oidc/pending-login.js';
import { revokeTokens } from '../oidc/revocation.js';
import { sessionAuthOf, unmetByIdToken } from '../oidc/step-up.js';
import type { LoginResult } from '../oidc/strategy.js';
import { endSessionById } from '../session/end-session.js';
import { type OidcSessionState, RECORD_SLACK_MS, sessionDeadline } from '../store/ttl.js';
import { countLogin, endSpan, startSpan, withSpan } from '../telemetry.js';
import { accessTokenExpiry } from '../tokens/expiry.js';
import type { TokenRecord } from '../tokens/token-store.js';
import { ensureQuery, redirect } from '../util/respond.js';

const debug = debugLog('login');

/** Characters of the User-Agent kept for "your devices": enough to tell browsers apart, small in every blob. */
const USER_AGENT_MAX = 160;

/** The answers to prompt=none that only mean "not signed in there" (OIDC Core §3.1.2.6): a silent login ends signed out, not in an error. */
const SILENT_LOGIN_ERRORS = ['login_required', 'consent_required', 'interaction_required', 'account_selection_required'];

export function createCallbackRoute(ctx: OidcContext) {
  return async function callback(req: Request, res: Response, next: NextFunction): Promise<void> {
    const span = startSpan('oidc_session.callback');
    // Every way out but the success below: counted once, the span ended, then handed to the error handler.
    const fail = (err?: unknown): void => {
      if (err !== undefined) {
        const outcome = isAuthError(err) && err.code === ErrorCodes.LOGIN_DENIED ? 'cancelled' : 'failure';
        countLogin(outcome);
        debug('sign-in %s: %s', outcome, (err as { code?: unknown })?.code ?? (err as Error)?.name);
        span.setAttribute('outcome', outcome);
      }
      endSpan(span, err);
      next(err);
    };
    try {
      await ctx.ensureStrategy();
    } catch (err) {
      fail(err);
      return;
    }
    res.setHeader('Cache-Control', 'no-store');
    attachResponse(req, res);
    // The very query passport-openidconnect reads next (Express's own, or ours elsewhere).
    const query = ensureQuery(req);
    // Without a code (or an error) passport-openidconnect would treat the request as the start of a new login.
    const given = (v: unknown): boolean => typeof v === 'string' && v !== '';
    if (!given(query.code) && !given(query.error)) {
      fail(new AuthError(ErrorCodes.BAD_REQUEST, 400, 'the sign-in callback needs the code and state sent by the identity provider'));
      return;
    }
    // RFC 9207: an authorization response naming another issuer is a mix-up attempt.
    if (query.iss !== undefined && query.iss !== ctx.config.issuer) {
      fail(new AuthError(ErrorCodes.LOGIN_FAILED, 400, 'the authorization response comes from another issuer'));
      return;
    }
    // RFC 9207 §2.4: an IdP that says it sends iss always does, so a response without one may come from another.
    // Raised once the state is known to be this browser's login (a junk or replayed state is refused as such).
    const missingIss =
      query.iss === undefined &&
      (ctx.config.strictIss || (await ctx.discovery.get()).authorization_response_iss_parameter_supported === true)
        ? new AuthError(
            ErrorCodes.LOGIN_FAILED,
            400,
            'the authorization response has no iss parameter, which this identity provider always sends (RFC 9207)',
          )
        : undefined;
    if (missingIss) refuseAfterState(req, missingIss);
    if (typeof query.error === 'string' && SILENT_LOGIN_ERRORS.includes(query.error)) {
      // passport-openidconnect turns an error into AuthorizationError before it reads state: a silent login's
      // state is claimed here, so only a prompt=none login of this browser comes back signed out.
      ctx.pending.verify(req, query.state, (err, found) => {
        const tx = found ? transactionOf(req) : undefined;
        if (err) return fail(err); // a missing iss too, once the state is found good
        if (!tx?.silent)
          return fail(new AuthError(ErrorCodes.LOGIN_FAILED, 400, 'the identity provider answered the sign-in with an error'));
        countLogin('cancelled');
        debug('silent sign-in: not signed in at the identity provider (%s)', query.error);
        span.setAttribute('outcome', 'cancelled');
        endSpan(span);
        redirect(res, 302, tx.returnTo);
      });
      return;
    }
    const authenticate = ctx.passport.authenticate(
      STRATEGY,
      (err: unknown, result: LoginResult | false, info: { message?: string } | undefined) => {
        if (err) {
          fail(loginError(err));
          return;
        }
        if (!result) {
          const message = info?.message ?? 'invalid state';
          fail(
            query.error === 'access_denied'
              ? new AuthError(ErrorCodes.LOGIN_DENIED, 403, 'the sign-in was cancelled or refused at the identity provider')
              : // passport-openidconnect's own claim checks (iss, aud, exp, nonce) run before our jose verification.
                message.startsWith('ID token')
                ? new AuthError(ErrorCodes.ID_TOKEN_INVALID, 401, `ID token rejected: ${message}`)
                : new AuthError(ErrorCodes.LOGIN_STATE_MISMATCH, 400, `sign-in could not be completed: ${message}`),
          );
          return;
        }
        complete(ctx, req, res, result).then(() => {
          // After the session is saved (complete() saves it before the redirect).
          countLogin('success');
          debug('sign-in completed');
          span.setAttribute('outcome', 'success');
          endSpan(span);
        }, fail);
      },
    );
    try {
      withSpan(span, () => authenticate(req, res, fail));
    } catch (err) {
      // Express 4, Connect and node:http drop the returned promise: a throw here must not become an unhandled rejection.
      fail(err);
    }
  };
}

async function complete(ctx: OidcContext, req: Request, res: Response, result: LoginResult): Promise<void> {
  // OIDC Core §3.1.3.7: the acr and auth_time must answer the acr_values and max_age this login asked for.
  const unmet = unmetByIdToken(transactionOf(req) ?? {}, result.idClaims);
  if (unmet) {
    // Nobody will hold these tokens: revoked in the background, as at the end of a session.
    void revokeTokens(ctx.config, ctx.discovery, { refreshToken: result.tokens.refresh_token, accessToken: result.tokens.access_token });
    throw new AuthError(ErrorCodes.INSUFFICIENT_AUTHENTICATION, 401, `sign-in refused: ${unmet}`);
  }
  const previous = req.session.oidc;
  const previousId = req.sessionID;
  // passport 0.7 regenerates the session here: new id, old one destroyed in the store.
  await new Promise<void>((resolve, reject) => req.logIn(result.user, (err) => (err ? reject(err) : resolve())));
  if (previous) {
    // A sign-in over another session: nothing of it may remain (tokens, index entries, cached JWT).
    await endSessionById(ctx, previousId, previous, { blob: false, revoke: 'background' }).catch(() => undefined);
  }
  const now = Date.now();
  const { tokens, idClaims } = result;
  const sid = typeof idClaims.sid === 'string' ? idClaims.sid : undefined;
  const state: OidcSessionState = {
    created: now,
    seen: now,
    sub: idClaims.sub,
    jsid: randomToken(16),
    ...(sid !== undefined ? { sid } : {}),
  };
  const ua = req.headers['user-agent'];
  if (typeof ua === 'string' && ua !== '') state.ua = ua.slice(0, USER_AGENT_MAX);
  const auth = sessionAuthOf(idClaims);
  if (auth.acr !== undefined) state.acr = auth.acr;
  if (auth.amr !== undefined) state.amr = auth.amr;
  if (auth.authTime !== undefined) state.authTime = auth.authTime;
  const expiresAt = sessionDeadline(state, ctx.config) + RECORD_SLACK_MS;
  const record: TokenRecord = {
    v: 1,
    accessToken: tokens.access_token,
    accessTokenIssued: now,
    accessTokenExpires: accessTokenExpiry(tokens.expires_in, tokens.access_token, now, ctx.config.defaultExpiresIn),
    refreshToken: tokens.refresh_token,
    idToken: tokens.id_token,
    idTokenExpires: typeof idClaims.exp === 'number' ? idClaims.exp * 1000 : undefined,
    // DPoP: the key stays with the tokens bound to it, server-side only.
    ...(result.dpopKey ? { dpopKey: result.dpopKey, tokenType: result.tokenType } : {}),
  };
  // Tokens first: a blob is admitted only while its tokens exist.
  await ctx.tokens.write(req.sessionID, record, null, expiresAt);
  await ctx.index.add(req.sessionID, state, expiresAt - now);
  req.session.oidc = state;
  // Saved before the redirect: express-session would otherwise save while the 302's headers are already out,
  // and a browser following them at once could arrive before the session exists.
  await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
  fire(ctx.config.events.signIn, { req, sub: idClaims.sub, sid, user: result.user }, 'signIn');
  redirect(res, 302, result.returnTo);
}

function loginError(err: unknown): unknown {
  // passport-openidconnect wraps our token-exchange errors in InternalOAuthError(…, err).
  const inner = (err as { oauthError?: unknown })?.oauthError;
  if (isAuthError(inner) && inner.code === ErrorCodes.REFRESH_FAILED) {
    // tokenRequest calls every invalid_grant a refresh failure; at the code exchange it means a dead code.
    return new AuthError(
      ErrorCodes.TOKEN_EXCHANGE_FAILED,
      400,
      'the identity provider refused the sign-in code (expired or already used); sign in again',
      { cause: inner },
    );
  }
  if (isAuthError(inner)) return inner;
  if (isAuthError(err)) return err;
  if (err instanceof Error && typeof err.message === 'string' && err.message.startsWith('ID token')) {
    return new AuthError(ErrorCodes.ID_TOKEN_INVALID, 401, `ID token rejected: ${err.message}`);
  }
  const name = (err as { name?: string })?.name;
  if (name === 'AuthorizationError') {
    return new AuthError(ErrorCodes.LOGIN_FAILED, 400, 'the identity provider answered the sign-in with an error', { cause: err });
  }
  return new AuthError(ErrorCodes.LOGIN_FAILED, 502, 'sign-in failed at the identity provider', { cause: err });
}
