/** Reads the options once, fills defaults and environment fallbacks, and fails fast with a fix-it message. */
import type { Store } from 'express-session';
import type { JWK } from 'jose';
import {
  absoluteUrl,
  boolean,
  describe,
  fail,
  functions,
  nonEmpty,
  nonNegative,
  oneOf,
  optionalString,
  positive,
} from './config-checks.js';
import type { ClientKey } from './oidc/client-key.js';
import type { DpopAlg } from './oidc/dpop.js';
import { ID_TOKEN_ALGS } from './oidc/id-token.js';
import { resolveSecurity } from './oidc/security-config.js';
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

const warned = new Set<string>();
function defaultWarn(msg: string): void {
  if (warned.has(msg)) return;
  warned.add(msg);
  console.warn(msg);
}

export { defaultWarn as warnOnce };
