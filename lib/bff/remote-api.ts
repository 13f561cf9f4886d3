/**
 * remoteApi(target): the BFF's reverse proxy. Streams method, headers and bodies to one configured target
 * with a fresh access token attached, on Node's own http client (node:http/https with a keep-alive agent):
 * what http-proxy-middleware does underneath, minus a dependency, and with req/res of plain node.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { AuthError, ConfigError, ErrorCodes, isAuthError } from '../errors.js';
import { debugLog } from '../events.js';
import { asksForNonce, dpopProof, rememberNonce } from '../oidc/dpop.js';
import { CSRF_HEADER } from '../routes/session-route.js';
import { traceRemoteApi } from '../telemetry.js';
import { type NodeHandler, sendJson } from '../util/respond.js';
import type { ClientTokenOptions } from './client-token.js';
import { type Credential, credentialOf, type RemoteApiToken, renewed } from './credentials.js';

export type { RemoteApiToken } from './credentials.js';

import { bodyless, htuOf, parseTarget, requestHeaders, responseHeaders, type Target, upstreamPath } from './upstream.js';

export interface RemoteApiOptions {
  /**
   * The token sent as `Authorization: Bearer …`: `'user'` the session's access token (refreshed when due;
   * without a session the browser gets `401 { error: 'unauthenticated' }`), `'client'` the app's own
   * client-credentials token (getClientToken), `'userOrClient'` the user's when signed in else the app's,
   * `'userOrNone'` the user's when signed in else none, `'none'` never one.
   * @default 'user'
   * @example app.use('/api/catalog', remoteApi('https://catalog.internal/v2', { token: 'userOrNone' }))
   */
  token?: RemoteApiToken;
  /**
   * Scopes of the client-credentials token (modes 'client' and 'userOrClient').
   * @default undefined (the IdP's default for the client)
   * @example { token: 'client', scope: 'orders:read' }
   */
  scope?: string;
  /**
   * RFC 8707 resource indicator of the client-credentials token.
   * @default undefined
   * @example { token: 'client', resource: 'https://orders.internal' }
   */
  resource?: string;
  /**
   * How long (ms) the upstream may stay silent — connecting, before its answer, or within a body — before
   * the browser gets `504 ERR_UPSTREAM_TIMEOUT` (or, once the answer has started, the connection is cut).
   * @default 30000
   * @example { timeout: 5000 }
   */
  timeout?: number;
  /**
   * On an upstream `401` to a GET or HEAD without a body: force one token refresh (for a user token only when
   * it was obtained at least 1 s ago) and send the request once more. Other 401s go to the browser as they are.
   * @default true
   * @example { retryOnUnauthorized: false }
   */
  retryOnUnauthorized?: boolean;
  /**
   * The agent for upstream connections, e.g. for a private CA (`new https.Agent({ ca, keepAlive: true })`).
   * @default a keep-alive agent of this remoteApi()
   * @example { agent: new https.Agent({ ca: readFileSync('internal-ca.pem'), keepAlive: true }) }
   */
  agent?: http.Agent;
}

const MODES: readonly RemoteApiToken[] = ['user', 'client', 'userOrClient', 'userOrNone', 'none'];
const debug = debugLog('remote-api');

interface Upstream {
  target: Target;
  mode: RemoteApiToken;
  client: ClientTokenOptions;
  timeout: number;
  retry: boolean;
  agent: http.Agent;
}

/**
 * A middleware that proxies every request under its mount point to `target`. The path below the mount point
 * and the query are appended to the target's; requests must carry `X-OIDC-Session: 1` (the browser script's
 * header: it forces a CORS preflight that is never granted, so other sites cannot send it). The browser's
 * `Cookie` and `Authorization` headers and hop-by-hop headers never reach the upstream, nor its `Set-Cookie`
 * the browser. Mount it after `oidcSession()` and before any body parser (the body is streamed, not read).
 *
 * Answers of its own, JSON `{ error, code, message }`: 403 `ERR_CSRF_HEADER_MISSING`, 400 `ERR_BAD_REQUEST`
 * (a path that could leave the target), 401 `ERR_UNAUTHENTICATED`, 502 `ERR_UPSTREAM_UNAVAILABLE`,
 * 504 `ERR_UPSTREAM_TIMEOUT`, and the IdP's 502/503/504 codes when no token could be had.
 *
 * @example
 * app.use(oidcSession({ ... }));
 * app.use('/api/orders', remoteApi('https://orders.internal/v1'));                 // GET /api/orders/7?x=1 -> /v1/7?x=1
 * app.use('/api/stock', remoteApi('https://stock.internal', { token: 'client', scope: 'stock:read' }));
 */
