/**
 * Errors with a stable `code` and an HTTP `status`. Match on `err.code`, not `instanceof`:
 * a bundler may load two copies of this package, and then `instanceof` lies.
 */

export const ErrorCodes = {
  CONFIG_INVALID: 'ERR_CONFIG_INVALID',
  UNAUTHENTICATED: 'ERR_UNAUTHENTICATED',
  FORBIDDEN_ORIGIN: 'ERR_FORBIDDEN_ORIGIN',
  CSRF_HEADER_MISSING: 'ERR_CSRF_HEADER_MISSING',
  METHOD_NOT_ALLOWED: 'ERR_METHOD_NOT_ALLOWED',
  BAD_REQUEST: 'ERR_BAD_REQUEST',
  PAYLOAD_TOO_LARGE: 'ERR_PAYLOAD_TOO_LARGE',
  DISCOVERY_FAILED: 'ERR_DISCOVERY_FAILED',
  ISSUER_MISMATCH: 'ERR_ISSUER_MISMATCH',
  IDP_UNAVAILABLE: 'ERR_IDP_UNAVAILABLE',
  IDP_TIMEOUT: 'ERR_IDP_TIMEOUT',
  UPSTREAM_UNAVAILABLE: 'ERR_UPSTREAM_UNAVAILABLE',
  UPSTREAM_TIMEOUT: 'ERR_UPSTREAM_TIMEOUT',
  LOGIN_STATE_MISMATCH: 'ERR_LOGIN_STATE_MISMATCH',
  LOGIN_DENIED: 'ERR_LOGIN_DENIED',
  LOGIN_FAILED: 'ERR_LOGIN_FAILED',
  TOKEN_EXCHANGE_FAILED: 'ERR_TOKEN_EXCHANGE_FAILED',
  ID_TOKEN_INVALID: 'ERR_ID_TOKEN_INVALID',
  /** The authentication does not satisfy the `acr` / `max_age` asked for (step-up, RFC 9470). */
  INSUFFICIENT_AUTHENTICATION: 'ERR_INSUFFICIENT_AUTHENTICATION',
  REFRESH_FAILED: 'ERR_REFRESH_FAILED',
  REFRESH_UNAVAILABLE: 'ERR_REFRESH_UNAVAILABLE',
  SESSION_EXPIRED: 'ERR_SESSION_EXPIRED',
  STORE_UNAVAILABLE: 'ERR_STORE_UNAVAILABLE',
  JWT_INVALID: 'ERR_JWT_INVALID',
  JWT_EXPIRED: 'ERR_JWT_EXPIRED',
  LOGOUT_TOKEN_INVALID: 'ERR_LOGOUT_TOKEN_INVALID',
  NOT_MOUNTED: 'ERR_NOT_MOUNTED',
  CLIENT_NOT_BUILT: 'ERR_CLIENT_NOT_BUILT',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base class of every error this package raises while serving a request. */
export class AuthError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Safe to show to the browser: never contains a token, a secret or an IdP's raw error text. */
  readonly expose: boolean;

  constructor(code: ErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.expose = status < 500 || status === 502 || status === 503 || status === 504;
  }

  /** The JSON body sent for this error: `{ error, code, message }`. */
  toJSON(): { error: string; code: ErrorCode; message: string } {
    return { error: errorName(this.status), code: this.code, message: this.expose ? this.message : 'Internal error' };
  }
}

/** Thrown synchronously by `oidcSession()` for a bad or missing option; the message names the option and the fix. */
export class ConfigError extends TypeError {
  readonly code = ErrorCodes.CONFIG_INVALID;
  readonly status = 500;

  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function errorName(status: number): string {
  switch (status) {
    case 400:
      return 'bad_request';
    case 401:
      return 'unauthenticated';
    case 403:
      return 'forbidden';
    case 405:
      return 'method_not_allowed';
    case 413:
      return 'payload_too_large';
    case 502:
      return 'bad_gateway';
    case 503:
      return 'service_unavailable';
    case 504:
      return 'gateway_timeout';
    default:
      return status >= 500 ? 'server_error' : 'error';
  }
}

/** True for any error carrying one of our codes, whichever copy of the package made it. */
export function isAuthError(err: unknown): err is AuthError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code.startsWith('ERR_') &&
    typeof (err as { status?: unknown }).status === 'number'
  );
}
