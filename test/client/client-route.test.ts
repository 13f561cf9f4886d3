// GET {basePath}/client.js: the built classic script with its cache headers, a 304 on a matching
// If-None-Match, and a coded 500 (no crash) when the script was never built.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import express from 'express';
import request from 'supertest';
import { createClientRoute } from '../../lib/client-route.js';

// The suite's `pretest` runs scripts/build-client.mjs, so the built file exists.
const built = readFileSync(new URL('../../dist/client/oidc-session.js', import.meta.url), 'utf8');

function app(files?: Array<string | URL>) {
  const app = express();
  app.get('/auth/client.js', createClientRoute(files));
  return app;
}

describe('GET /auth/client.js', () => {
  it('serves the built script as JavaScript with a strong ETag, an hour of caching and nosniff', async () => {
    const res = await request(app()).get('/auth/client.js').expect(200);
    expect(res.text).toBe(built);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=3600');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers.etag).toMatch(/^"[\w-]{43}"$/);
    expect(res.text).toContain('OidcSession');
  });

  it('answers 304 with no body to a matching If-None-Match, and the script to a stale one', async () => {
    const server = app();
    const { headers } = await request(server).get('/auth/client.js');
    const fresh = await request(server).get('/auth/client.js').set('If-None-Match', headers.etag).expect(304);
    expect(fresh.text).toBeFalsy();
    expect(fresh.headers.etag).toBe(headers.etag);
    await request(server).get('/auth/client.js').set('If-None-Match', '"other"').expect(200);
  });

  it('answers HEAD without a body', async () => {
    const res = await request(app()).head('/auth/client.js').expect(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.text).toBeFalsy();
  });

  it('a missing build is a coded 500, and the server keeps serving', async () => {
    const server = app([new URL('./no-such-build/oidc-session.js', import.meta.url)]);
    const res = await request(server).get('/auth/client.js').expect(500);
    expect(res.body).toEqual({ error: 'server_error', code: 'ERR_CLIENT_NOT_BUILT', message: 'run npm run build:client' });
    await request(server).get('/auth/client.js').expect(500);
  });
});
