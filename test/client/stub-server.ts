// A stand-in for the middleware's browser-facing routes, so the observer can be driven in Chromium
// before (and independently of) the real server: /auth/session (GET and POST), /auth/logout,
// /auth/login, /auth/client.js (the real route), and test pages under a strict nonce CSP.
// Its clock runs ahead of the browser's (`skew`), so expiry timing proves the correction by `now`.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createClientRoute } from '../../lib/client-route.js';

export interface StubSession {
  user: { sub: string; name?: string };
  [key: string]: unknown;
}

export interface StubState {
  /** The signed-in session (times filled in per answer), or null. */
  session: StubSession | null;
  /** Answer 503 to every session request. */
  down: boolean;
  /** Server clock minus real clock, ms. */
  skew: number;
  /** Session expiry, server clock; fixed, as a real server slides it at most once a minute. */
  expires: number;
  /** Access token lifetime (ms) for each answer that "refreshes"; 0 keeps the fields as given. */
  accessTokenTtl: number;
  accessTokenExpires: number;
  gets: number;
  peeks: number;
  posts: Array<{ headers: Record<string, unknown>; body: unknown }>;
}

export interface StubServer {
  url: string;
  state: StubState;
  serverNow(): number;
  close(): Promise<void>;
}

const NAMES = [
  'onUnauthenticated',
  'onSessionExpired',
  'onAccessTokenExpired',
  'onAccessTokenError',
  'onIdTokenExpired',
  'onIdTokenError',
  'onJwtExpired',
  'onJwtError',
  'onSignOut',
  'onSignIn',
  'onSessionUpdate',
];

/** JSON that cannot close the script element it sits in. */
const inlineJson = (value: unknown) =>
  JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export async function startStubServer(): Promise<StubServer> {
  const state: StubState = {
    session: null,
    down: false,
    skew: 600_000,
    expires: Date.now() + 600_000 + 3_600_000,
    accessTokenTtl: 0,
    accessTokenExpires: 0,
    gets: 0,
    peeks: 0,
    posts: [],
  };
  const serverNow = () => Date.now() + state.skew;

  /** The session JSON as GET /auth/session sends it; an expired access token is "refreshed". */
  const answer = () => {
    if (!state.session) return null;
    const now = serverNow();
    if (state.accessTokenTtl && state.accessTokenExpires <= now) state.accessTokenExpires = now + state.accessTokenTtl;
    return {
      expires: state.expires,
      ...state.session,
      ...(state.accessTokenTtl ? { accessTokenExpires: state.accessTokenExpires } : {}),
      now,
    };
  };

  const app = express();
  app.get('/auth/client.js', createClientRoute());
  app.get('/esm.js', (_req, res) => res.type('text/javascript').sendFile(new URL('../../dist/client/esm.js', import.meta.url).pathname));
  app.get('/auth/session', (req, res) => {
    state.gets++;
    if (req.get('x-session-peek') === '1') state.peeks++;
    if (state.down)
      return void res.status(503).json({ error: 'service_unavailable', code: 'ERR_STORE_UNAVAILABLE', message: 'store unavailable' });
    res.set('Cache-Control', 'no-store').json(answer());
  });
  app.post('/auth/session', express.json(), (req, res) => {
    state.posts.push({ headers: req.headers, body: req.body });
    if (req.get('x-oidc-session') !== '1')
      return void res.status(403).json({ error: 'forbidden', code: 'ERR_CSRF_HEADER_MISSING', message: 'missing header' });
    if (state.session && req.body?.data) state.session = { ...state.session, ...req.body.data };
    res.set('Cache-Control', 'no-store').json(answer());
  });
  app.post('/auth/logout', (_req, res) => {
    state.session = null;
    res.redirect('/out');
  });
  app.get('/auth/login', (req, res) => res.type('text').send(`login page, returnTo=${String(req.query.returnTo)}`));
  app.get('/out', (_req, res) => res.type('text').send('signed out'));

  // /page?boot=0 (no bootstrap), &esm=1 (the ESM build), &opts=<json> (useSession options).
  app.get('/page', (req, res) => {
    const nonce = randomBytes(16).toString('base64');
    const options = req.query.opts ? JSON.parse(String(req.query.opts)) : {};
    const boot =
      req.query.boot === '0'
        ? ''
        : `<script type="application/json" id="oidc-session-data" nonce="${nonce}">${inlineJson(answer())}</script>`;
    const observer =
      req.query.esm === '1'
        ? `<script type="module" nonce="${nonce}">import { useSession, getSession } from '/esm.js'; window.OidcSession = { useSession, getSession }; start();</script>`
        : `<script src="/auth/client.js" nonce="${nonce}"></script><script nonce="${nonce}">start();</script>`;
    res.set(
      'Content-Security-Policy',
      `default-src 'self'; script-src 'nonce-${nonce}'; object-src 'none'; base-uri 'none'; form-action 'self'`,
    );
    res.type('html').send(`<!doctype html><html><head><meta charset="utf-8">${boot}
<script nonce="${nonce}">
window.__log = []; window.__states = []; window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => __csp.push(e.violatedDirective));
function start() {
  const callbacks = Object.fromEntries(${JSON.stringify(NAMES)}.map((n) => [n, (s) => __log.push({ name: n, at: Date.now(), state: s.state })]));
  window.session = OidcSession.useSession({ ...callbacks, ...${inlineJson(options)} });
  __states.push(session.getSnapshot().state);
  session.subscribe((s) => __states.push(s.state));
}
</script></head><body>${observer}</body></html>`);
  });

  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    serverNow,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
