// The signing pieces on their own: the RFC 7523 client assertion authenticatedForm() sends, and the DPoP
// key derivation and proofs (RFC 9449) — checked with jose's own verification and thumbprint.

import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, EmbeddedJWK, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { resolveConfig } from '../../lib/config.js';
import { deriveDpopKey, dpopProof, generateDpopKey, jwkThumbprint, publicJwk, rememberNonce } from '../../lib/oidc/dpop.js';
import { authenticatedForm } from '../../lib/oidc/token-endpoint.js';

const BASE = { issuer: 'https://idp.example.com/', clientId: 'my-app', baseURL: 'http://127.0.0.1:3000', secret: 's'.repeat(32) };
const TOKEN_ENDPOINT = 'https://idp.example.com/oauth2/token';

describe('client assertions', () => {
  it('private_key_jwt: iss = sub = client id, aud = issuer, jti, exp 60 s, kid and x5t#S256 in the header, no secret', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const clientKey = { ...(await exportJWK(privateKey)), kid: 'k-2026', 'x5t#S256': 'thumb' };
    const config = resolveConfig({ ...BASE, clientAuthMethod: 'private_key_jwt', clientKey }, {});
    const { body, headers } = await authenticatedForm(config, { grant_type: 'refresh_token', refresh_token: 'rt' }, TOKEN_ENDPOINT);
    expect(headers.authorization).toBeUndefined();
    expect(body.get('client_secret')).toBeNull();
    expect(body.get('client_id')).toBe('my-app');
    expect(body.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const jwt = body.get('client_assertion')!;
    expect(decodeProtectedHeader(jwt)).toEqual({ alg: 'ES256', kid: 'k-2026', typ: 'JWT', 'x5t#S256': 'thumb' });
    const claims = decodeJwt(jwt);
    expect(claims).toMatchObject({ iss: 'my-app', sub: 'my-app', aud: 'https://idp.example.com/' });
    expect(claims.exp! - claims.iat!).toBe(60);
    expect(claims.jti).toMatch(/^[\w-]{24}$/);
    // A new jti per request: the IdP refuses a replayed assertion.
    const again = decodeJwt((await authenticatedForm(config, {}, TOKEN_ENDPOINT)).body.get('client_assertion')!);
    expect(again.jti).not.toBe(claims.jti);
    await expect(jwtVerify(jwt, publicKey)).resolves.toBeTruthy();
  });

  it("clientAssertionAudience 'tokenEndpoint' puts the token endpoint in aud; client_secret_jwt signs HS256 with the secret", async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const rsa = resolveConfig(
      { ...BASE, clientAuthMethod: 'private_key_jwt', clientKey: privateKey, clientKeyId: 'rsa', clientAssertionAudience: 'tokenEndpoint' },
      {},
    );
    const jwt = (await authenticatedForm(rsa, {}, TOKEN_ENDPOINT)).body.get('client_assertion')!;
    expect(decodeJwt(jwt).aud).toBe(TOKEN_ENDPOINT);
    expect(decodeProtectedHeader(jwt).alg).toBe('RS256');
    const hs = resolveConfig({ ...BASE, clientSecret: 'a-shared-secret-of-enough-length!!', clientAuthMethod: 'client_secret_jwt' }, {});
    const hsJwt = (await authenticatedForm(hs, {}, TOKEN_ENDPOINT)).body.get('client_assertion')!;
    expect(decodeProtectedHeader(hsJwt).alg).toBe('HS256');
    await expect(jwtVerify(hsJwt, new TextEncoder().encode('a-shared-secret-of-enough-length!!'))).resolves.toBeTruthy();
  });
});

describe('DPoP keys and proofs', () => {
  it('derives the same key for the same secret and state handle, another for another handle (ES256 and EdDSA)', async () => {
    for (const alg of ['ES256', 'EdDSA'] as const) {
      const a = deriveDpopKey(alg, 's'.repeat(32), 'h1.abc')!;
      expect(deriveDpopKey(alg, 's'.repeat(32), 'h1.abc')).toEqual(a);
      expect(deriveDpopKey(alg, 's'.repeat(32), 'h2.abc')!.d).not.toBe(a.d);
      expect(deriveDpopKey(alg, 't'.repeat(32), 'h1.abc')!.d).not.toBe(a.d);
      expect(jwkThumbprint(a)).toBe(await calculateJwkThumbprint(publicJwk(a)));
      expect(publicJwk(a).d).toBeUndefined();
    }
    expect(deriveDpopKey('PS256', 's'.repeat(32), 'h1')).toBeUndefined();
    const rsa = await generateDpopKey('PS256');
    expect(jwkThumbprint(rsa)).toBe(await calculateJwkThumbprint(publicJwk(rsa)));
  });

  it("a proof: typ dpop+jwt, the public jwk, htm, htu without query or fragment, iat, jti, ath, and the server's nonce", async () => {
    const key = deriveDpopKey('ES256', 's'.repeat(32), 'handle')!;
    const token = 'an-access-token';
    const url = 'https://api.example.com/v1/orders?x=1#frag';
    const { payload, protectedHeader } = await jwtVerify(await dpopProof(key, 'get', url, token), EmbeddedJWK, { typ: 'dpop+jwt' });
    expect(protectedHeader.jwk).toEqual(publicJwk(key));
    expect(payload).toMatchObject({
      htm: 'GET',
      htu: 'https://api.example.com/v1/orders',
      ath: createHash('sha256').update(token).digest('base64url'),
    });
    expect(payload.nonce).toBeUndefined();
    expect(typeof payload.iat).toBe('number');
    expect(payload.jti).toBeTruthy();
    expect(rememberNonce(url, new Headers({ 'DPoP-Nonce': 'n-1' }))).toBe(true);
    const next = decodeJwt(await dpopProof(key, 'POST', 'https://api.example.com/other'));
    expect(next).toMatchObject({ nonce: 'n-1', htm: 'POST' });
    expect(next.ath).toBeUndefined();
    // Per origin: another server's proofs carry no nonce of this one.
    expect(decodeJwt(await dpopProof(key, 'GET', 'https://other.example.com/')).nonce).toBeUndefined();
    expect(rememberNonce(url, new Headers({ 'DPoP-Nonce': 'bad "nonce"' }))).toBe(false);
  });
});
