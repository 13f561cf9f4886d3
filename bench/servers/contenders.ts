/**
 * The apps under test. Each answers the same authenticated request, GET /me → `{ user }` as JSON, with its
 * own session layer; /session answers the session JSON where scenario 6 compares it. The proxies of
 * scenario 11 answer GET /api/* from the upstream instead, with the session's access token attached.
 */
import http from 'node:http';
import { RedisStore } from 'connect-redis';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import type { JWK } from 'jose';
import { Passport } from 'passport';
import { createClient, createCluster } from 'redis';
import { getClientToken, getServerSession, oidcSession, remoteApi, requiresAuth } from '../../lib/index.js';

export type ContenderName =
  | 'express'
  | 'sess-only'
  | 'sess-mem'
  | 'sess-redis'
  | 'ours-mem'
  | 'ours-redis'
  | 'eoc-cookie'
  | 'hand-bff'
  | 'plain-proxy'
  | 'ours-proxy'
  | 'ours-proxy-dpop';

export interface AppConfig {
  contender: ContenderName;
  issuer?: string;
  clientId?: string;
  clientSecret?: string;
  redisUrl?: string;
  /** root node URLs of a Redis Cluster: ours gets `createCluster({ rootNodes })` as its `redis` (scenario 7's scale-out herd) */
  redisCluster?: string[];
  /** private JWKs for ours' session JWT: shared by the herd's instances, and no startup warning */
  jwtKeys?: JWK[];
  /** the API the proxies of scenario 11 forward /api/* to, e.g. http://127.0.0.1:41234 */
  upstream?: string;
  /** ours with `dpop: true` (scenario 14) */
  dpop?: boolean;
}

export interface BuiltApp {
  app: Express;
  /** resolves when the app can serve (Redis connected) */
  ready?: Promise<unknown>;
  close?: () => Promise<void>;
}

/** The same secret for every process, so the herd's app instances accept one cookie. */
export const BENCH_SECRET = 'bench-session-secret-0123456789abcdefghij';

/** What bare Express returns until the runner gives it the user the provider gave ours (POST /__user), so the body is the same size. */
const BARE_USER = { sub: 'alice', name: 'Alice Test', email: 'alice@example.test' };

function unauthenticated(res: Response): void {
  res.status(401).json({ error: 'unauthenticated' });
}

function bare(): BuiltApp {
  const app = express();
  let user: unknown = BARE_USER;
  // Bench-only: the runner hands it the user ours got from the provider (the realistic ID token's claims).
  app.post('/__user', express.json({ limit: '64kb' }), (req, res) => {
    user = (req.body as { user: unknown }).user;
    res.json({ ok: true });
  });
  app.get('/me', (_req, res) => {
    res.json({ user });
  });
  return { app };
}

/**
 * The hand-built stack of perf.md: express-session + passport with identity (de)serialisation. The
 * bench-only POST /__login stores exactly the user and tokens ours got from the provider, so both carry
 * the same bytes per session.
 */
function sessionPassport(config: AppConfig): BuiltApp {
  const app = express();
  let ready: Promise<unknown> | undefined;
  let close: (() => Promise<void>) | undefined;
  let store: session.Store;
  if (config.redisUrl) {
    const client = createClient({ url: config.redisUrl });
    ready = client.connect();
    close = async () => void (await client.close());
    store = new RedisStore({ client, prefix: 'sess:' });
  } else {
    store = new session.MemoryStore();
  }
  const passport = new Passport();
  passport.serializeUser((user, done) => done(null, user));
  passport.deserializeUser((user: Express.User, done) => done(null, user));
  // express-session warns about MemoryStore under NODE_ENV=production; this baseline uses it on purpose.
  const warn = console.warn;
  console.warn = () => {};
  try {
    app.use(
      session({
        secret: BENCH_SECRET,
        store,
        resave: false,
        saveUninitialized: false,
        cookie: { maxAge: 3_600_000, httpOnly: true, sameSite: 'lax' },
      }),
    );
  } finally {
    console.warn = warn;
  }
  app.use(passport.initialize());
  app.use(passport.session());
  app.post('/__login', express.json({ limit: '64kb' }), (req: Request, res: Response, next: NextFunction) => {
    const body = req.body as { user: Express.User; tokens: unknown; extras: unknown };
    req.login(body.user, (err) => {
      if (err) return next(err);
      const s = req.session as unknown as Record<string, unknown>;
      s.tokens = body.tokens;
      s.extras = body.extras;
      res.json({ ok: true });
    });
  });
  app.get('/me', (req, res) => {
    if (!req.user) return unauthenticated(res);
    res.json({ user: req.user });
  });
  // Scenario 6's baseline: the same JSON as ours' GET /auth/session, from what login stored.
  app.get('/session', (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    if (!req.user) {
      res.json(null);
      return;
    }
    const s = req.session as unknown as { extras?: Record<string, unknown> };
    res.json({ user: req.user, expires: req.session.cookie.expires?.getTime(), ...s.extras, now: Date.now() });
  });
  return { app, ready, close };
}

