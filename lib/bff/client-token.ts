/**
 * getClientToken(req): a client-credentials access token for the app itself (RFC 6749 §4.4), with the login's
 * client authentication. Cached per (scope, resource) until near expiry; one grant at a time per process
 * (a shared promise) and across instances (the backend's lock, while the others poll a short-lived shared
 * copy of the winner's token).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { contextOf, type OidcContext } from '../context.js';
import { AuthError, ErrorCodes } from '../errors.js';
import { debugLog } from '../events.js';
import { type DpopKey, deriveDpopKey, generateDpopKey } from '../oidc/dpop.js';
import { tokenRequest } from '../oidc/token-endpoint.js';
import { accessTokenExpiry } from '../tokens/expiry.js';

export interface ClientTokenOptions {
  /**
   * Space-separated scopes to ask for; left out, the IdP's default for the client applies.
   * @default undefined
   * @example 'orders:read orders:write'
   */
  scope?: string;
  /**
   * An RFC 8707 resource indicator (an absolute URI) the token is for.
   * @default undefined
   * @example 'https://orders.internal'
   */
  resource?: string;
}

interface Cached {
  token: string;
  /** From then on a new token is fetched (ms). */
  renewAt: number;
  expires: number;
  /** With option dpop: the key the token is bound to (kept, and shared, with it; server-side only). */
  dpopKey?: DpopKey;
}

/** A client token and, when it is DPoP-bound, its key. @internal */
export interface ClientCredential {
  token: string;
  dpop?: DpopKey;
}

const debug = debugLog('client-token');
const POLL_MS = 40;
/** A token is renewed this long before it expires, or at half its lifetime when that is shorter. */
const RENEW_BEFORE_MS = 60_000;

class ClientTokens {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<Cached>>();
  /** Tokens an API refused (401): never handed out again, even when another instance still shares them. */
  private readonly refused = new Set<string>();

  constructor(private readonly ctx: OidcContext) {}

  get(options: ClientTokenOptions): Promise<Cached> {
    const key = keyOf(options);
    const cached = this.cache.get(key);
    if (cached && cached.renewAt > Date.now()) return Promise.resolve(cached);
    let running = this.inflight.get(key);
    if (!running) {
      running = this.underLock(key, options).finally(() => this.inflight.delete(key));
      this.inflight.set(key, running);
    }
    return running;
  }

  /** Drops `token` (an API answered 401 to it); the next get() fetches another one. */
  refuse(options: ClientTokenOptions, token: string): void {
    const key = keyOf(options);
    this.refused.add(token);
    // Only the newest few matter (a refused token is renewed at once): the set stays small.
    if (this.refused.size > 32) this.refused.delete(this.refused.values().next().value!);
    if (this.cache.get(key)?.token === token) this.cache.delete(key);
  }

  private usable(entry: Cached | null | undefined): entry is Cached {
    return !!entry && entry.renewAt > Date.now() && !this.refused.has(entry.token);
  }

