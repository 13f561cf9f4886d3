/**
 * POST {basePath}/logout: same-origin only (a plain <form method="post"> works, a cross-site page cannot log
 * anyone out). The local session is destroyed first — logout notifications to the IdP are unreliable — then
 * the browser goes to the IdP's end_session_endpoint (RP-initiated logout) or to postLogoutRedirect.
 * GET {basePath}/logged-out: where the IdP sends the browser back; a clean redirect to postLogoutRedirect.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { OidcContext } from '../context.js';
import { AuthError, ErrorCodes } from '../errors.js';
import { debugLog, fire } from '../events.js';
import { safeReturnTo } from '../return-to.js';
import { isSameOrigin } from '../same-origin.js';
import { endOwnSession } from '../session/end-session.js';
import { countEnded } from '../telemetry.js';
import { escapeHtml } from '../util/html.js';
import { clearCookie, queryOf, redirect } from '../util/respond.js';

const SAME_SITE = { lax: 'Lax', strict: 'Strict', none: 'None' } as const;

const debug = debugLog('logout');

export function createLogoutRoute(ctx: OidcContext) {
  const { config } = ctx;
  return async function logout(req: Request, res: Response, next: NextFunction): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      next(
        new AuthError(ErrorCodes.METHOD_NOT_ALLOWED, 405, 'logout needs a POST from this site (a form or fetch); a link cannot log out'),
      );
      return;
    }
    if (!isSameOrigin(req, config.origin)) {
      next(new AuthError(ErrorCodes.FORBIDDEN_ORIGIN, 403, 'logout must come from this site (Origin or Sec-Fetch-Site)'));
      return;
    }
    try {
      const ended = await endOwnSession(ctx, req);
      if (ended.sub) countEnded('logout');
      debug(ended.sub ? 'signed out' : 'logout without a session');
      clearCookie(res, config.cookieName, { path: '/', secure: config.secure, sameSite: SAME_SITE[config.sameSite] });
      if (ended.sub) fire(config.events.signOut, { req, sub: ended.sub, sid: ended.sid }, 'signOut');
      const endpoint = config.idpLogout ? await endSessionEndpoint(ctx) : undefined;
      if (!endpoint || !ended.sub) {
        // Local logout may honour a same-origin returnTo; the IdP only returns to the registered page.
        redirect(res, 303, config.baseURL + safeReturnTo(queryOf(req).returnTo, config.baseURL, config.postLogoutRedirect));
        return;
      }
      const url = new URL(endpoint);
      url.searchParams.set('client_id', config.clientId);
      if (ended.idToken) url.searchParams.set('id_token_hint', ended.idToken);
      // Our own landing route, not the app's page: it exists whatever routes the app has, and it drops whatever
      // query the IdP appends. No state: nothing on the way back is checked, so it would only end up in the URL.
      url.searchParams.set('post_logout_redirect_uri', loggedOutURL(config));
      redirect(res, 303, url.href);
    } catch (err) {
      next(err);
    }
  };
}

/** The post_logout_redirect_uri to register at the IdP. */
export function loggedOutURL(config: OidcContext['config']): string {
  return `${config.baseURL}${config.basePath}/logged-out`;
}

/**
 * GET {basePath}/logged-out: checks nothing and redirects (303, no query) to postLogoutRedirect. When
 * postLogoutRedirect is this route itself, it answers a small "You are signed out" page instead, for apps
 * that have no page of their own for it.
 */
export function createLoggedOutRoute(ctx: OidcContext) {
  const { config } = ctx;
  const self = `${config.basePath}/logged-out`;
  const showsPage = config.postLogoutRedirect.split(/[?#]/)[0] === self;
  const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Signed out</title></head><body><h1>You are signed out</h1>
<p><a href="${escapeHtml(`${config.basePath}/login`)}">Sign in again</a></p></body></html>`;
  return function loggedOut(req: IncomingMessage, res: ServerResponse): void {
    const headers: Record<string, string> = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' };
    if (!showsPage || (req.url ?? '').includes('?')) {
      res.writeHead(303, { ...headers, Location: showsPage ? config.baseURL + self : config.baseURL + config.postLogoutRedirect }).end();
      return;
    }
    res
      .writeHead(200, {
        ...headers,
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
        'X-Content-Type-Options': 'nosniff',
      })
      .end(req.method === 'HEAD' ? undefined : page);
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
