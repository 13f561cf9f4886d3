import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { RedisStore } from 'connect-redis';
import session from 'express-session';
import { exportJWK, generateKeyPair, generateSecret, type JWK } from 'jose';
import { createClient, type RedisClientType } from 'redis';
import {
  createKeyring,
  JWT_ALGS,
  type KeyBackend,
  type Keyring,
  memoryKeyBackend,
  redisKeyBackend,
  storeKeyBackend,
  toPublicJwk,
} from '../../lib/tokens/jwt-keys.js';
import { createSessionJwt } from '../../lib/tokens/session-jwt.js';
import { verifySessionJwt } from '../../lib/verify-session-jwt.js';

const ISS = 'https://app.example.com';
const AUD = 'my-app';

function minter(keyring: Keyring) {
  return createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring });
}

async function privateJwk(alg: string, kid?: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), ...(kid && { kid }), alg };
}

/** A JWT minted through `from` must verify against the JWKS published by `to`. */
async function expectCrossVerify(from: Keyring, to: Keyring) {
  const { jwt } = await minter(from).get('s1', { sub: 'alice', sid: 'sid-1' });
  const claims = await verifySessionJwt(jwt, { keys: await minter(to).jwks(), issuer: ISS, audience: AUD });
  expect(claims.sub).toBe('alice');
}

describe('memoryKeyBackend', () => {
  it('keeps the first value and answers it to every later writer', async () => {
    const b = memoryKeyBackend();
    expect(await b.get()).toBeNull();
    expect(await b.setIfAbsent('one')).toBe('one');
    expect(await b.setIfAbsent('two')).toBe('one');
    expect(await b.get()).toBe('one');
  });
});

