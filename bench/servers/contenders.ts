/**
 * The apps under test. Each answers the same authenticated request, GET /me → `{ user }` as JSON, with its
 * own session layer; /session answers the session JSON where scenario 6 compares it.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import session from 'express-session';
import { Passport } from 'passport';
import { RedisStore } from 'connect-redis';
import { createClient } from 'redis';
import type { JWK } from 'jose';
import { getServerSession, oidcSession, requiresAuth } from '../../lib/index.js';

export type ContenderName = 'express' | 'sess-mem' | 'sess-redis' | 'ours-mem' | 'ours-redis' | 'eoc-cookie';

export interface AppConfig {
  contender: ContenderName;
  issuer?: string;
  clientId?: string;
  clientSecret?: string;
  redisUrl?: string;
  /** private JWKs for ours' session JWT: shared by the herd's instances, and no startup warning */
  jwtKeys?: JWK[];
}

export interface BuiltApp {
  app: Express;
  /** resolves when the app can serve (Redis connected) */
  ready?: Promise<unknown>;
  close?: () => Promise<void>;
}

/** The same secret for every process, so the herd's app instances accept one cookie. */
export const BENCH_SECRET = 'bench-session-secret-0123456789abcdefghij';

/** What bare Express returns: the user the provider gives ours, so the body is the same size. */
const BARE_USER = { sub: 'alice', name: 'Alice Test', email: 'alice@example.test' };

function unauthenticated(res: Response): void {
  res.status(401).json({ error: 'unauthenticated' });
}

function bare(): BuiltApp {
  const app = express();
  app.get('/me', (_req, res) => {
    res.json({ user: BARE_USER });
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
    app.use(session({
      secret: BENCH_SECRET,
      store,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 3_600_000, httpOnly: true, sameSite: 'lax' },
    }));
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

function ours(config: AppConfig, baseURL: string): BuiltApp {
  const app = express();
  const router = oidcSession({
    issuer: config.issuer,
    clientId: config.clientId,
    clientSecret: config.clientSecret,
    baseURL,
    secret: BENCH_SECRET,
    idpLogout: false,
    ...(config.jwtKeys ? { jwt: { keys: config.jwtKeys } } : {}),
    ...(config.redisUrl ? { redis: config.redisUrl } : {}),
  });
  app.use(router);
  app.get('/me', requiresAuth(), async (req, res) => {
    const s = await getServerSession(req);
    res.json({ user: s!.user });
  });
  // Bench-only: lets the runner copy the real user and token sizes into the baseline, and read a refresh token.
  app.get('/__tokens', async (req, res) => {
    res.json(await getServerSession(req));
  });
  return { app, ready: router.ready, close: () => router.close() };
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
  app.use(auth({
    issuerBaseURL: config.issuer,
    baseURL,
    clientID: config.clientId,
    clientSecret: config.clientSecret,
    secret: BENCH_SECRET,
    authRequired: false,
    idpLogout: false,
    authorizationParams: { response_type: 'code', response_mode: 'query', scope: 'openid profile email offline_access' },
  }));
  app.get('/me', eocRequiresAuth(), (req, res) => {
    res.json({ user: (req as unknown as { oidc: { user: unknown } }).oidc.user });
  });
  return { app };
}

export async function buildApp(config: AppConfig, baseURL: string): Promise<BuiltApp> {
  switch (config.contender) {
    case 'express': return bare();
    case 'sess-mem':
    case 'sess-redis': return sessionPassport(config);
    case 'ours-mem':
    case 'ours-redis': return ours(config, baseURL);
    case 'eoc-cookie': return eoc(config, baseURL);
    default: throw new Error(`unknown contender ${String(config.contender)}`);
  }
}
