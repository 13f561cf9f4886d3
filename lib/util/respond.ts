/**
 * Reading requests and writing responses with Node's own req/res only, so every route works under Express 4
 * and 5, Connect and a bare node:http server: no res.json, res.redirect, req.query or req.accepts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { appendCookie, type CookieAttributes } from './cookies.js';

/**
 * The query string of `req.url`, as Express 5 parses it: a name given twice has an array, which every route
 * refuses as it does under Express (an ambiguous `code`, `state` or `returnTo` is never guessed at).
 */
export type Query = Readonly<Record<string, string | string[] | undefined>>;

/** Middleware as Connect and node:http call it; Express calls it the same way. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

const QUERY = Symbol('oidc-session.query');
/** querystring's and qs's default limit, so a query means the same here as under Express. */
const MAX_PARAMETERS = 1000;

interface QueryRequest extends IncomingMessage {
  [QUERY]?: Query;
  query?: unknown;
  originalUrl?: string;
  secure?: boolean;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body) ?? 'null';
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(html));
  res.end(html);
}

/** `location` is one we built (a URL's href, or a path from safeReturnTo); any other character is escaped, as Express does. */
export function redirect(res: ServerResponse, status: 302 | 303, location: string): void {
  res.statusCode = status;
  res.setHeader('Location', location.replace(/[^\x21-\x7e]/gu, escapeChar));
  res.setHeader('Content-Length', '0');
  res.end();
}

function escapeChar(c: string): string {
  try {
    return encodeURI(c);
  } catch {
    return '%EF%BF%BD'; // a lone surrogate: U+FFFD, as encodeurl does
  }
}

export function clearCookie(res: ServerResponse, name: string, attrs: Omit<CookieAttributes, 'maxAge'>): void {
  appendCookie(res, name, '', { ...attrs, maxAge: 0 });
}

/** The request's query, parsed once per request; like Express's parsers, pairs past the 1000th are ignored. */
export function queryOf(req: IncomingMessage): Query {
  const r = req as QueryRequest;
  if (r[QUERY]) return r[QUERY];
  const url = req.url ?? '';
  const at = url.indexOf('?');
  const query: Record<string, string | string[]> = Object.create(null);
  if (at >= 0) {
    let pairs = 0;
    for (const [name, value] of new URLSearchParams(url.slice(at + 1))) {
      if (++pairs > MAX_PARAMETERS) break;
      const seen = query[name];
      query[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
    }
  }
  r[QUERY] = query;
  return query;
}

/**
 * `req.query` as passport-openidconnect will read it: Express's own (whatever 'query parser' the app set), else
 * ours, set here. Checks made before passport runs must look at this very object. (Express 5's `req.query`
 * is a getter without a setter, so it is never assigned over.)
 */
export function ensureQuery(req: IncomingMessage): Readonly<Record<string, unknown>> {
  const r = req as QueryRequest;
  if (r.query === undefined)
    Object.defineProperty(r, 'query', { value: queryOf(req), configurable: true, writable: true, enumerable: true });
  return r.query as Readonly<Record<string, unknown>>;
}

/** The URL as the app received it: Express and Connect keep it in `originalUrl` while a mounted router strips `url`. */
export function originalUrlOf(req: IncomingMessage): string {
  return (req as QueryRequest).originalUrl ?? req.url ?? '/';
}

export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const at = url.indexOf('?');
  return at < 0 ? url : url.slice(0, at);
}

/** Express's `req.secure` where it exists (it honours 'trust proxy'), else whether the socket is TLS. */
export function isSecure(req: IncomingMessage): boolean {
  const secure = (req as QueryRequest).secure;
  return typeof secure === 'boolean' ? secure : (req.socket as TLSSocket | undefined)?.encrypted === true;
}

/** GET or HEAD with an If-None-Match naming `etag` (Express's `req.fresh` for ETags), and no `Cache-Control: no-cache`. */
export function isFresh(req: IncomingMessage, etag: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const match = req.headers['if-none-match'];
  if (!match || /(?:^|,)\s*no-cache\s*(?:,|$)/.test(req.headers['cache-control'] ?? '')) return false;
  if (match.trim() === '*') return true;
  return match.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag.replace(/^W\//, ''));
}

interface Priority {
  q: number;
  s: number;
  o: number;
}

/**
 * What `req.accepts(['json', 'html']) === 'html'` says: the Accept header prefers text/html over
 * application/json (by quality, then specificity, then order; json wins a tie, and a missing header).
 */
export function prefersHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  if (!accept) return false;
  const ranges = accept
    .split(',')
    .map(parseRange)
    .filter((r): r is NonNullable<typeof r> => r !== null);
  const html = priority('text', 'html', ranges);
  const json = priority('application', 'json', ranges);
  if (html.q <= 0) return false;
  return (html.q - json.q || html.s - json.s || json.o - html.o) > 0;
}

interface Range {
  type: string;
  subtype: string;
  q: number;
  params: boolean;
  o: number;
}

function parseRange(text: string, o: number): Range | null {
  const [full = '', ...rest] = text.split(';');
  const [type, subtype] = full.trim().toLowerCase().split('/');
  if (!type || !subtype) return null;
  let q = 1;
  let params = false;
  for (const param of rest) {
    const [key = '', value = ''] = param.split('=').map((s) => s.trim());
    if (key.toLowerCase() === 'q') q = Number.parseFloat(value);
    else if (key !== '' && value !== '*') params = true;
  }
  return { type, subtype, q: Number.isFinite(q) ? q : 0, params, o };
}

function priority(type: string, subtype: string, ranges: Range[]): Priority {
  let best: Priority = { q: 0, s: -1, o: -1 };
  for (const range of ranges) {
    // A range with parameters (text/html;level=1) matches none of our parameterless types.
    if (range.params) continue;
    let s = 0;
    if (range.type === type) s |= 4;
    else if (range.type !== '*') continue;
    if (range.subtype === subtype) s |= 2;
    else if (range.subtype !== '*') continue;
    if ((best.s - s || best.q - range.q || best.o - range.o) < 0) best = { q: range.q, s, o: range.o };
  }
  return best;
}
