/** Reads the options once, fills defaults and environment fallbacks, and fails fast with a fix-it message. */
import type { Store } from 'express-session';
import type { JWK } from 'jose';
import { ConfigError } from './errors.js';
import { type ClientKey, readClientKey } from './oidc/client-key.js';
import type { DpopAlg } from './oidc/dpop.js';
import { ID_TOKEN_ALGS } from './oidc/id-token.js';
import type { ExposableToken, OidcSessionOptions, RedisClientLike, SessionCallbacks, SessionEvents } from './types.js';

export interface Config {
  issuer: string;
  clientId: string;
  /** '' with private_key_jwt and no secret given. */
  clientSecret: string;
  clientAuthMethod: 'client_secret_post' | 'client_secret_basic' | 'client_secret_jwt' | 'private_key_jwt';
  /** The signing key of private_key_jwt. */
  clientKey?: ClientKey;
  /** The `aud` of client assertions: the issuer, or the token endpoint URL. */
  clientAssertionAudience: 'issuer' | 'tokenEndpoint';
  /** Pushed authorization requests (RFC 9126): 'auto' when discovery requires them. */
  par: 'auto' | boolean;
  /** DPoP-bound tokens (RFC 9449); undefined: plain bearer tokens. */
  dpop?: { alg: DpopAlg };
  profile?: 'fapi2';
  /** RFC 9207: refuse an authorization response without `iss` (on with profile 'fapi2'). Read by the callback. */
  strictIss: boolean;
  baseURL: string;
  origin: string;
  secure: boolean;
  secrets: string[];
  redis?: string | RedisClientLike;
  store?: Store;
  basePath: string;
  callbackURL: string;
  scope: string;
  cookieName: string;
  sameSite: 'lax' | 'strict' | 'none';
  idleTimeout: number;
  absoluteTimeout: number;
  leeway: number;
  /** Seconds an access token is taken to live when the IdP says nothing usable (refresh.defaultExpiresIn). */
  defaultExpiresIn: number;
  jwt: { ttl: number; keys?: JWK[]; alg: string; audience: string };
  expose: ReadonlySet<ExposableToken>;
  callbacks: SessionCallbacks;
  events: SessionEvents;
  authorizationParams: Record<string, string>;
  /** Undefined: the asymmetric algorithms the IdP advertises. */
  idTokenAlgorithms?: readonly string[];
  idpLogout: boolean;
  /** Revoke the session's tokens at the IdP (RFC 7009) when it ends, where discovery lists a revocation_endpoint. */
  revokeTokensOnLogout: boolean;
  postLogoutRedirect: string;
  httpTimeout: number;
  storeTimeout: number;
}

const EXPOSABLE: readonly ExposableToken[] = ['jwt', 'accessToken', 'idToken', 'refreshToken'];
const JWT_ALGS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];
const CLIENT_AUTH_METHODS = ['client_secret_post', 'client_secret_basic', 'client_secret_jwt', 'private_key_jwt'] as const;
const DPOP_ALGS: readonly DpopAlg[] = ['ES256', 'PS256', 'EdDSA'];
const SAME_SITE = ['lax', 'strict', 'none'] as const;
/** Authorization request parameters the login flow owns (state, nonce and PKCE are per login). */
const RESERVED_PARAMS = [
  'client_id',
  'redirect_uri',
  'response_type',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'request_uri',
  'dpop_jkt',
];

