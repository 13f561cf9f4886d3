import { createServer, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { base64url, decodeJwt, decodeProtectedHeader, errors, exportSPKI, type JWK, SignJWT, UnsecuredJWT } from 'jose';
import { createKeyring, JWT_ALGS, type Keyring, memoryKeyBackend } from '../../lib/tokens/jwt-keys.js';
import { createSessionJwt } from '../../lib/tokens/session-jwt.js';
import { verifySessionJwt } from '../../lib/verify-session-jwt.js';

const ISS = 'https://app.example.com';
const AUD = 'my-app';
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

/** Fakes only the clock: jose reads Date.now for iat/exp; timers and I/O stay real. */
function fakeClock(now: number) {
  jest.useFakeTimers({
    now,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
}

function newKeyring(alg = 'ES256'): Keyring {
  return createKeyring({ alg, backend: memoryKeyBackend() });
}

/** A keyring whose get() calls are counted: one call per mint. */
function countingKeyring(inner = newKeyring()) {
  const get = jest.fn(() => inner.get());
  return { keyring: { get } as Keyring, mints: get };
}

afterEach(() => {
  jest.useRealTimers();
});

describe('createSessionJwt: minting', () => {
  it('mints a JWT with iss, aud, sub, sid, iat, exp that verifySessionJwt accepts with keys', async () => {
    const keyring = newKeyring();
    const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring });
    const minted = await sj.get('sess-1', { sub: 'alice', sid: 'sid-1' });

    expect(minted.jwtPayload).toEqual({
      iss: ISS,
      aud: AUD,
      sub: 'alice',
      sid: 'sid-1',
      iat: expect.any(Number),
      exp: minted.jwtPayload.iat + 300,
    });
    expect(Math.abs(minted.jwtPayload.iat * 1000 - Date.now())).toBeLessThan(2000);
    expect(minted.jwtExpires).toBe(minted.jwtPayload.exp * 1000);
    expect(decodeJwt(minted.jwt)).toEqual(minted.jwtPayload);
    const { signing } = await keyring.get();
    expect(decodeProtectedHeader(minted.jwt)).toEqual({ alg: 'ES256', kid: signing.kid, typ: 'JWT' });

    const claims = await verifySessionJwt(minted.jwt, { keys: await sj.jwks(), issuer: ISS, audience: AUD });
    expect(claims).toEqual(minted.jwtPayload);
    // A bare array of JWKs works too.
    await expect(verifySessionJwt(minted.jwt, { keys: (await sj.jwks()).keys })).resolves.toMatchObject({ sid: 'sid-1' });
  });

  it('hands out frozen objects, so one request cannot alter what the next one gets', async () => {
    const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring: newKeyring() });
    const minted = await sj.get('s', { sub: 'u', sid: 'x' });
    expect(Object.isFrozen(minted)).toBe(true);
    expect(Object.isFrozen(minted.jwtPayload)).toBe(true);
  });

  it.each(JWT_ALGS)('jwks() for %s carries kid, alg, use and never a private member', async (alg) => {
    const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring: newKeyring(alg) });
    const { keys } = await sj.jwks();
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) {
      expect(k).toMatchObject({ kid: expect.any(String), alg, use: 'sig' });
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']) expect(k).not.toHaveProperty(member);
    }
    const { jwt } = await sj.get('s', { sub: 'u', sid: 'x' });
    expect(decodeProtectedHeader(jwt).alg).toBe(alg);
    await expect(verifySessionJwt(jwt, { keys: { keys }, issuer: ISS, audience: AUD })).resolves.toMatchObject({ sub: 'u' });
  });

  it('rejects bad arguments', async () => {
    const keyring = newKeyring();
    expect(() => createSessionJwt({ issuer: ISS, audience: AUD, ttl: 0, keyring })).toThrow(/jwt\.ttl/);
    expect(() => createSessionJwt({ issuer: '', audience: AUD, ttl: 300, keyring })).toThrow(TypeError);
    const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring });
    await expect(sj.get('s', { sub: '', sid: 'x' })).rejects.toThrow(TypeError);
    await expect(sj.get('s', { sub: 'u', sid: undefined as unknown as string })).rejects.toThrow(TypeError);
  });
});

