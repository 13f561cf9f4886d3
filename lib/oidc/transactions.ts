/**
 * Login transactions (state, nonce, PKCE verifier, returnTo) kept in the anonymous session.
 * Unlike passport-openidconnect's own store, which keeps one slot per issuer, several logins may be
 * pending at once (two tabs) and each state is usable once.
 */
import type { Request } from 'express';
import { randomBytes } from 'node:crypto';

export interface Transaction {
  nonce?: string;
  verifier?: string;
  returnTo: string;
  /** ms since epoch */
  t: number;
}

type Callback = (err: Error | null, ctx?: unknown, state?: unknown) => void;

const KEY = 'oidcTx';
const MAX_PENDING = 5;
const TX_TTL_MS = 10 * 60 * 1000;
export const TX = Symbol('oidc-session.transaction');

interface TxRequest extends Request { [TX]?: Transaction }

export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** A passport-openidconnect state store (duck-typed: `store` and `verify`). */
export class TransactionStore {
  /** The verifier of the transaction being redeemed; read synchronously by the token exchange right after `verify`. */
  pendingVerifier: string | undefined;

  store(req: Request, ctx: { nonce?: string }, appState: { returnTo: string; verifier?: string }, _meta: unknown, cb: (err: Error | null, handle?: string) => void): void {
    const session = req.session as unknown as Record<string, Record<string, Transaction> | undefined>;
    const now = Date.now();
    const pending = Object.entries(session[KEY] ?? {}).filter(([, tx]) => now - tx.t < TX_TTL_MS).slice(-(MAX_PENDING - 1));
    const handle = randomToken(24);
    pending.push([handle, { nonce: ctx.nonce, verifier: appState.verifier, returnTo: appState.returnTo, t: now }]);
    session[KEY] = Object.fromEntries(pending);
    cb(null, handle);
  }

  verify(req: Request, handle: unknown, cb: Callback): void {
    const session = req.session as unknown as Record<string, Record<string, Transaction> | undefined>;
    const pending = session?.[KEY];
    const tx = typeof handle === 'string' && pending && Object.hasOwn(pending, handle) ? pending[handle] : undefined;
    if (!tx || Date.now() - tx.t >= TX_TTL_MS) {
      cb(null, false, { message: 'Unable to verify authorization request state.' });
      return;
    }
    // One-time use (RFC 9700 §4.2.4): a replayed callback finds nothing.
    delete pending![handle as string];
    if (Object.keys(pending!).length === 0) delete session[KEY];
    (req as TxRequest)[TX] = tx;
    this.pendingVerifier = tx.verifier;
    cb(null, { nonce: tx.nonce }, { returnTo: tx.returnTo });
  }
}

export function transactionOf(req: Request): Transaction | undefined {
  return (req as TxRequest)[TX];
}

/** The other logins still pending in this session (several tabs), to carry over a session regeneration. */
export function pendingTransactions(req: Request): Record<string, Transaction> | undefined {
  const pending = (req.session as unknown as Record<string, Record<string, Transaction> | undefined>)[KEY];
  return pending && Object.keys(pending).length > 0 ? pending : undefined;
}

export function keepTransactions(req: Request, pending: Record<string, Transaction>): void {
  (req.session as unknown as Record<string, Record<string, Transaction>>)[KEY] = pending;
}
