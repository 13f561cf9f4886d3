// Two app instances sharing a real Sentinel setup (1 master, 1 replica, 3 sentinels) through node-redis
// sentinel clients: sessions, refresh single flight, logout, revocation, claims (callback state, logout-token
// jti) and generated JWT keys work across instances, and a failover under load, graceful (SENTINEL FAILOVER)
// or the master SIGKILLed, costs only bounded 503s: no 500, no hang, no session lost, no grant revoked.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createSentinel } from 'redis';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request, startLogin } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { startRedisSentinel, type TestSentinel } from '../helpers/redis-sentinel.js';
import {
  closeInstance,
  command,
  expectFailoverAnswers,
  expectSharedJwtKey,
  type Instance,
  logout,
  requestsDuring,
  revoke,
  STORE_TIMEOUT,
  signIn,
  startInstance,
  type Tokens,
  tokens,
  waitForExpiry,
  withoutKeyWarnings,
} from '../helpers/redis-topologies.js';
import { idClaimsOf, meStatus, postLogoutToken, sessionIdOf, sessionOf } from '../security/support.js';

let op: TestProvider;
let sentinel: TestSentinel;
let a: Instance;
let b: Instance;

function sentinelClient() {
  const socket = { connectTimeout: STORE_TIMEOUT, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 500) };
  return createSentinel({
    name: sentinel.name,
    sentinelRootNodes: sentinel.sentinelRootNodes,
    // Commands to a master that is down fail at once (503) instead of waiting in memory for it to come back.
    nodeClientOptions: { disableOfflineQueue: true, socket },
    sentinelClientOptions: { socket },
    scanInterval: 1000,
  });
}

beforeAll(async () => {
  [op, sentinel] = await Promise.all([startProvider({ accessTokenTtl: 2 }), startRedisSentinel()]);
  [a, b] = await Promise.all([startInstance(op, sentinelClient()), startInstance(op, sentinelClient())]);
}, 40_000);
afterAll(async () => {
  await Promise.all([a && closeInstance(a), b && closeInstance(b)]);
  await Promise.all([op?.stop(), sentinel?.stop()]);
});

