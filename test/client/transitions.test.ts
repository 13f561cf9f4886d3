// The observer's pure logic: which callbacks a change fires, when expiries are due (server clock,
// corrected for skew), how the snapshot is built, and the backoff curve. No fake browser needed
// except `location` for the login URL.
import { describe, expect, it } from '@jest/globals';
import { loginUrl } from '../../lib/client/navigate.js';
import { createSnapshot, decodeJwt } from '../../lib/client/snapshot.js';
import { backoff, EXPIRY_MARGIN, events, scan } from '../../lib/client/transitions.js';
import type { SessionData } from '../../lib/client/types.js';
import { jwt, sessionJson } from './harness.js';

const NOW = Date.UTC(2026, 0, 1);
const data = (overrides: Record<string, unknown> = {}) => sessionJson(NOW, overrides) as SessionData;

describe('events', () => {
  it('the first answer is no event: a page that starts signed in did not just sign in', () => {
    expect(events(undefined, data(), NOW)).toEqual([]);
    expect(events(undefined, null, NOW)).toEqual([]);
  });

  it('signed out → in is onSignIn; in → out before expiry is onSignOut', () => {
    expect(events(null, data(), NOW)).toEqual(['onSignIn']);
    expect(events(data(), null, NOW)).toEqual(['onSignOut']);
    expect(events(null, null, NOW)).toEqual([]);
  });

  it('in → out once `expires` has passed is onSessionExpired, not onSignOut', () => {
    const prev = data({ expires: NOW - 1 });
    expect(events(prev, null, NOW)).toEqual(['onSessionExpired']);
  });

  it('another user is a sign-out and a sign-in', () => {
    expect(events(data(), data({ user: { sub: 'bob' } }), NOW)).toEqual(['onSignOut', 'onSignIn']);
  });

  it('a changed session is onSessionUpdate; only a new `now` is no change', () => {
    expect(events(data(), data({ now: NOW + 5000 }), NOW)).toEqual([]);
    expect(events(data(), data({ jwt: jwt({ sub: 'alice', v: 2 }) }), NOW)).toEqual(['onSessionUpdate']);
  });
});

describe('scan', () => {
  it('nothing is known while loading; signed out is the onUnauthenticated condition', () => {
    expect(scan(undefined, 0, NOW)).toEqual([[], Infinity]);
    expect(scan(null, 0, NOW)).toEqual([['onUnauthenticated'], Infinity]);
  });

  it('an expiry holds only from its time plus the margin, in server time', () => {
    const session = data({ accessTokenExpires: NOW + 10_000 });
    const [before, next] = scan(session, 0, NOW + 10_000);
    expect(before).toEqual([]);
    expect(next).toBe(NOW + 10_000 + EXPIRY_MARGIN);
    const [after] = scan(session, 0, NOW + 10_000 + EXPIRY_MARGIN);
    expect(after).toEqual([`onAccessTokenExpired|${NOW + 10_000}`]);
  });

  it('a client clock 10 minutes slow changes nothing: deadlines come back in client time', () => {
    const skew = 600_000; // server − client
    const session = data({ accessTokenExpires: NOW + 10_000 });
    const clientNow = NOW - skew;
    expect(scan(session, skew, clientNow)[0]).toEqual([]);
    expect(scan(session, skew, clientNow)[1]).toBe(NOW + 10_000 + EXPIRY_MARGIN - skew);
    expect(scan(session, skew, clientNow + 10_000 + EXPIRY_MARGIN)[0]).toEqual([`onAccessTokenExpired|${NOW + 10_000}`]);
  });

  it('every expiry field has its key; the session `expires` has no callback name', () => {
    const session = data({ expires: NOW - 5000, accessTokenExpires: NOW - 5000, idTokenExpires: NOW - 5000, jwtExpires: NOW - 5000 });
    expect(scan(session, 0, NOW)[0].sort()).toEqual(
      [`onAccessTokenExpired|${NOW - 5000}`, `onIdTokenExpired|${NOW - 5000}`, `onJwtExpired|${NOW - 5000}`, `|${NOW - 5000}`].sort(),
    );
  });

  it("maps the server's error codes to callbacks", () => {
    expect(scan(data({ error: 'RefreshAccessTokenError' }), 0, NOW)[0]).toEqual(['onAccessTokenError|RefreshAccessTokenError']);
    expect(scan(data({ error: 'RefreshAccessTokenUnavailable' }), 0, NOW)[0]).toEqual(['onAccessTokenError|RefreshAccessTokenUnavailable']);
    expect(scan(data({ error: 'IdTokenInvalid' }), 0, NOW)[0]).toEqual(['onIdTokenError|IdTokenInvalid']);
    expect(scan(data({ error: 'JwtSigningError' }), 0, NOW)[0]).toEqual(['onJwtError|JwtSigningError']);
  });

  it('a JWT that cannot be decoded is onJwtError', () => {
    expect(scan(data({ jwt: 'not-a-jwt' }), 0, NOW)[0]).toEqual(['onJwtError|not-a-jwt']);
  });
});

