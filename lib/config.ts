/** Reads the options once, fills defaults and environment fallbacks, and fails fast with a fix-it message. */
import type { Store } from 'express-session';
import type { JWK } from 'jose';
import { ConfigError } from './errors.js';
import type { ExposableToken, OidcSessionOptions, RedisClientLike, SessionCallbacks, SessionEvents } from './types.js';

export interface Config {
  issuer: string;
  clientId: string;
  clientSecret: string;
  clientAuthMethod: 'client_secret_post' | 'client_secret_basic';
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
  jwt: { ttl: number; keys?: JWK[]; alg: string; audience: string };
  expose: ReadonlySet<ExposableToken>;
  callbacks: SessionCallbacks;
  events: SessionEvents;
  authorizationParams: Record<string, string>;
  idpLogout: boolean;
  postLogoutRedirect: string;
  httpTimeout: number;
  storeTimeout: number;
}

const EXPOSABLE: readonly ExposableToken[] = ['jwt', 'accessToken', 'idToken', 'refreshToken'];
const JWT_ALGS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];

export function resolveConfig(input: OidcSessionOptions = {}, env: NodeJS.ProcessEnv = process.env,
  warn: (msg: string) => void = defaultWarn): Readonly<Config> {
  const issuer = absoluteUrl('issuer', input.issuer ?? env.ISSUER_URL, 'ISSUER_URL');
  const baseURL = absoluteUrl('baseURL', input.baseURL ?? env.BASE_URL, 'BASE_URL').replace(/\/+$/, '');
  const base = new URL(baseURL);
  if (base.search || base.hash) fail('baseURL', 'must not have a query or fragment', `got "${baseURL}"`);
  const clientId = nonEmpty('clientId', input.clientId ?? env.CLIENT_ID, 'CLIENT_ID');
  const clientSecret = nonEmpty('clientSecret', input.clientSecret ?? env.CLIENT_SECRET, 'CLIENT_SECRET');
  const secrets = resolveSecrets(input.secret ?? env.SESSION_SECRET);
  const redis = input.redis ?? (env.REDIS_URL || undefined);
  if (typeof redis === 'string' && !/^rediss?:\/\//.test(redis)) {
    fail('redis', 'must be a redis:// or rediss:// URL (or a node-redis client)', `got "${redis}"`);
  }
  if (redis && input.store) fail('store', 'cannot be combined with redis', 'pass either `redis` or your own `store`');
  const basePath = resolveBasePath(input.basePath ?? '/auth');
  const scope = input.scope ?? 'openid profile email offline_access';
  if (!scope.split(/\s+/).includes('openid')) fail('scope', 'must include "openid"', `got "${scope}"`);
  const secure = base.protocol === 'https:';
  const idleTimeout = positive('session.idleTimeout', input.session?.idleTimeout ?? 86400);
  const absoluteTimeout = positive('session.absoluteTimeout', input.session?.absoluteTimeout ?? 604800);
  if (idleTimeout > absoluteTimeout) fail('session.idleTimeout', 'must not exceed session.absoluteTimeout', `got ${idleTimeout} > ${absoluteTimeout}`);
  const expose = new Set<ExposableToken>(input.expose ?? ['jwt']);
  for (const name of expose) {
    if (!EXPOSABLE.includes(name)) fail('expose', `lists unknown token "${String(name)}"`, `use any of ${EXPOSABLE.join(', ')}`);
  }
  if (expose.has('refreshToken')) {
    warn('express-oidc-session: `expose` lists refreshToken, so the browser receives the refresh token. Any XSS can then '
      + 'mint access tokens for as long as the refresh token lives; keep refresh on the server unless you must.');
  }
  const alg = input.jwt?.alg ?? 'ES256';
  if (!JWT_ALGS.includes(alg)) fail('jwt.alg', `must be one of ${JWT_ALGS.join(', ')}`, `got "${alg}"`);
  if (input.jwt?.keys !== undefined && (!Array.isArray(input.jwt.keys) || input.jwt.keys.length === 0
    || input.jwt.keys.some((k) => typeof k !== 'object' || k === null || !('d' in k)))) {
    fail('jwt.keys', 'must be a non-empty array of private JWKs', 'export them with jose exportJWK(privateKey)');
  }
  const postLogoutRedirect = input.postLogoutRedirect ?? '/';
  if (!postLogoutRedirect.startsWith('/') || postLogoutRedirect.startsWith('//')) {
    fail('postLogoutRedirect', 'must be a same-origin path starting with "/"', `got "${postLogoutRedirect}"`);
  }
  const name = input.session?.name ?? 'oidc.sid';
  return Object.freeze({
    issuer, clientId, clientSecret, baseURL, secrets, redis, basePath, scope, secure, idleTimeout, absoluteTimeout,
    clientAuthMethod: input.clientAuthMethod ?? 'client_secret_post',
    origin: base.origin,
    store: input.store,
    callbackURL: `${baseURL}${basePath}/callback`,
    // __Host- makes the browser refuse a Domain attribute or a non-Secure cookie of that name.
    cookieName: secure && !name.startsWith('__Host-') ? `__Host-${name}` : name,
    sameSite: input.session?.cookie?.sameSite ?? 'lax',
    leeway: nonNegative('refresh.leeway', input.refresh?.leeway ?? 60),
    jwt: { ttl: positive('jwt.ttl', input.jwt?.ttl ?? 300), keys: input.jwt?.keys, alg, audience: input.jwt?.audience ?? clientId },
    expose,
    callbacks: input.callbacks ?? {},
    events: input.events ?? {},
    authorizationParams: { ...input.authorizationParams },
    idpLogout: input.idpLogout ?? true,
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
  if (list.length === 0) fail('secret', 'is missing', 'pass a random string of 32+ characters or set SESSION_SECRET (e.g. `openssl rand -hex 32`)');
  for (const s of list) {
    if (typeof s !== 'string' || s.length < 32) fail('secret', 'must be at least 32 characters long', 'generate one with `openssl rand -hex 32`');
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
