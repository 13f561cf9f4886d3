// The BFF against a real oidc-provider and a real upstream API: the upstream (node:http on 127.0.0.1:0) checks
// every bearer token at the provider — user tokens at userinfo, client-credentials tokens by introspection —
// and records what it received, so the tests assert on what actually crossed the proxy.

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import connect from 'connect';
import type { RequestHandler } from 'express';
import { exportJWK, generateKeyPair } from 'jose';
import { fetchWithToken, getClientToken, oidcSession, remoteApi } from '../../lib/index.js';
import { oidcErrorHandler } from '../../lib/routes/error-handler.js';
import { startApp, TEST_SECRET, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { freePort, type Listening, listen } from '../helpers/server.js';

interface Seen {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  token?: string;
  kind: 'user' | 'client' | 'invalid' | 'none';
  sha256: string;
  length: number;
}

const MB5 = 5 * 1024 * 1024;
const download = randomBytes(MB5);
const downloadHash = sha256(download);

let op: TestProvider;
let app: TestApp;
let upstream: Listening;
let closedPort: number;
const seen: Seen[] = [];
let flaky = 0;
let upstreamClosedEarly = 0;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The provider's verdict on a bearer token: a user's access token (userinfo) or the app's (introspection). */
async function validate(token: string): Promise<'user' | 'client' | 'invalid'> {
  const info = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${token}` } });
  await info.body?.cancel();
  if (info.status === 200) return 'user';
  const intro = await fetch(`${op.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, client_id: op.clientId, client_secret: op.clientSecret }),
  });
  const body = (await intro.json()) as { active?: boolean; client_id?: string; sub?: string };
  return body.active && body.client_id === op.clientId ? 'client' : 'invalid';
}

