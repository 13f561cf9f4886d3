/** Everything one `oidcSession()` instance shares between its routes, built once at startup. */
import type { Request } from 'express';
import { Passport } from 'passport';
import type { Config } from './config.js';
import { AuthError, ErrorCodes } from './errors.js';
import { createDiscovery, type Discovery } from './oidc/discovery.js';
import { createStrategy } from './oidc/strategy.js';
import { SessionIndex } from './session-index.js';
import type { SelectedStore } from './store/select-store.js';
import { createKeyring, memoryKeyBackend, redisKeyBackend, storeKeyBackend, type KeyBackend } from './tokens/jwt-keys.js';
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
  stores: SelectedStore;
  tokens: TokenStore;
  refresher: Refresher;
  jwt: ReturnType<typeof createSessionJwt>;
  index: SessionIndex;
  /** Discovery, then the passport strategy; retried after a failure (the IdP may be down at startup). */
  ensureStrategy(): Promise<void>;
}

export interface ContextRequest extends Request {
  [CTX]?: OidcContext;
  [MEMO]?: Promise<Session | null>;
}

export function createContext(config: Config, stores: SelectedStore, warn: (msg: string) => void): OidcContext {
  const discovery = createDiscovery(config);
  const passport = new Passport();
  // The whole user object is the session's user: no database lookup per request.
  passport.serializeUser((user, done) => done(null, user));
  passport.deserializeUser((user: Express.User, done) => done(null, user));
  const tokens = new TokenStore(stores.store, () => config.absoluteTimeout * 1000);
  // Tokens are destroyed first whenever a session ends, so their absence means "ended": never resurrect.
  stores.store.admitSession = async (sid) => (await tokens.read(sid)) !== null;
  const keyBackend = config.jwt.keys ? memoryKeyBackend()
    : stores.redis ? boundedKeyBackend(redisKeyBackend(stores.redis as never), config.storeTimeout)
      : config.store ? storeKeyBackend(stores.store) : memoryKeyBackend();
  const keyring = createKeyring({ alg: config.jwt.alg, configured: config.jwt.keys, backend: keyBackend, warn });
  const jwt = createSessionJwt({ issuer: config.baseURL, audience: config.jwt.audience, ttl: config.jwt.ttl, keyring });
  let strategyReady: Promise<void> | undefined;
  const ensureStrategy = (): Promise<void> => {
    strategyReady ??= discovery.get().then((meta) => {
      passport.use(STRATEGY, createStrategy(config, meta, discovery));
    }).catch((err: unknown) => {
      strategyReady = undefined;
      throw err;
    });
    return strategyReady;
  };
  return {
    config, discovery, passport, stores, tokens, jwt, ensureStrategy,
    refresher: new Refresher(config, discovery, tokens, stores.lock),
    index: new SessionIndex(stores.store, config.absoluteTimeout * 1000),
  };
}

/** Direct Redis calls get the same bound as store calls: a frozen Redis must not hang the first JWT mint. */
function boundedKeyBackend(backend: KeyBackend, timeoutMs: number): KeyBackend {
  const bound = <T>(pending: Promise<T>): Promise<T> => Promise.race([pending, new Promise<T>((_, reject) => {
    setTimeout(() => reject(new AuthError(ErrorCodes.STORE_UNAVAILABLE, 503, `JWT key store did not answer within ${timeoutMs} ms`)), timeoutMs).unref();
  })]);
  return { get: () => bound(backend.get()), setIfAbsent: (value) => bound(backend.setIfAbsent(value)) };
}

export function contextOf(req: Request, caller: string): OidcContext {
  const ctx = (req as ContextRequest)[CTX];
  if (!ctx) {
    throw new AuthError(ErrorCodes.NOT_MOUNTED, 500,
      `${caller}: no oidcSession() middleware ran for this request; add app.use(oidcSession({...})) before this route`);
  }
  return ctx;
}
