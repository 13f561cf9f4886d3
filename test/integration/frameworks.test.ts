// The same flow under every host the middleware claims (DESIGN "Where it runs"): Express 5, Express 4 (the
// `express4` alias, which the package itself then imports as 'express', so its Router is Express 4's), Connect,
// a bare node:http server calling the returned function as (req, res, next), Fastify through @fastify/express,
// and NestJS with its Express adapter.
// Against the real provider: login → requiresAuth() API → session JSON → refresh (a parsed body) → logout;
// requiresAuth()'s 401 and page redirect; coded errors answered as responses, never a crashed process.

import type http from 'node:http';
import fastifyExpress from '@fastify/express';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Controller, Get, type MiddlewareConsumer, Module, Req } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import connect from 'connect';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import 'reflect-metadata';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { OidcSessionRouter } from '../../lib/index.js';
import * as lib5 from '../../lib/index.js';
import { TEST_SECRET } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { type Handler, type Listening, listen } from '../helpers/server.js';

type Lib = typeof lib5;
type Next = (err?: unknown) => void;
type NodeMiddleware = (req: http.IncomingMessage, res: http.ServerResponse, next: Next) => void;

interface HostApp {
  url: string;
  router: OidcSessionRouter;
  /** errors that reached the host's own final handler (not answered by the middleware) */
  unhandled: unknown[];
  close(): Promise<void>;
}

/** The app's own routes, written with Node's res only, so they are the same under every host. */
const meRoute = (lib: Lib) =>
  async function me(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const session = await lib.getServerSession(req as never);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: session?.user }));
  };
function page(_req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>private page</h1>');
}
function finalHandler(unhandled: unknown[]) {
  return (err: unknown, res: http.ServerResponse): void => {
    if (err) unhandled.push(err);
    if (res.headersSent) return void res.end();
    res.writeHead(err ? 500 : 404, { 'content-type': 'text/plain' }).end(err ? 'host error handler' : 'not found');
  };
}

/** The package loaded once more, with 'express' resolving to the express4 alias. */
async function loadWithExpress4(): Promise<Lib> {
  let loaded: Lib | undefined;
  await jest.isolateModulesAsync(async () => {
    const express4Module = (await import('express4')).default;
    jest.unstable_mockModule('express', () => ({ default: express4Module }));
    loaded = await import('../../lib/index.js');
  });
  return loaded!;
}

type Build = (router: OidcSessionRouter, lib: Lib, unhandled: unknown[]) => Handler | Promise<Handler>;

