// The example's one page: server-rendered state plus live parts that the browser observer keeps current
// (example/page-script.ts): the token timeline, the API button and "your devices".
import type { Session } from '../lib/index.js';
import { PAGE_SCRIPT } from './page-script.js';

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const STYLE = `body{font:16px system-ui;margin:2rem;max-width:52rem} td,th{padding:.2rem .8rem;text-align:left}
#log{font:13px monospace;white-space:pre;background:#f4f4f4;padding:.5rem;min-height:6rem}
pre{background:#f4f4f4;padding:.5rem;min-height:1rem}
#timeline .row{display:grid;grid-template-columns:8rem 1fr 5rem;gap:.8rem;align-items:center;margin:.3rem 0}
.track{height:1rem;background:#e6e6e6;border-radius:.5rem;overflow:hidden}
.bar{height:100%;width:0;background:#2b7cd3;transition:width 1s linear}
.bar.low{background:#d9822b}
.bar.renewed{animation:renewed 1.5s}
@keyframes renewed{from{background:#2fb344}}
.absent{color:#999}
.note{color:#666;font-size:14px}`;

export function renderPage(session: Session | null, bootstrap: string, nonce: string): string {
  const who = session ? `Signed in as <b>${escapeHtml(String(session.user.name ?? session.user.sub))}</b>` : 'Signed out';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>express-oidc-session example</title>
<style nonce="${nonce}">${STYLE}</style>
${bootstrap}
</head><body>
<h1>express-oidc-session</h1>
<p id="who">${who}</p>
<form id="sign-out" method="post" action="/auth/logout"${session ? '' : ' hidden'}><button>Sign out</button></form>
<a id="sign-in" href="/auth/login?returnTo=/"${session ? ' hidden' : ''}><button>Sign in</button></a>
<p><a href="/api/me">/api/me</a> (requiresAuth) · <a href="/auth/session">/auth/session</a> · state: <span id="state"></span></p>

<h2>Token timeline</h2>
<div id="timeline"></div>
<p class="note">Time left of each lifetime, on the server's clock. The access token lives a minute: when it
runs out the observer asks the server, which refreshes it, and its bar fills up again.</p>

<h2>Call an API (through the server)</h2>
<p class="note"><code>GET /api/orders</code> goes through <code>remoteApi()</code>, which adds your access token; the
example API checks it at the provider. The browser never sees the token.</p>
<button id="call-api">Call the API</button>
<p id="api-status"></p><pre id="api-body"></pre><p id="api-expiry"></p>

<h2>Your devices</h2>
<p id="devices-note" class="note"></p>
<table><thead><tr><th>browser</th><th>signed in</th><th>last active</th><th>expires</th><th></th></tr></thead>
<tbody id="devices"></tbody></table>
<button id="reload-devices">Reload</button>

<h3>Callbacks</h3><div id="log"></div>
<script nonce="${nonce}">${PAGE_SCRIPT}</script>
</body></html>`;
}