describe('two instances sharing a Redis behind Sentinel', () => {
  it('a session created on A is read on B', async () => {
    const jar = await signIn(op, a, 'alice');
    const onA = await tokens(a, jar);
    const onB = await tokens(b, jar);
    expect(onA.accessToken).toBeTruthy();
    expect(onB.accessToken).toBe(onA.accessToken);
    expect(await meStatus(b, jar)).toBe(200);
  });

  it('50 concurrent requests over A and B after the access token expired make exactly one refresh grant', async () => {
    const jar = await signIn(op, a, 'alice');
    const first = await tokens(a, jar);
    await tokens(b, jar);
    await waitForExpiry(first);
    op.resetCounts();
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => tokens(i % 2 ? b : a, jar)));
    expect(op.count('refresh_token.consumed')).toBe(1);
    expect(op.count('grant.revoked')).toBe(0);
    expect(all.every((t) => t.error === undefined)).toBe(true);
    const seen = new Set(all.map((t) => t.accessToken));
    expect(seen.size).toBe(1);
    expect(seen.has(first.accessToken)).toBe(false);
    expect((await tokens(b, jar)).accessToken).toBe([...seen][0]);
    expect(op.count('refresh_token.consumed')).toBe(1);
  });

  it('a logout on A is seen by B: 401 and a null session with the same cookie', async () => {
    const jar = await signIn(op, a, 'alice');
    expect(await meStatus(b, jar)).toBe(200);
    const before = jar.clone();
    await logout(a, jar);
    expect(await meStatus(b, before)).toBe(401);
    expect(await sessionOf(b, before)).toBeNull();
  });

  it('6 concurrent sign-ins of one user over A and B, then revokeSessions by sub on B: all 6 are signed out on both', async () => {
    op.setAccount('ivan');
    let jars: CookieJar[];
    try {
      jars = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const jar = new CookieJar();
          expect((await login((i % 2 ? b : a).url, { jar })).status).toBe(302);
          return jar;
        }),
      );
    } finally {
      op.setAccount('alice');
    }
    for (const jar of jars) expect(await meStatus(a, jar)).toBe(200);
    expect(await revoke(b, { sub: 'ivan' })).toBe(6);
    for (const jar of jars) {
      expect(await meStatus(a, jar)).toBe(401);
      expect(await meStatus(b, jar)).toBe(401);
    }
  });

  it('a callback submitted twice, to two instances behind one URL, exchanges the code once (the state is claimed in Redis)', async () => {
    // A second instance with A's baseURL, as behind a load balancer: the IdP's redirect is valid for both.
    const twin = await startInstance(op, sentinelClient(), { baseURL: a.url });
    try {
      for (let round = 0; round < 3; round++) {
        const jar = new CookieJar();
        const { callbackUrl } = await startLogin(a.url, { jar });
        op.resetCounts();
        const answers = await Promise.all([
          request(callbackUrl, { jar: jar.clone() }),
          request(callbackUrl.replace(a.url, twin.url), { jar: jar.clone() }),
        ]);
        expect(answers.map((r) => r.status).sort()).toEqual([302, 400]);
        expect(await answers.find((r) => r.status === 400)!.json()).toMatchObject({ code: 'ERR_LOGIN_STATE_MISMATCH' });
        expect(op.count('grant.success')).toBe(1);
        expect(op.count('grant.revoked')).toBe(0);
      }
    } finally {
      await closeInstance(twin);
    }
  });

  it("the provider's logout token delivered to B ends the session made on A; a logout token replayed to B is refused", async () => {
    const jar = await signIn(op, a, 'alice');
    const { sub, sid } = await idClaimsOf(a, jar);
    expect(await meStatus(b, jar)).toBe(200);
    op.setBackchannelLogoutUri(`${b.url}/auth/backchannel-logout`);
    try {
      await op.backchannelLogout(sub, sid);
    } finally {
      op.setBackchannelLogoutUri(undefined);
    }
    expect(await meStatus(a, jar)).toBe(401);
    expect(await sessionOf(b, jar)).toBeNull();
    const token = await op.signLogoutToken({ sid: 'replayed-behind-sentinel' });
    expect((await postLogoutToken(a, token)).status).toBe(200);
    const replay = await postLogoutToken(b, token);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ code: 'ERR_LOGOUT_TOKEN_INVALID' });
  });

  it("generated session-JWT keys (no jwt.keys) are shared through Redis: a JWT from C verifies with D's JWKS", async () => {
    const [c, d] = await withoutKeyWarnings(() =>
      Promise.all([
        startInstance(op, sentinelClient(), { jwt: { keys: undefined } }),
        startInstance(op, sentinelClient(), { jwt: { keys: undefined } }),
      ]),
    );
    try {
      await expectSharedJwtKey(op, c, d);
    } finally {
      await Promise.all([closeInstance(c), closeInstance(d)]);
    }
  });

  describe('failover (in order: graceful twice, then the master killed)', () => {
    it('SENTINEL FAILOVER under load: only 200s and bounded 503s meanwhile; afterwards the same cookie works on both, no grant revoked', async () => {
      const jar = await signIn(op, a, 'alice');
      expect(await meStatus(b, jar)).toBe(200);
      await sentinel.replicaInSync();
      op.resetCounts();
      const before = await sentinel.master();
      const run = await requestsDuring([a, b], jar, () => sentinel.failover());
      expect((await sentinel.master()).port).not.toBe(before.port);
      expectFailoverAnswers(run);
      for (const instance of [a, b]) expect(await meStatus(instance, jar)).toBe(200);
      expect(op.count('grant.revoked')).toBe(0);
    }, 30_000);

    it('a refresh that runs after the replica was promoted, before the clients switched, is not lost: B does not send the rotated-away refresh token', async () => {
      const jar = await signIn(op, a, 'alice');
      const key = `oidc-session:tok:{sess:${sessionIdOf(jar)}}`;
      const first = await tokens(a, jar);
      expect((await tokens(b, jar)).accessToken).toBe(first.accessToken);
      await waitForExpiry(first);
      await sentinel.replicaInSync();
      op.resetCounts();
      const scenario: Record<string, unknown> = {};
      await sentinel.failover({
        promoted: async ({ from, to }) => {
          // The refresh is due: A runs it now, while the sentinels still name the old master to clients (checked as
          // it starts: on a loaded machine they may announce the new one before the refresh has answered).
          const announcedAtStart = (await sentinel.announcedMasterPort()) === from.port;
          const res = await request(`${a.url}/api/tokens`, { jar });
          const body = await res.text();
          const version = async (port: number) => String(await command(port, ['GET', key])).split(':')[0];
          Object.assign(scenario, {
            status: res.status,
            refreshed: res.status === 200 && (JSON.parse(body) as Tokens).accessToken !== first.accessToken,
            stillAnnounced: announcedAtStart,
            versionOnOld: await version(from.port),
            versionOnPromoted: await version(to.port),
          });
          // 200 with fresh tokens, or a bounded 503 (a refresh refused on a master that lost its replica).
          if (res.status !== 200) expect(JSON.parse(body)).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
        },
      });
      // The window was hit: the refresh ran before the sentinels announced the promoted replica.
      expect(scenario).toMatchObject({ stillAnnounced: true });
      // The access token A got is due again (2 s tokens, 1 s leeway): B has to refresh with the refresh token A got.
      await sleep(1100);
      // Sessions are served by whichever instance the load balancer picks: B first.
      const onB = await tokens(b, jar);
      expect({ error: onB.error, revoked: op.count('grant.revoked'), scenario }).toEqual({ error: undefined, revoked: 0, scenario });
      expect(await meStatus(b, jar)).toBe(200);
      expect(await meStatus(a, jar)).toBe(200);
    }, 30_000);

    it('the master SIGKILLed under load: only 200s and bounded 503s meanwhile; afterwards the same cookie works on both, no grant revoked', async () => {
      const jar = await signIn(op, a, 'alice');
      expect(await meStatus(b, jar)).toBe(200);
      await sentinel.replicaInSync();
      op.resetCounts();
      const run = await requestsDuring([a, b], jar, () => sentinel.killMaster());
      expectFailoverAnswers(run);
      for (const instance of [a, b]) {
        expect(await meStatus(instance, jar)).toBe(200);
        expect((await sessionOf(instance, jar))?.user).toMatchObject({ sub: 'alice' });
      }
      expect(op.count('grant.revoked')).toBe(0);
      // A new sign-in works too (it writes on the promoted replica).
      expect(await meStatus(b, await signIn(op, b, 'alice'))).toBe(200);
    }, 30_000);
  });
});
