// The logout-token validator over generated claim sets and signing methods: a token not signed by the
// IdP's key is never accepted; an IdP-signed token is accepted only when every rule of Back-Channel
// Logout 1.0 §2.6 holds; and nothing ever escapes but a coded 400 error.

import { createPublicKey } from 'node:crypto';
import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWK, type JWTVerifyGetKey } from 'jose';
import { isAuthError } from '../../lib/errors.js';
import {
  BACKCHANNEL_LOGOUT_EVENT,
  LOGOUT_TOKEN_DEFAULT_TTL,
  LOGOUT_TOKEN_LEEWAY,
  LOGOUT_TOKEN_MAX_AGE,
  verifyLogoutToken,
} from '../../lib/oidc/logout-token.js';
import { hmacWithPublicKey, tamperSignature, unsignedJwt } from '../security/support.js';

const ISSUER = 'https://idp.example.com';
const CLIENT = 'app';
const NOW = Math.floor(Date.now() / 1000);
const expect_ = { issuer: ISSUER, clientId: CLIENT, now: NOW * 1000 };

let idp: CryptoKey;
let keys: JWTVerifyGetKey;
let idpJwk: JWK;
let pem: string;
let foreignRsa: CryptoKey;
let foreignEc: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  idp = pair.privateKey;
  idpJwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
  keys = createLocalJWKSet({ keys: [idpJwk] });
  pem = createPublicKey({ key: idpJwk as never, format: 'jwk' })
    .export({ type: 'spki', format: 'pem' })
    .toString();
  foreignRsa = (await generateKeyPair('RS256')).privateKey;
  foreignEc = (await generateKeyPair('ES256')).privateKey;
});

const json = fc.jsonValue({ maxDepth: 2 });
const REGISTERED = ['iss', 'aud', 'iat', 'exp', 'nbf', 'jti', 'events', 'sub', 'sid', 'nonce'];

/**
 * Signs whatever header and claims it is given, as an IdP or an attacker could: unlike jose's SignJWT it does not
 * refuse odd claims (a non-finite iat becomes null in JSON), so every generated claim set reaches the validator.
 */
async function rawSign(header: Record<string, unknown>, payload: Record<string, unknown>, key: CryptoKey): Promise<string> {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const algorithm = key.algorithm.name === 'ECDSA' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: key.algorithm.name };
  const signature = await crypto.subtle.sign(algorithm, key, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}
/** Present three times out of four. */
const opt = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: arb }, { weight: 1, arbitrary: fc.constant(undefined) });
const time = fc.oneof(
  fc.integer({ min: -120, max: 120 }).map((d) => NOW + d),
  fc.integer({ min: -3 * 86_400, max: 3 * 86_400 }).map((d) => NOW + d),
  fc.constantFrom(NOW - LOGOUT_TOKEN_LEEWAY - 1, NOW + LOGOUT_TOKEN_LEEWAY + 1, NOW - LOGOUT_TOKEN_MAX_AGE - 1, 0, -1, 1e12),
  fc.oneof(fc.double(), fc.string(), fc.constant(null)),
);
const validEvents = fc.constantFrom({ [BACKCHANNEL_LOGOUT_EVENT]: {} }, { [BACKCHANNEL_LOGOUT_EVENT]: { extra: 1 }, other: {} });

