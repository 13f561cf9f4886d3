// A browser-like cookie jar for fetch-driven tests. Like browsers, it ignores ports, so the app
// and the provider on two ports of 127.0.0.1 share one jar exactly as they share a real browser.

export interface StoredCookie {
  name: string;
  value: string;
  host: string;
  /** set when a Domain attribute widened the cookie to subdomains */
  domain?: string;
  path: string;
  secure: boolean;
  httpOnly: boolean;
  sameSite?: string;
  /** ms since the epoch; Infinity for a session cookie */
  expires: number;
}

function defaultPath(pathname: string): string {
  const slash = pathname.lastIndexOf('/');
  return slash <= 0 ? '/' : pathname.slice(0, slash);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/';
}

// Chromium and Firefox treat loopback as a secure context, so Secure cookies set by an app
// served over http://127.0.0.1 behind a pretend TLS proxy are still sent back.
function isSecureContext(url: URL): boolean {
  return url.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
}

export class CookieJar {
  private cookies: StoredCookie[] = [];
  /** Set-Cookie lines a browser would have refused (e.g. a __Host- cookie without Secure) */
  readonly rejected: string[] = [];

  /** Stores every Set-Cookie header of a response received from `url`. */
  store(url: string | URL, response: Response | { headers: Headers } | string[]): void {
    const lines = Array.isArray(response) ? response : response.headers.getSetCookie();
    for (const line of lines) this.storeLine(new URL(url), line);
  }

  private storeLine(url: URL, line: string): void {
    const [pair = '', ...attributes] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq < 1) {
      this.rejected.push(line);
      return;
    }
    const cookie: StoredCookie = {
      name: pair.slice(0, eq).trim(),
      value: pair.slice(eq + 1).trim(),
      host: url.hostname,
      path: defaultPath(url.pathname),
      secure: false,
      httpOnly: false,
      expires: Infinity,
    };
    let maxAge: number | undefined;
    for (const attribute of attributes) {
      const i = attribute.indexOf('=');
      const key = (i === -1 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
      const value = i === -1 ? '' : attribute.slice(i + 1).trim();
      if (key === 'path' && value.startsWith('/')) cookie.path = value;
      else if (key === 'domain' && value) cookie.domain = value.replace(/^\./, '').toLowerCase();
      else if (key === 'secure') cookie.secure = true;
      else if (key === 'httponly') cookie.httpOnly = true;
      else if (key === 'samesite') cookie.sameSite = value.toLowerCase();
      else if (key === 'max-age' && /^-?\d+$/.test(value)) maxAge = Number(value);
      else if (key === 'expires') {
        const at = Date.parse(value);
        if (!Number.isNaN(at)) cookie.expires = at;
      }
    }
    // Max-Age wins over Expires (RFC 6265 §5.3).
    if (maxAge !== undefined) cookie.expires = maxAge <= 0 ? 0 : Date.now() + maxAge * 1000;

    if (!this.acceptable(url, cookie)) {
      this.rejected.push(line);
      return;
    }
    this.cookies = this.cookies.filter(
      (c) => !(c.name === cookie.name && c.path === cookie.path && c.host === cookie.host && c.domain === cookie.domain),
    );
    if (cookie.expires > Date.now()) this.cookies.push(cookie);
  }

  private acceptable(url: URL, cookie: StoredCookie): boolean {
    if (cookie.secure && !isSecureContext(url)) return false;
    if (cookie.domain && !(url.hostname === cookie.domain || url.hostname.endsWith(`.${cookie.domain}`))) return false;
    if (cookie.name.startsWith('__Secure-') && !cookie.secure) return false;
    if (cookie.name.startsWith('__Host-') && (!cookie.secure || cookie.path !== '/' || cookie.domain)) return false;
    return true;
  }

  private live(): StoredCookie[] {
    const now = Date.now();
    this.cookies = this.cookies.filter((c) => c.expires > now);
    return this.cookies;
  }

  private matching(url: URL): StoredCookie[] {
    return this.live()
      .filter((c) => (c.domain ? url.hostname === c.domain || url.hostname.endsWith(`.${c.domain}`) : url.hostname === c.host))
      .filter((c) => pathMatches(url.pathname, c.path))
      .filter((c) => !c.secure || isSecureContext(url))
      .sort((a, b) => b.path.length - a.path.length);
  }

  /** The Cookie request header for `url` ('' when no cookie applies). */
  header(url: string | URL): string {
    return this.matching(new URL(url))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  /** Headers with the Cookie header for `url` merged into `headers`. */
  headers(url: string | URL, headers: Record<string, string> = {}): Record<string, string> {
    const cookie = this.header(url);
    return cookie ? { ...headers, cookie } : { ...headers };
  }

  /** The value of the cookie with that name (the most specific path first), if any. */
  get(name: string): string | undefined {
    return this.getCookie(name)?.value;
  }

  getCookie(name: string): StoredCookie | undefined {
    return this.live()
      .filter((c) => c.name === name)
      .sort((a, b) => b.path.length - a.path.length)[0];
  }

  /** Every live cookie (copies), for assertions on attributes. */
  all(): StoredCookie[] {
    return this.live().map((c) => ({ ...c }));
  }

  /**
   * Overwrites the value of every stored cookie with that name, or adds one (for tampering tests).
   * A new cookie is host-only for `opts.url`'s host (default 127.0.0.1) with path `opts.path` ('/').
   */
  set(name: string, value: string, opts: { url?: string; path?: string } = {}): void {
    const existing = this.live().filter((c) => c.name === name && (!opts.path || c.path === opts.path));
    if (existing.length) {
      for (const c of existing) c.value = value;
      return;
    }
    this.cookies.push({
      name,
      value,
      host: new URL(opts.url ?? 'http://127.0.0.1/').hostname,
      path: opts.path ?? '/',
      secure: false,
      httpOnly: false,
      expires: Infinity,
    });
  }

  delete(name: string): void {
    this.cookies = this.cookies.filter((c) => c.name !== name);
  }

  clear(): void {
    this.cookies = [];
  }

  /** A separate jar with the same cookies (e.g. a second "tab" that later diverges). */
  clone(): CookieJar {
    const copy = new CookieJar();
    copy.cookies = this.live().map((c) => ({ ...c }));
    return copy;
  }
}
