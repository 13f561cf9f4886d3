/**
 * Token sizes of issue 13's "realistic tokens" (what Entra ID, Okta, Auth0 and Keycloak issue): scenarios 1-6
 * get them from the provider process (bench/servers/op.ts), scenario 9 fills its sessions with them. A module
 * of its own because op.ts is a child script: importing it would start a provider.
 */
export const REALISTIC_AT_BYTES = 1200;
export const REALISTIC_ID_TOKEN_BYTES = 1000;
/** oidc-provider's opaque refresh token (43 characters), as every IdP above issues one */
export const REALISTIC_RT_BYTES = 43;