async function onUpstream(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const path = url.split('?')[0]!;
  if (path === '/v1/hang') return; // never answers
  if (path === '/v1/hold') {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write(Buffer.alloc(1024));
    res.once('close', () => {
      if (!res.writableFinished) upstreamClosedEarly++;
    });
    return;
  }
  const hash = createHash('sha256');
  let length = 0;
  for await (const chunk of req) {
    hash.update(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  const auth = req.headers.authorization;
  const token = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
  const kind = token ? await validate(token) : 'none';
  seen.push({ method: req.method!, path: url, headers: req.headers, token, kind, sha256: hash.digest('hex'), length });
  if (path === '/v1/flaky' && flaky > 0) {
    flaky--;
    res
      .writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'application/json' })
      .end('{"error":"invalid_token"}');
    return;
  }
  if (kind === 'invalid' || (kind === 'none' && path !== '/v1/public')) {
    res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'application/json' }).end('{"error":"invalid_token"}');
    return;
  }
  if (path === '/v1/download') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'set-cookie': 'upstream=1; Path=/' });
    // In 64 KB writes without Content-Length: the proxy passes it on chunked, as it arrives.
    for (let at = 0; at < download.length; at += 65536) {
      if (!res.write(download.subarray(at, at + 65536))) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
    return;
  }
  res
    .writeHead(200, {
      'content-type': 'application/json',
      'set-cookie': ['upstream=1; Path=/', 'other=2; Path=/'],
      'x-upstream': 'yes',
      connection: 'keep-alive, x-upstream-hop',
      'x-upstream-hop': 'secret',
    })
    .end(JSON.stringify({ kind, path: url, sha256: seen.at(-1)!.sha256, length }));
}

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 60, clientCredentials: true });
  upstream = await listen((req, res) => {
    onUpstream(req, res).catch((err: unknown) => {
      console.error('test upstream failed', err);
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  closedPort = await freePort();
  const target = `${upstream.url}/v1`;
  app = await startApp(op, { idpLogout: false }, (express) => {
    express.use('/api/orders', remoteApi(target));
    express.use('/api/app', remoteApi(target, { token: 'client' }));
    express.use('/api/noretry', remoteApi(target, { retryOnUnauthorized: false }));
    express.use('/api/either', remoteApi(target, { token: 'userOrClient', scope: 'openid' }));
    express.use('/api/optional', remoteApi(target, { token: 'userOrNone' }));
    express.use('/api/open', remoteApi(target, { token: 'none' }));
    express.use('/api/hang', remoteApi(`${upstream.url}/v1/hang`, { timeout: 500 }));
    express.use('/api/closed', remoteApi(`http://127.0.0.1:${closedPort}/v1`));
    express.get('/fetch/flaky', async (req, res, next) => {
      try {
        const answer = await fetchWithToken(req, `${target}/flaky`);
        res.status(answer.status).json(await answer.json());
      } catch (err) {
        next(err);
      }
    });
    express.get('/client-herd', herdRoute);
    express.use(oidcErrorHandler);
  });
});

/** 20 concurrent getClientToken calls in one request. */
const herdRoute: RequestHandler = async (req, res, next) => {
  try {
    const scope = String(req.query.scope);
    res.json(await Promise.all(Array.from({ length: 20 }, () => getClientToken(req, { scope }))));
  } catch (err) {
    next(err);
  }
};

afterAll(async () => {
  await app?.close();
  await upstream?.close();
  await op?.stop();
});

beforeEach(() => {
  seen.length = 0;
  flaky = 0;
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json<T = Record<string, unknown>>(): T;
}

/** One request with node:http, so that every header (Connection, TE, Proxy-*) goes out exactly as given. */
function send(
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | AsyncIterable<Buffer>; jar?: CookieJar } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'x-oidc-session': '1', ...opts.headers };
  const cookie = opts.jar?.header(`${app.url}${path}`);
  if (cookie) headers.cookie = cookie;
  if (Buffer.isBuffer(opts.body)) headers['content-length'] = String(opts.body.length);
  return new Promise((resolve, reject) => {
    // `path` as given, not through a URL (which would resolve '..' and turn '\\' into '/').
    const { hostname, port } = new URL(app.url);
    const req = http.request({ hostname, port, path, method: opts.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, json: <T>() => JSON.parse(body.toString()) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (!opts.body) req.end();
    else if (Buffer.isBuffer(opts.body)) req.end(opts.body);
    else {
      (async () => {
        for await (const chunk of opts.body as AsyncIterable<Buffer>) req.write(chunk);
        req.end();
      })().catch(reject);
    }
  });
}

async function signIn(): Promise<CookieJar> {
  const jar = new CookieJar();
  expect((await login(app.url, { jar })).status).toBe(302);
  return jar;
}

async function userToken(jar: CookieJar): Promise<string> {
  const res = await fetch(`${app.url}/api/tokens`, { headers: { cookie: jar.header(app.url) } });
  return ((await res.json()) as { accessToken: string }).accessToken;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('remoteApi with the user token', () => {
  it('sends the fresh access token, which the provider accepts, to the path and query under the target', async () => {
    const jar = await signIn();
    const res = await send('/api/orders/7/lines?expand=items&page=2', { jar });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ kind: 'user', path: '/v1/7/lines?expand=items&page=2' });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.token).toBe(await userToken(jar));
    expect(seen[0]!.headers.host).toBe(new URL(upstream.url).host);
    // The mount point itself is the target's path.
    expect((await send('/api/orders', { jar })).json()).toMatchObject({ path: '/v1' });
    expect((await send('/api/orders/', { jar })).json()).toMatchObject({ path: '/v1/' });
  });

  it('keeps method, status and end-to-end headers; drops Cookie, the browser Authorization, hop-by-hop headers and Set-Cookie', async () => {
    const jar = await signIn();
    const res = await send('/api/orders/echo', {
      jar,
      method: 'PUT',
      body: Buffer.from('{"a":1}'),
      headers: {
        authorization: 'Basic YWRtaW46YWRtaW4=',
        'content-type': 'application/json',
        'x-custom': 'kept',
        connection: 'keep-alive, x-hop',
        'x-hop': 'dropped',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic eDp5',
        te: 'trailers',
        forwarded: 'host=evil.example',
        'x-forwarded-host': 'evil.example',
      },
    });
    expect(res.status).toBe(200);
    const got = seen[0]!;
    expect(got.method).toBe('PUT');
    expect(got.kind).toBe('user');
    expect(got.headers.authorization).toMatch(/^Bearer /);
    expect(got.headers.cookie).toBeUndefined();
    expect(got.headers['x-oidc-session']).toBeUndefined();
    for (const name of ['x-hop', 'keep-alive', 'proxy-authorization', 'te', 'forwarded', 'x-forwarded-host'])
      expect(got.headers[name]).toBeUndefined();
    expect(got.headers.host).toBe(new URL(upstream.url).host);
    expect(got.headers['x-custom']).toBe('kept');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.sha256).toBe(sha256(Buffer.from('{"a":1}')));
    expect(res.headers['x-upstream']).toBe('yes');
    expect(res.headers['x-upstream-hop']).toBeUndefined();
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['set-cookie'] ?? []).toEqual([]);
  });

  it('refuses a request without X-OIDC-Session: 1 (any method) before anything reaches the upstream', async () => {
    const jar = await signIn();
    for (const method of ['GET', 'POST', 'DELETE']) {
      const res = await send('/api/orders/echo', { jar, method, headers: { 'x-oidc-session': '' } });
      expect(res.status).toBe(403);
      expect(res.json()).toMatchObject({ error: 'forbidden', code: 'ERR_CSRF_HEADER_MISSING' });
    }
    expect(seen).toHaveLength(0);
  });

  it('answers 401 unauthenticated without a session', async () => {
    const res = await send('/api/orders/echo');
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ error: 'unauthenticated', code: 'ERR_UNAUTHENTICATED' });
    expect(seen).toHaveLength(0);
  });

  it('streams 5 MB both ways (hashes compared), and a chunked upload as chunked', async () => {
    const jar = await signIn();
    const upload = randomBytes(MB5);
    const up = await send('/api/orders/upload', {
      jar,
      method: 'POST',
      body: upload,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(up.status).toBe(200);
    expect(up.json()).toMatchObject({ sha256: sha256(upload), length: MB5 });
    expect(seen[0]!.headers['content-length']).toBe(String(MB5));

    async function* pieces() {
      for (let i = 0; i < 8; i++) yield upload.subarray(i * 65536, (i + 1) * 65536);
    }
    const chunked = await send('/api/orders/upload', { jar, method: 'POST', body: pieces() });
    expect(chunked.json()).toMatchObject({ sha256: sha256(upload.subarray(0, 8 * 65536)) });
    expect(seen[1]!.headers['transfer-encoding']).toBe('chunked');

    const down = await send('/api/orders/download', { jar });
    expect(down.status).toBe(200);
    expect(down.body.length).toBe(MB5);
    expect(sha256(down.body)).toBe(downloadHash);
    expect(down.headers['set-cookie']).toBeUndefined();
  });

  it('on an upstream 401 to a GET forces one refresh and retries once with the new token', async () => {
    const jar = await signIn();
    const before = await userToken(jar);
    await sleep(1100); // a token younger than 1 s is not refreshed again
    op.resetCounts();
    flaky = 1;
    const res = await send('/api/orders/flaky', { jar });
    expect(res.status).toBe(200);
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(seen.map((s) => s.path)).toEqual(['/v1/flaky', '/v1/flaky']);
    expect(seen[0]!.token).toBe(before);
    expect(seen[1]!.token).not.toBe(before);
    expect(seen[1]!.kind).toBe('user');
    expect(await userToken(jar)).toBe(seen[1]!.token); // the refreshed token is the session's now
  });

  it('passes a 401 to a POST through, without a refresh or a retry; and a second 401 after the retry', async () => {
    const jar = await signIn();
    await sleep(1100);
    op.resetCounts();
    flaky = 1;
    const post = await send('/api/orders/flaky', { jar, method: 'POST', body: Buffer.from('x') });
    expect(post.status).toBe(401);
    expect(post.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(op.count('refresh_token.consumed')).toBe(0);
    expect(seen).toHaveLength(1);

    seen.length = 0;
    flaky = 2;
    const twice = await send('/api/orders/flaky', { jar });
    expect(twice.status).toBe(401);
    expect(seen).toHaveLength(2);
    expect(op.count('refresh_token.consumed')).toBe(1);
  });

  it('answers 504 within the timeout when the upstream hangs, and 502 when nothing listens', async () => {
    const jar = await signIn();
    const started = Date.now();
    const hang = await send('/api/hang', { jar });
    const took = Date.now() - started;
    expect(hang.status).toBe(504);
    expect(hang.json()).toMatchObject({ error: 'gateway_timeout', code: 'ERR_UPSTREAM_TIMEOUT' });
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(2000);

    const closed = await send('/api/closed/x', { jar });
    expect(closed.status).toBe(502);
    expect(closed.json()).toMatchObject({ error: 'bad_gateway', code: 'ERR_UPSTREAM_UNAVAILABLE' });
    // Never the upstream's own error text.
    expect(closed.body.toString()).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|\d{4,5}/);
  });

  it('aborts the upstream request when the browser goes away', async () => {
    const jar = await signIn();
    upstreamClosedEarly = 0;
    await new Promise<void>((resolve, reject) => {
      const req = http.get(
        `${app.url}/api/orders/hold`,
        { headers: { 'x-oidc-session': '1', cookie: jar.header(app.url) }, agent: false },
        (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        },
      );
      req.on('error', (err) => {
        if (!req.destroyed) reject(err);
      });
    });
    for (let i = 0; i < 50 && upstreamClosedEarly === 0; i++) await sleep(20);
    expect(upstreamClosedEarly).toBe(1);
  });

  it('never proxies outside the target path or to another host', async () => {
    const jar = await signIn();
    const attempts = [
      '/api/orders/..%2F..%2Fadmin',
      '/api/orders/%2e%2e/admin',
      '/api/orders/%2E%2E%2fadmin',
      '/api/orders/../admin',
      '/api/orders/a/../../admin',
      '/api/orders/..;/admin',
      '/api/orders/.%2e/admin',
      '/api/orders/a%5c..%5cadmin',
      '/api/orders/a\\..\\admin',
      '/api/orders//evil.example/x',
      '/api/orders/%2F%2Fevil.example/x',
    ];
    for (const path of attempts) {
      const res = await send(path, { jar });
      expect([path, res.status]).toEqual([path, 400]);
      expect(res.json()).toMatchObject({ code: 'ERR_BAD_REQUEST' });
    }
    // Absolute-form request lines, from a raw socket: Express routes them by their path, the proxy refuses them.
    for (const line of ['GET http://evil.example/api/orders/echo HTTP/1.1', 'GET http://evil.example/ HTTP/1.1']) {
      const status = await rawStatus(
        `${line}\r\nHost: evil.example\r\nX-OIDC-Session: 1\r\nCookie: ${jar.header(app.url)}\r\nConnection: close\r\n\r\n`,
      );
      expect([line, status]).toEqual([line, line.includes('/api/orders') ? 400 : 404]);
    }
    expect(seen).toEqual([]);
    // What does get through stays under /v1 on the upstream's host.
    await send('/api/orders/ok/%252e%252e/x', { jar });
    for (const s of seen) {
      expect(s.path.startsWith('/v1/')).toBe(true);
      expect(s.headers.host).toBe(new URL(upstream.url).host);
    }
  });
});

