/**
 * The browser observer: `window.OidcSession` in the classic script, `express-oidc-session/client`
 * as ESM. Framework-free; `lib/react` wraps the same store in a hook.
 */
import { READ, request, toError } from './request.js';
import { getStore } from './store.js';
import type { SessionData, SessionHandle, UseSessionOptions } from './types.js';

export type * from './types.js';

/**
 * Observes the session of this browser: one store per page and `basePath`, shared by every call
 * and by every tab. Callbacks of `options` stay registered for the life of the page.
 *
 * @example
 * const session = OidcSession.useSession({ onSignOut: () => location.reload() });
 * session.subscribe((snapshot) => render(snapshot));
 */
export const useSession = (options: UseSessionOptions = {}): SessionHandle => {
  const store = getStore(options.basePath);
  store.watch(options);
  return store.handle;
};

/**
 * One-shot read of `GET {basePath}/session`: the session JSON, or null when signed out. Rejects
 * on a failed request, so an outage is never mistaken for a sign-out.
 *
 * @example
 * const session = await OidcSession.getSession();
 */
export const getSession = async (options: { basePath?: string } = {}): Promise<SessionData | null> => {
  const result = await request(options.basePath || '/auth', READ);
  if (result.d === undefined) throw toError(result);
  return result.d;
};
