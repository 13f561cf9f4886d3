// The session update body as a property: whatever a same-origin caller POSTs to /auth/session, the answer is
// 200 or a 4xx with a stable code — never a 5xx, never a crash — and the session keeps its user: nothing the
// browser sends reaches the session except through callbacks.session, which here accepts only `theme`.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

let op: TestProvider;
let app: TestApp;
let jar: CookieJar;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 3600 });
  app = await startApp(op, {
    idpLogout: false,
    callbacks: {
      session: (session, _req, { update }) => {
        const theme = (update as { theme?: unknown } | null | undefined)?.theme;
        return typeof theme === 'string' && theme.length <= 20 ? { ...session, user: { ...session.user, theme } } : session;
      },
    },
  });
  jar = new CookieJar();
  await login(app.url, { jar });
});
afterAll(async () => {
  await app?.close();
  await op?.stop();
});

const headers = () => ({ origin: app.url, 'x-oidc-session': '1', 'content-type': 'application/json' });
const json = fc.jsonValue({ maxDepth: 3 });
const bodies = fc.oneof(
  json.map((v) => JSON.stringify(v)),
  fc.record({ data: json }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({ refresh: fc.oneof(fc.boolean(), json), data: json }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc
    .record({
      data: fc.record({ theme: fc.oneof(fc.string({ maxLength: 30 }), json), sub: fc.string(), name: fc.string() }, { requiredKeys: [] }),
    })
    .map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 200 }),
);

describe('POST /auth/session body (property)', () => {
  it('never answers 5xx, keeps the user, and stores only what callbacks.session accepts', async () => {
    await fc.assert(
      fc.asyncProperty(bodies, async (body) => {
        const res = await request(`${app.url}/auth/session`, { jar, method: 'POST', headers: headers(), body });
        expect([200, 400]).toContain(res.status);
        const answer = (await res.json()) as { code?: string; user?: Record<string, unknown> };
        if (res.status === 400) expect(answer.code).toBe('ERR_BAD_REQUEST');
        else {
          expect(answer.user?.sub).toBe('alice');
          expect(answer.user?.name).toBe('Alice Test');
          const theme = answer.user?.theme;
          expect(theme === undefined || (typeof theme === 'string' && theme.length <= 20)).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
    const after = (await (await request(`${app.url}/auth/session`, { jar })).json()) as { user: Record<string, unknown> };
    expect(after.user.sub).toBe('alice');
    expect(op.count('grant.revoked')).toBe(0);
  }, 60_000);
});
