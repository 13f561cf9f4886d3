/**
 * Runs on every request after express-session and passport: attaches the context and
 * `req.getServerSession`, enforces the idle and absolute timeouts, and records activity — at most once per
 * `seenEvery` interval, so most requests never write the session. `X-Session-Peek: 1` never counts as activity.
 */
import type { NextFunction, Request, Response } from 'express';
import { type ContextRequest, CTX, type OidcContext } from '../context.js';
import { debugLog, fire } from '../events.js';
import { seenEvery } from '../store/ttl.js';
import { countEnded } from '../telemetry.js';
import type { SessionExpiredReason } from '../types.js';
import { endOwnSession } from './end-session.js';
import { getServerSessionMethod } from './server-session.js';

const debug = debugLog('session');

export function createSessionGuard(ctx: OidcContext) {
  const { config } = ctx;
  const idleMs = config.idleTimeout * 1000;
  const absoluteMs = config.absoluteTimeout * 1000;
  const every = seenEvery(config);
  return function oidcSessionGuard(req: Request, res: Response, next: NextFunction): void {
    (req as ContextRequest)[CTX] = ctx;
    // Express links the response to the request; under Connect and node:http sessionScript() finds it here too.
    if (!(req as { res?: unknown }).res) (req as { res?: unknown }).res = res;
    noStoreOnNewCookie(req, res, config.cookieName);
    // Once per request prototype (Express gives each app its own), not a property write per request.
    if (req.getServerSession !== getServerSessionMethod) {
      Object.defineProperty(Object.getPrototypeOf(req), 'getServerSession', {
        value: getServerSessionMethod,
        configurable: true,
        writable: true,
      });
    }
    const state = req.session?.oidc;
    if (!state) return next();
    // What passport.session() would do with our identity deserializer, without building a strategy per request.
    req.user = req.session.passport?.user;
    const now = Date.now();
    const reason: SessionExpiredReason | undefined =
      now >= state.created + absoluteMs ? 'absolute' : now >= state.seen + idleMs ? 'idle' : undefined;
    if (!reason) {
      if (now - state.seen >= every && req.headers['x-session-peek'] !== '1') state.seen = now;
      return next();
    }
    endOwnSession(ctx, req, 'background').then((ended) => {
      countEnded(reason);
      debug('session ended: %s timeout', reason);
      fire(config.events.sessionExpired, { req, sub: ended.sub, sid: ended.sid, reason }, 'sessionExpired');
      next();
    }, next);
  };
}

/**
 * Makes any response that sets the session cookie `no-store`, whatever cookie the request carried: a shared
 * cache must never hand one user's fresh session cookie to another. express-session sets the cookie from
 * inside writeHead, through setHeader, so a setHeader hook sees it in time. Only requests whose cookie does
 * not carry this very session id can get a new cookie; the signed-in hot path skips the hook.
 */
function noStoreOnNewCookie(req: Request, res: Response, cookieName: string): void {
  const cookie = req.headers.cookie;
  if (cookie !== undefined && req.sessionID !== undefined && cookie.includes(req.sessionID)) return;
  const setHeader = res.setHeader;
  res.setHeader = function setHeaderNoStore(this: Response, name: string, value: number | string | readonly string[]) {
    if (name.toLowerCase() === 'set-cookie' && String(value).includes(`${cookieName}=`)) setHeader.call(this, 'Cache-Control', 'no-store');
    return setHeader.call(this, name, value);
  } as typeof res.setHeader;
}