export function resolveConfig(
  input: OidcSessionOptions = {},
  env: NodeJS.ProcessEnv = process.env,
  warn: (msg: string) => void = defaultWarn,
): Readonly<Config> {
  const issuer = absoluteUrl('issuer', input.issuer ?? env.ISSUER_URL, 'ISSUER_URL');
  const baseURL = absoluteUrl('baseURL', input.baseURL ?? env.BASE_URL, 'BASE_URL').replace(/\/+$/, '');
  const base = new URL(baseURL);
  if (base.search || base.hash) fail('baseURL', 'must not have a query or fragment', `got "${baseURL}"`);
  const clientId = nonEmpty('clientId', input.clientId ?? env.CLIENT_ID, 'CLIENT_ID');
  const security = resolveSecurity(input);
  const clientSecret =
    security.clientAuthMethod === 'private_key_jwt'
      ? String(input.clientSecret ?? env.CLIENT_SECRET ?? '')
      : nonEmpty('clientSecret', input.clientSecret ?? env.CLIENT_SECRET, 'CLIENT_SECRET');
  const secrets = resolveSecrets(input.secret ?? env.SESSION_SECRET);
  // `redis: process.env.REDIS_URL` with the variable set but empty means "no Redis", as an unset one does.
  const redis = (input.redis === '' ? undefined : input.redis) ?? (env.REDIS_URL || undefined);
  if (typeof redis === 'string' && !/^rediss?:\/\//.test(redis)) {
    fail('redis', 'must be a redis:// or rediss:// URL (or a node-redis client)', `got "${redis}"`);
  }
  const basePath = resolveBasePath(input.basePath ?? '/auth');
  const scope = input.scope ?? 'openid profile email offline_access';
  if (typeof scope !== 'string') fail('scope', 'must be a space-separated string', `got ${describe(scope)}`);
  if (!scope.split(/\s+/).includes('openid')) fail('scope', 'must include "openid"', `got "${scope}"`);
  const secure = base.protocol === 'https:';
  const idleTimeout = positive('session.idleTimeout', input.session?.idleTimeout ?? 86400);
  const absoluteTimeout = positive('session.absoluteTimeout', input.session?.absoluteTimeout ?? 604800);
  if (idleTimeout > absoluteTimeout)
    fail('session.idleTimeout', 'must not exceed session.absoluteTimeout', `got ${idleTimeout} > ${absoluteTimeout}`);
  if (input.expose !== undefined && !Array.isArray(input.expose)) {
    fail('expose', 'must be an array of token names', `got ${describe(input.expose)}; e.g. expose: ['jwt', 'accessToken']`);
  }
  const expose = new Set<ExposableToken>(input.expose ?? ['jwt']);
  for (const name of expose) {
    if (!EXPOSABLE.includes(name)) fail('expose', `lists unknown token "${String(name)}"`, `use any of ${EXPOSABLE.join(', ')}`);
  }
  if (expose.has('accessToken') && (input.dpop || input.profile === 'fapi2')) {
    warn(
      'express-oidc-session: `expose` lists accessToken while dpop is on: the browser receives a token it cannot ' +
        'use (it is bound to a key only the server holds). Call APIs through remoteApi or fetchWithToken instead.',
    );
  }
  if (expose.has('refreshToken')) {
    warn(
      'express-oidc-session: `expose` lists refreshToken, so the browser receives the refresh token. Any XSS can then ' +
        'mint access tokens for as long as the refresh token lives; keep refresh on the server unless you must.',
    );
  }
  const alg = input.jwt?.alg ?? 'ES256';
  if (!JWT_ALGS.includes(alg)) fail('jwt.alg', `must be one of ${JWT_ALGS.join(', ')}`, `got "${alg}"`);
  if (
    input.jwt?.keys !== undefined &&
    (!Array.isArray(input.jwt.keys) ||
      input.jwt.keys.length === 0 ||
      input.jwt.keys.some((k) => typeof k !== 'object' || k === null || !('d' in k)))
  ) {
    fail('jwt.keys', 'must be a non-empty array of private JWKs', 'export them with jose exportJWK(privateKey)');
  }
  const postLogoutRedirect = input.postLogoutRedirect ?? '/';
  if (typeof postLogoutRedirect !== 'string' || !postLogoutRedirect.startsWith('/') || postLogoutRedirect.startsWith('//')) {
    fail('postLogoutRedirect', 'must be a same-origin path starting with "/"', `got "${postLogoutRedirect}"`);
  }
  const name = input.session?.name ?? 'oidc.sid';
  if (typeof name !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
    fail('session.name', "must be a cookie name (letters, digits and !#$%&'*+-.^_`|~)", `got ${describe(name)}`);
  }
  const sameSite = oneOf('session.cookie.sameSite', input.session?.cookie?.sameSite ?? 'lax', SAME_SITE);
  if (sameSite === 'none' && !secure) {
    fail('session.cookie.sameSite', '"none" needs an https baseURL', 'browsers drop SameSite=None cookies without Secure; use "lax"');
  }
  return Object.freeze({
    issuer,
    clientId,
    clientSecret,
    baseURL,
    secrets,
    redis,
    basePath,
    scope,
    secure,
    idleTimeout,
    absoluteTimeout,
    ...security,
    origin: base.origin,
    store: input.store,
    callbackURL: `${baseURL}${basePath}/callback`,
    // __Host- makes the browser refuse a Domain attribute or a non-Secure cookie of that name.
    cookieName: secure && !name.startsWith('__Host-') ? `__Host-${name}` : name,
    sameSite,
    leeway: nonNegative('refresh.leeway', input.refresh?.leeway ?? 60),
    defaultExpiresIn: positive('refresh.defaultExpiresIn', input.refresh?.defaultExpiresIn ?? 300),
    jwt: {
      ttl: positive('jwt.ttl', input.jwt?.ttl ?? 300),
      keys: input.jwt?.keys,
      alg,
      audience: optionalString('jwt.audience', input.jwt?.audience) ?? clientId,
    },
    expose,
    callbacks: functions('callbacks', input.callbacks, ['session']),
    events: functions('events', input.events, ['signIn', 'signOut', 'refresh', 'refreshError', 'sessionExpired', 'backchannelLogout']),
    authorizationParams: resolveAuthorizationParams(input.authorizationParams),
    idTokenAlgorithms: resolveIdTokenAlgorithms(input.idTokenAlgorithms),
    idpLogout: boolean('idpLogout', input.idpLogout, true),
    revokeTokensOnLogout: boolean('revokeTokensOnLogout', input.revokeTokensOnLogout, true),
    postLogoutRedirect,
    httpTimeout: positive('httpTimeout', input.httpTimeout ?? 5000),
    storeTimeout: positive('storeTimeout', input.storeTimeout ?? 2000),
  });
}

