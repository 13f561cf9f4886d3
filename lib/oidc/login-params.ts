/**
 * The per-login parameters `GET {basePath}/login` passes on to the authorization request (OIDC Core §3.1.2.1):
 * `prompt`, `login_hint`, `ui_locales`, `acr_values`, `max_age`, also under the camelCase names the browser's
 * `signIn()` sends (`loginHint`…, and `silent=true` for `prompt=none`). Each is checked against its grammar and a
 * length bound (the pending-login cookie and the IdP's URL limit both have to hold them); a bad one is a 400
 * rather than a guess. Any other query parameter is ignored.
 */
import { AuthError, ErrorCodes } from '../errors.js';
import type { Query } from '../util/respond.js';

export interface LoginParams {
  prompt?: string;
  login_hint?: string;
  ui_locales?: string;
  acr_values?: string;
  /** Seconds. */
  max_age?: number;
}

const PROMPTS = ['login', 'consent', 'select_account'];
const MAX_LOGIN_HINT = 256;
const MAX_UI_LOCALES = 64;
const MAX_ACR_VALUES = 256;
/** Ten years in seconds: anything longer is no bound at all, and a typo more likely than intent. */
export const MAX_MAX_AGE = 315_360_000;
/** BCP 47-ish language tags, space-separated (`fr-CA fr en`). */
const UI_LOCALES = /^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*(?: [A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)*$/;
/** Space-separated tokens of visible ASCII (URNs, URLs, `mfa`, `phr`). */
const ACR_VALUES = /^[\x21-\x7e]+(?: [\x21-\x7e]+)*$/;

function bad(message: string): AuthError {
  return new AuthError(ErrorCodes.BAD_REQUEST, 400, message);
}

/**
 * The string value of `name` (or of its camelCase spelling, which the browser handle's `signIn()` sends), or
 * undefined when absent or empty; given twice it is ambiguous and refused.
 */
function single(query: Query, name: string): string | undefined {
  const alias = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  const value = query[name] ?? (alias !== name ? query[alias] : undefined);
  if (Array.isArray(value) || (alias !== name && query[name] !== undefined && query[alias] !== undefined))
    throw bad(`${name} was given more than once`);
  return value === undefined || value === '' ? undefined : value;
}

/** Throws a 400 AuthError (ERR_BAD_REQUEST) naming the parameter when one is malformed. */
export function parseLoginParams(query: Query): LoginParams {
  const out: LoginParams = {};
  const silent = single(query, 'silent');
  if (silent !== undefined && silent !== 'true' && silent !== 'false') throw bad('silent must be true or false');
  const prompt = single(query, 'prompt') ?? (silent === 'true' ? 'none' : undefined);
  if (silent === 'true' && prompt !== 'none') throw bad('silent=true is prompt=none and cannot go with another prompt');
  if (prompt !== undefined) {
    const values = prompt.split(' ');
    // OIDC Core §3.1.2.1: none with any other value is an error.
    const ok = prompt === 'none' || (values.every((v) => PROMPTS.includes(v)) && new Set(values).size === values.length);
    if (!ok) throw bad('prompt must be none, or one or more of login, consent, select_account');
    out.prompt = prompt;
  }
  const loginHint = single(query, 'login_hint');
  if (loginHint !== undefined) {
    // eslint-disable-next-line no-control-regex
    if (loginHint.length > MAX_LOGIN_HINT || /[\x00-\x1f\x7f]/.test(loginHint))
      throw bad(`login_hint must be at most ${MAX_LOGIN_HINT} characters of text`);
    out.login_hint = loginHint;
  }
  const uiLocales = single(query, 'ui_locales');
  if (uiLocales !== undefined) {
    if (uiLocales.length > MAX_UI_LOCALES || !UI_LOCALES.test(uiLocales))
      throw bad(`ui_locales must be space-separated language tags (e.g. "fr-CA en"), at most ${MAX_UI_LOCALES} characters`);
    out.ui_locales = uiLocales;
  }
  const acrValues = single(query, 'acr_values');
  if (acrValues !== undefined) {
    if (acrValues.length > MAX_ACR_VALUES || !ACR_VALUES.test(acrValues))
      throw bad(`acr_values must be space-separated values, at most ${MAX_ACR_VALUES} characters`);
    out.acr_values = acrValues;
  }
  const maxAge = single(query, 'max_age');
  if (maxAge !== undefined) {
    if (!/^\d{1,9}$/.test(maxAge) || Number(maxAge) > MAX_MAX_AGE)
      throw bad(`max_age must be a whole number of seconds from 0 to ${MAX_MAX_AGE}`);
    out.max_age = Number(maxAge);
  }
  return out;
}

/** As the authorization request carries them: strings. */
export function authorizationParamsOf(params: LoginParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined) out[k] = String(v);
  return out;
}