/** Claim sets around the valid one: each claim is right most of the time and wrong in many ways otherwise. */
const claims = fc
  .record({
    iss: fc.oneof(
      { weight: 6, arbitrary: fc.constant(ISSUER) },
      fc.constantFrom(`${ISSUER}/`, 'https://evil.example', ISSUER.toUpperCase()),
      json,
    ),
    aud: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(CLIENT, [CLIENT], [CLIENT, 'other']) },
      fc.constantFrom('other', [], ['other']),
      json,
    ),
    iat: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -30, max: 30 }).map((d) => NOW + d) }, time),
    exp: opt(fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 30, max: 300 }).map((d) => NOW + d) }, time)),
    jti: fc.oneof({ weight: 6, arbitrary: fc.uuid() }, fc.constantFrom(''), json),
    events: fc.oneof(
      { weight: 6, arbitrary: validEvents },
      fc.constantFrom(
        {},
        { [BACKCHANNEL_LOGOUT_EVENT]: null },
        { [BACKCHANNEL_LOGOUT_EVENT]: 'x' },
        { [BACKCHANNEL_LOGOUT_EVENT]: [] },
        [BACKCHANNEL_LOGOUT_EVENT],
        { 'http://schemas.openid.net/event/backchannel-logout/': {} },
      ),
      json,
    ),
    sub: opt(fc.oneof({ weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) }, json)),
    sid: opt(fc.oneof({ weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) }, json)),
    nonce: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, json),
    extra: fc.dictionary(
      fc.string({ maxLength: 6 }).filter((k) => !REGISTERED.includes(k)),
      json,
      { maxKeys: 3 },
    ),
  })
  .map(({ extra, ...c }) => {
    const out: Record<string, unknown> = { ...extra };
    for (const [k, v] of Object.entries(c)) if (v !== undefined) out[k] = v;
    return out;
  });

const typ = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(undefined, 'logout+jwt', 'JWT', 'application/logout+jwt') },
  fc.constantFrom('at+jwt', 'secevent+jwt', 'id_token', '', 'logout+jwt '),
);
const extraHeader: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({}) },
  fc.constantFrom(
    { crit: ['exp'], exp: 1 },
    { b64: false, crit: ['b64'] },
    { jku: 'https://evil.example/jwks' },
    { x5u: 'https://evil.example/x' },
  ),
);

/** What the spec requires of an accepted token (Back-Channel Logout 1.0 §2.6), written independently of the validator. */
function satisfiesSpec(claims: Record<string, unknown>, header: Record<string, unknown>): boolean {
  // Judged on what travels: the JSON form (a non-finite number becomes null).
  const c = JSON.parse(JSON.stringify(claims)) as Record<string, unknown>;
  const str = (v: unknown) => typeof v === 'string' && v !== '';
  const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const ev = c.events as Record<string, unknown> | undefined;
  return (
    c.iss === ISSUER &&
    (c.aud === CLIENT || (Array.isArray(c.aud) && c.aud.includes(CLIENT))) &&
    num(c.iat) &&
    c.iat <= NOW + LOGOUT_TOKEN_LEEWAY &&
    c.iat >= NOW - LOGOUT_TOKEN_MAX_AGE &&
    // exp with the leeway; without exp the token is good for LOGOUT_TOKEN_DEFAULT_TTL after iat (our policy, so jti memory is bounded).
    (c.exp === undefined
      ? c.iat + LOGOUT_TOKEN_DEFAULT_TTL + LOGOUT_TOKEN_LEEWAY >= NOW
      : num(c.exp) && c.exp > NOW - LOGOUT_TOKEN_LEEWAY) &&
    str(c.jti) &&
    typeof ev === 'object' &&
    ev !== null &&
    !Array.isArray(ev) &&
    typeof ev[BACKCHANNEL_LOGOUT_EVENT] === 'object' &&
    ev[BACKCHANNEL_LOGOUT_EVENT] !== null &&
    !Array.isArray(ev[BACKCHANNEL_LOGOUT_EVENT]) &&
    !('nonce' in c) &&
    (str(c.sub) || str(c.sid)) &&
    (c.sub === undefined || str(c.sub)) &&
    (c.sid === undefined || str(c.sid)) &&
    (header.typ === undefined || ['logout+jwt', 'jwt', 'application/logout+jwt'].includes(String(header.typ).toLowerCase()))
  );
}

let lastRefusal = '';

async function outcome(token: unknown): Promise<'accepted' | 'refused'> {
  try {
    await verifyLogoutToken(token, keys, expect_);
    return 'accepted';
  } catch (err) {
    // Only our coded 400: never a jose error, a TypeError or a 5xx for something the token contains.
    if (!isAuthError(err) || err.code !== 'ERR_LOGOUT_TOKEN_INVALID' || err.status !== 400) throw err;
    lastRefusal = err.message;
    return 'refused';
  }
}

