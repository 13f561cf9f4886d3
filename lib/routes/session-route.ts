/**
 * GET {basePath}/session: the session JSON (tokens only as `expose` allows) or null, never cached.
 * POST {basePath}/session: `{ refresh: true }` forces a refresh; `{ data }` goes through callbacks.session; `{}` reads.
 * POST needs a same-origin request and the script's custom header, so a cross-site page needs a CORS
 * preflight that is never granted.
 */
import bodyParser from 'body-parser';
import type { NextFunction, Request, Response } from 'express';
import { contextOf, type OidcContext } from '../context.js';
import { AuthError, ErrorCodes } from '../errors.js';
import { isSameOrigin } from '../same-origin.js';
import { forgetServerSession, getServerSession, refreshServerSession, toPublicSession } from '../session/server-session.js';
import { type NodeHandler, sendJson } from '../util/respond.js';

export const CSRF_HEADER = 'x-oidc-session';

export function createSessionRoute(ctx: OidcContext) {
  const { expose } = ctx.config;
  return async function sessionRoute(req: Request, res: Response, next: NextFunction): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    try {
      const session = await getServerSession(req);
      sendJson(res, 200, session ? toPublicSession(session, expose) : null);
    } catch (err) {
      next(err);
    }
  };
}

// body-parser (what express.json is) works on Node's own req/res.
const parseJson: NodeHandler = bodyParser.json({ limit: '16kb', strict: true, type: () => true });

export function createSessionUpdateRoute(ctx: OidcContext) {
  const { config } = ctx;
  const update = async function sessionUpdate(req: Request, res: Response, next: NextFunction): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    try {
      const body: unknown = req.body;
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        throw new AuthError(ErrorCodes.BAD_REQUEST, 400, 'body must be a JSON object: { "refresh": true } or { "data": … }');
      }
      const { refresh, data } = body as { refresh?: unknown; data?: unknown };
      if (refresh !== undefined && refresh !== true)
        throw new AuthError(ErrorCodes.BAD_REQUEST, 400, '"refresh" must be true when present');
      const current = refresh ? await refreshServerSession(req) : await getServerSession(req);
      if (!current) throw new AuthError(ErrorCodes.UNAUTHENTICATED, 401, 'not signed in');
      let session = current;
      if (!refresh && 'data' in body) {
        const shape = contextOf(req, 'session update').config.callbacks.session;
        if (!shape) throw new AuthError(ErrorCodes.BAD_REQUEST, 400, 'session updates are disabled: the server has no callbacks.session');
        session = await shape(current, req, { update: data });
        if (session?.user && session.user.sub === current.user.sub && req.session.passport) {
          req.session.passport.user = session.user;
          // Stored before answering, so the script's next read (or another tab's) sees the update.
          await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
        }
        forgetServerSession(req);
      }
      sendJson(res, 200, toPublicSession(session, config.expose));
    } catch (err) {
      next(err);
    }
  };
  return [
    function sessionUpdateGuard(req: Request, _res: Response, next: NextFunction): void {
      if (!isSameOrigin(req, config.origin)) {
        next(new AuthError(ErrorCodes.FORBIDDEN_ORIGIN, 403, 'session updates must come from this site'));
        return;
      }
      if (req.headers[CSRF_HEADER] !== '1') {
        next(
          new AuthError(
            ErrorCodes.CSRF_HEADER_MISSING,
            403,
            `session updates need the header ${CSRF_HEADER}: 1 (the browser script sends it)`,
          ),
        );
        return;
      }
      next();
    },
    parseJson,
    update,
  ];
}
