/** GET {basePath}/login: starts the authorization code flow with state, nonce and PKCE (S256). */
import type { NextFunction, Request, Response } from 'express';
import { createHash } from 'node:crypto';
import { STRATEGY, type OidcContext } from '../context.js';
import { randomToken } from '../oidc/transactions.js';
import { safeReturnTo } from '../return-to.js';

export function createLoginRoute(ctx: OidcContext) {
  return async function login(req: Request, res: Response, next: NextFunction): Promise<void> {
    try {
      await ctx.ensureStrategy();
    } catch (err) {
      next(err);
      return;
    }
    const returnTo = safeReturnTo(req.query.returnTo, ctx.config.baseURL);
    const verifier = randomToken(32);
    const codeChallenge = createHash('sha256').update(verifier).digest('base64url');
    res.setHeader('Cache-Control', 'no-store');
    ctx.passport.authenticate(STRATEGY, { state: { returnTo, verifier }, codeChallenge } as never)(req, res, next);
  };
}
