/**
 * attemptSilentLogin(): for page routes. A browser without a session is sent once per browser session to
 * `{basePath}/login?prompt=none`: signed in at the IdP already, it comes back signed in here without a page;
 * otherwise the IdP answers login_required and it comes back to the same page, signed out. A session cookie
 * remembers the attempt (as express-openid-connect's `skipSilentLogin` does), so it is made once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';
import type { Config } from '../config.js';
import { contextOf } from '../context.js';
import { cookiesWithPrefix } from '../util/cookies.js';
import { originalUrlOf, pathOf, prefersHtml, redirect } from '../util/respond.js';
import { getServerSession } from './server-session.js';

export function silentCookieName(config: Pick<Config, 'cookieName'>): string {
  return `${config.cookieName}.silent`;
}

/**
 * Remembers that a silent login was tried: a cookie without Max-Age, so it lasts as long as the browser
 * session. Path=/ because every page route reads it (it also fits a `__Host-` cookie name).
 */
export function markSilentAttempt(res: ServerResponse, config: Pick<Config, 'cookieName' | 'secure'>): void {
  const cookie = `${silentCookieName(config)}=1; Path=/; HttpOnly; SameSite=Lax${config.secure ? '; Secure' : ''}`;
  const prev = res.getHeader('Set-Cookie');
  res.setHeader('Set-Cookie', prev === undefined ? [cookie] : Array.isArray(prev) ? [...prev, cookie] : [String(prev), cookie]);
}

function triedSilently(req: IncomingMessage, config: Pick<Config, 'cookieName'>): boolean {
  const name = silentCookieName(config);
  return cookiesWithPrefix(req, name).some(([n]) => n === name);
}

/**
 * @example app.get('/', attemptSilentLogin(), (req, res) => res.send(req.user ? 'hello' : 'welcome'))
 */
export function attemptSilentLogin() {
  return function attemptSilentLogin(incoming: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    const req = incoming as Request;
    let config: Config;
    try {
      config = contextOf(req, 'attemptSilentLogin()').config;
    } catch (err) {
      next(err);
      return;
    }
    // Page loads only: an API call or a form post cannot follow a round trip through the IdP.
    if (req.method !== 'GET' || !prefersHtml(req) || triedSilently(req, config)) return next();
    const url = originalUrlOf(req);
    // The middleware's own routes (when it is mounted app-wide).
    if (config.basePath !== '' && pathOf({ url } as IncomingMessage).startsWith(`${config.basePath}/`)) return next();
    getServerSession(req).then((session) => {
      if (session) return next();
      try {
        markSilentAttempt(res, config);
        res.setHeader('Cache-Control', 'no-store');
        redirect(res, 302, `${config.basePath}/login?prompt=none&returnTo=${encodeURIComponent(url)}`);
      } catch (err) {
        next(err);
      }
    }, next);
  };
}
