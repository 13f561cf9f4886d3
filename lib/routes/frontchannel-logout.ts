/**
 * GET {basePath}/frontchannel-logout?iss=…&sid=… (OpenID Connect Front-Channel Logout 1.0), for IdPs that
 * end RP sessions only by loading this page in a hidden iframe (LemonLDAP::NG, among others). It ends every
 * session of that IdP `sid` in every instance, when `iss` is our issuer. Mounted before express-session:
 * the iframe is a third-party context whose cookies browsers withhold, so `iss` + `sid` are what count.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OidcContext } from '../context.js';
import { debug } from '../events.js';
import { destroyMatchingSessions } from '../session/revoke-sessions.js';
import { queryOf, sendHtml } from '../util/respond.js';

const PAGE = '<!doctype html><html><head><meta charset="utf-8"><title>Signed out</title></head><body>Signed out.</body></html>';

export function createFrontchannelLogoutRoute(ctx: OidcContext) {
  const { config } = ctx;
  // The IdP frames this page; nobody else may (clickjacking), and nothing in it may be cached.
  const frameAncestors = `frame-ancestors ${new URL(config.issuer).origin}`;
  return async function frontchannelLogout(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): Promise<void> {
    res.setHeader('Cache-Control', 'no-store');
    const { iss, sid } = queryOf(req);
    if (iss !== config.issuer || typeof sid !== 'string' || sid === '' || sid.length > 1024) {
      debug('front-channel logout refused: iss or sid missing or wrong');
      res.setHeader('Content-Security-Policy', "frame-ancestors 'none'");
      sendHtml(res, 400, '<!doctype html><title>Bad request</title>Front-channel logout needs this issuer and an sid.');
      return;
    }
    try {
      await destroyMatchingSessions(ctx, { sid }, undefined, 'logout');
    } catch (err) {
      next(err);
      return;
    }
    res.setHeader('Content-Security-Policy', frameAncestors);
    sendHtml(res, 200, PAGE);
  };
}
