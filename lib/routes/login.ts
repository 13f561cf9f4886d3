/** GET {basePath}/login: starts the authorization code flow with state, nonce and PKCE (S256). */
import type { NextFunction, Request, Response } from 'express';
import { createHash } from 'node:crypto';
import { warnOnce } from '../config.js';
import { STRATEGY, type OidcContext } from '../context.js';
import { attachResponse, randomToken } from '../oidc/pending-login.js';
import { safeReturnTo } from '../return-to.js';
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
      warnOnce('express-oidc-session: baseURL is https but this request arrived over http, so the session cookie '
        + "cannot be set. Behind a TLS-terminating proxy, call app.set('trust proxy', 1).");
    }
    const returnTo = safeReturnTo(queryOf(req).returnTo, ctx.config.baseURL);
    const verifier = randomToken(32);
    const codeChallenge = createHash('sha256').update(verifier).digest('base64url');
    res.setHeader('Cache-Control', 'no-store');
    attachResponse(req, res);
    try {
      ensureQuery(req);
      ctx.passport.authenticate(STRATEGY, { state: { returnTo, verifier }, codeChallenge } as never)(req, res, next);
    } catch (err) {
      // Express 4, Connect and node:http drop the returned promise: a throw here must not become an unhandled rejection.
      next(err);
    }
  };
}
