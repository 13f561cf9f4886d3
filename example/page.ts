// The example's one page: server-rendered state plus a live panel that the browser observer keeps current.
import type { Session } from '../lib/index.js';

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderPage(session: Session | null, bootstrap: string, nonce: string): string {
  const who = session ? `Signed in as <b>${escape(String(session.user.name ?? session.user.sub))}</b>` : 'Signed out';
  const button = session
    ? '<form method="post" action="/auth/logout"><button>Sign out</button></form>'
    : '<a href="/auth/login?returnTo=/"><button>Sign in</button></a>';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>express-oidc-session example</title>
<style>body{font:16px system-ui;margin:2rem;max-width:48rem} td{padding:.2rem .8rem} #log{font:13px monospace;white-space:pre;background:#f4f4f4;padding:.5rem;min-height:6rem}</style>
${bootstrap}
</head><body>
<h1>express-oidc-session</h1>
<p id="who">${who}</p>
${button}
<p><a href="/api/me">/api/me</a> (requiresAuth) · <a href="/auth/session">/auth/session</a></p>
<h2>Live session</h2>
<table>
<tr><td>state</td><td id="state"></td></tr>
<tr><td>user</td><td id="user"></td></tr>
<tr><td>access token expires in</td><td id="at"></td></tr>
<tr><td>ID token expires in</td><td id="idt"></td></tr>
<tr><td>session JWT expires in</td><td id="jwt"></td></tr>
<tr><td>session expires in</td><td id="exp"></td></tr>
</table>
<h3>Callbacks</h3><div id="log"></div>
<script nonce="${nonce}">
const log = (name) => { document.getElementById('log').textContent += new Date().toLocaleTimeString() + '  ' + name + '\\n'; };
const names = ['onUnauthenticated','onSessionExpired','onAccessTokenExpired','onAccessTokenError','onIdTokenExpired','onIdTokenError','onJwtExpired','onJwtError','onSignOut','onSignIn','onSessionUpdate'];
const callbacks = Object.fromEntries(names.map((n) => [n, () => log(n)]));
const session = OidcSession.useSession({ ...callbacks, refetchOnWindowFocus: true });
const left = (t) => t ? Math.max(0, Math.round((t - Date.now()) / 1000)) + ' s' : '–';
function render() {
  const s = session.getSnapshot();
  document.getElementById('state').textContent = s.state + (s.error ? ' (error: ' + s.error.message + ')' : '');
  document.getElementById('user').textContent = s.user ? (s.user.name || s.user.sub) : '–';
  const d = s.data || {};
  document.getElementById('at').textContent = left(d.accessTokenExpires);
  document.getElementById('idt').textContent = left(d.idTokenExpires);
  document.getElementById('jwt').textContent = left(d.jwtExpires);
  document.getElementById('exp').textContent = left(d.expires);
  document.getElementById('who').textContent = s.user ? 'Signed in as ' + (s.user.name || s.user.sub) : 'Signed out';
}
session.subscribe(render);
render();
setInterval(render, 1000);
</script>
</body></html>`;
}
