// 5: every authorization request carries an S256 code_challenge and a fresh state and nonce of ≥128 bits.
// 14: logins started in two tabs of one browser both complete, and neither crosses into another session.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { completeLogin, request, startLogin } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

let op: TestProvider;
let app: TestApp;

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 60 });
  app = await startApp(op, { idpLogout: false });
});
afterAll(async () => {
  await app?.close();
  await op?.stop();
});

/** Bits of entropy a base64url (or alphanumeric) string can carry at most. */
const bits = (value: string) => value.length * Math.log2(/^[A-Za-z0-9]+$/.test(value) ? 62 : 64);

describe('authorization request', () => {
  it('5: S256 code_challenge, fresh state and nonce of at least 128 bits on every request', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const res = await request(`${app.url}/auth/login`, { jar: new CookieJar() });
      expect(res.status).toBe(302);
      const params = new URL(res.headers.get('location')!).searchParams;
      expect(params.get('code_challenge_method')).toBe('S256');
      expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      for (const name of ['state', 'nonce', 'code_challenge']) {
        const value = params.get(name)!;
        expect(bits(value)).toBeGreaterThanOrEqual(128);
        expect(seen.has(value)).toBe(false);
        seen.add(value);
      }
    }
  });

  it('14: logins started in two tabs both complete, in either order, with no crossed session', async () => {
    for (const order of [
      [0, 1],
      [1, 0],
    ]) {
      const jar = new CookieJar();
      const tabs = [await startLogin(app.url, { jar, returnTo: '/tab-a' }), await startLogin(app.url, { jar, returnTo: '/tab-b' })];
      const first = await completeLogin(tabs[order[0]].callbackUrl, { jar });
      const second = await completeLogin(tabs[order[1]].callbackUrl, { jar });
      expect(first.status).toBe(302);
      expect(second.status).toBe(302);
      expect([first.location, second.location]).toEqual(order.map((i) => (i === 0 ? '/tab-a' : '/tab-b')));
      const me = await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } });
      expect(me.status).toBe(200);
      expect(((await me.json()) as { user: { sub: string } }).user.sub).toBe('alice');
    }
  });
});
