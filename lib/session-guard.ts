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
    // Once per request prototype (Express gives each app its own), not a property write per request.
    if (req.getServerSession !== getServerSessionMethod) {
      Object.defineProperty(Object.getPrototypeOf(req), 'getServerSession', { value: getServerSessionMethod, configurable: true, writable: true });
    }
    const state = req.session?.oidc;
    if (!state) return next();
    // What passport.session() would do with our identity deserializer, without building a strategy per request.
    req.user = req.session.passport?.user;
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

/**
 * Sets `Cache-Control: no-store` on any response that carries a Set-Cookie. Installed before express-session,
 * so it sees the cookie express-session adds. A request that already carries the session cookie keeps its
 * session id, so express-session sends no new cookie and the signed-in hot path skips the wrapper; our own
 * routes that change the id (login, callback, logout) set no-store themselves.
 */
export function createNoStoreOnCookie(cookieName: string) {
  const marker = `${cookieName}=`;
  return function noStoreOnCookie(req: Request, res: Response, next: NextFunction): void {
    if (req.headers.cookie?.includes(marker)) return next();
    const writeHead = res.writeHead;
    res.writeHead = function writeHeadNoStore(this: Response, ...args: unknown[]) {
      if (this.getHeader('set-cookie') !== undefined) this.setHeader('Cache-Control', 'no-store');
      return (writeHead as (...a: unknown[]) => Response).apply(this, args);
    } as typeof res.writeHead;
    next();
  };
}