type Forger = (c: Record<string, unknown>, h: Record<string, unknown>) => Promise<string>;
const FORGERS: Record<string, Forger> = {
  'foreign RSA key, IdP kid': (c, h) => rawSign({ ...h, alg: 'RS256', kid: 'idp-1' }, c, foreignRsa),
  'foreign RSA key, no kid': (c, h) => rawSign({ ...h, alg: 'RS256' }, c, foreignRsa),
  'foreign EC key': (c, h) => rawSign({ ...h, alg: 'ES256', kid: 'idp-1' }, c, foreignEc),
  'HS256 with the public PEM': async (c, h) => hmacWithPublicKey(c, pem, { ...h, kid: 'idp-1' }),
  'HS256 with the public JWK': async (c, h) => hmacWithPublicKey(c, JSON.stringify(idpJwk), h),
  'alg none': async (c, h) => unsignedJwt(c, 'none', h),
  'alg NoNe': async (c, h) => unsignedJwt(c, 'NoNe', { ...h, kid: 'idp-1' }),
  'RS256 header, no signature': async (c, h) => unsignedJwt(c, 'RS256', { ...h, kid: 'idp-1' }),
  'tampered IdP signature': async (c, h) => tamperSignature(await rawSign({ ...h, alg: 'RS256', kid: 'idp-1' }, c, idp)),
  'IdP signature moved onto other claims': async (c, h) => {
    const genuine = await rawSign({ ...h, alg: 'RS256', kid: 'idp-1' }, { ...c, sub: 'someone-else' }, idp);
    const [header, , signature] = genuine.split('.');
    return `${header}.${Buffer.from(JSON.stringify(c)).toString('base64url')}.${signature}`;
  },
};

describe('logout token validation (property)', () => {
  it('never accepts a token that the IdP key did not sign, whatever its claims', async () => {
    await fc.assert(
      fc.asyncProperty(claims, typ, fc.constantFrom(...Object.keys(FORGERS)), async (c, t, how) => {
        const header = t === undefined ? {} : { typ: t };
        expect(await outcome(await FORGERS[how]!(c, header))).toBe('refused');
      }),
      { numRuns: 1_500 },
    );
  });

  it('accepts an IdP-signed token exactly when it meets the spec; refuses with a coded 400 otherwise', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(claims, typ, extraHeader, async (c, t, extra) => {
        const header = { ...extra, ...(t === undefined ? {} : { typ: t }) };
        const token = await rawSign({ ...header, alg: 'RS256', kid: 'idp-1' }, c, idp);
        lastRefusal = '';
        const result = await outcome(token);
        const custom = Object.keys(extra).length > 0;
        if (result === 'accepted') accepted++;
        // Unknown critical headers and unencoded payloads must be refused; jku/x5u are ignored (keys come from the JWKS).
        const expected = satisfiesSpec(c, header) && !('crit' in extra) ? 'accepted' : 'refused';
        if (result !== expected) {
          throw new Error(`${result}, expected ${expected} (custom header: ${custom}; refusal: ${lastRefusal || 'none'}; now ${NOW})`);
        }
      }),
      { numRuns: 1_500 },
    );
    // The generator must exercise acceptance too, or the property says little.
    expect(accepted).toBeGreaterThan(150);
  });

  it('refuses any other input with a coded 400 and never throws anything else', async () => {
    const segment = fc.oneof(
      fc.base64String({ maxLength: 40 }).map((s) => s.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_')),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '').toString('base64url')),
      fc.string({ maxLength: 10 }),
    );
    const junk = fc.oneof(
      fc.array(segment, { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.')),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.anything(),
    );
    await fc.assert(
      fc.asyncProperty(junk, async (token) => {
        expect(await outcome(token)).toBe('refused');
      }),
      { numRuns: 3_000 },
    );
  });
});
