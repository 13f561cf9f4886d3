// The session JWT end to end: minted at sign-in, published at /auth/jwks.json, verifiable by another
// service (and by another instance's JWKS), re-minted when expired, tampering rejected.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { exportJWK, generateKeyPair } from 'jose';
import { verifySessionJwt } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

let op: TestProvider;
let app: TestApp;
let other: TestApp;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 3600 });
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const keys = [{ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256' }];
  app = await startApp(op, { jwt: { keys, ttl: 60 } });
  other = await startApp(op, { jwt: { keys, ttl: 60 } });
});
afterAll(async () => {
  await app?.close();
  await other?.close();
  await op?.stop();
});

interface S {
  jwt: string;
  jwtExpires: number;
  jwtPayload: Record<string, unknown>;
  user: { sub: string };
}

describe('session JWT', () => {
  it('is minted with iss, aud, sub, sid, iat, exp and verifies against /auth/jwks.json of another instance', async () => {
    const jar = new CookieJar();
    await login(app.url, { jar });
    const s = (await (await request(`${app.url}/auth/session`, { jar })).json()) as S;
    expect(s.jwtPayload).toMatchObject({ iss: app.url, aud: op.clientId, sub: 'alice' });
    expect(typeof s.jwtPayload.sid).toBe('string');
    expect((s.jwtPayload.exp as number) - (s.jwtPayload.iat as number)).toBe(60);
    expect(s.jwtExpires).toBe((s.jwtPayload.exp as number) * 1000);
    const jwks = await request(`${other.url}/auth/jwks.json`, { jar: new CookieJar() });
    expect(jwks.status).toBe(200);
    const body = (await jwks.json()) as { keys: Array<Record<string, unknown>> };
    expect(body.keys.every((k) => !('d' in k))).toBe(true);
    const claims = await verifySessionJwt(s.jwt, { jwksUrl: `${other.url}/auth/jwks.json`, issuer: app.url, audience: op.clientId });
    expect(claims.sub).toBe('alice');
  });

  it('rejects a tampered JWT with a coded error', async () => {
    const jar = new CookieJar();
    await login(app.url, { jar });
    const s = (await (await request(`${app.url}/auth/session`, { jar })).json()) as S;
    const [h, p, sig] = s.jwt.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: 'mallory' })).toString('base64url')}.${sig}`;
    await expect(verifySessionJwt(forged, { jwksUrl: `${app.url}/auth/jwks.json` })).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
  });

  it('re-mints an expired JWT', async () => {
    const jar = new CookieJar();
    await login(app.url, { jar });
    const first = (await (await request(`${app.url}/auth/session`, { jar })).json()) as S;
    jest.useFakeTimers({
      doNotFake: ['nextTick', 'setImmediate', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'queueMicrotask'],
    });
    try {
      jest.setSystemTime(first.jwtExpires + 1000);
      const second = (await (await request(`${app.url}/auth/session`, { jar })).json()) as S;
      expect(second.jwt).not.toBe(first.jwt);
      expect(second.jwtExpires).toBeGreaterThan(first.jwtExpires);
    } finally {
      jest.useRealTimers();
    }
  });
});
