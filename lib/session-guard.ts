/**
 * Runs on every request after express-session and passport: attaches the context and
 * `req.getServerSession`, enforces the idle and absolute timeouts, and records activity — at most once per
 * `seenEvery` interval, so most requests never write the session. `X-Session-Peek: 1` never counts as activity.
 */
import type { NextFunction, Request, Response } from 'express';
import { CTX, type ContextRequest, type OidcContext } from './context.js';
import { endOwnSession } from './end-session.js';
import { fire } from './events.js';
import { getServerSessionMethod } from './server-session.js';
import { seenEvery } from './store/ttl.js';
import type { SessionExpiredReason } from './types.js';

export function createSessionGuard(ctx: OidcContext) {
  const { config } = ctx;
  const idleMs = config.idleTimeout * 1000;
  const absoluteMs = config.absoluteTimeout * 1000;
  const every = seenEvery(config);
  return function oidcSessionGuard(req: Request, _res: Response, next: NextFunction): void {
    (req as ContextRequest)[CTX] = ctx;
    req.getServerSession = getServerSessionMethod;
    const state = req.session?.oidc;
    if (!state) return next();
    const now = Date.now();
    const reason: SessionExpiredReason | undefined = now >= state.created + absoluteMs ? 'absolute'
      : now >= state.seen + idleMs ? 'idle' : undefined;
    if (!reason) {
      if (now - state.seen >= every && req.headers['x-session-peek'] !== '1') state.seen = now;
      return next();
    }
    endOwnSession(ctx, req).then((ended) => {
      fire(config.events.sessionExpired, { req, sub: ended.sub, sid: ended.sid, reason }, 'sessionExpired');
      next();
    }, next);
  };
}

/** Sets `Cache-Control: no-store` on any response that carries a Set-Cookie (installed before express-session). */
export function noStoreOnCookie(_req: Request, res: Response, next: NextFunction): void {
  const writeHead = res.writeHead;
  res.writeHead = function writeHeadNoStore(this: Response, ...args: unknown[]) {
    if (this.getHeader('set-cookie') !== undefined) this.setHeader('Cache-Control', 'no-store');
    return (writeHead as (...a: unknown[]) => Response).apply(this, args);
  } as typeof res.writeHead;
  next();
}
