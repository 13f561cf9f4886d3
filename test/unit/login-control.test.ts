// Unit tests of the per-login parameter rules (lib/oidc/login-params.ts) and the step-up checks (lib/oidc/step-up.ts).
import { describe, expect, it } from '@jest/globals';
import { authorizationParamsOf, MAX_MAX_AGE, parseLoginParams } from '../../lib/oidc/login-params.js';
import { authRequirement, satisfies, sessionAuthOf, stepUpChallenge, stepUpQuery, unmetByIdToken } from '../../lib/oidc/step-up.js';

const parse = (q: Record<string, string | string[] | undefined>) => parseLoginParams(q);

describe('parseLoginParams', () => {
  it('takes the five parameters, ignores the rest and empty values', () => {
    expect(
      parse({
        prompt: 'login consent',
        login_hint: 'a@b',
        ui_locales: 'fr-CA en',
        acr_values: 'urn:a b',
        max_age: '0',
        foo: 'x',
        scope: 'admin',
      }),
    ).toEqual({ prompt: 'login consent', login_hint: 'a@b', ui_locales: 'fr-CA en', acr_values: 'urn:a b', max_age: 0 });
    expect(parse({ prompt: '', login_hint: '' })).toEqual({});
    expect(parse({ max_age: String(MAX_MAX_AGE) })).toEqual({ max_age: MAX_MAX_AGE });
  });

  it.each([
    { prompt: 'none login' },
    { prompt: 'login login' },
    { prompt: 'NONE' },
    { prompt: 'evil' },
    { prompt: ['login', 'consent'] },
    { max_age: '-1' },
    { max_age: '1e3' },
    { max_age: ' 1' },
    { max_age: '0x10' },
    { max_age: String(MAX_MAX_AGE + 1) },
    { login_hint: 'x'.repeat(257) },
    { login_hint: 'a\u0000b' },
    { ui_locales: 'fr_CA' },
    { ui_locales: 'en  fr' },
    { ui_locales: 'e'.repeat(65) },
    { acr_values: 'a\tb' },
    { acr_values: 'é' },
    { acr_values: 'a'.repeat(257) },
    { silent: '1' },
    { silent: 'true', prompt: 'consent' },
    { login_hint: 'a', loginHint: 'a' },
  ])('refuses %j with a 400 ERR_BAD_REQUEST', (query) => {
    expect(() => parse(query)).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST', status: 400 }));
  });

  it('accepts the camelCase names signIn() sends, and silent=true as prompt=none', () => {
    expect(parse({ loginHint: 'a', uiLocales: 'de', acrValues: 'x', maxAge: '5', silent: 'true' })).toEqual({
      prompt: 'none',
      login_hint: 'a',
      ui_locales: 'de',
      acr_values: 'x',
      max_age: 5,
    });
    expect(parse({ silent: 'false' })).toEqual({});
    expect(authorizationParamsOf({ max_age: 5, prompt: 'none' })).toEqual({ max_age: '5', prompt: 'none' });
  });
});

describe('step-up', () => {
  it('checks requiresAuth() options at startup', () => {
    expect(authRequirement('a', 0)).toEqual({ acr: ['a'], maxAge: 0 });
    expect(authRequirement(['a', 'b'], undefined)).toEqual({ acr: ['a', 'b'] });
    for (const bad of [[], [''], ['a b'], [1], 'a"b'.replace('"', ' ')])
      expect(() => authRequirement(bad as never, undefined)).toThrow(/acr/);
    for (const bad of [-1, 1.5, Number.NaN, MAX_MAX_AGE + 1, '60'])
      expect(() => authRequirement(undefined, bad as never)).toThrow(/maxAge/);
  });

  it('a session satisfies acr and maxAge, or not (unknown is not)', () => {
    const now = 1_000_000_000_000;
    expect(satisfies({ acr: 'a', authTime: now - 59_000 }, { acr: ['b', 'a'], maxAge: 60 }, now)).toBe(true);
    expect(satisfies({ acr: 'c', authTime: now }, { acr: ['a'] }, now)).toBe(false);
    expect(satisfies({ authTime: now }, { acr: ['a'] }, now)).toBe(false);
    expect(satisfies({ acr: 'a', authTime: now - 61_000 }, { maxAge: 60 }, now)).toBe(false);
    expect(satisfies({ acr: 'a' }, { maxAge: 60 }, now)).toBe(false);
    expect(satisfies(undefined, {}, now)).toBe(true);
  });

  it('says what is needed in the login query and the RFC 9470 challenge', () => {
    expect(stepUpQuery({ acr: ['urn:a', 'b'], maxAge: 0 })).toBe('&acr_values=urn%3Aa%20b&max_age=0');
    expect(stepUpChallenge({ acr: ['urn:a', 'b'], maxAge: 0 })).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="urn:a b", max_age=0',
    );
    expect(stepUpChallenge({ acr: ['a\\"b'] })).toContain('acr_values="a\\\\\\"b"');
  });

  it('checks the ID token of a login against what it asked for (OIDC Core 3.1.3.7)', () => {
    const issued = 1_000_000_000_000;
    const at = issued / 1000;
    expect(unmetByIdToken({}, {}, issued)).toBeUndefined();
    expect(unmetByIdToken({ acrValues: 'a b' }, { acr: 'b' }, issued)).toBeUndefined();
    expect(unmetByIdToken({ acrValues: 'a b' }, { acr: 'c' }, issued)).toMatch(/"c"/);
    expect(unmetByIdToken({ acrValues: 'a' }, {}, issued)).toMatch(/\(none\)/);
    expect(unmetByIdToken({ maxAge: 60, issued }, { auth_time: at - 60 }, issued)).toBeUndefined();
    expect(unmetByIdToken({ maxAge: 60, issued }, { auth_time: at - 60 - 61 }, issued)).toMatch(/max_age/);
    expect(unmetByIdToken({ maxAge: 60, issued }, {}, issued)).toMatch(/no auth_time/);
    expect(unmetByIdToken({ maxAge: 60, issued }, { auth_time: '1' }, issued)).toMatch(/no auth_time/);
  });

  it('keeps acr, amr and auth_time (as ms) of the ID token, nothing malformed', () => {
    expect(sessionAuthOf({ acr: 'a', amr: ['pwd', 'otp'], auth_time: 1000 })).toEqual({
      acr: 'a',
      amr: ['pwd', 'otp'],
      authTime: 1_000_000,
    });
    expect(sessionAuthOf({ acr: 1, amr: ['pwd', 2], auth_time: 'x' })).toEqual({});
  });
});