describe('createSessionJwt: cache', () => {
  it('returns the cached JWT until less than 10 % of the ttl is left, then mints a new one', async () => {
    fakeClock(T0);
    const { keyring, mints } = countingKeyring();
    const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring });
    const first = await sj.get('sess', { sub: 'alice', sid: 'sid-1' });
    expect(first.jwtPayload.iat).toBe(T0 / 1000);
    expect(await sj.get('sess', { sub: 'alice', sid: 'sid-1' })).toBe(first);

    jest.setSystemTime(T0 + 255_000); // 85 % of the ttl: 45 s left
    expect(await sj.get('sess', { sub: 'alice', sid: 'sid-1' })).toBe(first);
    expect(mints).toHaveBeenCalledTimes(1);

    jest.setSystemTime(T0 + 273_000); // 91 %: 27 s left
    const second = await sj.get('sess', { sub: 'alice', sid: 'sid-1' });
    expect(second.jwt).not.toBe(first.jwt);
    expect(second.jwtPayload.iat).toBe(T0 / 1000 + 273);
    expect(second.jwtExpires).toBe(T0 + 273_000 + 300_000);
    expect(mints).toHaveBeenCalledTimes(2);
    expect(await sj.get('sess', { sub: 'alice', sid: 'sid-1' })).toBe(second);
  });

  it('keeps at least 5 s of life for short ttls, and never re-mints on every call', async () => {
    fakeClock(T0);
    const { keyring, mints } = countingKeyring();
    const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 20, keyring });
    const first = await sj.get('s', { sub: 'u', sid: 'x' });
    jest.setSystemTime(T0 + 14_000); // 6 s left: 10 % would be 2 s, the floor is 5 s
    expect(await sj.get('s', { sub: 'u', sid: 'x' })).toBe(first);
    jest.setSystemTime(T0 + 15_500); // 4.5 s left
    expect(await sj.get('s', { sub: 'u', sid: 'x' })).not.toBe(first);
    expect(mints).toHaveBeenCalledTimes(2);

    // ttl 6: the 5 s floor would leave a 1 s window; capped at half the ttl instead.
    const short = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 6, keyring });
    const a = await short.get('s', { sub: 'u', sid: 'x' });
    jest.setSystemTime(T0 + 15_500 + 2_000);
    expect(await short.get('s', { sub: 'u', sid: 'x' })).toBe(a);
  });

  it('mints anew for another sub or sid, and after forget()', async () => {
    const { keyring, mints } = countingKeyring();
    const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring });
    const a = await sj.get('sess', { sub: 'alice', sid: 'sid-1' });
    const b = await sj.get('sess', { sub: 'bob', sid: 'sid-1' });
    expect(b.jwtPayload.sub).toBe('bob');
    const c = await sj.get('sess', { sub: 'bob', sid: 'sid-2' });
    expect(c.jwtPayload.sid).toBe('sid-2');
    sj.forget('sess');
    const d = await sj.get('sess', { sub: 'bob', sid: 'sid-2' });
    expect(d).not.toBe(c);
    expect(new Set([a.jwt, b.jwt, c.jwt, d.jwt]).size).toBe(4);
    expect(mints).toHaveBeenCalledTimes(4);
  });

  it('concurrent calls for one session share one mint', async () => {
    const { keyring, mints } = countingKeyring();
    const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring });
    const all = await Promise.all(Array.from({ length: 20 }, () => sj.get('sess', { sub: 'u', sid: 'x' })));
    expect(new Set(all).size).toBe(1);
    expect(mints).toHaveBeenCalledTimes(1);
  });

  it('is bounded: the least recently used entry is dropped', async () => {
    const { keyring, mints } = countingKeyring();
    const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring, maxEntries: 2 });
    const s1 = await sj.get('s1', { sub: 'u1', sid: 'x' });
    const s2 = await sj.get('s2', { sub: 'u2', sid: 'x' });
    expect(await sj.get('s1', { sub: 'u1', sid: 'x' })).toBe(s1); // s1 now most recent
    await sj.get('s3', { sub: 'u3', sid: 'x' }); // evicts s2
    expect(mints).toHaveBeenCalledTimes(3);
    expect(await sj.get('s1', { sub: 'u1', sid: 'x' })).toBe(s1);
    expect(mints).toHaveBeenCalledTimes(3);
    expect(await sj.get('s2', { sub: 'u2', sid: 'x' })).not.toBe(s2);
    expect(mints).toHaveBeenCalledTimes(4);
  });
});