describe('createKeyring with a generated key', () => {
  it('warns once, at creation, saying how to configure jwt.keys', async () => {
    const warn = jest.fn<(msg: string) => void>();
    const ring = createKeyring({ alg: 'ES256', backend: memoryKeyBackend(), warn });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/jwt\.keys/);
    expect(warn.mock.calls[0]![0]).toMatch(/exportJWK/);
    await ring.get();
    await ring.get();
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('loads lazily and memoises', async () => {
    const backend = memoryKeyBackend();
    const get = jest.spyOn(backend, 'get');
    const ring = createKeyring({ alg: 'ES256', backend });
    expect(get).not.toHaveBeenCalled();
    const [a, b] = await Promise.all([ring.get(), ring.get()]);
    expect(a).toBe(b);
    expect(await ring.get()).toBe(a);
    expect(get).toHaveBeenCalledTimes(1);
  });

  it.each(JWT_ALGS)('generates a working %s key whose public JWKS has kid, alg, use and no private member', async (alg) => {
    const ring = createKeyring({ alg, backend: memoryKeyBackend() });
    const keys = await ring.get();
    expect(keys.alg).toBe(alg);
    expect(keys.publicJwks.keys).toHaveLength(1);
    const [jwk] = keys.publicJwks.keys;
    expect(jwk).toMatchObject({ kid: keys.signing.kid, alg, use: 'sig' });
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) expect(jwk).not.toHaveProperty(member);
    await expectCrossVerify(ring, ring);
  });

  it('persists the private JWK with its kid through the backend', async () => {
    const backend = memoryKeyBackend();
    const keys = await createKeyring({ alg: 'ES256', backend }).get();
    const stored = JSON.parse((await backend.get())!) as JWK;
    expect(stored).toMatchObject({ kty: 'EC', crv: 'P-256', kid: keys.signing.kid, alg: 'ES256' });
    expect(typeof stored.d).toBe('string');
  });

  it('two keyrings over one memory backend share the key, even when they load concurrently', async () => {
    const backend = memoryKeyBackend();
    const a = createKeyring({ alg: 'ES256', backend });
    const b = createKeyring({ alg: 'ES256', backend });
    const [ka, kb] = await Promise.all([a.get(), b.get()]);
    expect(ka.signing.kid).toBe(kb.signing.kid);
    await expectCrossVerify(a, b);
    await expectCrossVerify(b, a);
  });

  it('two keyrings with separate backends do not verify each other (the test above can fail)', async () => {
    const a = createKeyring({ alg: 'ES256', backend: memoryKeyBackend() });
    const b = createKeyring({ alg: 'ES256', backend: memoryKeyBackend() });
    await expect(expectCrossVerify(a, b)).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
  });

  it('two keyrings over one express-session MemoryStore share the key, stored as a session-like record', async () => {
    const store = new session.MemoryStore();
    const a = createKeyring({ alg: 'ES256', backend: storeKeyBackend(store) });
    const b = createKeyring({ alg: 'ES256', backend: storeKeyBackend(store) });
    const ka = await a.get();
    const kb = await b.get();
    expect(ka.signing.kid).toBe(kb.signing.kid);
    await expectCrossVerify(a, b);
    const record = await new Promise<unknown>((resolve, reject) =>
      store.get('oidc-session:jwt-keys', (err, s) => (err ? reject(err) : resolve(s))),
    );
    const { cookie, value } = record as { cookie: { expires: string; originalMaxAge: number }; value: string };
    expect(Date.parse(cookie.expires)).toBeGreaterThan(Date.now() + 365 * 24 * 3600 * 1000);
    expect(cookie.originalMaxAge).toBeGreaterThan(365 * 24 * 3600 * 1000);
    expect(JSON.parse(value)).toMatchObject({ kid: ka.signing.kid });
  });

  it('a failed load rejects with ERR_STORE_UNAVAILABLE and is retried on the next get()', async () => {
    const inner = memoryKeyBackend();
    let failures = 1;
    const backend: KeyBackend = {
      get: () => (failures-- > 0 ? Promise.reject(new Error('ECONNREFUSED')) : inner.get()),
      setIfAbsent: (v) => inner.setIfAbsent(v),
    };
    const ring = createKeyring({ alg: 'ES256', backend });
    const err = await ring.get().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 });
    expect((err as Error).cause).toMatchObject({ message: 'ECONNREFUSED' });
    const keys = await ring.get();
    expect(keys.signing.kid).toMatch(/^[\w-]{43}$/);
  });

  it('an unreadable stored key is reported, not silently replaced', async () => {
    const backend = memoryKeyBackend();
    await backend.setIfAbsent('{"kty":"EC"');
    await expect(createKeyring({ alg: 'ES256', backend }).get()).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 500 });
  });

  it('adopts a key another instance stored after a flush, and keeps the old one for verification', async () => {
    let stored: string | null = null;
    const backend: KeyBackend = {
      get: async () => stored,
      setIfAbsent: async (v) => (stored ??= v),
    };
    const a = createKeyring({ alg: 'ES256', backend, recheckInterval: 0 });
    const before = await a.get();
    const oldJwt = (await minter(a).get('s', { sub: 'u', sid: 'x' })).jwt;

    stored = null; // store flushed; another instance starts and generates its own key
    const b = createKeyring({ alg: 'ES256', backend });
    const kb = await b.get();
    expect(kb.signing.kid).not.toBe(before.signing.kid);

    await a.get(); // starts the background recheck
    await new Promise((r) => setTimeout(r, 20));
    const after = await a.get();
    expect(after.signing.kid).toBe(kb.signing.kid);
    expect(after.verify.map((k) => k.kid)).toEqual([kb.signing.kid, before.signing.kid]);
    await expect(verifySessionJwt(oldJwt, { keys: after.publicJwks })).resolves.toMatchObject({ sub: 'u' });
    await expectCrossVerify(a, b);
  });

  it('puts its key back into a store that lost it', async () => {
    let stored: string | null = null;
    const backend: KeyBackend = { get: async () => stored, setIfAbsent: async (v) => (stored ??= v) };
    const a = createKeyring({ alg: 'ES256', backend, recheckInterval: 0 });
    const { signing } = await a.get();
    stored = null;
    await a.get();
    await new Promise((r) => setTimeout(r, 20));
    expect(JSON.parse(stored!)).toMatchObject({ kid: signing.kid });
    expect((await a.get()).signing.kid).toBe(signing.kid);
  });
});

