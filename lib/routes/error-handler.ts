/**
 * Renders errors raised inside the middleware (store down, IdP down, bad input) with their status and a
 * stable code. Never a stack trace, a token or an IdP's raw error text: only messages we wrote.
 */
import type { NextFunction, Request, Response } from 'express';
import { AuthError, ErrorCodes, isAuthError } from '../errors.js';
import { debug } from '../events.js';
import { escapeHtml } from '../util/html.js';
import { pathOf, prefersHtml, sendHtml, sendJson } from '../util/respond.js';

export function oidcErrorHandler(err: unknown, req: Request, res: Response, next: NextFunction): void {
  const known = toAuthError(err);
  if (!known || res.headersSent) {
    next(err);
    return;
  }
  debug('%s %s -> %d %s', req.method, pathOf(req), known.status, known.code);
  res.setHeader('Cache-Control', 'no-store');
  const body = known.toJSON();
  const page = (req.method === 'GET' || req.method === 'HEAD') && prefersHtml(req);
  if (!page) {
    sendJson(res, known.status, body);
    return;
  }
  sendHtml(
    res,
    known.status,
    `<!doctype html><meta charset="utf-8"><title>Sign-in problem</title>
<h1>${escapeHtml(body.message)}</h1><p>Code: <code>${body.code}</code></p><p><a href="/">Home</a></p>`,
  );
}

function toAuthError(err: unknown): AuthError | undefined {
  if (isAuthError(err)) return err as AuthError;
  const type = (err as { type?: string })?.type;
  // body-parser's errors on POST {basePath}/session.
  if (type === 'entity.parse.failed') return new AuthError(ErrorCodes.BAD_REQUEST, 400, 'the body is not valid JSON');
  if (type === 'entity.too.large') return new AuthError(ErrorCodes.PAYLOAD_TOO_LARGE, 413, 'the body is too large');
  if (type && (err as { status?: number }).status === 400)
    return new AuthError(ErrorCodes.BAD_REQUEST, 400, 'the request body could not be read');
  return undefined;
}
