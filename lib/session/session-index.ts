/**
 * Which session ids belong to a user (`sub`) or an IdP session (`sid`): what revocation, back-channel
 * logout and "your devices" need to find sessions in every instance. Sets in the backend — atomic and
 * unbounded, so no number of sign-ins can hide a session from revocation — written at sign-in and
 * sign-out only, never per request; they expire with the sessions they list.
 */
import type { StorageBackend } from '../store/backend.js';
import { indexSetsOf } from '../store/ttl.js';

export class SessionIndex {
  constructor(private readonly backend: StorageBackend) {}

  async add(sessionId: string, state: { sub: string; sid?: string }, ttlMs: number): Promise<void> {
    for (const name of indexSetsOf(state)) await this.backend.addMember(name, sessionId, ttlMs);
  }

  async remove(sessionId: string, state: { sub: string; sid?: string }): Promise<void> {
    for (const name of indexSetsOf(state)) await this.backend.removeMember(name, sessionId);
  }

  /** Takes `sessionId` out of the sets `query` names (its blob is gone, so its own state is unknown). */
  async forget(query: { sub?: string; sid?: string }, sessionId: string): Promise<void> {
    if (query.sub !== undefined) await this.backend.removeMember(`sub:${query.sub}`, sessionId);
    if (query.sid !== undefined) await this.backend.removeMember(`sid:${query.sid}`, sessionId);
  }

  /** Session ids of that user, or of that IdP session. */
  members(query: { sub: string } | { sid: string }): Promise<string[]> {
    return this.backend.members('sub' in query ? `sub:${query.sub}` : `sid:${query.sid}`);
  }

  drop(query: { sub: string } | { sid: string }): Promise<void> {
    return this.backend.deleteSet('sub' in query ? `sub:${query.sub}` : `sid:${query.sid}`);
  }
}
