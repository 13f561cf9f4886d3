// Two app instances sharing a real Redis Cluster (3 masters, 3 replicas) through node-redis cluster clients:
// sessions, refresh single flight, logout, revocation, claims (callback state, logout-token jti) and generated
// JWT keys work across instances, and a master killed under load costs only bounded 503s: no 500, no hang, no
// session lost, no grant revoked.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createCluster } from 'redis';
import { CookieJar } from '../helpers/cookie-jar.js';
import { login, request, startLogin } from '../helpers/login.js';
import { startProvider, type TestProvider } from '../helpers/op.js';
import { startRedisCluster, type TestCluster } from '../helpers/redis-cluster.js';
import {
  closeInstance,
  expectFailoverAnswers,
  expectSharedJwtKey,
  type Instance,
  logout,
  requestsDuring,
  revoke,
  STORE_TIMEOUT,
  signIn,
  startInstance,
  tokens,
  waitForExpiry,
  withoutKeyWarnings,
} from '../helpers/redis-topologies.js';
import { idClaimsOf, meStatus, postLogoutToken, sessionIdOf, sessionOf } from '../security/support.js';

let op: TestProvider;
let cluster: TestCluster;
let a: Instance;
let b: Instance;

function clusterClient() {
  return createCluster({
    rootNodes: cluster.rootNodes,
    defaults: {
      // Commands to a node that is down fail at once (503) instead of waiting in memory for it to come back.
      disableOfflineQueue: true,
      socket: { connectTimeout: STORE_TIMEOUT, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 500) },
    },
    // Re-read the slot map soon after a node stops answering, so a promoted replica is found quickly.
    topologyRefreshOnReconnectionAttemptStrategy: 300,
  });
}

beforeAll(async () => {
  [op, cluster] = await Promise.all([startProvider({ accessTokenTtl: 2 }), startRedisCluster()]);
  [a, b] = await Promise.all([startInstance(op, clusterClient()), startInstance(op, clusterClient())]);
}, 40_000);
afterAll(async () => {
  await Promise.all([a && closeInstance(a), b && closeInstance(b)]);
  await Promise.all([op?.stop(), cluster?.stop()]);
});

describe('two instances sharing a Redis Cluster', () => {
  it('a session created on A is read on B; its blob and token record share one hash slot', async () => {
    const jar = await signIn(op, a, 'alice');
    const onA = await tokens(a, jar);
    const onB = await tokens(b, jar);
    expect(onA.accessToken).toBeTruthy();
    expect(onB.accessToken).toBe(onA.accessToken);
    expect(await meStatus(b, jar)).toBe(200);
    const id = sessionIdOf(jar);
    expect(await cluster.keySlot(`oidc-session:tok:{sess:${id}}`)).toBe(await cluster.keySlot(`sess:${id}`));
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
    expect(await meStatus(a, before)).toBe(401);
  });

  it('6 concurrent sign-ins of one user over A and B, then revokeSessions by sub on A: all 6 are signed out on both', async () => {
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
    const other = await signIn(op, b, 'judy');
    for (const jar of jars) expect(await meStatus(b, jar)).toBe(200);
    expect(await revoke(a, { sub: 'ivan' })).toBe(6);
    for (const jar of jars) {
      expect(await meStatus(a, jar)).toBe(401);
      expect(await meStatus(b, jar)).toBe(401);
    }
    expect(await meStatus(a, other)).toBe(200);
  });

  it('a callback submitted twice, to two instances behind one URL, exchanges the code once (the state is claimed in the cluster)', async () => {
    // A second instance with A's baseURL, as behind a load balancer: the IdP's redirect is valid for both.
    const twin = await startInstance(op, clusterClient(), { baseURL: a.url });
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
    const token = await op.signLogoutToken({ sid: 'replayed-across-the-cluster' });
    expect((await postLogoutToken(a, token)).status).toBe(200);
    const replay = await postLogoutToken(b, token);
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ code: 'ERR_LOGOUT_TOKEN_INVALID' });
  });

  it("generated session-JWT keys (no jwt.keys) are shared through the cluster: a JWT from C verifies with D's JWKS", async () => {
    const [c, d] = await withoutKeyWarnings(() =>
      Promise.all([
        startInstance(op, clusterClient(), { jwt: { keys: undefined } }),
        startInstance(op, clusterClient(), { jwt: { keys: undefined } }),
      ]),
    );
    try {
      await expectSharedJwtKey(op, c, d);
    } finally {
      await Promise.all([closeInstance(c), closeInstance(d)]);
    }
  });

  it('a master killed under load: only 200s and bounded 503s meanwhile, then the same cookie works on both, no grant revoked', async () => {
    const jar = await signIn(op, a, 'alice');
    expect(await meStatus(b, jar)).toBe(200);
    const master = await cluster.masterOf(`sess:${sessionIdOf(jar)}`);
    await cluster.replicasInSync(master);
    op.resetCounts();
    const run = await requestsDuring([a, b], jar, () => cluster.killMaster(master));
    expectFailoverAnswers(run);
    for (const instance of [a, b]) {
      expect(await meStatus(instance, jar)).toBe(200);
      expect((await sessionOf(instance, jar))?.user).toMatchObject({ sub: 'alice' });
    }
    expect(op.count('grant.revoked')).toBe(0);
    // A new sign-in works too (it writes on the promoted replica).
    expect(await meStatus(b, await signIn(op, b, 'alice'))).toBe(200);
  }, 45_000);
});
