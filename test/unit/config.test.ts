// oidcSession() refuses a bad or missing option at call time with a ConfigError whose message names the
// option and says how to fix it; absent options fall back to the environment; https gets a __Host- cookie.

import { createPrivateKey } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import express from 'express';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import request from 'supertest';
import { resolveConfig } from '../../lib/config.js';
import { ConfigError, ErrorCodes, type OidcSessionOptions, type OidcSessionRouter, oidcSession } from '../../lib/index.js';

const ENV_NAMES = ['ISSUER_URL', 'CLIENT_ID', 'CLIENT_SECRET', 'BASE_URL', 'SESSION_SECRET', 'REDIS_URL'] as const;
const SECRET = 'a-session-secret-of-at-least-32-characters';
const VALID: OidcSessionOptions = {
  issuer: 'https://idp.example.com',
  clientId: 'my-app',
  clientSecret: 'client-secret',
  baseURL: 'http://127.0.0.1:3000',
  secret: SECRET,
};

const savedEnv: Record<string, string | undefined> = {};
const routers: OidcSessionRouter[] = [];
let warn: ReturnType<typeof jest.spyOn>;

beforeAll(() => {
  // Fallbacks must not leak in from the shell running the tests.
  for (const name of ENV_NAMES) {
    savedEnv[name] = process.env[name];
    delete process.env[name];
  }
  // The generated session-JWT key's warning is expected on every valid call; assertions read this spy.
  warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
});
afterEach(async () => {
  await Promise.all(routers.splice(0).map((router) => router.close()));
  warn.mockClear();
});
afterAll(() => {
  warn.mockRestore();
  for (const name of ENV_NAMES) {
    if (savedEnv[name] === undefined) delete process.env[name];
    else process.env[name] = savedEnv[name];
  }
});

function create(options: OidcSessionOptions): OidcSessionRouter {
  const router = oidcSession(options);
  routers.push(router);
  return router;
}

/** The ConfigError that oidcSession(options) throws synchronously. */
function configError(options: OidcSessionOptions): ConfigError {
  let thrown: unknown;
  try {
    create(options);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  const err = thrown as ConfigError;
  expect(err.code).toBe(ErrorCodes.CONFIG_INVALID);
  expect(err.code).toBe('ERR_CONFIG_INVALID');
  expect(err.name).toBe('ConfigError');
  return err;
}

async function privateJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: 'k1', alg: 'ES256' };
}

type Case = [title: string, options: OidcSessionOptions, option: string, fix: RegExp];

const without = (name: keyof OidcSessionOptions): OidcSessionOptions => {
  const copy = { ...VALID };
  delete copy[name];
  return copy;
};

