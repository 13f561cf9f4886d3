/** Builds the snapshot objects the observer hands out. */
import { loginUrl } from './navigate.js';
import type { JwtPayload, SessionData, SessionError, SessionSnapshot } from './types.js';

/** Payload of a compact JWS, or undefined when it is not one; never verifies (the server did). */
export const decodeJwt = (token: string): JwtPayload | undefined => {
  try {
    // escape() turns the Latin-1 string from atob into %XX bytes so claims in UTF-8 survive.
    const payload = JSON.parse(decodeURIComponent(escape(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')))));
    return typeof payload == 'object' && payload ? payload : undefined;
  } catch {}
};

/** Everything a snapshot is made of; `data` undefined means not known yet. */
export interface SnapshotInput {
  data: SessionData | null | undefined;
  status: number;
  headers: Record<string, string>;
  error: SessionError | null;
  /** A foreground request (`refetch()`, `update()`) is running. */
  loading: boolean;
}

/**
 * The server's fields (`user`, `expires`, tokens, their expiry times…) are spread onto the
 * snapshot as sent, so a field is present exactly when the server sent it; the observer's own
 * fields come last and win (the server's `error` code stays readable as `data.error`).
 */
export const createSnapshot = (input: SnapshotInput, basePath: string): SessionSnapshot => {
  const { data, error } = input;
  const snapshot = {
    ...data,
    ...input,
    data: data || null,
    loading: input.loading || data === undefined,
    state: data ? 'authenticated' : data === null ? 'unauthenticated' : 'loading',
    redirect: (to?: string) => location.assign(to || loginUrl(basePath)),
    throwIfError() {
      if (error) throw error;
    },
  } as Record<string, unknown>;
  if (!snapshot.jwtPayload && data && data.jwt) snapshot.jwtPayload = decodeJwt(data.jwt);
  return snapshot as unknown as SessionSnapshot;
};

/**
 * What makes two snapshots different for a UI. `now` changes on every response and would turn
 * each background poll into a re-render, so it is left out (headers too, for the same reason).
 */
export const signature = (input: SnapshotInput): string =>
  JSON.stringify([dataSignature(input.data), input.status, input.error + '', input.loading]);

export const dataSignature = (data: SessionData | null | undefined): string => JSON.stringify(data && { ...data, now: 0 });