describe('createKeyring with configured keys (jwt.keys)', () => {
  const unusedBackend: KeyBackend = {
    get: () => Promise.reject(new Error('backend must not be used')),
    setIfAbsent: () => Promise.reject(new Error('backend must not be used')),
  };

  it('rotation: the first key signs, an old key still verifies; no warning, no backend', async () => {
    const oldKey = await privateJwk('ES256', 'old');
    const newKey = await privateJwk('ES256', 'new');
    const warn = jest.fn();
    const before = createKeyring({ alg: 'ES256', configured: [oldKey], backend: unusedBackend, warn });
    const after = createKeyring({ alg: 'ES256', configured: [newKey, oldKey], backend: unusedBackend, warn });
    expect(warn).not.toHaveBeenCalled();

    const keys = await after.get();
    expect(keys.signing.kid).toBe('new');
    expect(keys.verify.map((k) => k.kid)).toEqual(['new', 'old']);
    expect(keys.publicJwks.keys.map((k) => k.kid)).toEqual(['new', 'old']);

    const oldJwt = (await minter(before).get('s', { sub: 'u', sid: 'x' })).jwt;
    const newJwt = (await minter(after).get('s', { sub: 'u', sid: 'x' })).jwt;
    const jwks = await minter(after).jwks();
    await expect(verifySessionJwt(oldJwt, { keys: jwks })).resolves.toMatchObject({ sub: 'u' });
    await expect(verifySessionJwt(newJwt, { keys: jwks })).resolves.toMatchObject({ sub: 'u' });
    // Once the old key is dropped, its JWTs stop verifying.
    const dropped = await minter(createKeyring({ alg: 'ES256', configured: [newKey], backend: unusedBackend })).jwks();
    await expect(verifySessionJwt(oldJwt, { keys: dropped })).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
  });

  it('derives a kid (RFC 7638 thumbprint) and an alg from the key type when absent', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const rsa = await exportJWK(privateKey); // no kid, no alg
    const keys = await createKeyring({ alg: 'ES256', configured: [rsa], backend: unusedBackend }).get();
    expect(keys.alg).toBe('RS256');
    expect(keys.signing.kid).toMatch(/^[\w-]{43}$/);
    expect(keys.publicJwks.keys[0]).toEqual({ kty: 'RSA', n: rsa.n, e: rsa.e, kid: keys.signing.kid, alg: 'RS256', use: 'sig' });
  });

  it('takes PS256 for an RSA key when jwt.alg says so', async () => {
    const { privateKey } = await generateKeyPair('PS256', { extractable: true });
    const keys = await createKeyring({ alg: 'PS256', configured: [await exportJWK(privateKey)], backend: unusedBackend }).get();
    expect(keys.alg).toBe('PS256');
  });

  it('refuses unusable keys at creation with a ConfigError naming the key', async () => {
    const ec = await privateJwk('ES256', 'k');
    const { d: _d, ...publicOnly } = ec;
    const secret = await exportJWK(await generateSecret('HS256', { extractable: true }));
    const make =
      (configured: unknown, alg = 'ES256') =>
      () =>
        createKeyring({ alg, configured: configured as JWK[], backend: unusedBackend });
    expect(make([publicOnly])).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', message: expect.stringMatching(/jwt\.keys\[0\].*"d"/) }),
    );
    expect(make([ec, secret])).toThrow(expect.objectContaining({ message: expect.stringMatching(/jwt\.keys\[1\].*symmetric/) }));
    expect(make([{ ...ec, alg: 'RS256' }])).toThrow(/does not fit/);
    expect(make([{ ...ec, alg: 'HS256' }])).toThrow(/jwt\.keys\[0\]\.alg/);
    expect(make([])).toThrow(/non-empty/);
    expect(make(undefined, 'HS256')).toThrow(/jwt\.alg/);
    expect(make(undefined, 'none')).toThrow(/jwt\.alg/);
  });

  it('refuses two keys with the same kid', async () => {
    const ring = createKeyring({
      alg: 'ES256',
      configured: [await privateJwk('ES256', 'same'), await privateJwk('ES256', 'same')],
      backend: unusedBackend,
    });
    await expect(ring.get()).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });
});

