/** GET {basePath}/jwks.json: the public keys of the session JWT, for other services to verify it. */
import type { NextFunction, Request, Response } from 'express';
import type { OidcContext } from '../context.js';
import { sendJson } from '../util/respond.js';

export function createJwksRoute(ctx: OidcContext) {
  return async function jwksRoute(_req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      const jwks = await ctx.jwt.jwks();
      // Short: a rotated key must reach verifiers well within one JWT lifetime.
      res.setHeader('Cache-Control', 'public, max-age=300');
      sendJson(res, 200, jwks);
    } catch (err) {
      next(err);
    }
  };
}
