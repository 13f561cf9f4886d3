/**
 * Where a proxied request goes and with which headers. The path under the mount point is appended to the
 * target's path as text (never resolved as a URL), after refusing anything an upstream could normalise
 * into another path: `.`/`..` segments (also encoded, or Tomcat's `..;`), encoded slashes and backslashes,
 * and request targets that are not origin-form (`http://host/…`, `//host/…`, `*`).
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { ConfigError } from '../errors.js';

export interface Target {
  https: boolean;
  hostname: string;
  port: number;
  /** The Host header: the target's host and port. */
  host: string;
  /** The target's path without its trailing slash ('' for the root). */
  path: string;
  /** The target's own query, without '?' ('' for none). */
  query: string;
}

export function parseTarget(target: string | URL): Target {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new ConfigError(`remoteApi(): target must be an absolute http(s) URL; got ${JSON.stringify(String(target))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`remoteApi(): target must be an http: or https: URL; got ${url.protocol}`);
  }
  if (url.username || url.password || url.hash) {
    throw new ConfigError('remoteApi(): target must not carry credentials or a #fragment; the proxy attaches the token itself');
  }
  const https = url.protocol === 'https:';
  return {
    https,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port ? Number(url.port) : https ? 443 : 80,
    host: url.host,
    path: url.pathname.replace(/\/+$/, ''),
    query: url.search.slice(1),
  };
}

/** The upstream request target for `req`, or null when the path could reach outside the target. */
export function upstreamPath(target: Target, req: IncomingMessage): string | null {
  const url = req.url ?? '/';
  // Origin-form only: '/x', never 'http://evil/x' (absolute-form keeps its host through Express's mount), '//evil/x' or '*'.
  if (url.charCodeAt(0) !== 0x2f || url.charCodeAt(1) === 0x2f) return null;
  const at = url.indexOf('?');
  const path = at < 0 ? url : url.slice(0, at);
  if (!safePath(path)) return null;
  const query = at < 0 ? '' : url.slice(at + 1);
  // `app.use('/api', remoteApi(t))` hands '/api' and '/api/' over both as '/': only the second has a slash upstream.
  const full = path === '/' && !endsWithSlash((req as { originalUrl?: string }).originalUrl) ? target.path || '/' : target.path + path;
  const qs = target.query && query ? `${target.query}&${query}` : target.query || query;
  return qs ? `${full}?${qs}` : full;
}

function endsWithSlash(url: string | undefined): boolean {
  if (url === undefined) return true;
  const at = url.indexOf('?');
  return (at < 0 ? url : url.slice(0, at)).endsWith('/');
}

function safePath(path: string): boolean {
  if (path.includes('\\')) return false;
  let text = path;
  if (path.includes('%')) {
    if (/%(?:2f|5c)/i.test(path)) return false;
    try {
      text = decodeURIComponent(path);
    } catch {
      return false;
    }
    if (text.includes('\\')) return false;
  }
  if (!text.includes('.')) return true;
  for (const segment of text.split('/')) {
    const name = segment.split(';', 1)[0];
    if (name === '.' || name === '..') return false;
  }
  return true;
}

/** Hop-by-hop (RFC 9110 §7.6.1) or ours: never forwarded, in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
]);
/**
 * Request headers the upstream must not see: the browser's credentials and ours, what the proxy sets itself, and
 * a host the browser claims (an upstream building URLs from `Forwarded`/`X-Forwarded-Host` would trust it).
 */
// `dpop`: a proof is the server's to make; one from the browser would go beside the session's token.
const DROPPED_REQUEST = new Set([
  ...HOP_BY_HOP,
  'host',
  'cookie',
  'authorization',
  'dpop',
  'expect',
  'x-oidc-session',
  'forwarded',
  'x-forwarded-host',
]);
const DROPPED_RESPONSE = new Set([...HOP_BY_HOP, 'set-cookie']);

/** The names a Connection header lists are hop-by-hop too. */
function connectionNamed(value: string | string[] | undefined): Set<string> | undefined {
  // What browsers send, which names no header: no Set per request.
  if (!value || value === 'keep-alive' || value === 'close') return undefined;
  const names = new Set<string>();
  for (const name of String(value).split(',')) names.add(name.trim().toLowerCase());
  return names;
}

function copy(from: IncomingHttpHeaders, dropped: Set<string>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const named = connectionNamed(from.connection);
  for (const name in from) {
    if (dropped.has(name) || name.startsWith('proxy-') || named?.has(name)) continue;
    out[name] = from[name];
  }
  return out;
}

export function requestHeaders(
  req: IncomingMessage,
  target: Target,
  authorization: string | undefined,
  dpop?: string,
): OutgoingHttpHeaders {
  const out = copy(req.headers, DROPPED_REQUEST);
  out.host = target.host;
  if (req.headers['transfer-encoding'] !== undefined) {
    // Node's server accepts only chunked as the final coding; the body is passed on as it arrives.
    out['transfer-encoding'] = 'chunked';
    delete out['content-length'];
  }
  if (authorization) out.authorization = authorization;
  if (dpop) out.dpop = dpop;
  return out;
}

export function responseHeaders(up: IncomingMessage): OutgoingHttpHeaders {
  return copy(up.headers, DROPPED_RESPONSE);
}

/** True when the request has no body, so it can be sent twice. */
export function bodyless(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}

/** What the DPoP proof names: the upstream URL without its query (RFC 9449 §4.2). */
export function htuOf(target: Target, path: string): string {
  return `${target.https ? 'https' : 'http'}://${target.host}${path.split('?')[0]}`;
}
