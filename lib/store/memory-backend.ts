/**
 * The default backend: everything in this process. Token records, index sets and claims live in maps of
 * their own, so anonymous data in the session store can never evict them; they expire with their session.
 */
import { memoryKeyBackend } from '../tokens/jwt-key-backends.js';
import { localLock, type Claim, type StorageBackend, type TokenRecord } from './backend.js';
import { PruningMemoryStore } from './memory-store.js';
import { indexSetsOf, type OidcSessionState } from './ttl.js';

interface Timed<T> { value: T; expires: number }

export function memoryBackend(sessions: PruningMemoryStore, sweepMs = 60_000): StorageBackend {
  const records = new Map<string, Timed<TokenRecord>>();
  const sets = new Map<string, Timed<Set<string>>>();
  const claims = new Map<string, number>();
  const live = <T>(map: Map<string, Timed<T>>, key: string, now = Date.now()): Timed<T> | undefined => {
    const entry = map.get(key);
    if (entry && entry.expires <= now) {
      map.delete(key);
      return undefined;
    }
    return entry;
  };

  // A signed-in blob is written only while its tokens exist; its records then live as long as it does.
  sessions.admit = (sid, sess, expires) => {
    const record = live(records, sid);
    if (!record) return false;
    record.expires = Math.max(record.expires, expires);
    const state = (sess as { oidc?: OidcSessionState }).oidc;
    if (state) {
      for (const name of indexSetsOf(state)) {
        const set = live(sets, name);
        if (set) set.expires = Math.max(set.expires, expires);
      }
    }
    return true;
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const map of [records, sets] as Map<string, Timed<unknown>>[]) {
      for (const [key, entry] of map) if (entry.expires <= now) map.delete(key);
    }
    for (const [key, until] of claims) if (until <= now) claims.delete(key);
  }, sweepMs);
  sweep.unref();

  return {
    kind: 'memory',
    shared: false,
    sessions,
    peekRecord: (sid) => live(records, sid)?.value,
    async getRecord(sid) {
      return live(records, sid)?.value ?? null;
    },
    async putRecord(sid, record, expected, ttlMs) {
      const current = live(records, sid);
      if ((current?.value.v ?? null) !== expected) return false;
      // Frozen: the hot path hands this very object out, so nobody may change it in place.
      records.set(sid, { value: Object.freeze(record), expires: Date.now() + ttlMs });
      return true;
    },
    async deleteRecord(sid) {
      records.delete(sid);
    },
    async addMember(name, member, ttlMs) {
      const expires = Date.now() + ttlMs;
      const set = live(sets, name);
      if (set) {
        set.value.add(member);
        set.expires = Math.max(set.expires, expires);
      } else {
        sets.set(name, { value: new Set([member]), expires });
      }
    },
    async removeMember(name, member) {
      const set = sets.get(name);
      if (!set) return;
      set.value.delete(member);
      if (set.value.size === 0) sets.delete(name);
    },
    async members(name) {
      return [...(live(sets, name)?.value ?? [])];
    },
    async deleteSet(name) {
      sets.delete(name);
    },
    async claim(key, ttlMs) {
      const now = Date.now();
      const until = claims.get(key);
      if (until !== undefined && until > now) return null;
      const mine = now + ttlMs;
      claims.set(key, mine);
      const claim: Claim = {
        async release() {
          if (claims.get(key) === mine) claims.delete(key);
        },
      };
      return claim;
    },
    lock: localLock,
    keys: memoryKeyBackend(),
    ready: Promise.resolve(),
    async close() {
      clearInterval(sweep);
      sessions.close();
    },
  };
}
