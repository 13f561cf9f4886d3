/** Cookie reading and writing on Node's own req/res, for the cookies we set besides express-session's. */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface CookieAttributes {
  path: string;
  maxAge: number;
  secure: boolean;
  sameSite: 'Lax' | 'Strict' | 'None';
}

/** All cookies of the request whose name starts with `prefix`, as [name, value] pairs. */
export function cookiesWithPrefix(req: IncomingMessage, prefix: string): Array<[string, string]> {
  const header = req.headers.cookie;
  if (!header?.includes(prefix)) return [];
  const found: Array<[string, string]> = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name.startsWith(prefix)) found.push([name, part.slice(eq + 1).trim()]);
  }
  return found;
}

/** Adds a Set-Cookie header, keeping those already set (express-session appends its own the same way). */
export function appendCookie(res: ServerResponse, name: string, value: string, attrs: CookieAttributes): void {
  let cookie = `${name}=${value}; Path=${attrs.path}; Max-Age=${attrs.maxAge}; HttpOnly; SameSite=${attrs.sameSite}`;
  if (attrs.maxAge <= 0) cookie += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  if (attrs.secure) cookie += '; Secure';
  const prev = res.getHeader('Set-Cookie');
  res.setHeader('Set-Cookie', prev === undefined ? [cookie] : Array.isArray(prev) ? [...prev, cookie] : [String(prev), cookie]);
}
