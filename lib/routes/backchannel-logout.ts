/**
 * POST {basePath}/backchannel-logout (OIDC Back-Channel Logout 1.0): the IdP, server to server, posts a
 * signed logout token; every session of its `sid` (or of its `sub` when it names no `sid`) ends in every
 * instance. It is mounted before express-session: the IdP has no session cookie, must never be handed one,
 * and no same-origin check applies (the request does not come from a browser).
 */
import bodyParser from 'body-parser';
import type { NextFunction, Request, Response } from 'express';
import type { OidcContext } from '../context.js';
import { AuthError, ErrorCodes, isAuthError } from '../errors.js';
import { debug, fire } from '../events.js';
import { invalid, type LogoutClaims, verifyLogoutToken } from '../oidc/logout-token.js';
import { destroyMatchingSessions } from '../session/revoke-sessions.js';
import type { Claim } from '../store/backend.js';
import { type NodeHandler, sendJson } from '../util/respond.js';

const parseForm: NodeHandler = bodyParser.urlencoded({ extended: false, limit: '32kb', parameterLimit: 20 });

export function createBackchannelLogoutRoute(ctx: OidcContext) {
  const { config } = ctx;

  const guard = function backchannelMethod(req: Request, res: Response, next: NextFunction): void {
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      next(new AuthError(ErrorCodes.METHOD_NOT_ALLOWED, 405, 'back-channel logout takes a POST from the identity provider'));
      return;
    }
    // Any unreadable body (too large, bad charset) is an invalid logout request, answered as the spec says.
    parseForm(req, res, (err?: unknown) => (err ? refuse(res, invalid('the body must be a form with a logout_token')) : next()));
  };

  const handle = async function backchannelLogout(req: Request, res: Response, next: NextFunction): Promise<void> {
    const body = req.body as Record<string, unknown> | undefined;
    let claims: LogoutClaims;
    let claim: Claim | null;
    try {
      const meta = await ctx.discovery.get();
      claims = await verifyLogoutToken(body?.logout_token, await ctx.discovery.jwks(), {
        issuer: config.issuer,
        clientId: config.clientId,
        algorithms: meta.id_token_signing_alg_values_supported,
      });
      // Only now, with the signature checked, may the token take a place in the replay memory.
      claim = await ctx.backend.claim(`jti:${claims.jti}`, Math.max(1000, claims.acceptableUntil * 1000 - Date.now()));
      if (!claim) throw invalid('logout_token was already used (jti replayed)');
    } catch (err) {
      if (isAuthError(err) && err.code === ErrorCodes.LOGOUT_TOKEN_INVALID) refuse(res, err);
      else next(err);
      return;
    }
    // Both when the token has both: an IdP whose ID tokens carried no sid still ends that user's sessions.
    const query = { sid: claims.sid, sub: claims.sub };
    let sessions: number;
    try {
      sessions = await destroyMatchingSessions(ctx, query, undefined, 'backchannel');
    } catch (err) {
      // Not done: let the IdP's retry of this same token through.
      await claim.release().catch(() => undefined);
      next(err);
      return;
    }
    fire(config.events.backchannelLogout, { req, sub: claims.sub, sid: claims.sid, sessions }, 'backchannelLogout');
    res.statusCode = 200;
    res.end();
  };

  return [guard, handle];
}

function refuse(res: Response, err: AuthError): void {
  debug('back-channel logout refused: %s', err.message);
  sendJson(res, 400, { error: 'invalid_request', error_description: err.message, code: err.code, message: err.message });
}
