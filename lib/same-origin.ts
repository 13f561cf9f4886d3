/**
 * CSRF defence for state-changing routes: the request must come from the app's own origin — `Origin`
 * equal to baseURL's origin, or, where a browser sends no `Origin`, `Sec-Fetch-Site: same-origin`.
 * Neither header → refused: such a request did not come from a modern browser on our pages.
 */
import type { Request } from 'express';

export function isSameOrigin(req: Request, origin: string): boolean {
  const sent = req.headers.origin;
  if (sent !== undefined) return sent === origin;
  return req.headers['sec-fetch-site'] === 'same-origin';
}