const CASES: Case[] = [
  ['issuer missing', without('issuer'), 'issuer', /ISSUER_URL/],
  ['issuer empty', { ...VALID, issuer: '  ' }, 'issuer', /ISSUER_URL/],
  ['issuer not absolute', { ...VALID, issuer: 'idp.example.com' }, 'issuer', /absolute URL.*https:\/\/example\.com/],
  ['issuer not http(s)', { ...VALID, issuer: 'ftp://idp.example.com' }, 'issuer', /http\(s\)/],
  ['baseURL missing', without('baseURL'), 'baseURL', /BASE_URL/],
  ['baseURL not absolute', { ...VALID, baseURL: '/app' }, 'baseURL', /absolute URL.*https:\/\/example\.com/],
  ['baseURL with a query', { ...VALID, baseURL: 'https://app.example.com/?x=1' }, 'baseURL', /query or fragment/],
  ['baseURL with a fragment', { ...VALID, baseURL: 'https://app.example.com/#top' }, 'baseURL', /query or fragment/],
  ['clientId missing', without('clientId'), 'clientId', /CLIENT_ID/],
  ['clientSecret missing', without('clientSecret'), 'clientSecret', /CLIENT_SECRET/],
  ['secret missing', without('secret'), 'secret', /SESSION_SECRET.*openssl rand -hex 32/],
  ['secret shorter than 32', { ...VALID, secret: 'x'.repeat(31) }, 'secret', /at least 32 characters.*openssl rand -hex 32/],
  ['secret array with a short one', { ...VALID, secret: [SECRET, 'short'] }, 'secret', /at least 32 characters/],
  ['secret empty array', { ...VALID, secret: [] }, 'secret', /SESSION_SECRET/],
  ['scope without openid', { ...VALID, scope: 'profile email' }, 'scope', /must include "openid"/],
  ['basePath without a leading slash', { ...VALID, basePath: 'auth' }, 'basePath', /starting with "\/"/],
  ['basePath with a query', { ...VALID, basePath: '/auth?x=1' }, 'basePath', /starting with "\/"/],
  ['basePath with a space', { ...VALID, basePath: '/my auth' }, 'basePath', /starting with "\/"/],
  [
    'idleTimeout > absoluteTimeout',
    { ...VALID, session: { idleTimeout: 7200, absoluteTimeout: 3600 } },
    'session.idleTimeout',
    /must not exceed session\.absoluteTimeout/,
  ],
  ['idleTimeout not positive', { ...VALID, session: { idleTimeout: 0 } }, 'session.idleTimeout', /positive number/],
  [
    'unknown expose entry',
    { ...VALID, expose: ['jwt', 'password' as never] },
    'expose',
    /"password".*use any of jwt, accessToken, idToken, refreshToken/,
  ],
  ['bad jwt.alg', { ...VALID, jwt: { alg: 'HS256' as never } }, 'jwt.alg', /one of ES256/],
  ['jwt.alg none', { ...VALID, jwt: { alg: 'none' as never } }, 'jwt.alg', /one of ES256/],
  ['jwt.keys empty', { ...VALID, jwt: { keys: [] } }, 'jwt.keys', /private JWKs.*exportJWK/],
  ['jwt.keys not an array', { ...VALID, jwt: { keys: 'k' as never } }, 'jwt.keys', /private JWKs.*exportJWK/],
  [
    'postLogoutRedirect an absolute URL',
    { ...VALID, postLogoutRedirect: 'https://evil.example' },
    'postLogoutRedirect',
    /starting with "\/"/,
  ],
  ['postLogoutRedirect protocol-relative', { ...VALID, postLogoutRedirect: '//evil.example' }, 'postLogoutRedirect', /starting with "\/"/],
  ['postLogoutRedirect relative', { ...VALID, postLogoutRedirect: 'home' }, 'postLogoutRedirect', /starting with "\/"/],
  ['redis not a redis URL', { ...VALID, redis: 'http://127.0.0.1:6379' }, 'redis', /redis:\/\/ or rediss:\/\//],
  ['storeTimeout negative', { ...VALID, storeTimeout: -1 }, 'storeTimeout', /positive number/],
  // Enum-like options: every value outside the list is refused, none silently becomes the default.
  [
    'clientAuthMethod private_key_jwt without clientKey',
    { ...VALID, clientAuthMethod: 'private_key_jwt' },
    'clientKey',
    /missing or not a key.*private JWK.*registered at the IdP/,
  ],
  [
    'clientKey a public JWK',
    { ...VALID, clientAuthMethod: 'private_key_jwt', clientKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid: 'k' } },
    'clientKey',
    /public JWK; pass the private one/,
  ],
  [
    'clientKey a broken JWK',
    { ...VALID, clientAuthMethod: 'private_key_jwt', clientKey: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA', kid: 'k' } },
    'clientKey',
    /not a usable private JWK/,
  ],
  [
    'clientKey a string',
    { ...VALID, clientAuthMethod: 'private_key_jwt', clientKey: 'secret' as never },
    'clientKey',
    /missing or not a key/,
  ],
  [
    'clientKey without clientAuthMethod private_key_jwt',
    { ...VALID, clientKey: { kty: 'oct', k: 'AA' } },
    'clientKey',
    /only with clientAuthMethod "private_key_jwt"/,
  ],
  [
    'clientAuthMethod typo',
    { ...VALID, clientAuthMethod: 'client_secret_base' as never },
    'clientAuthMethod',
    /one of "client_secret_post", "client_secret_basic", "client_secret_jwt", "private_key_jwt"; got "client_secret_base"/,
  ],
  [
    'clientAssertionAudience unknown',
    { ...VALID, clientAssertionAudience: 'endpoint' as never },
    'clientAssertionAudience',
    /one of "issuer", "tokenEndpoint"/,
  ],
  ['par not a boolean', { ...VALID, par: 'yes' as never }, 'par', /"auto", true or false/],
  ['dpop a string', { ...VALID, dpop: 'ES256' as never }, 'dpop', /true, false or \{ alg \}/],
  ['dpop.alg unknown', { ...VALID, dpop: { alg: 'RS256' as never } }, 'dpop.alg', /one of "ES256", "PS256", "EdDSA"/],
  ['profile unknown', { ...VALID, profile: 'fapi1' as never }, 'profile', /one of "fapi2"/],
  [
    'profile fapi2 with a client secret method',
    { ...VALID, profile: 'fapi2', clientAuthMethod: 'client_secret_basic' },
    'profile',
    /contradicted by clientAuthMethod "client_secret_basic"/,
  ],
  [
    'profile fapi2 with client_secret_jwt',
    { ...VALID, profile: 'fapi2', clientAuthMethod: 'client_secret_jwt' },
    'profile',
    /clientAuthMethod "client_secret_jwt"/,
  ],
  ['profile fapi2 without clientKey', { ...VALID, profile: 'fapi2' }, 'clientKey', /missing or not a key/],
  ['clientAuthMethod not a string', { ...VALID, clientAuthMethod: true as never }, 'clientAuthMethod', /one of "client_secret_post"/],
  ['expose not an array', { ...VALID, expose: 'jwt' as never }, 'expose', /must be an array.*expose: \['jwt', 'accessToken'\]/],
  ['jwt.alg lower case', { ...VALID, jwt: { alg: 'es256' as never } }, 'jwt.alg', /one of ES256/],
  ['jwt.audience empty', { ...VALID, jwt: { audience: '' } }, 'jwt.audience', /non-empty string/],
  [
    'sameSite capitalised',
    { ...VALID, session: { cookie: { sameSite: 'Lax' as never } } },
    'session.cookie.sameSite',
    /one of "lax", "strict", "none"; got "Lax"/,
  ],
  ['sameSite true', { ...VALID, session: { cookie: { sameSite: true as never } } }, 'session.cookie.sameSite', /one of "lax"/],
  ['sameSite none on http', { ...VALID, session: { cookie: { sameSite: 'none' } } }, 'session.cookie.sameSite', /https baseURL.*"lax"/],
  ['session.name with a space', { ...VALID, session: { name: 'my sid' } }, 'session.name', /cookie name/],
  ['idpLogout a string', { ...VALID, idpLogout: 'false' as never }, 'idpLogout', /true or false; got "false"/],
  ['scope an array', { ...VALID, scope: ['openid'] as never }, 'scope', /space-separated string/],
  ['postLogoutRedirect a number', { ...VALID, postLogoutRedirect: 42 as never }, 'postLogoutRedirect', /starting with "\/"/],
  [
    'authorizationParams a string',
    { ...VALID, authorizationParams: 'prompt=consent' as never },
    'authorizationParams',
    /object of parameter names to strings/,
  ],
  [
    'authorizationParams number value',
    { ...VALID, authorizationParams: { max_age: 0 as never } },
    'authorizationParams.max_age',
    /must be a string; got 0.*"0"/,
  ],
  [
    'authorizationParams boolean value',
    { ...VALID, authorizationParams: { prompt: true as never } },
    'authorizationParams.prompt',
    /must be a string/,
  ],
  [
    'authorizationParams.state',
    { ...VALID, authorizationParams: { state: 'fixed' } },
    'authorizationParams.state',
    /set by the middleware/,
  ],
  [
    'authorizationParams.redirect_uri',
    { ...VALID, authorizationParams: { redirect_uri: 'https://evil.example' } },
    'authorizationParams.redirect_uri',
    /set by the middleware/,
  ],
  ['authorizationParams.scope', { ...VALID, authorizationParams: { scope: 'openid' } }, 'authorizationParams.scope', /scope option/],
  ['idTokenAlgorithms empty', { ...VALID, idTokenAlgorithms: [] }, 'idTokenAlgorithms', /non-empty array.*\['RS256', 'HS256'\]/],
  ['idTokenAlgorithms a string', { ...VALID, idTokenAlgorithms: 'HS256' as never }, 'idTokenAlgorithms', /non-empty array/],
  ['idTokenAlgorithms none', { ...VALID, idTokenAlgorithms: ['RS256', 'none' as never] }, 'idTokenAlgorithms', /"none".*never accepted/],
  [
    'idTokenAlgorithms unknown',
    { ...VALID, idTokenAlgorithms: ['HS257' as never] },
    'idTokenAlgorithms',
    /unknown algorithm "HS257".*HS256/,
  ],
  ['callbacks.session not a function', { ...VALID, callbacks: { session: 'yes' as never } }, 'callbacks.session', /must be a function/],
  ['events with a typo', { ...VALID, events: { signin: () => undefined } as never }, 'events', /unknown entry "signin".*signIn/],
  ['events.signOut not a function', { ...VALID, events: { signOut: {} as never } }, 'events.signOut', /must be a function/],
];

describe('oidcSession() config errors', () => {
  it.each(CASES)('%s → ConfigError naming the option and the fix', (_title, options, option, fix) => {
    const err = configError(options);
    expect(err.message).toContain(`"${option}"`);
    expect(err.message).toMatch(fix);
    // Nothing secret is echoed back.
    expect(err.message).not.toContain(SECRET);
  });

  it('jwt.keys holding a public JWK → ConfigError naming jwt.keys', async () => {
    const { d: _private, ...publicJwk } = await privateJwk();
    const err = configError({ ...VALID, jwt: { keys: [publicJwk] } });
    expect(err.message).toContain('"jwt.keys"');
    expect(err.message).toMatch(/private JWKs/);
  });

  it('accepts private jwt.keys and a valid config', async () => {
    const router = create({ ...VALID, jwt: { keys: [await privateJwk()] } });
    expect(typeof router).toBe('function');
    expect(router.context.config.jwt.keys).toHaveLength(1);
  });

  it('accepts every listed value of the enum-like options', () => {
    for (const clientAuthMethod of ['client_secret_post', 'client_secret_basic'] as const) {
      expect(resolveConfig({ ...VALID, clientAuthMethod }, {}).clientAuthMethod).toBe(clientAuthMethod);
    }
    expect(resolveConfig(VALID, {}).clientAuthMethod).toBe('client_secret_post');
    for (const sameSite of ['lax', 'strict'] as const) {
      expect(resolveConfig({ ...VALID, session: { cookie: { sameSite } } }, {}).sameSite).toBe(sameSite);
    }
    expect(resolveConfig({ ...VALID, baseURL: 'https://app.example.com', session: { cookie: { sameSite: 'none' } } }, {}).sameSite).toBe(
      'none',
    );
    expect(resolveConfig({ ...VALID, idpLogout: false }, {}).idpLogout).toBe(false);
    const config = resolveConfig(
      { ...VALID, idTokenAlgorithms: ['RS256', 'HS256', 'RS256'], authorizationParams: { prompt: 'login', audience: undefined as never } },
      {},
    );
    expect(config.idTokenAlgorithms).toEqual(['RS256', 'HS256']);
    expect(config.authorizationParams).toEqual({ prompt: 'login' });
    // Default: left to the IdP's advertised asymmetric algorithms.
    expect(resolveConfig(VALID, {}).idTokenAlgorithms).toBeUndefined();
  });

  it('profile fapi2 names every contradicting option in one ConfigError', () => {
    const err = configError({
      ...VALID,
      profile: 'fapi2',
      clientAuthMethod: 'client_secret_post',
      par: false,
      dpop: false,
      clientAssertionAudience: 'tokenEndpoint',
    });
    expect(err.message).toContain('"profile"');
    expect(err.message).toMatch(/clientAuthMethod "client_secret_post".*par: false.*dpop: false.*clientAssertionAudience "tokenEndpoint"/);
  });

  it('private_key_jwt: a private JWK with kid, or a KeyObject / CryptoKey with clientKeyId; no clientSecret needed', async () => {
    const { clientSecret: _unused, ...noSecret } = VALID;
    const jwk = await privateJwk();
    const config = resolveConfig({ ...noSecret, clientAuthMethod: 'private_key_jwt', clientKey: jwk }, {});
    expect(config.clientKey).toMatchObject({ kid: 'k1', alg: 'ES256' });
    expect(config.clientSecret).toBe('');
    const { privateKey } = await generateKeyPair('PS256', { extractable: true });
    expect(
      resolveConfig({ ...noSecret, clientAuthMethod: 'private_key_jwt', clientKey: privateKey, clientKeyId: 'rsa-1' }, {}).clientKey,
    ).toMatchObject({ kid: 'rsa-1', alg: 'PS256' });
    const ed = createPrivateKey({
      key: { ...(await exportJWK((await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })).privateKey)) } as never,
      format: 'jwk',
    });
    expect(resolveConfig({ ...noSecret, clientAuthMethod: 'private_key_jwt', clientKey: ed, clientKeyId: 'ed' }, {}).clientKey?.alg).toBe(
      'EdDSA',
    );
    // A key without a kid cannot be found among the client's registered keys.
    const { kid: _kid, ...noKid } = jwk;
    expect(configError({ ...noSecret, clientAuthMethod: 'private_key_jwt', clientKey: noKid }).message).toMatch(
      /"clientKey" has no key id.*clientKeyId/,
    );
    // The JWK's alg must fit its key.
    expect(configError({ ...noSecret, clientAuthMethod: 'private_key_jwt', clientKey: { ...jwk, alg: 'RS256' } }).message).toMatch(
      /does not fit/,
    );
    expect(resolveConfig({ ...VALID, clientAuthMethod: 'client_secret_jwt' }, {}).clientAuthMethod).toBe('client_secret_jwt');
  });

  it('par, dpop and profile defaults; fapi2 turns on PAR, DPoP ES256, private_key_jwt and strict iss', async () => {
    const plain = resolveConfig(VALID, {});
    expect([plain.par, plain.dpop, plain.profile, plain.strictIss]).toEqual(['auto', undefined, undefined, false]);
    expect(resolveConfig({ ...VALID, dpop: true }, {}).dpop).toEqual({ alg: 'ES256' });
    expect(resolveConfig({ ...VALID, dpop: { alg: 'EdDSA' } }, {}).dpop).toEqual({ alg: 'EdDSA' });
    expect(resolveConfig({ ...VALID, par: false }, {}).par).toBe(false);
    const fapi = resolveConfig({ ...VALID, profile: 'fapi2', clientKey: await privateJwk() }, {});
    expect(fapi).toMatchObject({
      clientAuthMethod: 'private_key_jwt',
      par: true,
      dpop: { alg: 'ES256' },
      strictIss: true,
      profile: 'fapi2',
    });
    // An explicit DPoP algorithm stays, still on.
    expect(
      resolveConfig({ ...VALID, profile: 'fapi2', clientKey: await privateJwk(), dpop: { alg: 'EdDSA' }, par: 'auto' }, {}),
    ).toMatchObject({ dpop: { alg: 'EdDSA' }, par: true });
  });

  it("expose: ['accessToken'] with dpop warns that the browser cannot use a DPoP-bound token", () => {
    const messages: string[] = [];
    resolveConfig({ ...VALID, dpop: true, expose: ['jwt', 'accessToken'] }, {}, (m) => messages.push(m));
    expect(messages.join('\n')).toMatch(/accessToken while dpop is on.*remoteApi or fetchWithToken/);
    messages.length = 0;
    resolveConfig({ ...VALID, expose: ['jwt', 'accessToken'] }, {}, (m) => messages.push(m));
    expect(messages).toEqual([]);
  });

  it('a short secret is not echoed in the message', () => {
    const err = configError({ ...VALID, secret: 'tiny-secret-value' });
    expect(err.message).not.toContain('tiny-secret-value');
  });
});

