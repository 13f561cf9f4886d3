/**
 * Type augmentation: what this package adds to express-session's SessionData and Express's Request.
 * The published index.d.ts reaches it (through middleware.d.ts), so an app that imports the package
 * gets `req.getServerSession()` typed, and `req.session` from express-session's own types, which are
 * a dependency of the package for this reason (test/package checks both in a fresh app).
 */
import type { OidcSessionState } from './store/ttl.js';
import type { Session, SessionUser } from './types.js';

declare module 'express-session' {
  interface SessionData {
    oidc?: OidcSessionState;
    passport?: { user?: SessionUser };
  }
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Same as `getServerSession(req)`: the session, refreshed first when needed; memoised per request. */
      getServerSession(): Promise<Session | null>;
    }
  }
}
