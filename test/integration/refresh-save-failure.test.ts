// A refresh whose grant succeeded at the IdP but whose result could not be stored (the store failed at that
// moment): the old record holds a refresh token the IdP has already rotated away. The newer record must win
// once the store is back — never a back-off over the dead token, never the dead token sent to the IdP.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import session, { type SessionData } from 'express-session';
import { PruningMemoryStore } from '../../lib/index.js';
import { startApp, type TestApp } from '../helpers/app.js';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';

type Callback<T = unknown> = (err?: unknown, value?: T) => void;

/** An app's own Store whose writes of token records can be made to fail. */
class FlakyRecordStore extends session.Store {
  failRecordWrites = false;
  private readonly inner = new PruningMemoryStore();
  override get(sid: string, cb: Callback<SessionData | null>): void {
    this.inner.get(sid, cb);
  }
  override set(sid: string, sess: SessionData, cb?: Callback): void {
    if (this.failRecordWrites && sid.startsWith('tok:')) return cb?.(new Error('store write failed'));
    this.inner.set(sid, sess, cb);
  }
  override destroy(sid: string, cb?: Callback): void {
    this.inner.destroy(sid, cb);
  }
}

let op: TestProvider;
let app: TestApp;
const store = new FlakyRecordStore();

beforeAll(async () => {
  op = await startProvider({ accessTokenTtl: 2 });
  app = await startApp(op, { store, idpLogout: false });
});
afterAll(async () => {
  await app?.close();
  await op?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
interface Tokens {
  accessToken?: string;
  accessTokenExpires: number;
  error?: string;
}

describe('a refresh that could not be stored', () => {
  it('answers 503 meanwhile, then writes the newer record back: no back-off over the rotated-away token, no grant revoked', async () => {
    const jar = new CookieJar();
    expect((await login(app.url, { jar })).status).toBe(302);
    const first = (await (await request(`${app.url}/api/tokens`, { jar })).json()) as Tokens;
    await sleep(first.accessTokenExpires - Date.now() + 20);
    op.resetCounts();
    store.failRecordWrites = true;
    let during: Response;
    try {
      during = await request(`${app.url}/api/tokens`, { jar });
    } finally {
      store.failRecordWrites = false;
    }
    expect(during.status).toBe(503);
    expect(op.count('refresh_token.consumed')).toBe(1); // the IdP rotated the refresh token
    // The store works again: the next refresh restores the record the grant produced and carries on from it.
    await sleep(2100);
    const after = (await (await request(`${app.url}/api/tokens`, { jar })).json()) as Tokens;
    expect(after.error).toBeUndefined();
    expect(after.accessToken).toBeTruthy();
    expect(op.count('grant.revoked')).toBe(0);
    expect(op.events.filter((e) => e.startsWith('grant.error'))).toEqual([]);
  });
});
