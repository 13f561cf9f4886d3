/**
 * The fallback backend for an app's own express-session `Store` with no Redis beside it: records, index
 * sets and claims are kept as session-like entries in that store. A `Store` has only get/set/destroy, so
 * none of this is atomic: compare-and-set, set membership and claim-once are read-then-write, and the
 * refresh lock is per process. The startup warning and the README's Production section say so.
 */
import type { SessionData, Store } from 'express-session';
import { storeKeyBackend } from '../tokens/jwt-key-backends.js';
import { withDeadline } from '../util/deadline.js';
import { localLock, type StorageBackend, type TokenRecord } from './backend.js';

/** What a record looks like to the store: `cookie.expires` sets its TTL in every store we know. */
interface Stored<T> {
  cookie: { originalMaxAge: number; expires: string };
  exp: number;
  value: T;
}

export function storeBackend(store: Store, timeoutMs: number, lifetimeMs: () => number): StorageBackend {
  const bound = <T>(op: string, run: (cb: (err?: unknown, value?: T) => void) => void) =>
    withDeadline(
      new Promise<T>((resolve, reject) => {
        try {
          run((err, value) => (err && (err as { code?: unknown }).code !== 'ENOENT' ? reject(err) : resolve(value as T)));
        } catch (err) {
          reject(err);
        }
      }),
      timeoutMs,
      `session store ${op}`,
      undefined,
      op,
    );
  const read = async <T>(key: string): Promise<T | null> => {
    const entry = await bound<Stored<T> | null>('get', (cb) => store.get(key, cb as never));
    return entry && typeof entry === 'object' && 'value' in entry && entry.exp > Date.now() ? entry.value : null;
  };
  const write = (key: string, value: unknown, ttlMs: number) => {
    const exp = Date.now() + ttlMs;
    const entry: Stored<unknown> = { cookie: { originalMaxAge: ttlMs, expires: new Date(exp).toISOString() }, exp, value };
    return bound<void>('set', (cb) => store.set(key, entry as unknown as SessionData, cb));
  };
  const destroy = (key: string) => bound<void>('destroy', (cb) => store.destroy(key, cb));

  return {
    kind: 'store',
    shared: true,
    sessions: store,
    async admit(sid) {
      return (await read<TokenRecord>(`tok:${sid}`)) !== null;
    },
    getRecord: (sid) => read<TokenRecord>(`tok:${sid}`),
    async putRecord(sid, record, expected, ttlMs) {
      const current = await read<TokenRecord>(`tok:${sid}`);
      if ((current?.v ?? null) !== expected) return false;
      // Not extended on activity (that would be one more unguarded write): records live as long as a session may.
      await write(`tok:${sid}`, record, Math.max(ttlMs, lifetimeMs()));
      return true;
    },
    deleteRecord: (sid) => destroy(`tok:${sid}`),
    async addMember(name, member, ttlMs) {
      const ids = (await read<string[]>(`idx:${name}`)) ?? [];
      if (!ids.includes(member)) ids.push(member);
      // Records here cannot be extended safely on activity, so sets live as long as the longest session may.
      await write(`idx:${name}`, ids, Math.max(ttlMs, lifetimeMs()));
    },
    async removeMember(name, member) {
      const ids = (await read<string[]>(`idx:${name}`)) ?? [];
      const rest = ids.filter((id) => id !== member);
      if (rest.length === 0) await destroy(`idx:${name}`);
      else if (rest.length !== ids.length) await write(`idx:${name}`, rest, lifetimeMs());
    },
    async members(name) {
      const ids = await read<unknown>(`idx:${name}`);
      return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
    },
    deleteSet: (name) => destroy(`idx:${name}`),
    async claim(key, ttlMs) {
      if ((await read<number>(`claim:${key}`)) !== null) return null;
      await write(`claim:${key}`, 1, ttlMs);
      return { release: () => destroy(`claim:${key}`) };
    },
    getValue: (key) => read<string>(`val:${key}`),
    setValue: (key, value, ttlMs) => write(`val:${key}`, value, ttlMs),
    lock: localLock,
    keys: storeKeyBackend(store),
    ready: Promise.resolve(),
    async close() {},
  };
}
