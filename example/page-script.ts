// The page's browser script (plain DOM, no framework), inlined with the CSP nonce: the live panel, the token
// timeline, the API button and "your devices". Everything it knows comes from the observer's snapshot or
// from the app's JSON routes; no token ever reaches it. (String.raw: the JS below keeps its backslashes.)
export const PAGE_SCRIPT = String.raw`
const $ = (id) => document.getElementById(id);
const log = (text) => { $('log').textContent += new Date().toLocaleTimeString() + '  ' + text + '\n'; };
const names = ['onUnauthenticated','onSessionExpired','onAccessTokenExpired','onAccessTokenError','onIdTokenExpired','onIdTokenError','onJwtExpired','onJwtError','onSignOut','onSignIn','onSessionUpdate'];
const session = OidcSession.useSession({ ...Object.fromEntries(names.map((n) => [n, () => log(n)])), refetchOnWindowFocus: true });
// Calls below go through session.fetch: it sends X-OIDC-Session: 1 (the header remoteApi and our POST route
// require), and a 401 "unauthenticated" moves the observer, and every tab, to signed out.

// Expiries are on the server's clock. Each answer's "now" reaches us a little late, so the largest
// (server now - our now) seen is the best estimate of the difference.
let skew = -Infinity;
const serverNow = () => Date.now() + (skew > -Infinity ? skew : 0);
const left = (ms) => {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? s + ' s' : s < 7200 ? Math.round(s / 60) + ' min' : s < 172800 ? Math.round(s / 3600) + ' h' : Math.round(s / 86400) + ' d';
};
const clock = (t) => new Date(t).toLocaleTimeString();

// The timeline: one bar per lifetime, the part of it still left. A lifetime is the longest time left this
// tab has seen for that bar (kept across reloads), or iat to exp for the session JWT; a refresh fills it up.
const BARS = [['accessTokenExpires', 'access token'], ['idTokenExpires', 'ID token'], ['jwtExpires', 'session JWT'], ['expires', 'session']];
const lives = JSON.parse(sessionStorage.getItem('example-lifetimes') || '{}');
const last = {};
for (const [key, label] of BARS) {
  const row = document.createElement('div');
  row.className = 'row';
  row.id = 'bar-' + key;
  const name = document.createElement('span');
  name.textContent = label;
  const track = document.createElement('div');
  track.className = 'track';
  const bar = document.createElement('div');
  bar.className = 'bar';
  track.append(bar);
  const text = document.createElement('span');
  text.className = 'left';
  row.append(name, track, text);
  $('timeline').append(row);
}
function drawTimeline(d) {
  const now = serverNow();
  for (const [key] of BARS) {
    const row = $('bar-' + key), bar = row.querySelector('.bar'), text = row.querySelector('.left');
    const until = d && d[key];
    row.classList.toggle('absent', !until);
    if (!until) {
      bar.style.width = '0';
      text.textContent = '–';
      continue;
    }
    const iat = key === 'jwtExpires' && d.jwtPayload && d.jwtPayload.iat;
    const life = iat ? until - iat * 1000 : (lives[key] = Math.max(lives[key] || 0, until - now));
    const share = Math.min(1, Math.max(0, (until - now) / life));
    // CSSOM, not a style attribute: allowed by the page's style-src nonce policy.
    bar.style.width = (share * 100).toFixed(2) + '%';
    bar.classList.toggle('low', share < 0.2);
    if (last[key] && until > last[key]) {
      bar.classList.remove('renewed');
      void bar.offsetWidth; // restarts the animation
      bar.classList.add('renewed');
    }
    last[key] = until;
    text.textContent = until > now ? left(until - now) : 'expired';
    text.title = 'expires at ' + clock(until);
  }
  sessionStorage.setItem('example-lifetimes', JSON.stringify(lives));
}

// The API through remoteApi: the server adds the access token, the API checks it at the provider.
let apiSaw;
$('call-api').addEventListener('click', async () => {
  $('api-status').textContent = 'GET /api/orders …';
  $('api-body').textContent = '';
  try {
    const res = await session.fetch('/api/orders', { headers: { accept: 'application/json' } });
    const body = await res.json().catch(() => null);
    $('api-status').textContent = res.status + ' ' + (res.ok ? 'from the example API' : 'refused');
    $('api-body').textContent = JSON.stringify(body, null, 2);
    apiSaw = body && body.tokenExpiresAt;
  } catch (err) {
    $('api-status').textContent = 'failed: ' + err.message;
  }
  render();
});

// "Your devices": the sessions of this user, each with a button that ends it.
async function loadDevices() {
  const rows = $('devices');
  if (session.getSnapshot().state !== 'authenticated') {
    rows.replaceChildren();
    $('devices-note').textContent = 'Sign in to see your devices.';
    return;
  }
  const res = await session.fetch('/api/devices', { headers: { accept: 'application/json' } });
  rows.replaceChildren();
  if (!res.ok) {
    $('devices-note').textContent = 'Could not list them (' + res.status + ').';
    return;
  }
  const list = await res.json();
  $('devices-note').textContent = list.length + ' session(s)';
  for (const device of list) {
    const tr = document.createElement('tr');
    const cells = [(device.userAgent || 'unknown browser') + (device.current ? ' (this one)' : ''),
      clock(device.createdAt), clock(device.lastActiveAt), 'in ' + left(device.expiresAt - serverNow())];
    for (const value of cells) tr.insertCell().textContent = value;
    const end = document.createElement('button');
    end.textContent = 'End this session';
    end.addEventListener('click', () => endDevice(device));
    tr.insertCell().append(end);
    rows.append(tr);
  }
}
async function endDevice(device) {
  const res = await session.fetch('/api/devices/end', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ handle: device.handle }),
  });
  log('end session: ' + res.status);
  // Ending our own: the observer asks the server, switches to signed out and tells the other tabs.
  if (device.current) await session.refetch();
  else void loadDevices();
}
$('reload-devices').addEventListener('click', () => void loadDevices());

let state;
function render() {
  const s = session.getSnapshot();
  if (s.data) skew = Math.max(skew, s.data.now - Date.now());
  $('state').textContent = s.state + (s.error ? ' (error: ' + s.error.message + ')' : '');
  $('who').textContent = s.user ? 'Signed in as ' + (s.user.name || s.user.sub) : 'Signed out';
  $('sign-in').hidden = s.state === 'authenticated';
  $('sign-out').hidden = s.state !== 'authenticated';
  drawTimeline(s.data);
  $('api-expiry').textContent = apiSaw ? 'The token the API saw expires in ' + left(apiSaw - serverNow()) + ' (' + clock(apiSaw) + ').' : '';
  if (s.state !== state && s.state !== 'loading') void loadDevices();
  state = s.state;
}
session.subscribe(render);
render();
setInterval(render, 1000);
`;
