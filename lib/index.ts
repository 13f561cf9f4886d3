export { oidcSession, type OidcSessionRouter } from './middleware.js';
export { getServerSession } from './session/server-session.js';
export { sessionScript, type SessionScriptOptions } from './session/session-script.js';
export { verifySessionJwt, type VerifySessionJwtOptions, type SessionJwtClaims } from './verify-session-jwt.js';
export { revokeSessions, type RevokeQuery } from './session/revoke-sessions.js';
export { listSessions, type SessionListing } from './session/list-sessions.js';
export { requiresAuth, type RequiresAuthOptions } from './session/requires-auth.js';
export { attemptSilentLogin } from './session/attempt-silent-login.js';
export { remoteApi, type RemoteApiOptions, type RemoteApiToken } from './bff/remote-api.js';
export { fetchWithToken } from './bff/fetch-with-token.js';
export { getClientToken, type ClientTokenOptions } from './bff/client-token.js';
export { AuthError, ConfigError, ErrorCodes, isAuthError, type ErrorCode } from './errors.js';
export { PruningMemoryStore, type MemoryStoreOptions } from './store/memory-store.js';
export type {
  ExposableToken, OidcSessionOptions, PublicSession, Session, SessionAuth, SessionCallbacks, SessionEvents, SessionExpiredReason,
  SessionJwtPayload, SessionUser,
} from './types.js';
