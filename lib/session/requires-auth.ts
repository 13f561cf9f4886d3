/**
 * requiresAuth(): lets signed-in requests through. Others get 401 JSON when they are API calls (they accept
 * JSON or are not GET/HEAD), or a redirect to login that comes back to the same page when they are page loads.
 * With `acr` / `maxAge` a session whose sign-in is too weak or too old is sent to step up (RFC 9470).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';
import { contextOf } from '../context.js';
import { ErrorCodes } from '../errors.js';
import { type AuthRequirement, authRequirement, satisfies, stepUpChallenge, stepUpQuery } from '../oidc/step-up.js';
import type { Session } from '../types.js';
import { originalUrlOf, prefersHtml, redirect as redirectTo, sendJson } from '../util/respond.js';
import { getServerSession } from './server-session.js';

export interface RequiresAuthOptions {
  /** Redirect page requests to login; false answers 401 JSON to every request. @default true */
  redirect?: boolean;
  /**
   * Acceptable `acr` values of the sign-in (`session.auth.acr`). A session signed in otherwise is stepped up: page
   * loads go to login with `acr_values`, API calls get `401 { error: 'insufficient_user_authentication' }` and a
   * `WWW-Authenticate: Bearer error="insufficient_user_authentication", acr_values="…"` (RFC 9470).
   * @default undefined (any)
   * @example requiresAuth({ acr: 'urn:example:mfa' })
   */
  acr?: string | string[];
  /**
   * Seconds since the user last authenticated at the IdP (`session.auth.authTime`); older, or unknown, is stepped up
   * as for `acr`, with `max_age`.
   * @default undefined (any age)
   * @example requiresAuth({ maxAge: 300 })   // re-authenticated within 5 minutes
   */
  maxAge?: number;
}

export function requiresAuth(options: RequiresAuthOptions = {}) {
  const redirect = options.redirect ?? true;
  const need = authRequirement(options.acr, options.maxAge);
  const stepUp = need.acr !== undefined || need.maxAge !== undefined;
  // Node's req/res in the signature: Express, Connect and node:http all call it this way.
  return function requiresAuth(incoming: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    const req = incoming as Request;
    let basePath: string;
    try {
      basePath = contextOf(req, 'requiresAuth()').config.basePath;
    } catch (err) {
      next(err);
      return;
    }
    getServerSession(req).then((session) => {
      const usable =
        session &&
        (!session.error || session.error === 'JwtError' || (session.error === 'RefreshAccessTokenUnavailable' && session.accessToken));
      if (usable && (!stepUp || satisfies(session.auth, need))) return next();
      // Inside a promise callback a throw would be an unhandled rejection (a crashed process): it goes to next.
      try {
        if (usable) stepUpRefusal(req, res, need, redirect ? basePath : undefined);
        else refuse(req, res, session, redirect ? basePath : undefined, need);
      } catch (err) {
        next(err);
      }
    }, next);
  };
}

/** Signed in, but not as this route needs: sign in again, asking the IdP for it. */
function stepUpRefusal(req: IncomingMessage, res: ServerResponse, need: AuthRequirement, loginBase: string | undefined): void {
  res.setHeader('Cache-Control', 'no-store');
  if (loginBase !== undefined && (req.method === 'GET' || req.method === 'HEAD') && prefersHtml(req)) {
    redirectTo(res, 302, `${loginBase}/login?returnTo=${encodeURIComponent(originalUrlOf(req))}${stepUpQuery(need)}`);
    return;
  }
  res.setHeader('WWW-Authenticate', stepUpChallenge(need));
  sendJson(res, 401, {
    error: 'insufficient_user_authentication',
    code: ErrorCodes.INSUFFICIENT_AUTHENTICATION,
    message: 'this needs a stronger or more recent sign-in',
    ...(need.acr ? { acr_values: need.acr.join(' ') } : {}),
    ...(need.maxAge !== undefined ? { max_age: need.maxAge } : {}),
  });
}

function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  session: Session | null,
  loginBase: string | undefined,
  need: AuthRequirement,
): void {
  res.setHeader('Cache-Control', 'no-store');
  if (session?.error === 'RefreshAccessTokenUnavailable') {
    sendJson(res, 503, {
      error: 'service_unavailable',
      code: ErrorCodes.REFRESH_UNAVAILABLE,
      message: 'the identity provider cannot be reached to refresh the session; retry shortly',
    });
    return;
  }
  if (loginBase !== undefined && (req.method === 'GET' || req.method === 'HEAD') && prefersHtml(req)) {
    // The first sign-in already asks for what the route needs.
    redirectTo(res, 302, `${loginBase}/login?returnTo=${encodeURIComponent(originalUrlOf(req))}${stepUpQuery(need)}`);
    return;
  }
  sendJson(res, 401, {
    error: 'unauthenticated',
    code: session ? ErrorCodes.REFRESH_FAILED : ErrorCodes.UNAUTHENTICATED,
    message: session ? 'the session can no longer be refreshed; sign in again' : 'sign in first',
  });
}
