// Access-token lifetimes from what token responses really carry (or fail to), and the refresh back-off.
import { describe, expect, it } from '@jest/globals';
import { accessTokenExpiry, BACKOFF_CAP_MS, backoffDelay, inBackoff } from '../../lib/tokens/expiry.js';

const NOW = 1_800_000_000_000;
const jwtWith = (claims: Record<string, unknown>) =>
  `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('accessTokenExpiry', () => {
  it('takes a usable expires_in', () => {
    expect(accessTokenExpiry(300, 'opaque', NOW, 60)).toBe(NOW + 300_000);
  });

  it('without expires_in: the JWT access token’s own exp, else the configured default', () => {
    expect(accessTokenExpiry(undefined, jwtWith({ exp: NOW / 1000 + 900 }), NOW, 60)).toBe(NOW + 900_000);
    expect(accessTokenExpiry(undefined, 'opaque-token', NOW, 60)).toBe(NOW + 60_000);
    expect(accessTokenExpiry(undefined, jwtWith({ sub: 'no exp' }), NOW, 60)).toBe(NOW + 60_000);
  });

  it('absurd values are clamped to 1 s … 24 h: no token lives forever, none is refreshed on every request', () => {
    expect(accessTokenExpiry(1e12, 'opaque', NOW, 60)).toBe(NOW + 86_400_000);
    expect(accessTokenExpiry(Number.POSITIVE_INFINITY, 'opaque', NOW, 60)).toBe(NOW + 60_000);
    expect(accessTokenExpiry(Number.NaN, 'opaque', NOW, 60)).toBe(NOW + 60_000);
    expect(accessTokenExpiry(-5, 'opaque', NOW, 60)).toBe(NOW + 60_000);
    expect(accessTokenExpiry(0.001, 'opaque', NOW, 60)).toBe(NOW + 1000);
    expect(accessTokenExpiry(undefined, jwtWith({ exp: NOW / 1000 - 100 }), NOW, 60)).toBe(NOW + 1000);
  });
});

describe('back-off', () => {
  it('doubles with ±50 % jitter, capped', () => {
    expect(backoffDelay(1, 0)).toBe(500);
    expect(backoffDelay(1, 0.999)).toBeCloseTo(1499, -1);
    expect(backoffDelay(3, 0.5)).toBe(4000);
    for (let attempts = 1; attempts < 30; attempts++) expect(backoffDelay(attempts, 0.999)).toBeLessThan(BACKOFF_CAP_MS * 1.5);
  });

  it('a grant the IdP answered after the failure ends the back-off for every session', () => {
    const record = { v: 2, retryAt: NOW + 10_000, failedAt: NOW - 1000 };
    expect(inBackoff(record, 0, NOW)).toBe(true);
    expect(inBackoff(record, NOW - 2000, NOW)).toBe(true); // healthy before the failure: still backing off
    expect(inBackoff(record, NOW - 500, NOW)).toBe(false);
  });
});