export function remoteApi(target: string | URL, options: RemoteApiOptions = {}): NodeHandler {
  const mode = options.token ?? 'user';
  if (!MODES.includes(mode))
    throw new ConfigError(`remoteApi(): "token" must be one of ${MODES.map((m) => `'${m}'`).join(', ')}; got ${JSON.stringify(mode)}`);
  const timeout = options.timeout ?? 30_000;
  if (typeof timeout !== 'number' || !(timeout > 0))
    throw new ConfigError(`remoteApi(): "timeout" must be a positive number of ms; got ${JSON.stringify(timeout)}`);
  const parsed = parseTarget(target);
  const proxy: Upstream = {
    target: parsed,
    mode,
    client: { scope: options.scope, resource: options.resource },
    timeout,
    retry: options.retryOnUnauthorized ?? true,
    agent: options.agent ?? new (parsed.https ? https.Agent : http.Agent)({ keepAlive: true }),
  };
  return function remoteApi(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    if (req.headers[CSRF_HEADER] !== '1') {
      refuse(
        res,
        new AuthError(
          ErrorCodes.CSRF_HEADER_MISSING,
          403,
          `API calls need the header ${CSRF_HEADER}: 1 (the browser script's fetch sends it)`,
        ),
      );
      return;
    }
    const path = upstreamPath(proxy.target, req);
    if (path === null) {
      refuse(res, new AuthError(ErrorCodes.BAD_REQUEST, 400, 'the request path is not allowed'));
      return;
    }
    // One client span per proxied call, ended when the browser's response is done (or its connection gone).
    const attributes = { 'http.request.method': req.method ?? 'GET', 'server.address': proxy.target.host, 'oidc_session.token': mode };
    void traceRemoteApi(
      attributes,
      (span) =>
        new Promise<void>((resolve) => {
          res.once('close', () => {
            span.setAttribute('http.response.status_code', res.statusCode);
            resolve();
          });
          if (mode === 'none') {
            send(proxy, req, res, path, {}, 0);
            return;
          }
          credentialOf(proxy, req)
            .then(
              (credential) => {
                if (credential) send(proxy, req, res, path, credential, 0);
              },
              (err: unknown) => {
                if (isAuthError(err) && err.status !== 500) refuse(res, err as AuthError);
                else next(err);
              },
            )
            .catch(next);
        }),
    );
  };
}

function refuse(res: ServerResponse, err: AuthError): void {
  debug('-> %d %s', err.status, err.code);
  res.setHeader('Cache-Control', 'no-store');
  sendJson(res, err.status, err.toJSON());
}

const TIMED_OUT = Symbol('timeout');

/**
 * `attempt`: 0 first, 1 after a refused token, a DPoP nonce asked for, or a dead keep-alive socket (bodyless
 * requests only). A DPoP-bound token gets a new proof per attempt (one ES256 signature).
 */
function send(proxy: Upstream, req: IncomingMessage, res: ServerResponse, path: string, credential: Credential, attempt: number): void {
  if (!credential.dpop || !credential.token) {
    sendSigned(proxy, req, res, path, credential, attempt);
    return;
  }
  dpopProof(credential.dpop, req.method ?? 'GET', htuOf(proxy.target, path), credential.token).then(
    (proof) => sendSigned(proxy, req, res, path, credential, attempt, proof),
    (err: unknown) => {
      debug('DPoP proof failed: %s', (err as Error).message);
      refuse(res, new AuthError(ErrorCodes.UPSTREAM_UNAVAILABLE, 502, 'the API call could not be signed'));
    },
  );
}

