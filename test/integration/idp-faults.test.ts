// The IdP's token endpoint down, hanging or failing during a refresh: the session is kept, the still-valid
// token is served, attempts back off, and everything recovers when the IdP is back. The faults are
// injected into the real provider (a Koa middleware in front of /token): the provider never does this itself.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

type Fault = 'none' | 'hang' | '500' | 'reset';
let fault: Fault = 'none';
let tokenCalls = 0;
let op: TestProvider;
let app: TestApp;
const errors: string[] = [];

beforeAll(async () => {
  op = await startProvider({
    accessTokenTtl: 4,
    intercept: (req, res) => {
      if (!req.url?.startsWith('/token') || fault === 'none') return false;
      tokenCalls++;
      if (fault === 'hang') setTimeout(() => res.destroy(), 5000);
      else if (fault === '500') res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"server_error"}');
      else req.socket.destroy();
      return true;
    },
  });
  app = await startApp(op, {
    httpTimeout: 800,
    idpLogout: false,
    events: {
      refreshError: ({ error }) => {
        errors.push(error);
      },
    },
  });
});
afterAll(async () => {
  await app?.close();
  await op?.stop();
});

interface Tokens {
  accessToken?: string;
  accessTokenExpires: number;
  error?: string;
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function tokens(jar: CookieJar): Promise<Tokens> {
  const res = await request(`${app.url}/api/tokens`, { jar });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

describe.each<Fault>(['hang', '500', 'reset'])('token endpoint fault: %s', (kind) => {
  it('41: keeps the session, serves the valid token, backs off, answers 503 once expired, recovers', async () => {
    fault = 'none';
    const jar = new CookieJar();
    expect((await login(app.url, { jar })).status).toBe(302);
    const first = await tokens(jar);
    await sleep(first.accessTokenExpires - 2000 - Date.now() + 50); // inside the refresh window (half of 4 s)
    fault = kind;
    errors.length = 0;
    tokenCalls = 0;
    const started = Date.now();
    const during = await tokens(jar);
    expect(Date.now() - started).toBeLessThan(3000); // bounded by httpTimeout, never the 5 s hang
    expect(during.error).toBe('RefreshAccessTokenUnavailable');
    expect(during.accessToken).toBe(first.accessToken); // still valid, still served
    expect(errors).toEqual(['RefreshAccessTokenUnavailable']);
    expect(tokenCalls).toBe(1);
    await tokens(jar);
    await tokens(jar);
    expect(tokenCalls).toBe(1); // backing off, not one attempt per request
    await sleep(first.accessTokenExpires - Date.now() + 50);
    const me = await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } });
    expect(me.status).toBe(503);
    expect(await me.json()).toMatchObject({ code: 'ERR_REFRESH_UNAVAILABLE' });
    fault = 'none';
    // Recovers by itself once the back-off step has passed, without a new login.
    let recovered = await tokens(jar);
    for (let i = 0; i < 50 && recovered.error; i++) {
      await sleep(100);
      recovered = await tokens(jar);
    }
    expect(recovered.error).toBeUndefined();
    expect(recovered.accessToken).not.toBe(first.accessToken);
    expect(recovered.accessTokenExpires).toBeGreaterThan(Date.now());
    expect((await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } })).status).toBe(200);
  });
});
