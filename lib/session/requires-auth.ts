/**
 * requiresAuth(): lets signed-in requests through. Others get 401 JSON when they are API calls (they accept
 * JSON or are not GET/HEAD), or a redirect to login that comes back to the same page when they are page loads.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';
import { contextOf } from '../context.js';
import { ErrorCodes } from '../errors.js';
import type { Session } from '../types.js';
import { getServerSession } from './server-session.js';
import { originalUrlOf, prefersHtml, redirect as redirectTo, sendJson } from '../util/respond.js';

export interface RequiresAuthOptions {
  /** Redirect page requests to login; false answers 401 JSON to every request. @default true */
  redirect?: boolean;
}

export function requiresAuth(options: RequiresAuthOptions = {}) {
  const redirect = options.redirect ?? true;
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
      if (session && (!session.error || session.error === 'JwtError')) return next();
      if (session?.error === 'RefreshAccessTokenUnavailable' && session.accessToken) return next();
      // Inside a promise callback a throw would be an unhandled rejection (a crashed process): it goes to next.
      try {
        refuse(req, res, session, redirect ? basePath : undefined);
      } catch (err) {
        next(err);
      }
    }, next);
  };
}

function refuse(req: IncomingMessage, res: ServerResponse, session: Session | null, loginBase: string | undefined): void {
  res.setHeader('Cache-Control', 'no-store');
  if (session?.error === 'RefreshAccessTokenUnavailable') {
    sendJson(res, 503, { error: 'service_unavailable', code: ErrorCodes.REFRESH_UNAVAILABLE, message: 'the identity provider cannot be reached to refresh the session; retry shortly' });
    return;
  }
  if (loginBase !== undefined && (req.method === 'GET' || req.method === 'HEAD') && prefersHtml(req)) {
    redirectTo(res, 302, `${loginBase}/login?returnTo=${encodeURIComponent(originalUrlOf(req))}`);
    return;
  }
  sendJson(res, 401, {
    error: 'unauthenticated',
    code: session ? ErrorCodes.REFRESH_FAILED : ErrorCodes.UNAUTHENTICATED,
    message: session ? 'the session can no longer be refreshed; sign in again' : 'sign in first',
  });
}