describe('verifySessionJwt over jwksUrl (real HTTP on 127.0.0.1)', () => {
  const keyring = newKeyring();
  const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring });
  let server: Server;
  let base: string;
  const fetches: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      fetches.push(req.url!);
      if (req.url!.startsWith('/hang')) return; // never answers
      if (!req.url!.startsWith('/auth/jwks.json')) {
        res.writeHead(404).end();
        return;
      }
      void sj.jwks().then((jwks) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('verifies a minted JWT, fetching the JWKS once per URL', async () => {
    const jwksUrl = `${base}/auth/jwks.json?t=once`;
    const { jwt, jwtPayload } = await sj.get('s', { sub: 'alice', sid: 'sid-1' });
    await expect(verifySessionJwt(jwt, { jwksUrl, issuer: ISS, audience: AUD })).resolves.toEqual(jwtPayload);
    await expect(verifySessionJwt(jwt, { jwksUrl: new URL(jwksUrl), issuer: ISS, audience: AUD })).resolves.toEqual(jwtPayload);
    expect(fetches.filter((u) => u === '/auth/jwks.json?t=once')).toHaveLength(1);
  });

  it('rejects a JWT from a key the JWKS does not have', async () => {
    const other = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring: newKeyring() });
    const { jwt } = await other.get('s', { sub: 'alice', sid: 'sid-1' });
    await expect(verifySessionJwt(jwt, { jwksUrl: `${base}/auth/jwks.json?t=foreign` })).rejects.toMatchObject({
      code: 'ERR_JWT_INVALID',
      status: 401,
    });
  });

  it('rejects an HS256 JWT whose secret is the published public key', async () => {
    const jwksUrl = `${base}/auth/jwks.json?t=hs`;
    const [jwk] = (await sj.jwks()).keys as [JWK];
    const secret = new TextEncoder().encode(JSON.stringify(jwk));
    const forged = await new SignJWT({ sid: 'sid-1' })
      .setProtectedHeader({ alg: 'HS256', kid: jwk.kid, typ: 'JWT' })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setSubject('mallory')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(secret);
    await expect(verifySessionJwt(forged, { jwksUrl, issuer: ISS, audience: AUD })).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
  });

  it('gives up on a JWKS endpoint that hangs, with ERR_JWT_INVALID', async () => {
    const { jwt } = await sj.get('s', { sub: 'alice', sid: 'sid-1' });
    const started = Date.now();
    const err = await verifySessionJwt(jwt, { jwksUrl: `${base}/hang` }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_JWT_INVALID', status: 401 });
    expect((err as Error).cause).toBeInstanceOf(errors.JWKSTimeout);
    expect(Date.now() - started).toBeLessThan(8_000);
  }, 15_000);
});

