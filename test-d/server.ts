// The README's server samples, compiled against the published types: they must type-check under
// `strict` with only the package, express, @types/express and @types/node installed.

import { randomBytes } from 'node:crypto';
import express from 'express';
import {
  AuthError,
  attemptSilentLogin,
  ConfigError,
  getServerSession,
  type OidcSessionOptions,
  oidcSession,
  requiresAuth,
  revokeSessions,
  type Session,
  type SessionAuth,
  type SessionUser,
  sessionScript,
  verifySessionJwt,
} from 'express-oidc-session';
import { assert, type Equal } from './expect.js';

const app = express();
app.use(
  oidcSession({
    issuer: 'https://idp.example.com',
    clientId: 'my-app',
    clientSecret: process.env.CLIENT_SECRET,
    baseURL: 'https://app.example.com',
    secret: process.env.SESSION_SECRET, // 32+ characters; an array rotates (first signs, all verify)
    redis: process.env.REDIS_URL, // optional: shared store + cross-instance refresh lock
  }),
);

app.get('/api/me', requiresAuth(), async (req, res) => {
  const session = await getServerSession(req); // refreshed first when the access token is (nearly) expired
  res.json({ user: session!.user });
});

// "Logout everywhere"
app.post('/account/sign-out-everywhere', requiresAuth(), async (req, res) => {
  const session = await getServerSession(req);
  res.json({ ended: await revokeSessions(req, { sub: session!.user.sub }) });
});

// "In the browser": res.locals.nonce is the app's own, set by its CSP middleware.
app.use((req, res, next) => {
  res.locals.nonce = randomBytes(16).toString('base64'); // import { randomBytes } from 'node:crypto'
  res.setHeader('Content-Security-Policy', `script-src 'nonce-${res.locals.nonce}'`);
  next();
});
app.get('/', async (req, res) =>
  res.send(`<!doctype html><head>
  ${await sessionScript(req, { nonce: res.locals.nonce })}
  </head>`),
);

// "The session JWT"
const claims = await verifySessionJwt('token', {
  jwksUrl: 'https://app.example.com/auth/jwks.json',
  issuer: 'https://app.example.com',
  audience: 'my-app',
});
assert<Equal<typeof claims.sub, string>>(true);

// What oidcSession() adds to every request: req.getServerSession() and express-session's req.session.
app.get('/typed', async (req, res) => {
  const session = await req.getServerSession();
  assert<Equal<typeof session, Session | null>>(true);
  if (session) {
    assert<Equal<typeof session.user, SessionUser>>(true);
    const sub: string = session.user.sub;
    const expires: number = session.expires;
    res.json({ sub, expires, error: session.error });
  }
  const id: string = req.session.id;
  req.session.regenerate((err: unknown) => err);
  res.end(id);
});

// Errors are matched on their code.
app.use((err: unknown, _req: express.Request, res: express.Response, next: express.NextFunction) => {
  if (err instanceof AuthError) res.status(err.status).json({ code: err.code });
  else next(err);
});
try {
  oidcSession({ clientAuthMethod: 'client_secret_basic' } satisfies OidcSessionOptions);
} catch (err) {
  if (err instanceof ConfigError) assert<Equal<typeof err.code, 'ERR_CONFIG_INVALID'>>(true);
}

// @ts-expect-error: an unknown option is a type error, not only a ConfigError at startup.
oidcSession({ issuerUrl: 'https://idp.example.com' });

// "Login options": silent login and step-up.
app.get('/welcome', attemptSilentLogin(), async (req, res) => {
  const session = await getServerSession(req);
  res.send(session ? `Welcome back, ${session.user.name ?? session.user.sub}` : 'Welcome');
});
app.post('/payments', requiresAuth({ acr: 'urn:example:mfa', maxAge: 300 }), (req, res) => {
  res.json({ ok: true });
});
app.get('/how', requiresAuth({ acr: ['urn:example:mfa', 'urn:example:hwk'] }), async (req, res) => {
  const auth: SessionAuth | undefined = (await getServerSession(req))?.auth;
  assert<Equal<typeof auth, { acr?: string; amr?: string[]; authTime?: number } | undefined>>(true);
  res.json(auth ?? null);
});