function rawStatus(text: string): Promise<number> {
  const { port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(text));
    let data = '';
    socket.on('data', (c: Buffer) => {
      data += c.toString();
    });
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    socket.on('error', reject);
  });
}

describe('remoteApi token modes', () => {
  it("'client' sends the app's client-credentials token (active at introspection), fetched once and then cached", async () => {
    op.resetCounts();
    const first = await send('/api/app/echo');
    const second = await send('/api/app/echo');
    expect(first.status).toBe(200);
    expect(first.json()).toMatchObject({ kind: 'client' });
    expect(second.status).toBe(200);
    expect(seen[0]!.token).toBe(seen[1]!.token);
    expect(op.count('client_credentials.saved')).toBe(1);
  });

  it("'userOrClient' uses the user's token when signed in and the app's otherwise; 'userOrNone' and 'none' send none", async () => {
    const jar = await signIn();
    expect((await send('/api/either/echo', { jar })).json()).toMatchObject({ kind: 'user' });
    expect((await send('/api/either/echo')).json()).toMatchObject({ kind: 'client' });
    expect((await send('/api/optional/echo', { jar })).json()).toMatchObject({ kind: 'user' });
    expect((await send('/api/optional/public')).json()).toMatchObject({ kind: 'none' });
    expect((await send('/api/open/public', { jar })).json()).toMatchObject({ kind: 'none' });
    expect(seen.at(-1)!.headers.authorization).toBeUndefined();
    expect(seen.at(-1)!.headers.cookie).toBeUndefined();
  });
});