describe('verifySessionJwt rejects', () => {
  const keyring = newKeyring();
  const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring });
  const verify = async (token: string, extra: Parameters<typeof verifySessionJwt>[1] = {}) =>
    verifySessionJwt(token, { keys: await sj.jwks(), issuer: ISS, audience: AUD, ...extra });
  const invalid = { code: 'ERR_JWT_INVALID', status: 401, name: 'AuthError' };

  /** Signs arbitrary claims/header with the real signing key, to reach checks past the signature. */
  async function signWith(claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
    const { alg, signing } = await keyring.get();
    return new SignJWT(claims).setProtectedHeader({ alg, kid: signing.kid, typ: 'JWT', ...header }).sign(signing.key);
  }
  const now = () => Math.floor(Date.now() / 1000);

  it('a tampered payload', async () => {
    const { jwt } = await sj.get('s', { sub: 'alice', sid: 'sid-1' });
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p))) as Record<string, unknown>;
    const tampered = `${h}.${base64url.encode(JSON.stringify({ ...payload, sub: 'mallory' }))}.${s}`;
    await expect(verify(jwt)).resolves.toMatchObject({ sub: 'alice' }); // the untampered one passes
    const err = await verify(tampered).catch((e: unknown) => e);
    expect(err).toMatchObject(invalid);
    expect((err as Error).cause).toBeInstanceOf(errors.JWSSignatureVerificationFailed);
  });

  it('a wrong issuer or audience', async () => {
    const { jwt } = await sj.get('s', { sub: 'alice', sid: 'sid-1' });
    await expect(verify(jwt, { issuer: 'https://evil.example.com' })).rejects.toMatchObject(invalid);
    await expect(verify(jwt, { audience: 'other-app' })).rejects.toMatchObject(invalid);
    await expect(verify(jwt, { audience: ['other-app', AUD] })).resolves.toMatchObject({ sub: 'alice' });
  });

  it('an expired JWT, with ERR_JWT_EXPIRED and the jose error as cause', async () => {
    fakeClock(T0);
    const fresh = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring });
    const { jwt } = await fresh.get('s-exp', { sub: 'alice', sid: 'sid-1' });
    jest.setSystemTime(T0 + 299_000);
    await expect(verify(jwt)).resolves.toMatchObject({ sub: 'alice' });
    jest.setSystemTime(T0 + 301_000);
    const err = await verify(jwt).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_JWT_EXPIRED', status: 401 });
    expect((err as Error).cause).toBeInstanceOf(errors.JWTExpired);
    await expect(verify(jwt, { clockTolerance: 5 })).resolves.toMatchObject({ sub: 'alice' });
    // The expired JWT is not handed out again: get() mints a fresh one.
    const next = await fresh.get('s-exp', { sub: 'alice', sid: 'sid-1' });
    expect(next.jwt).not.toBe(jwt);
    await expect(verify(next.jwt)).resolves.toMatchObject({ sub: 'alice' });
  });

  it('alg none', async () => {
    const unsigned = new UnsecuredJWT({ sid: 'sid-1' })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('5m')
      .encode();
    const typed = unsigned.replace(/^[^.]+/, base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' })));
    await expect(verify(unsigned)).rejects.toMatchObject(invalid);
    await expect(verify(typed)).rejects.toMatchObject(invalid);
  });

  it('HS256 signed with the public key bytes (SPKI PEM, or the JWK), even with the matching kid', async () => {
    const { signing, verify: pubs } = await keyring.get();
    const pem = await exportSPKI(pubs[0]!.key);
    for (const bytes of [pem, JSON.stringify((await sj.jwks()).keys[0])]) {
      const forged = await new SignJWT({ sid: 'sid-1' })
        .setProtectedHeader({ alg: 'HS256', kid: signing.kid, typ: 'JWT' })
        .setIssuer(ISS)
        .setAudience(AUD)
        .setSubject('mallory')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(bytes));
      await expect(verify(forged)).rejects.toMatchObject(invalid);
    }
  });

  it('another alg than allowed', async () => {
    const es384 = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring: newKeyring('ES384') });
    const { jwt } = await es384.get('s', { sub: 'u', sid: 'x' });
    const keys = await es384.jwks();
    await expect(verifySessionJwt(jwt, { keys })).resolves.toMatchObject({ sub: 'u' });
    await expect(verifySessionJwt(jwt, { keys, algorithms: ['ES256'] })).rejects.toMatchObject(invalid);
  });

  it('a JWT signed by another key under the same kid', async () => {
    const { signing } = await keyring.get();
    const other = await newKeyring().get();
    const forged = await new SignJWT({ sid: 'sid-1' })
      .setProtectedHeader({ alg: 'ES256', kid: signing.kid, typ: 'JWT' })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setSubject('mallory')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(other.signing.key);
    await expect(verify(forged)).rejects.toMatchObject(invalid);
  });

  it('a missing or wrong typ, or a missing sub, sid, iat or exp', async () => {
    const full = { iss: ISS, aud: AUD, sub: 'alice', sid: 'sid-1', iat: now(), exp: now() + 300 };
    await expect(verify(await signWith(full))).resolves.toMatchObject({ sub: 'alice' });
    await expect(verify(await signWith(full, { typ: 'at+jwt' }))).rejects.toMatchObject(invalid);
    await expect(verify(await signWith(full, { typ: undefined }))).rejects.toMatchObject(invalid);
    for (const claim of ['sub', 'sid', 'iat', 'exp'] as const) {
      const { [claim]: _dropped, ...rest } = full;
      await expect(verify(await signWith(rest))).rejects.toMatchObject(invalid);
    }
    await expect(verify(await signWith({ ...full, sid: 42 }))).rejects.toMatchObject(invalid);
  });

  it('garbage and empty tokens', async () => {
    await expect(verify('not-a-jwt')).rejects.toMatchObject(invalid);
    await expect(verify('')).rejects.toMatchObject(invalid);
    await expect(verify(undefined as unknown as string)).rejects.toMatchObject(invalid);
  });
});

