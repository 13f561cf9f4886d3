export { type ClientTokenOptions, getClientToken } from './bff/client-token.js';
export { fetchWithToken } from './bff/fetch-with-token.js';
export { type RemoteApiOptions, type RemoteApiToken, remoteApi } from './bff/remote-api.js';
export { AuthError, ConfigError, type ErrorCode, ErrorCodes, isAuthError } from './errors.js';
export { type OidcSessionRouter, oidcSession } from './middleware.js';
export { attemptSilentLogin } from './session/attempt-silent-login.js';
export { listSessions, type SessionListing } from './session/list-sessions.js';
export { type RequiresAuthOptions, requiresAuth } from './session/requires-auth.js';
export { type RevokeQuery, revokeSessions } from './session/revoke-sessions.js';
export { getServerSession } from './session/server-session.js';
export { type SessionScriptOptions, sessionScript } from './session/session-script.js';
export { type MemoryStoreOptions, PruningMemoryStore } from './store/memory-store.js';
export type {
  ExposableToken,
  OidcSessionOptions,
  PublicSession,
  Session,
  SessionAuth,
  SessionCallbacks,
  SessionEvents,
  SessionExpiredReason,
  SessionJwtPayload,
  SessionUser,
} from './types.js';
export { type SessionJwtClaims, type VerifySessionJwtOptions, verifySessionJwt } from './verify-session-jwt.js';
