/** Talks to `{basePath}/session`; never throws, so one failure cannot wedge the observer. */
import type { SessionData, SessionError } from './types.js';

/**
 * One answer, in the shape tabs share over the channel. `at` (client clock when the request
 * started) orders answers across tabs.
 */
export interface Result {
  at: number;
  s: number;
  h: Record<string, string>;
  /** Present on success: the session JSON or null. */
  d?: SessionData | null;
  /** Present on failure: message and the server's error code. */
  e?: string;
  c?: string;
}

/** A GET that counts as activity (page start, `refetch()`), and one that does not (background). */
export const READ = 0;
export const PEEK = 1;
export type RequestKind = typeof READ | typeof PEEK | { data: unknown } | { refresh: true };

export const request = async (basePath: string, kind: RequestKind): Promise<Result> => {
  const result: Result = { at: Date.now(), s: 0, h: {} };
  try {
    const res = await fetch(basePath + '/session', {
      // A hung request would otherwise hold the tabs' lock and block every later background refetch.
      signal: AbortSignal.timeout && AbortSignal.timeout(15_000),
      ...(typeof kind == 'object'
        ? // The custom header is what makes the server treat the POST as ours (CSRF defence).
          { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-OIDC-Session': '1' }, body: JSON.stringify(kind) }
        : { headers: kind /* PEEK, not READ */ ? { 'X-Session-Peek': '1' } : {} }),
    });
    result.s = res.status;
    result.h = Object.fromEntries(res.headers);
    // undefined (not null) marks a body that is not JSON: a proxy page must not read as signed out.
    const json = await res.json().catch(() => {});
    if (res.ok && json !== undefined) result.d = json;
    else (result.e = (json && json.message) || 'HTTP ' + result.s), (result.c = json && json.code);
  } catch (err) {
    result.e = (err as Error).message;
  }
  return result;
};

export const toError = (result: Result): SessionError => Object.assign(new Error(result.e), { status: result.s, code: result.c });