describe('verifySessionJwt options', () => {
  it('needs exactly one of jwksUrl and keys, and refuses none, HS* and symmetric keys', async () => {
    const keys = await createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring: newKeyring() }).jwks();
    await expect(verifySessionJwt('x.y.z', {})).rejects.toThrow(TypeError);
    await expect(verifySessionJwt('x.y.z', { keys, jwksUrl: 'http://127.0.0.1:1/jwks.json' })).rejects.toThrow(TypeError);
    await expect(verifySessionJwt('x.y.z', { keys, algorithms: ['ES256', 'HS256'] })).rejects.toThrow(TypeError);
    await expect(verifySessionJwt('x.y.z', { keys, algorithms: ['none'] })).rejects.toThrow(TypeError);
    await expect(verifySessionJwt('x.y.z', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).rejects.toThrow(TypeError);
    await expect(verifySessionJwt('x.y.z', { jwksUrl: 'file:///etc/passwd' })).rejects.toThrow(TypeError);
  });

  it('accepts private JWKs (e.g. the jwt.keys themselves), using only their public halves', async () => {
    // The generated key's persisted form is a private JWK with kid and alg, like an entry of jwt.keys.
    const backend = memoryKeyBackend();
    const sj = createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring: createKeyring({ alg: 'ES256', backend }) });
    const { jwt } = await sj.get('s', { sub: 'u', sid: 'x' });
    const privateJwk = JSON.parse((await backend.get())!) as JWK;
    expect(privateJwk.d).toBeDefined();
    await expect(verifySessionJwt(jwt, { keys: [privateJwk] })).resolves.toMatchObject({ sub: 'u' });
    const stranger = await createSessionJwt({ issuer: ISS, audience: AUD, ttl: 300, keyring: newKeyring() }).get('s', {
      sub: 'u',
      sid: 'x',
    });
    await expect(verifySessionJwt(stranger.jwt, { keys: [privateJwk] })).rejects.toMatchObject({ code: 'ERR_JWT_INVALID' });
  });
});
