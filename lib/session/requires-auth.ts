/**
 * requiresAuth(): lets signed-in requests through. Others get 401 JSON when they are API calls (they accept
 * JSON or are not GET/HEAD), or a redirect to login that comes back to the same page when they are page loads.
 */
import type { NextFunction, Request, Response } from 'express';
import { contextOf } from '../context.js';
import { ErrorCodes } from '../errors.js';
import { getServerSession } from './server-session.js';

export interface RequiresAuthOptions {
  /** Redirect page requests to login; false answers 401 JSON to every request. @default true */
  redirect?: boolean;
}

export function requiresAuth(options: RequiresAuthOptions = {}) {
  const redirect = options.redirect ?? true;
  return function requiresAuth(req: Request, res: Response, next: NextFunction): void {
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
      res.setHeader('Cache-Control', 'no-store');
      if (session?.error === 'RefreshAccessTokenUnavailable') {
        res.status(503).json({ error: 'service_unavailable', code: ErrorCodes.REFRESH_UNAVAILABLE, message: 'the identity provider cannot be reached to refresh the session; retry shortly' });
        return;
      }
      const page = (req.method === 'GET' || req.method === 'HEAD') && req.accepts(['json', 'html']) === 'html';
      if (redirect && page) {
        res.redirect(302, `${basePath}/login?returnTo=${encodeURIComponent(req.originalUrl)}`);
        return;
      }
      res.status(401).json({
        error: 'unauthenticated',
        code: session ? ErrorCodes.REFRESH_FAILED : ErrorCodes.UNAUTHENTICATED,
        message: session ? 'the session can no longer be refreshed; sign in again' : 'sign in first',
      });
    }, next);
  };
}
