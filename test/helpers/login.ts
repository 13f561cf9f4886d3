// Drives the authorization code flow the way a browser would, with fetch, a cookie jar and
// manual redirects, so tests can stop at any hop (e.g. before the callback) and tamper.
import type { CookieJar } from './cookie-jar.js';

export interface RequestOptions {
  jar: CookieJar;
  method?: string;
  headers?: Record<string, string>;
  body?: string | URLSearchParams;
}

export interface FollowOptions extends RequestOptions {
  /** stop before requesting a URL for which this returns true (the URL is returned as `stoppedAt`) */
  stopBefore?: (url: URL) => boolean;
  /** default 20 */
  maxHops?: number;
}

export interface FollowResult {
  /** the last response received (its body is unread); undefined when stopped before the first request */
  response?: Response;
  /** URL of the last response */
  url: string;
  /** the URL that stopBefore matched, not requested */
  stoppedAt?: string;
  /** "<status> <url>" per request, in order */
  hops: string[];
}

const REDIRECT = new Set([301, 302, 303, 307, 308]);

/** One request with the jar's cookies; stores the response's cookies; does not follow redirects. */
export async function request(url: string | URL, opts: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  const cookie = opts.jar.header(url);
  if (cookie) headers.cookie = cookie;
  const response = await fetch(url, { method: opts.method ?? 'GET', headers, body: opts.body, redirect: 'manual' });
  opts.jar.store(url, response);
  return response;
}

/** Requests `url` and follows 30x responses (303/302/301 turn into GET, 307/308 keep the method). */
export async function followRedirects(url: string | URL, opts: FollowOptions): Promise<FollowResult> {
  const hops: string[] = [];
  let current = new URL(url);
  let last = '';
  let { method = 'GET', body, headers } = opts;
  for (let hop = 0; hop < (opts.maxHops ?? 20); hop++) {
    if (opts.stopBefore?.(current)) return { url: last, stoppedAt: current.href, hops };
    const response = await request(current, { jar: opts.jar, method, body, headers });
    hops.push(`${response.status} ${current.href}`);
    last = current.href;
    const location = response.headers.get('location');
    if (!REDIRECT.has(response.status) || !location) return { response, url: current.href, hops };
    await response.body?.cancel();
    if (response.status !== 307 && response.status !== 308) {
      method = 'GET';
      body = undefined;
      headers = undefined;
    }
    current = new URL(location, current);
  }
  throw new Error(`more than ${opts.maxHops ?? 20} redirects:\n${hops.join('\n')}`);
}

export interface LoginOptions {
  jar: CookieJar;
  /** default '/auth' */
  basePath?: string;
  returnTo?: string;
}

export interface StartedLogin {
  /** the app's callback URL with code and state, not yet requested */
  callbackUrl: string;
  hops: string[];
}

export interface LoginResult {
  /** status of the app's answer to the callback (302/303 on success) */
  status: number;
  /** its Location (normally the returnTo path), or null */
  location: string | null;
  hops: string[];
}

function loginUrl(appBase: string, opts: LoginOptions): URL {
  const url = new URL(`${appBase}${opts.basePath ?? '/auth'}/login`);
  if (opts.returnTo !== undefined) url.searchParams.set('returnTo', opts.returnTo);
  return url;
}

/**
 * GET {appBase}{basePath}/login and follow the redirects through the provider up to, but not
 * including, the app's callback. Throws with the hops when the flow ends anywhere else.
 */
export async function startLogin(appBase: string, opts: LoginOptions): Promise<StartedLogin> {
  const callbackPath = `${new URL(appBase).pathname.replace(/\/$/, '')}${opts.basePath ?? '/auth'}/callback`;
  const origin = new URL(appBase).origin;
  const result = await followRedirects(loginUrl(appBase, opts), {
    jar: opts.jar,
    stopBefore: (url) => url.origin === origin && url.pathname === callbackPath,
  });
  if (!result.stoppedAt) {
    const body = result.response ? (await result.response.text()).slice(0, 500) : '';
    throw new Error(`login did not reach ${callbackPath}:\n${result.hops.join('\n')}\n${body}`);
  }
  return { callbackUrl: result.stoppedAt, hops: result.hops };
}

/** Requests the callback URL (once) and returns the app's answer without following it. */
export async function completeLogin(callbackUrl: string, opts: { jar: CookieJar }): Promise<LoginResult> {
  const response = await request(callbackUrl, { jar: opts.jar });
  await response.body?.cancel();
  return { status: response.status, location: response.headers.get('location'), hops: [`${response.status} ${callbackUrl}`] };
}

/** The whole login: start, provider interactions, callback; stops at the app's redirect after the callback. */
export async function login(appBase: string, opts: LoginOptions): Promise<LoginResult> {
  const started = await startLogin(appBase, opts);
  const done = await completeLogin(started.callbackUrl, opts);
  return { ...done, hops: [...started.hops, ...done.hops] };
}
