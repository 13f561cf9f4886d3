/**
 * Entry of the classic script served at `GET {basePath}/client.js`: defines `window.OidcSession`
 * for pages without a bundler. Assigned by hand rather than through esbuild's `globalName`, whose
 * ESM-interop wrapper would cost a tenth of the size budget.
 */
import { getSession, useSession } from './index.js';

(window as unknown as { OidcSession: object }).OidcSession = { useSession, getSession };
