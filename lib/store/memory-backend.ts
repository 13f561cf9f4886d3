/**
 * The default backend: everything in this process. Token records, index sets and claims live in maps of
 * their own, so anonymous data in the session store can never evict them. Records and sets carry no timers
 * of their own: a record lives exactly as long as its session blob (dropped with it), and a set member as
 * long as its record — which keeps a signed-in session's cost close to express-session's MemoryStore.
 */
import { memoryKeyBackend } from '../tokens/jwt-key-backends.js';
import { type Claim, localLock, type StorageBackend, type TokenRecord } from './backend.js';
import type { PruningMemoryStore } from './memory-store.js';

/** A record written at sign-in whose blob never followed (the request died in between) is dropped after this. */
const ORPHAN_MS = 5 * 60_000;

export function memoryBackend(sessions: PruningMemoryStore, sweepMs = 60_000): StorageBackend {
  const records = new Map<string, TokenRecord>();
  /** One member is kept as the string itself: most sets (an IdP session, a user) have one. */
  const sets = new Map<string, string | Set<string>>();
  const claims = new Map<string, number>();
  const values = new Map<string, { value: string; expires: number }>();

  // A signed-in blob is written only while its tokens exist; when the blob goes, so do they.
  sessions.admit = (sid) => records.has(sid);
  sessions.dropped = (sid) => {
    records.delete(sid);
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [sid, record] of records) {
      if (!sessions.holds(sid) && now - (record.accessTokenIssued ?? 0) > ORPHAN_MS) records.delete(sid);
    }
    for (const [name, set] of sets) {
      if (typeof set === 'string') {
        if (!records.has(set)) sets.delete(name);
        continue;
      }
      for (const member of set) if (!records.has(member)) set.delete(member);
      if (set.size === 0) sets.delete(name);
    }
    for (const [key, until] of claims) if (until <= now) claims.delete(key);
    for (const [key, entry] of values) if (entry.expires <= now) values.delete(key);
  }, sweepMs);
  sweep.unref();

  return {
    kind: 'memory',
    shared: false,
    sessions,
    peekRecord: (sid) => records.get(sid),
    async getRecord(sid) {
      return records.get(sid) ?? null;
    },
    async putRecord(sid, record, expected) {
      if ((records.get(sid)?.v ?? null) !== expected) return false;
      // Frozen: the hot path hands this very object out, so nobody may change it in place.
      records.set(sid, Object.freeze(record));
      return true;
    },
    async deleteRecord(sid) {
      records.delete(sid);
    },
    async addMember(name, member) {
      const set = sets.get(name);
      if (set === undefined || set === member) sets.set(name, member);
      else if (typeof set === 'string') sets.set(name, new Set([set, member]));
      else set.add(member);
    },
    async removeMember(name, member) {
      const set = sets.get(name);
      if (set === member) sets.delete(name);
      else if (typeof set === 'object') {
        set.delete(member);
        if (set.size === 0) sets.delete(name);
      }
    },
    async members(name) {
      const set = sets.get(name);
      const all = set === undefined ? [] : typeof set === 'string' ? [set] : [...set];
      return all.filter((member) => records.has(member));
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
    async getValue(key) {
      const entry = values.get(key);
      return entry && entry.expires > Date.now() ? entry.value : null;
    },
    async setValue(key, value, ttlMs) {
      values.set(key, { value, expires: Date.now() + ttlMs });
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
