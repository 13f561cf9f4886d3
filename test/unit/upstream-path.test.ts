// remoteApi's path rule without a server: what is appended to the target, and what is refused.

import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from '@jest/globals';
import { parseTarget, requestHeaders, upstreamPath } from '../../lib/bff/upstream.js';

const at = (url: string, originalUrl?: string) => ({ url, originalUrl, headers: {} }) as unknown as IncomingMessage;

describe('upstreamPath', () => {
  const target = parseTarget('https://orders.internal/v1/');

  it('appends the path under the mount point and the query to the target path', () => {
    expect(upstreamPath(target, at('/7/lines?x=1&y=%2F', '/api/orders/7/lines?x=1&y=%2F'))).toBe('/v1/7/lines?x=1&y=%2F');
    expect(upstreamPath(target, at('/', '/api/orders'))).toBe('/v1');
    expect(upstreamPath(target, at('/', '/api/orders/'))).toBe('/v1/');
    expect(upstreamPath(target, at('/?q=1', '/api/orders?q=1'))).toBe('/v1?q=1');
    expect(upstreamPath(parseTarget('http://x'), at('/', '/api'))).toBe('/');
    expect(upstreamPath(parseTarget('http://x/base?key=k'), at('/a?b=1', '/m/a?b=1'))).toBe('/base/a?key=k&b=1');
    // Harmless dots and encodings pass as they are.
    expect(upstreamPath(target, at('/file.json'))).toBe('/v1/file.json');
    expect(upstreamPath(target, at('/...'))).toBe('/v1/...');
    expect(upstreamPath(target, at('/a%20b/%252e%252e'))).toBe('/v1/a%20b/%252e%252e');
  });

  it.each([
    '/..',
    '/../admin',
    '/a/../../admin',
    '/./x',
    '/%2e%2e/admin',
    '/%2E%2e/admin',
    '/.%2e/admin',
    '/..%2F..%2Fadmin',
    '/a%2fb',
    '/a%5Cb',
    '/a\\b',
    '/..;/admin',
    '/%2e%2e;x=1/admin',
    '//evil.example/x',
    'http://evil.example/x',
    'https://evil.example',
    '*',
    '/%',
    '/%E0%A4%A',
  ])('refuses %s', (url) => {
    expect(upstreamPath(target, at(url))).toBeNull();
  });
});

describe('requestHeaders', () => {
  it('drops credentials, hop-by-hop and named headers, sets Host and the bearer token', () => {
    const req = {
      headers: {
        host: 'app.example',
        cookie: 'a=b',
        authorization: 'Basic x',
        connection: 'keep-alive, x-hop',
        'x-hop': '1',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'x',
        'proxy-foo': 'y',
        te: 'trailers',
        upgrade: 'h2c',
        'x-oidc-session': '1',
        expect: '100-continue',
        accept: 'application/json',
        'transfer-encoding': 'chunked',
        'content-length': '5',
      },
    } as unknown as IncomingMessage;
    expect(requestHeaders(req, parseTarget('http://api.internal:8080/v1'), 'Bearer t')).toEqual({
      host: 'api.internal:8080',
      accept: 'application/json',
      'transfer-encoding': 'chunked',
      authorization: 'Bearer t',
    });
  });
});
