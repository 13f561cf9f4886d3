/** `returnTo` is accepted only as a same-origin path; anything else, in any spelling, falls back to `/`. */

const MAX_LENGTH = 2048;

export function safeReturnTo(value: unknown, baseURL: string, fallback = '/'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LENGTH) return fallback;
  // Browsers treat "\" like "/" and drop tabs/newlines, so "/\evil.com" or "/\t/evil.com" would leave the origin.
  if (!value.startsWith('/') || /[\\\u0000-\u001f\u007f]/.test(value) || value.startsWith('//')) return fallback;
  let url: URL;
  try {
    url = new URL(value, baseURL);
  } catch {
    return fallback;
  }
  const base = new URL(baseURL);
  if (url.origin !== base.origin) return fallback;
  const path = url.pathname + url.search + url.hash;
  return path.startsWith('//') ? fallback : path;
}
