/**
 * Pure transition logic: which callbacks a change fires and when the next expiry is due. Times
 * passed in are server time (client clock + skew) unless named otherwise.
 */
import { dataSignature, decodeJwt } from './snapshot.js';
import { EXPIRY_MARGIN } from './timing.js';
import type { SessionData } from './types.js';

export { EXPIRY_MARGIN };

/** undefined = not known yet (loading), null = signed out. */
export type Known = SessionData | null | undefined;

/**
 * Expiry fields and their callbacks. The session's own `expires` has no timer callback: only the
 * server can say it is over, since activity elsewhere may have extended it.
 */
const EXPIRIES: Readonly<Record<string, string>> = {
  accessTokenExpires: 'onAccessTokenExpired',
  idTokenExpires: 'onIdTokenExpired',
  jwtExpires: 'onJwtExpired',
  expires: '',
};

const sub = (data: SessionData) => data.user && data.user.sub;

/** Callbacks for the change from one server answer to the next; the first answer is no event. */
export const events = (prev: Known, next: SessionData | null, now: number): string[] => {
  if (prev === undefined) return [];
  if (!prev) return next ? ['onSignIn'] : [];
  // Gone after its expiry time is a timeout; gone before it is a sign-out or a revocation.
  if (!next) return [prev.expires <= now ? 'onSessionExpired' : 'onSignOut'];
  if (sub(prev) !== sub(next)) return ['onSignOut', 'onSignIn'];
  return dataSignature(prev) !== dataSignature(next) ? ['onSessionUpdate'] : [];
};

/**
 * Conditions that hold at `clientNow + skew` (server time), as 'callback|value' keys: a callback
 * fires when its key appears, so once per condition, and again only for a new token or error.
 * Also returns the client-clock time of the next expiry still ahead (Infinity if none).
 */
export const scan = (data: Known, skew: number, clientNow: number): [keys: string[], next: number] => {
  const keys: string[] = [];
  let next = Infinity;
  if (data === null) keys.push('onUnauthenticated');
  if (data) {
    for (const field in EXPIRIES) {
      const at = data[field] as number;
      if (!at) continue;
      const due = at + EXPIRY_MARGIN - skew;
      if (due <= clientNow) keys.push(EXPIRIES[field] + '|' + at);
      else if (due < next) next = due;
    }
    // Today's codes are about the access token; an IdToken… or Jwt… code maps to its own callback.
    const code = data.error;
    if (code) keys.push('on' + (/IdToken|Jwt/.exec(code) || ['AccessToken'])[0] + 'Error|' + code);
    if (data.jwt && !decodeJwt(data.jwt)) keys.push('onJwtError|' + data.jwt);
  }
  return [keys, next];
};

/** Delay before retry number `failures` (1, 2, 4 … 60 s). */
export const backoff = (failures: number): number => Math.min(500 * 2 ** failures, 60_000);
