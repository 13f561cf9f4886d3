/** Everything one `oidcSession()` instance shares between its routes, built once at startup. */
import type { Request } from 'express';
import { Passport } from 'passport';
import type { Config } from './config.js';
import { AuthError, ErrorCodes } from './errors.js';
import { createDiscovery, type Discovery } from './oidc/discovery.js';
import { PendingLogins } from './oidc/pending-login.js';
import { createStrategy } from './oidc/strategy.js';
import { SessionIndex } from './session/session-index.js';
import type { StorageBackend } from './store/backend.js';
import type { GuardedStore } from './store/guarded-store.js';
import { createKeyring, memoryKeyBackend } from './tokens/jwt-keys.js';
import { Refresher } from './tokens/refresh.js';
import { createSessionJwt } from './tokens/session-jwt.js';
import { TokenStore } from './tokens/token-store.js';
import type { Session } from './types.js';

export const STRATEGY = 'oidc-session';
export const CTX = Symbol('oidc-session.context');
export const MEMO = Symbol('oidc-session.memo');

export interface OidcContext {
  config: Config;
  discovery: Discovery;
  passport: InstanceType<typeof Passport>;
  backend: StorageBackend;
  /** The session store express-session uses. */
  store: GuardedStore;
  tokens: TokenStore;
  refresher: Refresher;
  jwt: ReturnType<typeof createSessionJwt>;
  index: SessionIndex;
  pending: PendingLogins;
  /** Discovery, then the passport strategy; retried after a failure (the IdP may be down at startup). */
  ensureStrategy(): Promise<void>;
}

export interface ContextRequest extends Request {
  [CTX]?: OidcContext;
  [MEMO]?: Promise<Session | null>;
}

export function createContext(config: Config, backend: StorageBackend, store: GuardedStore, warn: (msg: string) => void): OidcContext {
  const discovery = createDiscovery(config);
  const passport = new Passport();
  // The whole user object is the session's user: no database lookup per request.
  passport.serializeUser((user, done) => done(null, user));
  passport.deserializeUser((user: Express.User, done) => done(null, user));
  const tokens = new TokenStore(backend);
  const keyring = createKeyring({
    alg: config.jwt.alg,
    configured: config.jwt.keys,
    backend: config.jwt.keys ? memoryKeyBackend() : backend.keys,
    warn,
  });
  const jwt = createSessionJwt({ issuer: config.baseURL, audience: config.jwt.audience, ttl: config.jwt.ttl, keyring });
  const pending = new PendingLogins(config, backend);
  let strategyReady: Promise<void> | undefined;
  const ensureStrategy = (): Promise<void> => {
    strategyReady ??= discovery
      .get()
      .then((meta) => {
        passport.use(STRATEGY, createStrategy(config, meta, discovery, pending));
      })
      .catch((err: unknown) => {
        strategyReady = undefined;
        throw err;
      });
    return strategyReady;
  };
  return {
    config,
    discovery,
    passport,
    backend,
    store,
    tokens,
    jwt,
    pending,
    ensureStrategy,
    refresher: new Refresher(config, discovery, tokens, backend.lock),
    index: new SessionIndex(backend),
  };
}

export function contextOf(req: Request, caller: string): OidcContext {
  const ctx = (req as ContextRequest)[CTX];
  if (!ctx) {
    throw new AuthError(
      ErrorCodes.NOT_MOUNTED,
      500,
      `${caller}: no oidcSession() middleware ran for this request; add app.use(oidcSession({...})) before this route`,
    );
  }
  return ctx;
}
