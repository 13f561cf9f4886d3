/**
 * GET {basePath}/login: starts the authorization code flow with state, nonce and PKCE (S256), plus the
 * per-login `prompt`, `login_hint`, `ui_locales`, `acr_values` and `max_age` of the query (lib/oidc/login-params.ts).
 */

import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { warnOnce } from '../config.js';
import { type OidcContext, STRATEGY } from '../context.js';
import { type LoginParams, parseLoginParams } from '../oidc/login-params.js';
import { attachResponse, type LoginState, randomToken } from '../oidc/pending-login.js';
import { safeReturnTo } from '../return-to.js';
import { markSilentAttempt } from '../session/attempt-silent-login.js';
import { ensureQuery, isSecure, queryOf } from '../util/respond.js';

export function createLoginRoute(ctx: OidcContext) {
  return async function login(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      await ctx.ensureStrategy();
    } catch (err) {
      next(err);
      return;
    }
    if (ctx.config.secure && !isSecure(req)) {
      // express-session refuses to send a Secure cookie over what it thinks is http: the login would loop.
      warnOnce(
        'express-oidc-session: baseURL is https but this request arrived over http, so the session cookie ' +
          "cannot be set. Behind a TLS-terminating proxy, call app.set('trust proxy', 1).",
      );
    }
    const query = queryOf(req);
    let params: LoginParams;
    try {
      // Refused before anything is stored or sent to the IdP: a bad value is the caller's mistake.
      params = parseLoginParams(query);
    } catch (err) {
      next(err);
      return;
    }
    const returnTo = safeReturnTo(query.returnTo, ctx.config.baseURL);
    const verifier = randomToken(32);
    const codeChallenge = createHash('sha256').update(verifier).digest('base64url');
    res.setHeader('Cache-Control', 'no-store');
    attachResponse(req, res);
    // What the callback must check comes back to it in the pending-login cookie.
    const state: LoginState = {
      returnTo,
      verifier,
      acrValues: params.acr_values,
      maxAge: params.max_age,
      silent: params.prompt === 'none',
    };
    // A silent login tried by the browser counts for attemptSilentLogin() too: it is not tried again.
    if (state.silent) markSilentAttempt(res, ctx.config);
    try {
      ensureQuery(req);
      ctx.passport.authenticate(STRATEGY, { state, codeChallenge, loginParams: params } as never)(req, res, next);
    } catch (err) {
      // Express 4, Connect and node:http drop the returned promise: a throw here must not become an unhandled rejection.
      next(err);
    }
  };
}
