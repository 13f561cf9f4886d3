// Headless Chromium from the system package (Debian), driven by playwright-core, which
// downloads no browser of its own.
import { existsSync } from 'node:fs';
import { type Browser, chromium, type LaunchOptions } from 'playwright-core';

// /usr/lib/chromium/chromium is the real binary; the /usr/bin/chromium wrapper script prints
// a harmless shell error on some machines.
const CANDIDATES = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'];

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, ...CANDIDATES].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `Chromium was not found (looked at ${candidates.join(', ')}). Run \`bash scripts/setup-test-env.sh\` (it installs chromium) or set CHROMIUM_PATH.`,
    );
  }
  return found;
}

export function launchChromium(opts: LaunchOptions = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    ...opts,
    args: [...CHROMIUM_ARGS, ...(opts.args ?? [])],
  });
}
