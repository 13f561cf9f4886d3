/**
 * POST {basePath}/logout: same-origin only (a plain <form method="post"> works, a cross-site page cannot log
 * anyone out). The local session is destroyed first — logout notifications to the IdP are unreliable — then
 * the browser goes to the IdP's end_session_endpoint (RP-initiated logout) or to postLogoutRedirect.
 */
import type { NextFunction, Request, Response } from 'express';
import type { OidcContext } from '../context.js';
import { endOwnSession } from '../end-session.js';
import { AuthError, ErrorCodes } from '../errors.js';
import { fire } from '../events.js';
import { randomToken } from '../oidc/transactions.js';
import { safeReturnTo } from '../return-to.js';
import { isSameOrigin } from '../same-origin.js';

export function createLogoutRoute(ctx: OidcContext) {
  const { config } = ctx;
  return async function logout(req: Request, res: Response, next: NextFunction): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      next(new AuthError(ErrorCodes.METHOD_NOT_ALLOWED, 405, 'logout needs a POST from this site (a form or fetch); a link cannot log out'));
      return;
    }
    if (!isSameOrigin(req, config.origin)) {
      next(new AuthError(ErrorCodes.FORBIDDEN_ORIGIN, 403, 'logout must come from this site (Origin or Sec-Fetch-Site)'));
      return;
    }
    try {
      const ended = await endOwnSession(ctx, req);
      res.clearCookie(config.cookieName, { path: '/', httpOnly: true, secure: config.secure, sameSite: config.sameSite });
      if (ended.sub) fire(config.events.signOut, { req, sub: ended.sub, sid: ended.sid }, 'signOut');
      const target = config.baseURL + config.postLogoutRedirect;
      const endpoint = config.idpLogout ? await endSessionEndpoint(ctx) : undefined;
      if (!endpoint || !ended.sub) {
        // Local logout may honour a same-origin returnTo; the IdP only returns to the registered page.
        res.redirect(303, config.baseURL + safeReturnTo(req.query.returnTo, config.baseURL, config.postLogoutRedirect));
        return;
      }
      const url = new URL(endpoint);
      url.searchParams.set('client_id', config.clientId);
      if (ended.idToken) url.searchParams.set('id_token_hint', ended.idToken);
      url.searchParams.set('post_logout_redirect_uri', target);
      // The landing page is fixed, so a foreign or missing state on the way back can only reach it.
      url.searchParams.set('state', randomToken(16));
      res.redirect(303, url.href);
    } catch (err) {
      next(err);
    }
  };
}

async function endSessionEndpoint(ctx: OidcContext): Promise<string | undefined> {
  try {
    return (await ctx.discovery.get()).end_session_endpoint;
  } catch {
    // The IdP being down must not keep the user signed in here: local logout still happened.
    return undefined;
  }
}