describe('remoteApi retries', () => {
  it('HEAD is proxied (no body) and retried after a 401 like GET', async () => {
    const jar = await signIn();
    await sleep(1100);
    op.resetCounts();
    flaky = 1;
    const res = await send('/api/orders/flaky', { jar, method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(0);
    expect(seen.map((s) => s.method)).toEqual(['HEAD', 'HEAD']);
    expect(op.count('refresh_token.consumed')).toBe(1);
  });

  it('with retryOnUnauthorized: false an upstream 401 goes to the browser, no refresh', async () => {
    const jar = await signIn();
    await sleep(1100);
    op.resetCounts();
    flaky = 1;
    const res = await send('/api/noretry/flaky', { jar });
    expect(res.status).toBe(401);
    expect(seen).toHaveLength(1);
    expect(op.count('refresh_token.consumed')).toBe(0);
  });

  it('a client token the upstream refuses is replaced by a new grant and the request retried once', async () => {
    await send('/api/app/echo'); // a cached client token
    seen.length = 0;
    op.resetCounts();
    flaky = 1;
    const res = await send('/api/app/flaky');
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ kind: 'client' });
    expect(op.count('client_credentials.saved')).toBe(1);
    expect(seen).toHaveLength(2);
    expect(seen[1]!.token).not.toBe(seen[0]!.token);
    // The new token is the cached one now.
    await send('/api/app/echo');
    expect(seen[2]!.token).toBe(seen[1]!.token);
    expect(op.count('client_credentials.saved')).toBe(1);
  });
});