const hosts: Record<string, { lib: () => Lib | Promise<Lib>; build: Build }> = {
  'Express 5': {
    lib: () => lib5,
    build: (router, lib, unhandled) => {
      const app = express();
      const me = meRoute(lib);
      app.use(router);
      app.get('/api/me', lib.requiresAuth(), (req, res, next) => void me(req, res).catch(next));
      app.get('/page', lib.requiresAuth(), (req, res) => page(req, res));
      const done = finalHandler(unhandled);
      app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => done(err, res));
      return app;
    },
  },
  'Express 4': {
    lib: loadWithExpress4,
    build: (router, lib, unhandled) => {
      // @types/express is version 5; Express 4's app has the same shape for what is used here.
      const app = (express4 as unknown as typeof express)();
      const me = meRoute(lib);
      app.use(router);
      app.get('/api/me', lib.requiresAuth(), (req, res, next) => void me(req, res).catch(next));
      app.get('/page', lib.requiresAuth(), (req, res) => page(req, res));
      const done = finalHandler(unhandled);
      app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => done(err, res));
      return app;
    },
  },
  Connect: {
    lib: () => lib5,
    build: (router, lib, unhandled) => {
      const app = connect();
      const me = meRoute(lib);
      // No casts: the router and requiresAuth() are typed as Node middleware too.
      app.use(router);
      // Connect strips the mount path from req.url and keeps the full one in req.originalUrl.
      app.use('/api/me', lib.requiresAuth());
      app.use('/api/me', (req: http.IncomingMessage, res: http.ServerResponse, next: Next) => void me(req, res).catch(next));
      app.use('/page', lib.requiresAuth());
      app.use('/page', page);
      const done = finalHandler(unhandled);
      app.use((err: unknown, _req: http.IncomingMessage, res: http.ServerResponse, _next: Next) => done(err, res));
      app.use((_req: http.IncomingMessage, res: http.ServerResponse) => done(undefined, res));
      return app;
    },
  },
  'node:http': {
    lib: () => lib5,
    build: (router, lib, unhandled) => {
      const mw: NodeMiddleware = router;
      const guard: NodeMiddleware = lib.requiresAuth();
      const done = finalHandler(unhandled);
      const routes: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => unknown> = {
        '/api/me': meRoute(lib),
        '/page': page,
      };
      return (req, res) =>
        mw(req, res, (err) => {
          if (err) return done(err, res);
          const route = routes[(req.url ?? '/').split('?')[0]!];
          if (!route) return done(undefined, res);
          guard(req, res, (denied) => {
            if (denied) return done(denied, res);
            Promise.resolve(route(req, res)).catch((e: unknown) => done(e, res));
          });
        });
    },
  },
  'Fastify (@fastify/express)': {
    lib: () => lib5,
    build: async (router, lib, unhandled) => {
      const app = Fastify();
      await app.register(fastifyExpress);
      // Express middleware runs in Fastify's onRequest hook, for Fastify's routes and its 404s (our /auth routes) alike.
      app.use(router);
      app.use('/api/me', lib.requiresAuth());
      app.use('/page', lib.requiresAuth());
      app.get('/api/me', async (request) => ({ user: (await lib.getServerSession(request.raw as never))?.user }));
      app.get('/page', async (_request, reply) => reply.type('text/html').send('<h1>private page</h1>'));
      app.setErrorHandler((err, _request, reply) => {
        unhandled.push(err);
        void reply.code(500).send('host error handler');
      });
      await app.ready();
      return (req, res) => app.routing(req, res);
    },
  },
  'NestJS (Express adapter)': {
    lib: () => lib5,
    build: async (router, lib) => {
      class MeController {
        async me(req: http.IncomingMessage) {
          return { user: (await lib.getServerSession(req as never))?.user };
        }
        page() {
          return '<h1>private page</h1>';
        }
      }
      class AppModule {
        configure(consumer: MiddlewareConsumer) {
          consumer.apply(lib.requiresAuth()).forRoutes('api/me', 'page');
        }
      }
      // The decorators, applied as functions (the test build compiles no decorator syntax).
      Req()(MeController.prototype, 'me', 0);
      for (const [method, path] of [
        ['me', 'api/me'],
        ['page', 'page'],
      ] as const) {
        Get(path)(MeController.prototype, method, Object.getOwnPropertyDescriptor(MeController.prototype, method)!);
      }
      Controller()(MeController);
      Module({ controllers: [MeController] })(AppModule);
      const app = await NestFactory.create<NestExpressApplication>(AppModule, { logger: false });
      // Unanswered errors get Nest's own 500 (no host handler to record them here); every status is asserted.
      app.use(router);
      await app.init();
      return app.getHttpAdapter().getInstance() as Handler;
    },
  },
};

let op: TestProvider;
let jwtKeys: JWK[];

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 60 });
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  jwtKeys = [{ ...(await exportJWK(privateKey)), kid: 'frameworks-k1', alg: 'ES256' }];
});
afterAll(async () => {
  await op?.stop();
});

async function startHost(name: string): Promise<HostApp> {
  const server: Listening = await listen();
  op.allowRedirect(`${server.url}/auth/callback`);
  op.allowRedirect(`${server.url}/`);
  const host = hosts[name]!;
  const lib = await host.lib();
  const router = lib.oidcSession({
    issuer: op.issuer,
    clientId: op.clientId,
    clientSecret: op.clientSecret,
    baseURL: server.url,
    secret: TEST_SECRET,
    jwt: { keys: jwtKeys },
    idpLogout: false,
  });
  const unhandled: unknown[] = [];
  server.attach(await host.build(router, lib, unhandled));
  await router.ready;
  return {
    url: server.url,
    router,
    unhandled,
    close: async () => {
      await server.close();
      await router.close();
    },
  };
}

const json = { accept: 'application/json' };

