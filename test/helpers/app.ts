// A test app: Express + oidcSession() against a TestProvider, on 127.0.0.1:0, with a few routes that
// expose what getServerSession returns, so tests can observe the middleware from outside.
import express, { type Express } from 'express';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { getServerSession, type OidcSessionOptions, type OidcSessionRouter, oidcSession, requiresAuth } from '../../lib/index.js';
import type { TestProvider } from './op.js';
import { type Listening, listen } from './server.js';

export const TEST_SECRET = 'test-session-secret-0123456789abcdefghij';

export interface TestApp {
  url: string;
  app: Express;
  router: OidcSessionRouter;
  server: Listening;
  close(): Promise<void>;
}

// One configured session-JWT key per test process, so apps do not each print the "no jwt.keys" warning;
// generated keys are covered by test/unit/jwt-keys.test.ts and the Redis process tests.
let jwtKeys: Promise<JWK[]> | undefined;
function testJwtKeys(): Promise<JWK[]> {
  jwtKeys ??= generateKeyPair('ES256', { extractable: true }).then(async ({ privateKey }) => [
    { ...(await exportJWK(privateKey)), kid: 'test-k1', alg: 'ES256' },
  ]);
  return jwtKeys;
}

export async function startApp(op: TestProvider, options: OidcSessionOptions = {}, extend?: (app: Express) => void): Promise<TestApp> {
  const server = await listen();
  const basePath = options.basePath ?? '/auth';
  op.allowRedirect(`${server.url}${basePath}/callback`);
  op.allowRedirect(`${server.url}${options.postLogoutRedirect ?? '/'}`);
  const app = express();
  const router = oidcSession({
    issuer: op.issuer,
    clientId: op.clientId,
    clientSecret: op.clientSecret,
    baseURL: server.url,
    secret: TEST_SECRET,
    jwt: { keys: await testJwtKeys() },
    ...options,
  });
  app.use(router);
  app.get('/api/me', requiresAuth(), async (req, res) => {
    const session = await getServerSession(req);
    res.json({ user: session!.user });
  });
  app.get('/api/tokens', async (req, res) => {
    res.json(await req.getServerSession());
  });
  extend?.(app);
  server.attach(app);
  await router.ready;
  return {
    url: server.url,
    app,
    router,
    server,
    close: async () => {
      await server.close();
      await router.close();
    },
  };
}
