/**
 * The UserInfo request (OIDC Core §5.3): a JSON object, or — for clients registered with
 * `userinfo_signed_response_alg` — a JWT signed by the IdP (§5.3.2), verified with jose like the ID token
 * (its keys, `iss` = issuer, `aud` = client id) before its claims are used.
 */
import { decodeProtectedHeader, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { Config } from '../config.js';
import { AuthError, ErrorCodes } from '../errors.js';
import { idpFetch } from '../util/idp-fetch.js';
import type { ProviderMetadata } from './discovery.js';
import { asksForNonce, type DpopKey, dpopProof, rememberNonce } from './dpop.js';
import { acceptedAlgorithms, ID_TOKEN_LEEWAY, keySetError, refusedAlgorithm, signatureKey } from './id-token.js';

const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]*$/;
const COMPACT_JWE = /^[\w-]+\.[\w-]*\.[\w-]+\.[\w-]+\.[\w-]+$/;

type UserinfoConfig = Pick<Config, 'issuer' | 'clientId' | 'clientSecret' | 'httpTimeout'> & { idTokenAlgorithms?: readonly string[] };

/** With `dpop`, the token goes as `Authorization: DPoP` with a proof (`ath`), retried once for a nonce. */
export async function fetchUserinfo(
  config: UserinfoConfig,
  meta: ProviderMetadata,
  jwks: () => Promise<JWTVerifyGetKey>,
  accessToken: string,
  dpop?: DpopKey,
): Promise<Record<string, unknown>> {
  const url = meta.userinfo_endpoint!;
  const send = async () =>
    idpFetch(
      url,
      {
        headers: {
          authorization: `${dpop ? 'DPoP' : 'Bearer'} ${accessToken}`,
          accept: 'application/json, application/jwt',
          ...(dpop ? { dpop: await dpopProof(dpop, 'GET', url, accessToken) } : {}),
        },
      },
      config.httpTimeout,
      'userinfo',
    );
  let res = await send();
  if (dpop && rememberNonce(url, res.headers) && asksForNonce(res.status, res.headers.get('www-authenticate'))) res = await send();
  if (res.status !== 200) throw new AuthError(ErrorCodes.LOGIN_FAILED, 502, `userinfo answered ${res.status}`);
  if (res.json) return res.json;
  // Told apart by shape rather than Content-Type: a JSON object never looks like a compact JWT, and some
  // IdPs label signed UserInfo text/plain or add parameters to application/jwt.
  const body = res.text.trim();
  if (COMPACT_JWS.test(body)) return verifySigned(config, meta, await jwks(), body);
  if (COMPACT_JWE.test(body)) {
    throw new AuthError(
      ErrorCodes.LOGIN_FAILED,
      502,
      'userinfo answered an encrypted JWT, which is not supported; ' +
        'register the client without userinfo_encrypted_response_alg (signed or plain JSON UserInfo works)',
    );
  }
  throw new AuthError(ErrorCodes.LOGIN_FAILED, 502, 'userinfo answered 200 with neither a JSON object nor a signed JWT');
}

async function verifySigned(
  config: UserinfoConfig,
  meta: ProviderMetadata,
  jwks: JWTVerifyGetKey,
  jwt: string,
): Promise<Record<string, unknown>> {
  // The asymmetric algorithms the IdP advertises for UserInfo, plus whatever idTokenAlgorithms admits (an
  // HS* opt-in covers both: they are keyed alike, OIDC Core §10.1, and an HMAC meets only the client secret).
  const algorithms = [
    ...new Set([...acceptedAlgorithms(undefined, meta.userinfo_signing_alg_values_supported), ...(config.idTokenAlgorithms ?? [])]),
  ];
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(jwt).alg;
  } catch (err) {
    throw invalid('signed userinfo rejected: its header is not JSON', err);
  }
  const refused = refusedAlgorithm('signed userinfo', alg, algorithms);
  if (refused) throw invalid(refused);
  try {
    const { payload } = await jwtVerify(jwt, signatureKey(jwks, config.clientSecret), {
      issuer: config.issuer,
      audience: config.clientId,
      algorithms,
      clockTolerance: ID_TOKEN_LEEWAY,
      requiredClaims: ['sub'],
    });
    return payload as Record<string, unknown>;
  } catch (err) {
    throw keySetError('signed userinfo', err) ?? invalid(`signed userinfo rejected: ${(err as Error).message}`, err);
  }
}

function invalid(message: string, cause?: unknown): AuthError {
  // Same class of failure as a bad ID token: the IdP's signed statement about the user does not check out.
  return new AuthError(ErrorCodes.ID_TOKEN_INVALID, 401, message, { cause });
}
