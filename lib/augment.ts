/** Type augmentation: what this package adds to express-session's SessionData and Express's Request. */
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

export {};