describe.each(Object.keys(hosts))('%s', (name) => {
  let app: HostApp;
  beforeAll(async () => {
    app = await startHost(name);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('signs in, serves requiresAuth() APIs and the session JSON, refreshes, and signs out', async () => {
    const jar = new CookieJar();
    const result = await login(app.url, { jar, returnTo: '/page?tab=1' });
    expect(result.status).toBe(302);
    expect(result.location).toBe('/page?tab=1');

    const pageRes = await request(`${app.url}/page?tab=1`, { jar, headers: { accept: 'text/html' } });
    expect(pageRes.status).toBe(200);
    expect(await pageRes.text()).toContain('private page');

    const meRes = await request(`${app.url}/api/me`, { jar, headers: json });
    expect(meRes.status).toBe(200);
    expect(await meRes.json()).toMatchObject({ user: { sub: 'alice' } });

    const sessionRes = await request(`${app.url}/auth/session`, { jar });
    expect(sessionRes.status).toBe(200);
    expect(sessionRes.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(sessionRes.headers.get('cache-control')).toBe('no-store');
    const session = (await sessionRes.json()) as { user: { sub: string }; accessTokenExpires: number };
    expect(session.user.sub).toBe('alice');

    // A JSON body, parsed by the middleware itself (right after sign-in a forced refresh keeps the fresh tokens).
    const refreshed = await request(`${app.url}/auth/session`, {
      jar,
      method: 'POST',
      headers: { origin: app.url, 'x-oidc-session': '1', 'content-type': 'application/json' },
      body: '{"refresh":true}',
    });
    expect(refreshed.status).toBe(200);
    expect(await refreshed.json()).toMatchObject({ user: { sub: 'alice' } });

    const out = await request(`${app.url}/auth/logout`, { jar, method: 'POST', headers: { origin: app.url } });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe(`${app.url}/`);
    expect(out.headers.get('set-cookie')).toMatch(/oidc\.sid=;.*Max-Age=0/);
    expect(jar.get('oidc.sid')).toBeUndefined();

    expect(await (await request(`${app.url}/auth/session`, { jar })).json()).toBeNull();
    const denied = await request(`${app.url}/api/me`, { jar, headers: json });
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ error: 'unauthenticated', code: 'ERR_UNAUTHENTICATED' });
    expect(app.unhandled).toEqual([]);
  });

  it('requiresAuth(): a 401 JSON for an API call, a redirect to login for a page', async () => {
    const jar = new CookieJar();
    const api = await request(`${app.url}/api/me?x=1`, { jar, headers: json });
    expect(api.status).toBe(401);
    expect(api.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(api.headers.get('cache-control')).toBe('no-store');
    expect(await api.json()).toMatchObject({ error: 'unauthenticated', code: 'ERR_UNAUTHENTICATED' });

    const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
    const pageRes = await request(`${app.url}/page?x=1&y=%C3%A9`, { jar, headers: { accept: browser } });
    expect(pageRes.status).toBe(302);
    expect(pageRes.headers.get('location')).toBe(`/auth/login?returnTo=${encodeURIComponent('/page?x=1&y=%C3%A9')}`);

    // No Accept header, or */*: an API client, not a page.
    expect((await request(`${app.url}/page`, { jar })).status).toBe(401);
    expect((await request(`${app.url}/page`, { jar, headers: { accept: '*/*' } })).status).toBe(401);
    expect(app.unhandled).toEqual([]);
  });

  it('a bad callback answers a coded 400 (JSON, or a page for a browser), and the server keeps serving', async () => {
    const bare = await request(`${app.url}/auth/callback`, { jar: new CookieJar(), headers: json });
    expect(bare.status).toBe(400);
    expect(await bare.json()).toMatchObject({ error: 'bad_request', code: 'ERR_BAD_REQUEST' });

    const forged = await request(`${app.url}/auth/callback?code=abc&state=x`, { jar: new CookieJar(), headers: json });
    expect(forged.status).toBe(400);
    expect(forged.headers.get('cache-control')).toBe('no-store');
    expect(await forged.json()).toMatchObject({ code: 'ERR_LOGIN_STATE_MISMATCH' });

    // passport-openidconnect reads the IdP's error from req.query, which only Express sets by itself.
    const idpError = await request(`${app.url}/auth/callback?error=server_error&state=x`, { jar: new CookieJar(), headers: json });
    expect(idpError.status).toBe(400);
    expect(await idpError.json()).toMatchObject({ code: 'ERR_LOGIN_FAILED' });

    for (const query of ['code=a&code=b', 'code[]=x&state[]=y']) {
      const repeated = await request(`${app.url}/auth/callback?${query}`, { jar: new CookieJar(), headers: json });
      expect({ query, status: repeated.status }).toEqual({ query, status: 400 });
      await repeated.body?.cancel();
    }

    const html = await request(`${app.url}/auth/callback?code=abc&state=x`, { jar: new CookieJar(), headers: { accept: 'text/html' } });
    expect(html.status).toBe(400);
    expect(html.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await html.text()).toContain('ERR_LOGIN_STATE_MISMATCH');

    const badBody = await request(`${app.url}/auth/session`, {
      jar: new CookieJar(),
      method: 'POST',
      headers: { origin: app.url, 'x-oidc-session': '1', 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(badBody.status).toBe(400);
    expect(await badBody.json()).toMatchObject({ code: 'ERR_BAD_REQUEST' });

    const backchannel = await request(`${app.url}/auth/backchannel-logout`, {
      jar: new CookieJar(),
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'logout_token=not-a-jwt',
    });
    expect(backchannel.status).toBe(400);
    expect(await backchannel.json()).toMatchObject({ error: 'invalid_request', code: 'ERR_LOGOUT_TOKEN_INVALID' });

    const getLogout = await request(`${app.url}/auth/logout`, { jar: new CookieJar(), headers: json });
    expect(getLogout.status).toBe(405);
    expect(getLogout.headers.get('allow')).toBe('POST');

    expect((await request(`${app.url}/api/me`, { jar: new CookieJar(), headers: json })).status).toBe(401);
    expect(app.unhandled).toEqual([]);
  });

  it('serves the browser script (ETag, 304) and the JWKS', async () => {
    const script = await request(`${app.url}/auth/client.js`, { jar: new CookieJar() });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const etag = script.headers.get('etag')!;
    expect(etag).toMatch(/^"/);
    expect((await script.text()).length).toBeGreaterThan(100);
    // fetch would add Cache-Control: no-cache to a conditional request, which (as in Express) is never fresh.
    const again = await request(`${app.url}/auth/client.js`, {
      jar: new CookieJar(),
      headers: { 'if-none-match': etag, 'cache-control': 'max-age=0' },
    });
    expect(again.status).toBe(304);

    const jwks = await request(`${app.url}/auth/jwks.json`, { jar: new CookieJar() });
    expect(jwks.status).toBe(200);
    expect(await jwks.json()).toMatchObject({ keys: [expect.objectContaining({ kid: 'frameworks-k1' })] });
  });
});

it("Express 4: the package, importing 'express', got Express 4's Router", async () => {
  const lib4 = await loadWithExpress4();
  expect(lib4.oidcSession).not.toBe(lib5.oidcSession);
  const router = lib4.oidcSession({
    issuer: op.issuer,
    clientId: op.clientId,
    clientSecret: op.clientSecret,
    baseURL: 'http://127.0.0.1:1',
    secret: TEST_SECRET,
    jwt: { keys: jwtKeys },
  });
  try {
    // Express 4's Router has process_params; Express 5's (the router package) does not.
    expect(router).toHaveProperty('process_params');
  } finally {
    await router.close();
  }
});

describe('requiresAuth() without oidcSession() in front', () => {
  it('hands its error to next under node:http instead of throwing', async () => {
    const unhandled: unknown[] = [];
    const done = finalHandler(unhandled);
    const guard = lib5.requiresAuth();
    const server = await listen((req, res) => guard(req, res, (err) => done(err, res)));
    try {
      const res = await request(`${server.url}/api/me`, { jar: new CookieJar(), headers: json });
      expect(res.status).toBe(500);
      expect(unhandled).toHaveLength(1);
      expect(unhandled[0]).toMatchObject({ code: 'ERR_NOT_MOUNTED' });
    } finally {
      await server.close();
    }
  });
});
