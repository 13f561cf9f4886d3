/**
 * Which session ids belong to a user (`sub`) or an IdP session (`sid`): what back-channel logout and
 * `revokeSessions()` need to find sessions in every instance. Kept in the session store itself (so Redis
 * shares it between instances) and written only at sign-in and sign-out, never per request.
 */
import type { SessionData } from 'express-session';
import type { GuardedStore } from './store/guarded-store.js';
import { PruningMemoryStore } from './store/memory-store.js';
import { localSessionsOf } from './tokens/token-store.js';

interface IndexEntry { cookie: { originalMaxAge: null; expires: string }; exp: number; ids: string[] }

const MAX_IDS = 100;

export class SessionIndex {
  /**
   * With our in-process store there is no index at all: the token records carry sub and sid, and a lookup
   * (a logout everywhere, a back-channel logout) scans them. That trades a rare O(sessions) scan for two
   * records less per session.
   */
  private readonly local: PruningMemoryStore | undefined;

  constructor(private readonly store: GuardedStore, private readonly lifetimeMs: number) {
    this.local = store.inner instanceof PruningMemoryStore ? store.inner : undefined;
  }

  async add(sessionId: string, sub: string, sid?: string): Promise<void> {
    if (this.local) return;
    await this.update(`idx:sub:${sub}`, (ids) => [...ids.filter((id) => id !== sessionId), sessionId]);
    if (sid) await this.update(`idx:sid:${sid}`, (ids) => [...ids.filter((id) => id !== sessionId), sessionId]);
  }

  async remove(sessionId: string, sub: string, sid?: string): Promise<void> {
    if (this.local) return;
    await this.update(`idx:sub:${sub}`, (ids) => ids.filter((id) => id !== sessionId));
    if (sid) await this.update(`idx:sid:${sid}`, (ids) => ids.filter((id) => id !== sessionId));
  }

  async lookup(query: { sub?: string; sid?: string }): Promise<string[]> {
    if (this.local) return [...localSessionsOf(this.local, query)];
    const keys = [query.sub ? `idx:sub:${query.sub}` : undefined, query.sid ? `idx:sid:${query.sid}` : undefined];
    const found = new Set<string>();
    for (const key of keys) {
      if (!key) continue;
      for (const id of await this.read(key)) found.add(id);
    }
    return [...found];
  }

  async drop(query: { sub?: string; sid?: string }): Promise<void> {
    if (this.local) return;
    if (query.sub) await this.store.destroyAsync(`idx:sub:${query.sub}`);
    if (query.sid) await this.store.destroyAsync(`idx:sid:${query.sid}`);
  }

  private async read(key: string): Promise<string[]> {
    const entry = (await this.store.getAsync(key)) as unknown as IndexEntry | null;
    return entry && Array.isArray(entry.ids) ? entry.ids.filter((id) => typeof id === 'string') : [];
  }

  private async update(key: string, change: (ids: string[]) => string[]): Promise<void> {
    const ids = change(await this.read(key)).slice(-MAX_IDS);
    if (ids.length === 0) {
      await this.store.destroyAsync(key);
      return;
    }
    const exp = Date.now() + this.lifetimeMs;
    const entry: IndexEntry = { cookie: { originalMaxAge: null, expires: new Date(exp).toISOString() }, exp, ids };
    await this.store.setAsync(key, entry as unknown as SessionData);
  }
}
