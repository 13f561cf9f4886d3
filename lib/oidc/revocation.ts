/**
 * Token revocation at the IdP (RFC 7009) when a session ends: logout, revokeSessions, back-channel and
 * front-channel logout, and a refresh whose result arrived after its session had ended. Without it a
 * refresh token of an ended session would stay usable at the IdP until it expires. Best effort: bounded by
 * httpTimeout (both tokens at once), failures logged, never a reason to keep anyone signed in.
 */
import type { Config } from '../config.js';
import { debug } from '../events.js';
import type { Discovery } from './discovery.js';
import { clientPost } from './token-endpoint.js';

export interface RevocableTokens {
  refreshToken?: string;
  accessToken?: string;
}

/** Resolves when the IdP has answered (or the attempt failed); never rejects. */
export async function revokeTokens(config: Config, discovery: Discovery, tokens: RevocableTokens | null | undefined): Promise<void> {
  if (!config.revokeTokensOnLogout || !tokens || (!tokens.refreshToken && !tokens.accessToken)) return;
  let endpoint: string | undefined;
  let tokenEndpoint: string;
  try {
    const meta = await discovery.get();
    endpoint = typeof meta.revocation_endpoint === 'string' ? meta.revocation_endpoint : undefined;
    tokenEndpoint = meta.token_endpoint;
  } catch {
    return;
  }
  if (!endpoint) return;
  const url = endpoint;
  const one = async (token: string | undefined, hint: 'refresh_token' | 'access_token'): Promise<void> => {
    if (!token) return;
    try {
      const res = await clientPost(
        config,
        url,
        { token, token_type_hint: hint },
        `revocation of the ${hint.replace('_', ' ')}`,
        'revocation',
        { tokenEndpoint },
      );
      // 200 is success, also for a token that was already invalid (RFC 7009 §2.2).
      if (res.status !== 200) debug('token revocation answered %d', res.status);
    } catch (err) {
      debug('token revocation failed: %s', (err as Error).message);
    }
  };
  await Promise.all([one(tokens.refreshToken, 'refresh_token'), one(tokens.accessToken, 'access_token')]);
}