describe('toPublicJwk', () => {
  it('keeps only public members', async () => {
    const rsa = await privateJwk('RS256', 'r');
    expect(Object.keys(toPublicJwk(rsa)).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    const ed = await privateJwk('EdDSA', 'e');
    expect(Object.keys(toPublicJwk(ed)).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    expect(() => toPublicJwk({ kty: 'oct', k: 'AAAA' })).toThrow(TypeError);
  });
});

// --- real redis-server ------------------------------------------------------------------------

function hasRedisServer(): boolean {
  return spawnSync('which', ['redis-server']).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function startRedis(): Promise<{ url: string; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start')), 10_000);
    let out = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out}`));
    });
  });
  return { url: `redis://127.0.0.1:${port}`, proc };
}

(hasRedisServer() ? describe : describe.skip)('with a real redis-server', () => {
  let redis: { url: string; proc: ChildProcess };
  const clients: RedisClientType[] = [];

  const connect = async () => {
    const client = createClient({ url: redis.url }) as RedisClientType;
    await client.connect();
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    for (const c of clients) await c.quit().catch(() => undefined);
    if (redis?.proc.exitCode === null) {
      const exited = new Promise((r) => redis.proc.once('exit', r));
      redis.proc.kill('SIGTERM');
      await exited;
    }
  });

  it('redisKeyBackend: SET NX keeps the first writer', async () => {
    const [c1, c2] = [await connect(), await connect()];
    const b1 = redisKeyBackend(c1, 'test:nx');
    const b2 = redisKeyBackend(c2, 'test:nx');
    expect(await b1.get()).toBeNull();
    expect(await b1.setIfAbsent('first')).toBe('first');
    expect(await b2.setIfAbsent('second')).toBe('first');
    expect(await c2.get('test:nx')).toBe('first');
  });

  it('two keyrings on two connections share one generated key (redisKeyBackend)', async () => {
    const [c1, c2] = [await connect(), await connect()];
    const a = createKeyring({ alg: 'ES256', backend: redisKeyBackend(c1) });
    const b = createKeyring({ alg: 'ES256', backend: redisKeyBackend(c2) });
    const [ka, kb] = await Promise.all([a.get(), b.get()]);
    expect(ka.signing.kid).toBe(kb.signing.kid);
    await expectCrossVerify(a, b);
    await expectCrossVerify(b, a);
    expect(await c1.ttl('oidc-session:jwt-keys')).toBe(-1); // never expires
  });

  it('two keyrings on two connect-redis stores share one generated key (storeKeyBackend)', async () => {
    const [c1, c2] = [await connect(), await connect()];
    const a = createKeyring({ alg: 'EdDSA', backend: storeKeyBackend(new RedisStore({ client: c1 }), 'jwt-keys-store') });
    const ka = await a.get();
    const b = createKeyring({ alg: 'EdDSA', backend: storeKeyBackend(new RedisStore({ client: c2 }), 'jwt-keys-store') });
    const kb = await b.get();
    expect(ka.signing.kid).toBe(kb.signing.kid);
    await expectCrossVerify(a, b);
    await expectCrossVerify(b, a);
    // connect-redis turned cookie.expires into a TTL of about ten years.
    expect(await c1.ttl('sess:jwt-keys-store')).toBeGreaterThan(9 * 365 * 24 * 3600);
  });
});