/**
 * `sess-only`, the ceiling for anything built on express-session: bare Express 5 + express-session
 * (MemoryStore) and a route returning `req.session.user`; no passport. POST /__login stores only the user ours
 * got (no tokens: ours keeps those in its own record, outside the express-session blob, so a blob with
 * the user is the least any stack on express-session reads and touches per request).
 */
function sessionOnly(): BuiltApp {
  const app = express();
  const warn = console.warn;
  console.warn = () => {};
  try {
    app.use(
      session({
        secret: BENCH_SECRET,
        store: new session.MemoryStore(),
        resave: false,
        saveUninitialized: false,
        cookie: { maxAge: 3_600_000, httpOnly: true, sameSite: 'lax' },
      }),
    );
  } finally {
    console.warn = warn;
  }
  app.post('/__login', express.json({ limit: '64kb' }), (req, res) => {
    (req.session as unknown as Record<string, unknown>).user = (req.body as { user: unknown }).user;
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => {
    const user = (req.session as unknown as { user?: unknown }).user;
    if (!user) return unauthenticated(res);
    res.json({ user });
  });
  return { app };
}

/**
 * The cluster client a user passes as `redis`: RESP3 with client-side caching as ours gives the client it makes from
 * a URL, and, as the Cluster integration test, no offline queue and quick slot-map refreshes.
 */
function clusterClient(urls: string[]) {
  return createCluster({
    rootNodes: urls.map((url) => ({ url })),
    RESP: 3,
    clientSideCache: { ttl: 10_000, maxEntries: 50_000, evictPolicy: 'LRU' },
    defaults: { disableOfflineQueue: true },
    topologyRefreshOnReconnectionAttemptStrategy: 300,
  });
}

function ours(config: AppConfig, baseURL: string): BuiltApp {
  const app = express();
  const cluster = config.redisCluster ? clusterClient(config.redisCluster) : undefined;
  const router = oidcSession({
    issuer: config.issuer,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    baseURL,
    secret: BENCH_SECRET,
    idpLogout: false,
    ...(config.jwtKeys ? { jwt: { keys: config.jwtKeys } } : {}),
    ...(config.redisUrl ? { redis: config.redisUrl } : {}),
    ...(cluster ? { redis: cluster } : {}),
    ...(config.dpop ? { dpop: true } : {}),
  });
  app.use(router);
  // Scenario 11: the BFF proxy as issue 11 documents it; requests carry X-OIDC-Session: 1 and the cookie.
  if (config.upstream) app.use('/api', remoteApi(config.upstream, { token: 'user' }));
  app.get('/me', requiresAuth(), async (req, res) => {
    const s = await getServerSession(req);
    res.json({ user: s!.user });
  });
  // Bench-only: lets the runner copy the real user and token sizes into the baseline, and read a refresh token.
  app.get('/__tokens', async (req, res) => {
    res.json(await getServerSession(req));
  });
  // Scenario 13: one getClientToken call per request, scope from the query (a new scope is a cold cache key).
  app.get('/__client-token', async (req, res) => {
    try {
      const scope = typeof req.query.scope === 'string' && req.query.scope ? req.query.scope : undefined;
      res.json({ token: await getClientToken(req, { scope }) });
    } catch (err) {
      res.status(500).json({ error: String((err as Error).message) });
    }
  });
  return {
    app,
    ready: router.ready,
    close: async () => {
      await router.close();
      await cluster?.close();
    },
  };
}

interface EocModule {
  auth(options: Record<string, unknown>): express.RequestHandler;
  requiresAuth(): express.RequestHandler;
}

/** express-openid-connect's defaults: encrypted cookie session, rolling, re-set on every response. */
async function eoc(config: AppConfig, baseURL: string): Promise<BuiltApp> {
  // A variable specifier: the package lives in bench/node_modules, installed on first use, so the
  // project's typecheck must not depend on it.
  const specifier = 'express-openid-connect';
  const loaded = (await import(specifier)) as EocModule & { default?: EocModule };
  // A CommonJS package: its exports arrive as the default export.
  const { auth, requiresAuth: eocRequiresAuth } = loaded.default ?? loaded;
  const app = express();
  app.use(
    auth({
      issuerBaseURL: config.issuer,
      baseURL,
      clientID: config.clientId,
      clientSecret: config.clientSecret,
      secret: BENCH_SECRET,
      authRequired: false,
      idpLogout: false,
      authorizationParams: { response_type: 'code', response_mode: 'query', scope: 'openid profile email offline_access' },
    }),
  );
  app.get('/me', eocRequiresAuth(), (req, res) => {
    res.json({ user: (req as unknown as { oidc: { user: unknown } }).oidc.user });
  });
  return { app };
}

interface HpmModule {
  createProxyMiddleware(options: Record<string, unknown>): express.RequestHandler;
}

async function loadHpm(): Promise<HpmModule['createProxyMiddleware']> {
  // As for express-openid-connect: installed into bench/node_modules on first use, outside the typecheck.
  const specifier = 'http-proxy-middleware';
  const loaded = (await import(specifier)) as HpmModule & { default?: HpmModule };
  return (loaded.default ?? loaded).createProxyMiddleware;
}

/** The session's token record as hand-built stacks keep it (the shape express-openid-connect uses too). */
interface HandTokens {
  access_token?: string;
  refresh_token?: string;
  id_token?: string;
  expires_at?: number;
}

/**
 * (a) The BFF a user builds by hand today: express-session (MemoryStore) holding the tokens, and
 * http-proxy-middleware attaching the session's access token in `on.proxyReq`. Deliberately lean (no passport,
 * no CSRF header check), so it is the fastest such stack, not a strawman. POST /__login stores the tokens.
 */
async function handBff(config: AppConfig): Promise<BuiltApp> {
  const createProxyMiddleware = await loadHpm();
  const app = express();
  const warn = console.warn;
  console.warn = () => {};
  try {
    app.use(
      session({
        secret: BENCH_SECRET,
        store: new session.MemoryStore(),
        resave: false,
        saveUninitialized: false,
        cookie: { maxAge: 3_600_000, httpOnly: true, sameSite: 'lax' },
      }),
    );
  } finally {
    console.warn = warn;
  }
  app.post('/__login', express.json({ limit: '64kb' }), (req, res) => {
    const body = req.body as { user: unknown; tokens: HandTokens };
    const s = req.session as unknown as Record<string, unknown>;
    s.user = body.user;
    s.tokens = body.tokens;
    res.json({ ok: true });
  });
  const tokensOf = (req: unknown) => ((req as Request).session as unknown as { tokens?: HandTokens }).tokens;
  app.use(
    '/api',
    (req, res, next) => {
      if (!tokensOf(req)?.access_token) return unauthenticated(res);
      next();
    },
    createProxyMiddleware({
      target: config.upstream,
      changeOrigin: true,
      // Without an agent http-proxy sends `Connection: close` and opens a connection per request.
      agent: new http.Agent({ keepAlive: true }),
      on: {
        proxyReq: (proxyReq: http.ClientRequest, req: unknown) => {
          proxyReq.removeHeader('cookie');
          proxyReq.setHeader('authorization', `Bearer ${tokensOf(req)!.access_token}`);
        },
      },
    }),
  );
  return { app };
}

/** (b) The ceiling: the same http-proxy-middleware with no session at all, one fixed token (POST /__token). */
async function plainProxy(config: AppConfig): Promise<BuiltApp> {
  const createProxyMiddleware = await loadHpm();
  const app = express();
  let token = '';
  app.post('/__token', express.json({ limit: '64kb' }), (req, res) => {
    token = String((req.body as { token: string }).token);
    res.json({ ok: true });
  });
  app.use(
    '/api',
    createProxyMiddleware({
      target: config.upstream,
      changeOrigin: true,
      agent: new http.Agent({ keepAlive: true }),
      on: {
        proxyReq: (proxyReq: http.ClientRequest) => {
          proxyReq.removeHeader('cookie');
          proxyReq.setHeader('authorization', `Bearer ${token}`);
        },
      },
    }),
  );
  return { app };
}

export async function buildApp(config: AppConfig, baseURL: string): Promise<BuiltApp> {
  switch (config.contender) {
    case 'express':
      return bare();
    case 'sess-only':
      return sessionOnly();
    case 'sess-mem':
    case 'sess-redis':
      return sessionPassport(config);
    case 'ours-mem':
    case 'ours-redis':
      return ours(config, baseURL);
    case 'eoc-cookie':
      return eoc(config, baseURL);
    case 'ours-proxy':
      return ours(config, baseURL);
    case 'ours-proxy-dpop':
      return ours({ ...config, dpop: true }, baseURL);
    case 'hand-bff':
      return handBff(config);
    case 'plain-proxy':
      return plainProxy(config);
    default:
      throw new Error(`unknown contender ${String(config.contender)}`);
  }
}