describe('snapshot', () => {
  (globalThis as Record<string, unknown>).location = { pathname: '/a b', search: '?x=1&y=2', assign() {} };

  it('has the three states, and loading only while nothing is known or a foreground fetch runs', () => {
    const base = { status: 200, headers: {}, error: null, loading: false };
    expect(createSnapshot({ ...base, data: undefined }, '/auth')).toMatchObject({ state: 'loading', loading: true, data: null });
    expect(createSnapshot({ ...base, data: null }, '/auth')).toMatchObject({ state: 'unauthenticated', loading: false, data: null });
    const signedIn = createSnapshot({ ...base, data: data(), loading: true }, '/auth');
    expect(signedIn).toMatchObject({ state: 'authenticated', loading: true, user: { sub: 'alice' }, status: 200 });
  });

  it('decodes jwtPayload from jwt when the server did not send it, including UTF-8 claims', () => {
    const token = jwt({ sub: 'alice', name: 'Zoë 東京', exp: 123 });
    const snapshot = createSnapshot({ status: 200, headers: {}, error: null, loading: false, data: data({ jwt: token }) }, '/auth');
    expect(snapshot.jwtPayload).toEqual({ sub: 'alice', name: 'Zoë 東京', exp: 123 });
    expect(decodeJwt('a.%%%.c')).toBeUndefined();
    expect(decodeJwt(`x.${Buffer.from('"str"').toString('base64url')}.y`)).toBeUndefined();
  });

  it('keeps the server error code in data.error while error is the request error', () => {
    const error = Object.assign(new Error('HTTP 503'), { status: 503 });
    const snapshot = createSnapshot(
      { status: 503, headers: {}, error, loading: false, data: data({ error: 'RefreshAccessTokenError' }) },
      '/auth',
    );
    expect(snapshot.error).toBe(error);
    expect(snapshot.data?.error).toBe('RefreshAccessTokenError');
    expect(() => snapshot.throwIfError()).toThrow('HTTP 503');
    const ok = createSnapshot({ status: 200, headers: {}, error: null, loading: false, data: data() }, '/auth');
    expect(() => ok.throwIfError()).not.toThrow();
  });

  it('redirects to login with this page as returnTo, or to the given URL', () => {
    expect(loginUrl('/auth')).toBe('/auth/login?returnTo=%2Fa+b%3Fx%3D1%26y%3D2');
    expect(loginUrl('/sso', { returnTo: '/next' })).toBe('/sso/login?returnTo=%2Fnext');
  });

  it('sends the signIn options as the query, under their own names (the login route maps them)', () => {
    expect(loginUrl('/auth', { silent: true })).toBe('/auth/login?returnTo=%2Fa+b%3Fx%3D1%26y%3D2&silent=true');
    expect(
      loginUrl('/auth', {
        returnTo: '/x',
        loginHint: 'a@b.c',
        uiLocales: 'fr-CA en',
        acrValues: 'urn:x:strong',
        maxAge: 60,
        prompt: 'login',
      }),
    ).toBe('/auth/login?returnTo=%2Fx&loginHint=a%40b.c&uiLocales=fr-CA+en&acrValues=urn%3Ax%3Astrong&maxAge=60&prompt=login');
  });
});

describe('backoff', () => {
  it('doubles from 1 s and stops at 60 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(backoff)).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  });
});