describe('environment fallbacks', () => {
  const ENV = {
    ISSUER_URL: 'https://idp.env.example',
    CLIENT_ID: 'env-client',
    CLIENT_SECRET: 'env-client-secret',
    BASE_URL: 'https://app.env.example/',
    SESSION_SECRET: 'env-session-secret-0123456789abcdef',
    REDIS_URL: 'redis://127.0.0.1:6390',
  };

  it('reads every option from the environment when it is absent', () => {
    const config = resolveConfig({}, ENV, () => undefined);
    expect(config).toMatchObject({
      issuer: 'https://idp.env.example',
      clientId: 'env-client',
      clientSecret: 'env-client-secret',
      baseURL: 'https://app.env.example',
      secrets: ['env-session-secret-0123456789abcdef'],
      redis: 'redis://127.0.0.1:6390',
      callbackURL: 'https://app.env.example/auth/callback',
    });
  });

  it('prefers the options over the environment', () => {
    const config = resolveConfig(VALID, ENV, () => undefined);
    expect(config).toMatchObject({
      issuer: VALID.issuer,
      clientId: VALID.clientId,
      clientSecret: VALID.clientSecret,
      baseURL: VALID.baseURL,
      secrets: [SECRET],
    });
    expect(config.redis).toBe('redis://127.0.0.1:6390'); // not given as an option, so the env still applies
    expect(resolveConfig({ ...VALID, redis: 'redis://127.0.0.1:6391' }, ENV, () => undefined).redis).toBe('redis://127.0.0.1:6391');
  });

  it('an empty REDIS_URL means no Redis', () => {
    expect(resolveConfig({}, { ...ENV, REDIS_URL: '' }, () => undefined).redis).toBeUndefined();
  });

  it('a bad environment value is reported with the option and its variable', () => {
    expect(() => resolveConfig({}, { ...ENV, ISSUER_URL: undefined })).toThrow(/"issuer" is missing.*ISSUER_URL/);
    expect(() => resolveConfig({}, { ...ENV, SESSION_SECRET: 'short' })).toThrow(/"secret" must be at least 32 characters/);
    expect(() => resolveConfig({}, { ...ENV, BASE_URL: 'app.env.example' })).toThrow(/"baseURL" must be an absolute URL/);
  });

  it('oidcSession() with no options reads process.env', () => {
    const { REDIS_URL: _noRedis, ...env } = ENV;
    Object.assign(process.env, env);
    try {
      const router = create({});
      expect(router.context.config).toMatchObject({
        issuer: ENV.ISSUER_URL,
        clientId: ENV.CLIENT_ID,
        clientSecret: ENV.CLIENT_SECRET,
        baseURL: 'https://app.env.example',
        secrets: [ENV.SESSION_SECRET],
      });
      expect(router.context.config.redis).toBeUndefined();
    } finally {
      for (const name of Object.keys(env)) delete process.env[name];
    }
    expect(() => create({})).toThrow(ConfigError);
  });
});

