// The example app: a server-rendered page that shows who is signed in, sign-in and sign-out buttons,
// /api/me behind requiresAuth(), and a live panel driven by the browser observer. With no ISSUER_URL it
// starts its own OIDC provider (a form where you type any user name); with no REDIS_URL it uses the
// in-memory store. Run: npm start, then open http://localhost:3000
import express from 'express';
import { randomBytes } from 'node:crypto';
import { getServerSession, oidcSession, requiresAuth, sessionScript } from '../lib/index.js';
import { startExampleProvider } from './provider.js';
import { renderPage } from './page.js';

const port = Number(process.env.PORT ?? 3000);
const baseURL = process.env.BASE_URL ?? `http://localhost:${port}`;
const clientId = process.env.CLIENT_ID ?? 'example-app';
const clientSecret = process.env.CLIENT_SECRET ?? 'example-secret-not-for-production-0123456789';

let issuer = process.env.ISSUER_URL;
if (!issuer) {
  const op = await startExampleProvider({
    port: Number(process.env.IDP_PORT ?? 4000),
    clientId,
    clientSecret,
    redirectUri: `${baseURL}/auth/callback`,
    postLogoutRedirectUri: `${baseURL}/auth/logged-out`, // the middleware's landing route, which goes on to /
  });
  issuer = op.issuer;
  console.log(`local OIDC provider: ${issuer} (type any user name to sign in)`);
}

const app = express();
// Behind a TLS-terminating proxy, express-session needs this to send a Secure cookie.
app.set('trust proxy', process.env.TRUST_PROXY === '1' ? 1 : false);
app.use((_req, res, next) => {
  res.locals.nonce = randomBytes(16).toString('base64');
  res.setHeader('Content-Security-Policy', `default-src 'self'; script-src 'nonce-${res.locals.nonce}'; style-src 'unsafe-inline'; form-action 'self' ${issuer}`);
  next();
});
app.use(oidcSession({
  issuer,
  clientId,
  clientSecret,
  baseURL,
  secret: process.env.SESSION_SECRET ?? 'example-session-secret-change-me-0123456789',
  events: {
    signIn: ({ user }) => console.log(`signed in: ${user.sub}`),
    signOut: ({ sub }) => console.log(`signed out: ${sub}`),
    refresh: ({ sub }) => console.log(`tokens refreshed for ${sub}`),
    refreshError: ({ sub, error }) => console.log(`refresh failed for ${sub}: ${error}`),
  },
}));

app.get('/', async (req, res) => {
  const session = await getServerSession(req);
  res.type('html').send(renderPage(session, await sessionScript(req, { nonce: res.locals.nonce }), res.locals.nonce));
});

app.get('/api/me', requiresAuth(), async (req, res) => {
  const session = await getServerSession(req);
  res.json({ user: session!.user, accessTokenExpires: session!.accessTokenExpires });
});

app.listen(port, () => console.log(`example app: ${baseURL}`));
