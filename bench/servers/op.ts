/**
 * The real oidc-provider (test/helpers/op.ts) in its own process, so its CPU never counts against an app
 * server. The runner registers redirect URIs and reads the provider's event counters over IPC.
 */
import { startProvider } from '../../test/helpers/op.js';
import { childConfig, fatal, serve } from '../lib/child.js';

export interface OpConfig { accessTokenTtl: number; rotateRefreshToken?: boolean }
export interface OpInfo { issuer: string; clientId: string; clientSecret: string }

const config = childConfig<OpConfig>();

try {
  const op = await startProvider({ accessTokenTtl: config.accessTokenTtl, rotateRefreshToken: config.rotateRefreshToken ?? true });
  const info: OpInfo = { issuer: op.issuer, clientId: op.clientId, clientSecret: op.clientSecret };
  serve(info, {
    allowRedirect: (uri: string) => op.allowRedirect(uri),
    count: (event: string) => op.count(event),
    events: () => [...op.events],
    resetCounts: () => op.resetCounts(),
  }, () => op.stop());
} catch (err) {
  fatal(err);
}