function fail(option: string, problem: string, fix: string): never {
  throw new ConfigError(`express-oidc-session: option "${option}" ${problem}; ${fix}.`);
}

function nonEmpty(option: string, value: unknown, envName: string): string {
  if (typeof value !== 'string' || value.trim() === '') fail(option, 'is missing', `pass it to oidcSession() or set ${envName}`);
  return value;
}

function absoluteUrl(option: string, value: unknown, envName: string): string {
  const text = nonEmpty(option, value, envName);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(option, 'must be an absolute URL', `got "${text}"; write it like https://example.com`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(option, 'must be an http(s) URL', `got "${text}"`);
  return text;
}

function resolveSecrets(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined || value === '' ? [] : [value];
  if (list.length === 0)
    fail('secret', 'is missing', 'pass a random string of 32+ characters or set SESSION_SECRET (e.g. `openssl rand -hex 32`)');
  for (const s of list) {
    if (typeof s !== 'string' || s.length < 32)
      fail('secret', 'must be at least 32 characters long', 'generate one with `openssl rand -hex 32`');
  }
  return list as string[];
}

function resolveBasePath(value: string): string {
  if (typeof value !== 'string' || !value.startsWith('/') || /[?#\s]/.test(value)) {
    fail('basePath', 'must be a path starting with "/"', `got "${String(value)}"`);
  }
  return value.replace(/\/+$/, '');
}

function positive(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail(option, 'must be a positive number', `got ${String(value)}`);
  return value;
}

function oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(option, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`, `got ${describe(value)}`);
  }
  return value as T;
}

type Security = Pick<Config, 'clientAuthMethod' | 'clientKey' | 'clientAssertionAudience' | 'par' | 'dpop' | 'profile' | 'strictIss'>;

/**
 * Client authentication, PAR, DPoP and the profile that sets them. `profile: 'fapi2'` fills in what the
 * FAPI 2.0 Security Profile asks of a confidential client and refuses any option that says otherwise.
 */
function resolveSecurity(input: OidcSessionOptions): Security {
  const profile = input.profile === undefined ? undefined : oneOf('profile', input.profile, ['fapi2'] as const);
  const fapi = profile === 'fapi2';
  const method = oneOf(
    'clientAuthMethod',
    input.clientAuthMethod ?? (fapi ? 'private_key_jwt' : 'client_secret_post'),
    CLIENT_AUTH_METHODS,
  );
  if (fapi) {
    // All of them in one message: fixing one at a time would take as many restarts.
    const contradictions = [
      ...(method !== 'private_key_jwt' ? [`clientAuthMethod "${method}" (FAPI 2.0 needs "private_key_jwt")`] : []),
      ...(input.par === false ? ['par: false (FAPI 2.0 sends every authorization request by PAR)'] : []),
      ...(input.dpop === false ? ['dpop: false (FAPI 2.0 needs sender-constrained tokens)'] : []),
      ...(input.clientAssertionAudience === 'tokenEndpoint'
        ? ['clientAssertionAudience "tokenEndpoint" (FAPI 2.0 asks for the issuer as the sole aud)']
        : []),
    ];
    if (contradictions.length > 0) {
      fail(
        'profile',
        `"fapi2" is contradicted by ${contradictions.join(', ')}`,
        'remove those options (the profile sets them), or the profile',
      );
    }
  }
  let clientKey: ClientKey | undefined;
  if (method === 'private_key_jwt') {
    const key = readClientKey(input.clientKey, input.clientKeyId);
    if (typeof key === 'string') {
      fail(
        'clientKey',
        key,
        'clientAuthMethod "private_key_jwt" signs with it: pass the private JWK (with "kid") whose public half is registered at the IdP',
      );
    }
    clientKey = key;
  } else if (input.clientKey !== undefined) {
    fail(
      'clientKey',
      `is used only with clientAuthMethod "private_key_jwt"`,
      `set clientAuthMethod: 'private_key_jwt', or remove clientKey`,
    );
  }
  if (input.par !== undefined && input.par !== 'auto' && typeof input.par !== 'boolean') {
    fail('par', 'must be "auto", true or false', `got ${describe(input.par)}`);
  }
  const par = fapi ? true : (input.par ?? 'auto');
  const dpopInput = input.dpop;
  let dpop: Config['dpop'];
  if (dpopInput === true || (fapi && dpopInput === undefined)) dpop = { alg: 'ES256' };
  else if (typeof dpopInput === 'object' && dpopInput !== null && !Array.isArray(dpopInput)) {
    dpop = { alg: oneOf('dpop.alg', (dpopInput as { alg?: unknown }).alg ?? 'ES256', DPOP_ALGS) };
  } else if (dpopInput !== undefined && dpopInput !== false) {
    fail('dpop', 'must be true, false or { alg }', `got ${describe(dpopInput)}; e.g. dpop: { alg: 'ES256' }`);
  }
  const clientAssertionAudience = oneOf('clientAssertionAudience', input.clientAssertionAudience ?? 'issuer', [
    'issuer',
    'tokenEndpoint',
  ] as const);
  return { clientAuthMethod: method, clientKey, clientAssertionAudience, par, dpop, profile, strictIss: fapi };
}

function resolveIdTokenAlgorithms(value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    fail(
      'idTokenAlgorithms',
      'must be a non-empty array of JWS algorithm names',
      `got ${describe(value)}; e.g. ['RS256', 'HS256'], or leave it out`,
    );
  }
  for (const alg of value) {
    if (alg === 'none') fail('idTokenAlgorithms', 'lists "none"', 'unsigned ID tokens are never accepted; remove it');
    if (typeof alg !== 'string' || !ID_TOKEN_ALGS.includes(alg)) {
      fail('idTokenAlgorithms', `lists unknown algorithm ${describe(alg)}`, `use any of ${ID_TOKEN_ALGS.join(', ')}`);
    }
  }
  return Object.freeze([...new Set(value as string[])]);
}

function resolveAuthorizationParams(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(
      'authorizationParams',
      'must be an object of parameter names to strings',
      `got ${describe(value)}; e.g. { audience: 'https://api.example.com' }`,
    );
  }
  const params: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (key === 'scope') fail('authorizationParams.scope', 'is not used', 'set the scope option instead');
    if (RESERVED_PARAMS.includes(key)) fail(`authorizationParams.${key}`, 'is set by the middleware itself', 'remove it');
    if (typeof v !== 'string') {
      fail(`authorizationParams.${key}`, 'must be a string', `got ${describe(v)}; write it as it goes in the URL (e.g. "${String(v)}")`);
    }
    params[key] = v;
  }
  return params;
}

function functions<T extends object>(option: string, value: unknown, names: readonly string[]): T {
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null) fail(option, 'must be an object of functions', `got ${describe(value)}`);
  for (const [key, v] of Object.entries(value)) {
    if (!names.includes(key)) fail(option, `has unknown entry "${key}"`, `use any of ${names.join(', ')}`);
    if (v !== undefined && typeof v !== 'function') fail(`${option}.${key}`, 'must be a function', `got ${describe(v)}`);
  }
  return value as T;
}

function boolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(option, 'must be true or false', `got ${describe(value)}`);
  return value;
}

function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(option, 'must be a non-empty string', `got ${describe(value)}`);
  return value;
}

/** A value as the message shows it: strings quoted, never more than 40 characters. */
function describe(value: unknown): string {
  const text =
    typeof value === 'string'
      ? `"${value}"`
      : Array.isArray(value)
        ? 'an array'
        : value === null
          ? 'null'
          : typeof value === 'object'
            ? 'an object'
            : String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function nonNegative(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(option, 'must be a number ≥ 0', `got ${String(value)}`);
  return value;
}

const warned = new Set<string>();
function defaultWarn(msg: string): void {
  if (warned.has(msg)) return;
  warned.add(msg);
  console.warn(msg);
}

export { defaultWarn as warnOnce };
