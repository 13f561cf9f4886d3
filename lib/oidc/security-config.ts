/**
 * The client-authentication and sender-constraint options — clientAuthMethod, clientKey, PAR, DPoP — and the
 * profile that sets them, read once with the same fix-it ConfigErrors as every other option.
 */
import type { Config } from '../config.js';
import { describe, fail, oneOf } from '../config-checks.js';
import type { OidcSessionOptions } from '../types.js';
import { type ClientKey, readClientKey } from './client-key.js';
import type { DpopAlg } from './dpop.js';

const CLIENT_AUTH_METHODS = ['client_secret_post', 'client_secret_basic', 'client_secret_jwt', 'private_key_jwt'] as const;
const DPOP_ALGS: readonly DpopAlg[] = ['ES256', 'PS256', 'EdDSA'];

export type Security = Pick<
  Config,
  'clientAuthMethod' | 'clientKey' | 'clientAssertionAudience' | 'par' | 'dpop' | 'profile' | 'strictIss'
>;

/**
 * Client authentication, PAR, DPoP and the profile that sets them. `profile: 'fapi2'` fills in what the
 * FAPI 2.0 Security Profile asks of a confidential client and refuses any option that says otherwise.
 */
export function resolveSecurity(input: OidcSessionOptions): Security {
  const profile = input.profile === undefined ? undefined : oneOf('profile', input.profile, ['fapi2'] as const);
  const fapi = profile === 'fapi2';
  const method = oneOf(
    'clientAuthMethod',
    input.clientAuthMethod ?? (fapi ? 'private_key_jwt' : 'client_secret_post'),
    CLIENT_AUTH_METHODS,
  );
  if (fapi) {
    // All of them in one message: fixing one at a time would take as many restarts.
    const contradictions = [
      ...(method !== 'private_key_jwt' ? [`clientAuthMethod "${method}" (FAPI 2.0 needs "private_key_jwt")`] : []),
      ...(input.par === false ? ['par: false (FAPI 2.0 sends every authorization request by PAR)'] : []),
      ...(input.dpop === false ? ['dpop: false (FAPI 2.0 needs sender-constrained tokens)'] : []),
      ...(input.clientAssertionAudience === 'tokenEndpoint'
        ? ['clientAssertionAudience "tokenEndpoint" (FAPI 2.0 asks for the issuer as the sole aud)']
        : []),
    ];
    if (contradictions.length > 0) {
      fail(
        'profile',
        `"fapi2" is contradicted by ${contradictions.join(', ')}`,
        'remove those options (the profile sets them), or the profile',
      );
    }
  }
  let clientKey: ClientKey | undefined;
  if (method === 'private_key_jwt') {
    const key = readClientKey(input.clientKey, input.clientKeyId);
    if (typeof key === 'string') {
      fail(
        'clientKey',
        key,
        'clientAuthMethod "private_key_jwt" signs with it: pass the private JWK (with "kid") whose public half is registered at the IdP',
      );
    }
    clientKey = key;
  } else if (input.clientKey !== undefined) {
    fail(
      'clientKey',
      `is used only with clientAuthMethod "private_key_jwt"`,
      `set clientAuthMethod: 'private_key_jwt', or remove clientKey`,
    );
  }
  if (input.par !== undefined && input.par !== 'auto' && typeof input.par !== 'boolean') {
    fail('par', 'must be "auto", true or false', `got ${describe(input.par)}`);
  }
  const par = fapi ? true : (input.par ?? 'auto');
  const dpopInput = input.dpop;
  let dpop: Config['dpop'];
  if (dpopInput === true || (fapi && dpopInput === undefined)) dpop = { alg: 'ES256' };
  else if (typeof dpopInput === 'object' && dpopInput !== null && !Array.isArray(dpopInput)) {
    dpop = { alg: oneOf('dpop.alg', (dpopInput as { alg?: unknown }).alg ?? 'ES256', DPOP_ALGS) };
  } else if (dpopInput !== undefined && dpopInput !== false) {
    fail('dpop', 'must be true, false or { alg }', `got ${describe(dpopInput)}; e.g. dpop: { alg: 'ES256' }`);
  }
  const clientAssertionAudience = oneOf('clientAssertionAudience', input.clientAssertionAudience ?? 'issuer', [
    'issuer',
    'tokenEndpoint',
  ] as const);
  return { clientAuthMethod: method, clientKey, clientAssertionAudience, par, dpop, profile, strictIss: fapi };
}