  private async underLock(key: string, options: ClientTokenOptions): Promise<Cached> {
    const { backend, config } = this.ctx;
    const name = `client:${key}`;
    const lockTtl = config.httpTimeout * 2 + 2000;
    const deadline = Date.now() + lockTtl + 1000;
    for (;;) {
      const shared = await this.readShared(name);
      if (this.usable(shared)) return this.keep(key, shared);
      const lock = await backend.lock.acquire(name, lockTtl);
      if (lock) {
        try {
          // Another instance may have finished its grant between our read and our lock.
          const again = backend.lock.shared ? await this.readShared(name) : null;
          if (this.usable(again)) return this.keep(key, again);
          const fresh = await this.grant(options);
          this.keep(key, fresh);
          await backend
            .setValue(name, JSON.stringify(fresh), fresh.expires - Date.now())
            .catch((err: unknown) => debug('client token not shared: %s', (err as Error).message));
          return fresh;
        } finally {
          backend.lock.release(name, lock).catch((err: unknown) => debug('lock release failed: %s', (err as Error).message));
        }
      }
      if (Date.now() > deadline) {
        throw new AuthError(ErrorCodes.IDP_UNAVAILABLE, 503, 'client credentials: another instance holds the grant lock for too long');
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS + Math.random() * POLL_MS));
    }
  }

  private async readShared(name: string): Promise<Cached | null> {
    const raw = await this.ctx.backend.getValue(name);
    if (!raw) return null;
    try {
      const parsed = JSON.parse(raw) as Cached;
      return typeof parsed.token === 'string' && typeof parsed.renewAt === 'number' ? parsed : null;
    } catch {
      return null;
    }
  }

  private keep(key: string, entry: Cached): Cached {
    this.cache.set(key, entry);
    return entry;
  }

  private async grant(options: ClientTokenOptions): Promise<Cached> {
    const { config, discovery } = this.ctx;
    const meta = await discovery.get();
    const params: Record<string, string> = { grant_type: 'client_credentials' };
    if (options.scope) params.scope = options.scope;
    if (options.resource) params.resource = options.resource;
    debug('client credentials grant (scope %s)', options.scope ?? '-');
    const now = Date.now();
    // With dpop, the app's own tokens are sender-constrained too (a proof on this token request as on every
    // other); the key is derived from the secret (ES256/EdDSA) or made once per grant (PS256).
    const dpop = config.dpop
      ? (deriveDpopKey(config.dpop.alg, config.secrets[0]!, 'client-credentials') ?? (await generateDpopKey(config.dpop.alg)))
      : undefined;
    const t = await tokenRequest(config, meta.token_endpoint, params, 'client credentials', dpop);
    const expires = accessTokenExpiry(t.expires_in, t.access_token, now, config.defaultExpiresIn);
    const bound = dpop && t.token_type?.toLowerCase() === 'dpop' ? { dpopKey: dpop } : {};
    return { token: t.access_token, expires, renewAt: expires - Math.min(RENEW_BEFORE_MS, (expires - now) / 2), ...bound };
  }
}

// Hashed: scope and resource are app-chosen text, and become a Redis key.
function keyOf(options: ClientTokenOptions): string {
  return createHash('sha256')
    .update(JSON.stringify([options.scope ?? '', options.resource ?? '']))
    .digest('base64url')
    .slice(0, 32);
}

const perContext = new WeakMap<OidcContext, ClientTokens>();

function tokensOf(req: IncomingMessage, caller: string): ClientTokens {
  const ctx = contextOf(req as never, caller);
  let tokens = perContext.get(ctx);
  if (!tokens) {
    tokens = new ClientTokens(ctx);
    perContext.set(ctx, tokens);
  }
  return tokens;
}

/**
 * Resolves to an access token for the app itself (client-credentials grant at the discovered token endpoint,
 * authenticated as at login). Cached per (scope, resource) until 60 s (or half its lifetime) before it
 * expires; concurrent callers, in this process or — with Redis — in any instance, share one grant.
 * Rejects with an AuthError: 502 `ERR_TOKEN_EXCHANGE_FAILED` (the IdP refused, e.g. the client may not use
 * this grant), 503 `ERR_IDP_UNAVAILABLE`, 504 `ERR_IDP_TIMEOUT`. With option `dpop` the token may be DPoP-bound
 * to a key only the server holds: send it through `remoteApi({ token: 'client' })`, which adds the proof.
 *
 * @example
 * app.get('/reports', async (req, res) => {
 *   const token = await getClientToken(req, { scope: 'reports:read' });
 *   const upstream = await fetch('https://reports.internal/v1', { headers: { authorization: `Bearer ${token}` } });
 *   res.status(upstream.status).json(await upstream.json());
 * });
 */
export function getClientToken(req: IncomingMessage, options: ClientTokenOptions = {}): Promise<string> {
  return getClientCredential(req, options).then((c) => c.token);
}

/** The client token with its DPoP key, for remoteApi. @internal */
export function getClientCredential(req: IncomingMessage, options: ClientTokenOptions = {}): Promise<ClientCredential> {
  try {
    return tokensOf(req, 'getClientToken')
      .get(options)
      .then((c) => ({ token: c.token, dpop: c.dpopKey }));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** After an API refused `token`: it is dropped from the cache (here and for the next shared read). @internal */
export function refuseClientToken(req: IncomingMessage, options: ClientTokenOptions, token: string): void {
  tokensOf(req, 'remoteApi').refuse(options, token);
}
