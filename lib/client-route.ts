/**
 * `GET {basePath}/client.js`: the built browser observer (classic script defining
 * `window.OidcSession`), read once and served from memory with a strong ETag.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes } from './errors.js';
import { isFresh, sendJson } from './util/respond.js';

/** From lib/ in development (the build writes dist/), and from dist/ once compiled. */
const FILES = ['../dist/client/oidc-session.js', './client/oidc-session.js'].map((file) => new URL(file, import.meta.url));

interface Script {
  body: Buffer;
  etag: string;
}

function loadScript(files: ReadonlyArray<string | URL>): Script | undefined {
  for (const file of files) {
    try {
      const body = readFileSync(file);
      return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
    } catch {
      // Not at this place; try the next one.
    }
  }
  return undefined;
}

/**
 * Route handler serving the browser script. The script is cached for an hour: its ETag changes
 * with its content, so a revalidation after a deploy costs a 304 at most.
 *
 * @param files - where to look for the built script, first found wins
 *   (default: `dist/client/oidc-session.js` beside the package's `lib/` or `dist/`)
 * @example
 * router.get('/client.js', createClientRoute());
 */
export function createClientRoute(files: ReadonlyArray<string | URL> = FILES): (req: IncomingMessage, res: ServerResponse) => void {
  let script: Script | undefined;
  return function clientScript(req, res) {
    // A missing build is looked for again on the next request, so building fixes a running server.
    script ??= loadScript(files);
    if (!script) {
      sendJson(res, 500, { error: 'server_error', code: ErrorCodes.CLIENT_NOT_BUILT, message: 'run npm run build:client' });
      return;
    }
    res.setHeader('Content-Type', 'text/javascript; charset=utf-8');
    res.setHeader('Cache-Control', 'public, max-age=3600');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('ETag', script.etag);
    if (isFresh(req, script.etag)) {
      res.statusCode = 304;
      res.end();
      return;
    }
    res.setHeader('Content-Length', script.body.length);
    res.end(script.body);
  };
}
