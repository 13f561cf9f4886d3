/**
 * sessionScript(req, { nonce }): the HTML that bootstraps the browser observer — the session as inline JSON
 * (so the first paint is already signed in or out, never "loading") and the script tag of the client.
 */

import type { ServerResponse } from 'node:http';
import type { Request } from 'express';
import { contextOf } from '../context.js';
import { escapeHtml } from '../util/html.js';
import { getServerSession, toPublicSession } from './server-session.js';

export interface SessionScriptOptions {
  /** CSP nonce put on both tags, for a `script-src 'nonce-…'` policy without 'unsafe-inline'. */
  nonce?: string;
}

/**
 * @example
 * res.send(`<!doctype html><head>${await sessionScript(req, { nonce: res.locals.nonce })}</head>…`);
 */
export async function sessionScript(req: Request, options: SessionScriptOptions = {}): Promise<string> {
  const { config } = contextOf(req, 'sessionScript');
  // The page now carries this user's session (profile, session JWT): no shared cache may keep or reuse it.
  const res = (req as { res?: ServerResponse }).res;
  if (res && !res.headersSent) {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Vary', 'Cookie');
  }
  const session = await getServerSession(req);
  const data = safeJson(session ? toPublicSession(session, config.expose) : null);
  const nonce = options.nonce ? ` nonce="${escapeHtml(options.nonce)}"` : '';
  return (
    `<script type="application/json" id="oidc-session-data"${nonce}>${data}</script>` +
    `<script src="${escapeHtml(config.basePath)}/client.js"${nonce}></script>`
  );
}

/** JSON that cannot end the script element early (`</script>`), open a comment, or break on U+2028/2029. */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
