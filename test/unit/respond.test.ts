// lib/util/respond.ts on fake Node req/res: the Accept negotiation matches Express's req.accepts(['json', 'html']),
// the query matches Express 5's parser on what the routes check, and redirects never put raw bytes in Location.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from '@jest/globals';
import express from 'express';
import { clearCookie, ensureQuery, isFresh, prefersHtml, queryOf, redirect, sendJson } from '../../lib/util/respond.js';

function req(url: string, headers: Record<string, string> = {}, method = 'GET'): IncomingMessage {
  return { url, method, headers } as unknown as IncomingMessage;
}

function res() {
  const headers: Record<string, unknown> = {};
  const out = { statusCode: 200, body: undefined as unknown, ended: false };
  const fake = {
    get statusCode() {
      return out.statusCode;
    },
    set statusCode(v: number) {
      out.statusCode = v;
    },
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = value;
      return fake;
    },
    getHeader(name: string) {
      return headers[name.toLowerCase()];
    },
    end(body?: unknown) {
      out.body = body;
      out.ended = true;
      return fake;
    },
  };
  return { res: fake as unknown as ServerResponse, headers, out };
}

/** Express's own answer, through its real request prototype (accepts + negotiator). */
function expressPrefersHtml(accept: string | undefined): boolean {
  const r = Object.create(express.request) as express.Request;
  Object.defineProperty(r, 'headers', { value: accept === undefined ? {} : { accept } });
  return r.accepts(['json', 'html']) === 'html';
}

describe('prefersHtml', () => {
  it.each([
    undefined,
    '',
    '*/*',
    'text/html',
    'application/json',
    'text/html, application/json',
    'application/json, text/html',
    'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'text/*',
    'application/*, text/html;q=0.5',
    'text/html;q=0, */*',
    'application/json;q=0.1, text/html;q=0.2',
    'text/html;level=1',
    'text/*;q=0.9, */*;q=0.95',
    'TEXT/HTML',
    'text/html;q=1.0, application/json;q=1.0',
    'image/png',
    'text/html;q=abc',
  ])('Accept %p answers as Express does', (accept) => {
    expect(prefersHtml(req('/', accept === undefined ? {} : { accept }))).toBe(expressPrefersHtml(accept));
  });
});

describe('queryOf / ensureQuery', () => {
  it('reads the query of req.url; a repeated name is an array; brackets are literal names', () => {
    const q = queryOf(req('/cb?code=a&state=b+c&x=1&x=2&code%5B%5D=z'));
    expect({ ...q }).toEqual({ code: 'a', state: 'b c', x: ['1', '2'], 'code[]': 'z' });
    expect(Object.getPrototypeOf(q)).toBeNull();
    expect({ ...queryOf(req('/cb')) }).toEqual({});
  });

  it('ignores pairs past the 1000th, as Express does', () => {
    const url = `/cb?${Array.from({ length: 1000 }, (_, i) => `p${i}=${i}`).join('&')}&code=a`;
    expect(queryOf(req(url)).code).toBeUndefined();
  });

  it("sets req.query where there is none, and keeps an existing one (Express's)", () => {
    const plain = req('/cb?code=a');
    expect(ensureQuery(plain).code).toBe('a');
    expect((plain as unknown as { query: { code: string } }).query.code).toBe('a');
    const expressLike = Object.assign(req('/cb?code=a'), { query: { code: 'from-express' } });
    expect(ensureQuery(expressLike).code).toBe('from-express');
  });
});

describe('isFresh', () => {
  const etag = '"abc"';
  it.each<[Record<string, string>, string, boolean]>([
    [{ 'if-none-match': '"abc"' }, 'GET', true],
    [{ 'if-none-match': 'W/"abc"' }, 'GET', true],
    [{ 'if-none-match': '"x", "abc"' }, 'HEAD', true],
    [{ 'if-none-match': '*' }, 'GET', true],
    [{ 'if-none-match': '"x"' }, 'GET', false],
    [{}, 'GET', false],
    [{ 'if-none-match': '"abc"', 'cache-control': 'no-cache' }, 'GET', false],
    [{ 'if-none-match': '"abc"' }, 'POST', false],
  ])('%p %s → %p', (headers, method, fresh) => {
    expect(isFresh(req('/', headers, method), etag)).toBe(fresh);
  });
});

describe('responses', () => {
  it('sendJson sets the status, type and length', () => {
    const { res: r, headers, out } = res();
    sendJson(r, 401, { error: 'unauthenticated', text: 'é' });
    expect(out.statusCode).toBe(401);
    expect(headers['content-type']).toBe('application/json; charset=utf-8');
    expect(headers['content-length']).toBe(Buffer.byteLength(out.body as string));
    expect(JSON.parse(out.body as string)).toEqual({ error: 'unauthenticated', text: 'é' });
  });

  it('redirect escapes what a header cannot carry, and keeps escapes already there', () => {
    const { res: r, headers, out } = res();
    redirect(r, 302, '/a b/é?x=%2F\ud800');
    expect(out.statusCode).toBe(302);
    expect(headers.location).toBe('/a%20b/%C3%A9?x=%2F%EF%BF%BD');
    expect(out.ended).toBe(true);
  });

  it('clearCookie appends an expired cookie beside those already set', () => {
    const { res: r, headers } = res();
    r.setHeader('Set-Cookie', ['other=1']);
    clearCookie(r, 'oidc.sid', { path: '/', secure: true, sameSite: 'Lax' });
    expect(headers['set-cookie']).toEqual([
      'other=1',
      'oidc.sid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure',
    ]);
  });
});
