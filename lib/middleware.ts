/**
 * oidcSession(options): one Router with express-session, passport and the routes under basePath.
 * Everything costly (config checks, store, keyring, passport instance) happens here, once.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Router } from 'express';
import session from 'express-session';
import { createClientRoute } from './client-route.js';
import { resolveConfig, warnOnce } from './config.js';
import { createContext, type OidcContext } from './context.js';
import { createBackchannelLogoutRoute } from './routes/backchannel-logout.js';
import { createCallbackRoute } from './routes/callback.js';
import { oidcErrorHandler } from './routes/error-handler.js';
import { createFrontchannelLogoutRoute } from './routes/frontchannel-logout.js';
import { createJwksRoute } from './routes/jwks-route.js';
import { createLoginRoute } from './routes/login.js';
import { createLoggedOutRoute, createLogoutRoute } from './routes/logout.js';
import { createSessionRoute, createSessionUpdateRoute } from './routes/session-route.js';
import { createSessionGuard } from './session/session-guard.js';
import { selectBackend } from './store/select-backend.js';
import type { OidcSessionOptions } from './types.js';
import './augment.js';

/**
 * The Router returned by `oidcSession()`, with two extras for tests and graceful shutdown. Under Connect or a
 * bare node:http server the same function is plain `(req, res, next)` middleware.
 */
export interface OidcSessionRouter extends Router {
  (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void;
  /** Resolves when the store is connected (Redis); never rejects. */
  readonly ready: Promise<void>;
  /** Closes what the middleware opened (its Redis client, the memory store's sweep timer). */
  close(): Promise<void>;
  /** @internal */
  readonly context: OidcContext;
}

/**
 * @example
 * app.use(oidcSession({ issuer: 'https://idp.example.com', clientId: 'app', clientSecret, baseURL: 'https://app.example.com', secret }));
 */
export function oidcSession(options: OidcSessionOptions = {}): OidcSessionRouter {
  const config = resolveConfig(options);
  const selected = selectBackend(config, warnOnce);
  const ctx = createContext(config, selected.backend, selected.store, warnOnce);
  const router = express.Router() as OidcSessionRouter;
  const p = config.basePath;

  // Before express-session: the IdP calls it server to server, with no cookie, and must never get one.
  router.all(`${p}/backchannel-logout`, ...createBackchannelLogoutRoute(ctx));
  // Before it too: loaded by the IdP in a third-party iframe, whose cookies browsers withhold.
  router.get(`${p}/frontchannel-logout`, createFrontchannelLogoutRoute(ctx));
  // Static for the session: no store read for the script, the public keys or the post-logout landing.
  router.get(`${p}/jwks.json`, createJwksRoute(ctx));
  router.get(`${p}/client.js`, createClientRoute());
  router.get(`${p}/logged-out`, createLoggedOutRoute(ctx));
  router.use(
    session({
      name: config.cookieName,
      secret: config.secrets,
      store: selected.store,
      resave: false,
      saveUninitialized: false,
      rolling: false,
      cookie: { httpOnly: true, path: '/', sameSite: config.sameSite, secure: config.secure },
    }),
  );
  router.use(createSessionGuard(ctx));

  // passport's req.logIn & co. are needed only where a login happens; on every other request they would be
  // seven property writes for nothing (req.user is set by the guard).
  const passportInit = ctx.passport.initialize();
  router.get(`${p}/login`, passportInit, createLoginRoute(ctx));
  router.get(`${p}/callback`, passportInit, createCallbackRoute(ctx));
  router.all(`${p}/logout`, createLogoutRoute(ctx));
  router.get(`${p}/session`, createSessionRoute(ctx));
  router.post(`${p}/session`, ...createSessionUpdateRoute(ctx));
  router.use(oidcErrorHandler);

  Object.defineProperties(router, {
    ready: { value: selected.ready },
    close: { value: () => selected.close() },
    context: { value: ctx },
  });
  return router;
}
