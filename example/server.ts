// The example app: a server-rendered page that shows who is signed in, sign-in and sign-out buttons,
// /api/me behind requiresAuth(), a live panel and token timeline driven by the browser observer, an API of
// its own called through remoteApi() (the BFF: the browser never holds a token) and "your devices". With no
// ISSUER_URL it starts its own OIDC provider (a form where you type any user name); with no REDIS_URL it
// uses the in-memory store. Run: npm start, then open http://localhost:3000

import { randomBytes } from 'node:crypto';
import express from 'express';
import { getServerSession, listSessions, oidcSession, remoteApi, requiresAuth, revokeSessions, sessionScript } from '../lib/index.js';
import { startExampleApi } from './api.js';
import { renderPage } from './page.js';
import { startExampleProvider } from './provider.js';

const port = Number(process.env.PORT ?? 3000);
const baseURL = process.env.BASE_URL ?? `http://localhost:${port}`;
const clientId = process.env.CLIENT_ID ?? 'example-app';
const clientSecret = process.env.CLIENT_SECRET ?? 'example-secret-not-for-production-0123456789';
// The example API's client at the IdP, for token introspection (without one at a real IdP: userinfo).
let apiClient = process.env.API_CLIENT_ID
  ? { clientId: process.env.API_CLIENT_ID, clientSecret: process.env.API_CLIENT_SECRET ?? '' }
  : undefined;

let issuer = process.env.ISSUER_URL;
if (!issuer) {
  apiClient = { clientId: 'example-api', clientSecret: 'example-api-secret-not-for-production-0123456789' };
  const op = await startExampleProvider({
    port: Number(process.env.IDP_PORT ?? 4000),
    accessTokenTtl: Number(process.env.ACCESS_TOKEN_TTL ?? 60),
    api: apiClient,
    clientId,
    clientSecret,
    redirectUri: `${baseURL}/auth/callback`,
    postLogoutRedirectUri: `${baseURL}/auth/logged-out`, // the middleware's landing route, which goes on to /
  });
  issuer = op.issuer;
  console.log(`local OIDC provider: ${issuer} (type any user name to sign in)`);
}
const api = await startExampleApi({ issuer, introspection: apiClient, port: Number(process.env.API_PORT ?? 0) });
console.log(`example API: ${api.url} (checks each token at the provider)`);

const app = express();
// Behind a TLS-terminating proxy, express-session needs this to send a Secure cookie.
app.set('trust proxy', process.env.TRUST_PROXY === '1' ? 1 : false);
app.use((_req, res, next) => {
  res.locals.nonce = randomBytes(16).toString('base64');
  res.setHeader(
    'Content-Security-Policy',
    `default-src 'self'; script-src 'nonce-${res.locals.nonce}'; style-src 'nonce-${res.locals.nonce}'; form-action 'self' ${issuer}`,
  );
  next();
});
app.use(
  oidcSession({
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
  }),
);

app.get('/', async (req, res) => {
  const session = await getServerSession(req);
  res.type('html').send(renderPage(session, await sessionScript(req, { nonce: res.locals.nonce }), res.locals.nonce));
});

app.get('/api/me', requiresAuth(), async (req, res) => {
  const session = await getServerSession(req);
  res.json({ user: session!.user, accessTokenExpires: session!.accessTokenExpires });
});

// The BFF: /api/orders/* goes to the example API with the user's fresh access token attached. Mounted before
// any body parser (it streams); the browser must send X-OIDC-Session: 1, which the observer's fetch adds.
app.use('/api/orders', remoteApi(`${api.url}/orders`, { token: 'user' }));

// "Your devices": this user's sessions, and ending one of them (this one included).
app.get('/api/devices', requiresAuth(), async (req, res) => {
  const session = await getServerSession(req);
  res.set('Cache-Control', 'no-store').json(await listSessions(req, { sub: session!.user.sub }));
});
const origin = new URL(baseURL).origin;
app.post('/api/devices/end', requiresAuth(), express.json(), async (req, res) => {
  // A state change: only from our own pages (the origin, and the header no cross-site form can send).
  const sameOrigin = req.get('origin') === origin || (!req.get('origin') && req.get('sec-fetch-site') === 'same-origin');
  if (!sameOrigin || req.get('x-oidc-session') !== '1') return void res.status(403).json({ error: 'forbidden' });
  const handle: unknown = req.body?.handle;
  if (typeof handle !== 'string' || !handle) return void res.status(400).json({ error: 'handle must be a string' });
  res.json({ ended: await revokeSessions(req, { handle }) });
});

app.listen(port, () => console.log(`example app: ${baseURL}`));