describe('remoteApi under Connect (plain node req/res)', () => {
  it('proxies with the user token under a Connect mount', async () => {
    const server = await listen();
    op.allowRedirect(`${server.url}/auth/callback`);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const router = oidcSession({
      issuer: op.issuer,
      clientId: op.clientId,
      clientSecret: op.clientSecret,
      baseURL: server.url,
      secret: TEST_SECRET,
      idpLogout: false,
      jwt: { keys: [{ ...(await exportJWK(privateKey)), kid: 'connect-k1', alg: 'ES256' }] },
    });
    const host = connect();
    host.use(router as never);
    host.use('/api/orders', remoteApi(`${upstream.url}/v1`) as never);
    server.attach(host as never);
    await router.ready;
    try {
      const jar = new CookieJar();
      expect((await login(server.url, { jar })).status).toBe(302);
      const res = await fetch(`${server.url}/api/orders/7?q=1`, { headers: { 'x-oidc-session': '1', cookie: jar.header(server.url) } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ kind: 'user', path: '/v1/7?q=1' });
      const refused = await fetch(`${server.url}/api/orders/7`, { headers: { cookie: jar.header(server.url) } });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ code: 'ERR_CSRF_HEADER_MISSING' });
    } finally {
      await server.close();
      await router.close();
    }
  });
});

describe('fetchWithToken', () => {
  it('attaches the session token; on a 401 refreshes once and retries', async () => {
    const jar = await signIn();
    const before = await userToken(jar);
    await sleep(1100);
    op.resetCounts();
    flaky = 1;
    const res = await fetch(`${app.url}/fetch/flaky`, { headers: { cookie: jar.header(app.url) } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ kind: 'user' });
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(seen.map((s) => s.token === before)).toEqual([true, false]);
  });

  it('rejects with 401 ERR_UNAUTHENTICATED without a session', async () => {
    const res = await fetch(`${app.url}/fetch/flaky`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'ERR_UNAUTHENTICATED' });
    expect(seen).toHaveLength(0);
  });
});

describe('getClientToken', () => {
  it('20 concurrent calls make exactly one client-credentials grant; later calls are served from the cache', async () => {
    op.resetCounts();
    const res = await fetch(`${app.url}/client-herd?scope=openid%20herd`);
    expect(res.status).toBe(200);
    const tokens = (await res.json()) as string[];
    expect(tokens).toHaveLength(20);
    expect(new Set(tokens).size).toBe(1);
    expect(op.count('client_credentials.saved')).toBe(1);
    expect(await validate(tokens[0]!)).toBe('client');
    const again = (await (await fetch(`${app.url}/client-herd?scope=openid%20herd`)).json()) as string[];
    expect(again[0]).toBe(tokens[0]);
    expect(op.count('client_credentials.saved')).toBe(1);
  });
});

describe('getClientToken across two instances sharing Redis', () => {
  let redis: TestRedis;
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    redis = await startRedis();
    const extend = (express: import('express').Express) => express.get('/client-herd', herdRoute);
    a = await startApp(op, { redis: redis.url, idpLogout: false }, extend);
    b = await startApp(op, { redis: redis.url, idpLogout: false }, extend);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('40 concurrent calls over both instances make one grant; the instance that waited reads the token the other got', async () => {
    op.resetCounts();
    const all = (
      await Promise.all(
        [a, b, a, b].map(async (instance) => {
          const res = await fetch(`${instance.url}/client-herd?scope=openid%20shared`);
          expect(res.status).toBe(200);
          return (await res.json()) as string[];
        }),
      )
    ).flat();
    expect(all).toHaveLength(80);
    expect(new Set(all).size).toBe(1);
    expect(op.count('client_credentials.saved')).toBe(1);
  });

  it('a token one instance got is served by the other from the shared record, without a grant', async () => {
    op.resetCounts();
    const onA = (await (await fetch(`${a.url}/client-herd?scope=openid%20later`)).json()) as string[];
    const onB = (await (await fetch(`${b.url}/client-herd?scope=openid%20later`)).json()) as string[];
    expect(onB[0]).toBe(onA[0]);
    expect(op.count('client_credentials.saved')).toBe(1);
  });
});