describe('cookie and warnings', () => {
  it('https baseURL → __Host- cookie, Secure, HttpOnly, Path=/, SameSite=Lax, no Domain', async () => {
    const router = create({ ...VALID, baseURL: 'https://app.example.com' });
    expect(router.context.config.cookieName).toBe('__Host-oidc.sid');
    expect(router.context.config.secure).toBe(true);
    const app = express();
    app.set('trust proxy', true); // behind a TLS-terminating proxy, as the README says
    app.use(router);
    app.get('/touch', (req, res) => {
      (req.session as unknown as { touched: boolean }).touched = true;
      res.end('ok');
    });
    const res = await request(app).get('/touch').set('x-forwarded-proto', 'https');
    const cookie = (res.headers['set-cookie'] as unknown as string[] | undefined)?.[0] ?? '';
    expect(cookie).toMatch(/^__Host-oidc\.sid=/);
    expect(cookie).toMatch(/; Path=\/(;|$)/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; SameSite=Lax/);
    expect(cookie).not.toMatch(/Domain=/i);
  });

  it('a custom cookie name gets the prefix on https, and http keeps the plain name', () => {
    expect(resolveConfig({ ...VALID, baseURL: 'https://app.example.com', session: { name: 'my.sid' } }, {}).cookieName).toBe(
      '__Host-my.sid',
    );
    expect(resolveConfig({ ...VALID, baseURL: 'https://app.example.com', session: { name: '__Host-my.sid' } }, {}).cookieName).toBe(
      '__Host-my.sid',
    );
    const plain = resolveConfig(VALID, {});
    expect(plain.cookieName).toBe('oidc.sid');
    expect(plain.secure).toBe(false);
  });

  it("expose: ['refreshToken'] warns why that is a bad idea; the default does not", () => {
    const warned: string[] = [];
    resolveConfig({ ...VALID, expose: ['jwt', 'refreshToken'] }, {}, (msg) => warned.push(msg));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/refreshToken/);
    expect(warned[0]).toMatch(/XSS/);
    resolveConfig(VALID, {}, (msg) => warned.push(msg));
    resolveConfig({ ...VALID, expose: ['jwt', 'accessToken'] }, {}, (msg) => warned.push(msg));
    expect(warned).toHaveLength(1);
  });

  it("oidcSession({ expose: ['refreshToken'] }) prints the warning at startup", () => {
    create({ ...VALID, expose: ['refreshToken'] });
    const messages = (warn.mock.calls as unknown[][]).map((call) => String(call[0]));
    expect(messages.filter((m) => /`expose` lists refreshToken/.test(m))).toHaveLength(1);
  });
});
