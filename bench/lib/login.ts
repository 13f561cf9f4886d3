/**
 * Real sign-ins for the load: the whole code flow through the provider, driven by fetch and the tests'
 * cookie jar, once per server process. The Cookie header is then replayed by autocannon.
 */
import { CookieJar } from '../../test/helpers/cookie-jar.js';
import { login } from '../../test/helpers/login.js';

export interface SignedIn {
  cookie: string;
  jar: CookieJar;
}

/**
 * Signs in through `{appUrl}{basePath}/login`; returns the Cookie header for `{appUrl}/me` with only the
 * app's own cookies (`keep`): the jar, like a browser, ignores ports and also holds the provider's.
 */
export async function signIn(appUrl: string, keep: RegExp, basePath = '/auth'): Promise<SignedIn> {
  const jar = new CookieJar();
  const result = await login(appUrl, { jar, basePath });
  if (result.status < 300 || result.status >= 400) {
    throw new Error(`login at ${appUrl} ended with ${result.status}, not a redirect:\n${result.hops.join('\n')}`);
  }
  const cookie = jar
    .header(`${appUrl}/me`)
    .split('; ')
    .filter((c) => keep.test(c.slice(0, c.indexOf('='))))
    .join('; ');
  if (!cookie) throw new Error(`login at ${appUrl} set no cookie:\n${result.hops.join('\n')}`);
  return { cookie, jar };
}

/** GETs a path with the cookie and returns its JSON, failing loudly on anything but 200. */
export async function getJson<T = unknown>(url: string, cookie: string): Promise<T> {
  const res = await fetch(url, { headers: { cookie, accept: 'application/json' } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** The baseline has no provider: a bench-only route stores the user and tokens ours got. */
export async function seedBaseline(appUrl: string, body: unknown): Promise<string> {
  const res = await fetch(`${appUrl}/__login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`POST ${appUrl}/__login answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  await res.body?.cancel();
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  if (!cookie) throw new Error(`POST ${appUrl}/__login set no cookie`);
  return cookie;
}
