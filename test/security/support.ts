// Shared by the security, back-channel and property tests: reading a test app's session from outside,
// and forging JWTs the way an attacker would (unsigned, HMAC with the IdP's public key, foreign keys,
// tampered signatures) next to IdP-signed ones.
import { createHmac, createPublicKey } from 'node:crypto';
import { decodeJwt, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import type { TestApp } from '../helpers/app.js';
import type { CookieJar } from '../helpers/cookie-jar.js';
import { request } from '../helpers/login.js';
import type { TestProvider } from '../helpers/op.js';

export const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** The express-session id inside the signed cookie `s:<id>.<signature>`. */
export function sessionIdOf(jar: CookieJar, name = 'oidc.sid'): string {
  const raw = decodeURIComponent(jar.get(name) ?? '');
  return raw.slice(2, raw.lastIndexOf('.'));
}

/** GET {basePath}/session as JSON (null when signed out). */
export async function sessionOf(app: { url: string }, jar: CookieJar, basePath = '/auth'): Promise<Record<string, unknown> | null> {
  const res = await request(`${app.url}${basePath}/session`, { jar });
  if (res.status !== 200) throw new Error(`GET ${basePath}/session answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Record<string, unknown> | null;
}

/** Status of GET /api/me (requiresAuth) as an API call. */
export async function meStatus(app: { url: string }, jar: CookieJar): Promise<number> {
  const res = await request(`${app.url}/api/me`, { jar, headers: { accept: 'application/json' } });
  await res.body?.cancel();
  return res.status;
}

/** The claims of the session's ID token (read through the test app's /api/tokens route). */
export async function idClaimsOf(app: { url: string }, jar: CookieJar): Promise<JWTPayload & { sub: string; sid: string }> {
  const res = await request(`${app.url}/api/tokens`, { jar });
  const session = (await res.json()) as { idToken?: string } | null;
  if (!session?.idToken) throw new Error('not signed in: no ID token');
  return decodeJwt(session.idToken) as JWTPayload & { sub: string; sid: string };
}

/** POSTs a logout token the way an IdP does: form-encoded, no cookie, no Origin. */
export function postLogoutToken(
  app: { url: string },
  token: string | undefined,
  init: { basePath?: string; body?: string; contentType?: string } = {},
): Promise<Response> {
  const body = init.body ?? (token === undefined ? '' : new URLSearchParams({ logout_token: token }).toString());
  return fetch(`${app.url}${init.basePath ?? '/auth'}/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': init.contentType ?? 'application/x-www-form-urlencoded' },
    body,
    redirect: 'manual',
  });
}

function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/** An unsigned JWT: `alg` none (or a spelling of it) and an empty signature. */
export function unsignedJwt(payload: Record<string, unknown>, alg = 'none', header: Record<string, unknown> = {}): string {
  return `${b64({ alg, ...header })}.${b64(payload)}.`;
}

/** The provider's public signing key as PEM, fetched from its JWKS like an attacker would. */
export async function providerPublicPem(op: TestProvider): Promise<{ pem: string; jwk: JWK }> {
  const jwks = (await (await fetch(`${op.issuer}/jwks`)).json()) as { keys: JWK[] };
  const jwk = jwks.keys.find((k) => k.kty === 'RSA')!;
  const pem = createPublicKey({ key: jwk as never, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  return { pem, jwk };
}

/** CVE-2022-23541 style: HS256 "signed" with the IdP's public key (PEM text) as the HMAC secret. */
export function hmacWithPublicKey(payload: Record<string, unknown>, secret: string, header: Record<string, unknown> = {}): string {
  const input = `${b64({ alg: 'HS256', ...header })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** Flips one character in the middle of the signature: same header and claims, invalid signature. */
export function tamperSignature(token: string): string {
  const [h, p, s = ''] = token.split('.');
  const i = Math.floor(s.length / 2);
  const flipped = s[i] === 'A' ? 'B' : 'A';
  return `${h}.${p}.${s.slice(0, i)}${flipped}${s.slice(i + 1)}`;
}

/** A key pair that is not the IdP's. */
export async function attackerKey(alg = 'RS256'): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey) };
}

export async function signWith(
  key: CryptoKey,
  payload: Record<string, unknown>,
  header: Record<string, unknown> & { alg: string },
): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}

/** Claims of a valid logout token for `op` (what signLogoutToken presets), for building forged variants. */
export function logoutClaims(op: TestProvider, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: op.issuer,
    aud: op.clientId,
    iat: now,
    exp: now + 120,
    jti: crypto.randomUUID(),
    events: { [BACKCHANNEL_EVENT]: {} },
    ...extra,
  };
}

export type Forge = (idToken: string) => Promise<string>;

/**
 * Lets a test replace the ID token the provider's token endpoint sends. The helper's HTTP server composed the
 * provider's Koa middleware at start, so op.provider.use() would come too late: the token is swapped where the
 * provider issues it. Also counts access-token lookups at the provider (userinfo starts with one).
 */
export function hookIdTokens(op: TestProvider): { forge: Forge | undefined; accessTokenLookups: number } {
  const hook: { forge: Forge | undefined; accessTokenLookups: number } = { forge: undefined, accessTokenLookups: 0 };
  const IdToken = op.provider.IdToken.prototype as { issue(this: unknown, opts: { use: string }): Promise<string> };
  const issue = IdToken.issue;
  IdToken.issue = async function forgedIssue(this: unknown, opts) {
    const token = await issue.call(this, opts);
    return hook.forge && opts.use === 'idtoken' ? hook.forge(token) : token;
  };
  const AccessToken = op.provider.AccessToken as unknown as { find(...args: unknown[]): Promise<unknown> };
  const find = AccessToken.find;
  AccessToken.find = function countedFind(this: unknown, ...args: unknown[]) {
    hook.accessTokenLookups++;
    return find.apply(this, args);
  };
  return hook;
}

/** The provider's real ID token claims with `changes` applied (undefined deletes), re-signed with the provider's key. */
export function resign(op: TestProvider, changes: Record<string, unknown>, header: Record<string, unknown> = {}): Forge {
  return async (idToken) => {
    const real = decodeJwt(idToken) as Record<string, unknown>;
    // signLogoutToken presets logout claims; the real ID token's own values (or their absence) win.
    return op.signLogoutToken({ events: undefined, jti: real.jti, ...real, ...changes }, { typ: undefined, ...header });
  };
}

export function closeAll(...things: Array<{ close?: () => Promise<void>; stop?: () => Promise<void> } | undefined>): Promise<unknown> {
  return Promise.all(things.map((t) => (t?.close ? t.close() : t?.stop?.())));
}

export type { TestApp };