function sendSigned(
  proxy: Upstream,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  credential: Credential,
  attempt: number,
  proof?: string,
): void {
  // The browser may have left while the token was fetched.
  if (res.destroyed || res.headersSent) return;
  const { target } = proxy;
  const replayable = attempt === 0 && bodyless(req);
  let upstream: http.ClientRequest;
  try {
    upstream = (target.https ? https : http).request({
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path,
      headers: requestHeaders(req, target, credential.token ? `${proof ? 'DPoP' : 'Bearer'} ${credential.token}` : undefined, proof),
      agent: proxy.agent,
      timeout: proxy.timeout,
    });
  } catch {
    // Characters Node will not put on a request line (ERR_UNESCAPED_CHARACTERS).
    refuse(res, new AuthError(ErrorCodes.BAD_REQUEST, 400, 'the request path is not allowed'));
    return;
  }
  const abandon = (): void => {
    if (!res.writableFinished) upstream.destroy();
  };
  res.once('close', abandon);

  upstream.on('timeout', () => upstream.destroy(Object.assign(new Error('upstream timeout'), { [TIMED_OUT]: true })));
  upstream.on('error', (err: NodeJS.ErrnoException & { [TIMED_OUT]?: boolean }) => {
    res.off('close', abandon);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    // A kept-alive socket the upstream closed just as it was reused: a bodyless request goes once more.
    if (replayable && upstream.reusedSocket && err.code === 'ECONNRESET') {
      send(proxy, req, res, path, credential, 1);
      return;
    }
    debug('upstream %s: %s', target.host, err[TIMED_OUT] ? 'timeout' : (err.code ?? err.message));
    refuse(
      res,
      err[TIMED_OUT]
        ? new AuthError(ErrorCodes.UPSTREAM_TIMEOUT, 504, `the API did not answer within ${proxy.timeout} ms`)
        : new AuthError(ErrorCodes.UPSTREAM_UNAVAILABLE, 502, 'the API could not be reached'),
    );
  });

  upstream.on('response', (up) => {
    if (
      proof &&
      rememberNonce(htuOf(target, path), up.headers) &&
      replayable &&
      !res.destroyed &&
      asksForNonce(up.statusCode ?? 0, up.headers['www-authenticate'])
    ) {
      // The upstream wants a nonce in the proof (RFC 9449 §9): the same request once more with it.
      res.off('close', abandon);
      up.resume();
      send(proxy, req, res, path, credential, 1);
      return;
    }
    if (up.statusCode === 401 && replayable && proxy.retry && credential.kind && (req.method === 'GET' || req.method === 'HEAD')) {
      // The 401 waits (unread) while a new token is fetched; without a newer one it goes to the browser.
      renewed(proxy, req, credential).then(
        (next) => {
          if (next && !res.destroyed && !res.headersSent) {
            res.off('close', abandon);
            up.resume();
            send(proxy, req, res, path, next, 1);
          } else {
            relay(res, up);
          }
        },
        (err: unknown) => {
          debug('token renewal after a 401 failed: %s', (err as Error).message);
          relay(res, up);
        },
      );
      return;
    }
    relay(res, up);
  });

  if (bodyless(req)) upstream.end();
  else {
    req.pipe(upstream);
    req.once('error', () => upstream.destroy());
  }
}

function relay(res: ServerResponse, up: IncomingMessage): void {
  if (res.destroyed || res.headersSent) {
    up.destroy();
    return;
  }
  try {
    res.writeHead(up.statusCode ?? 502, responseHeaders(up));
  } catch {
    // A header Node will not send on (an invalid character).
    up.destroy();
    refuse(res, new AuthError(ErrorCodes.UPSTREAM_UNAVAILABLE, 502, 'the API sent an answer that cannot be passed on'));
    return;
  }
  // pipe() rather than pipeline(): fewer listeners per request. The upstream cutting its body short destroys
  // the browser's response; the browser leaving destroys the upstream request (`abandon` in send()).
  up.once('error', () => res.destroy());
  up.pipe(res);
}
