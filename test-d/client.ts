// The browser observer's types (express-oidc-session/client and /react, without JSX): the
// snapshot is a union on `state`, and subscribe() hands the listener the snapshot.
import { getSession, type SessionSnapshot, type SessionUser, useSession } from 'express-oidc-session/client';
import type { UseSessionResult, useSession as useReactSession } from 'express-oidc-session/react';
import { assert, type Equal } from './expect.js';

// The README samples.
const session = useSession({ onSignOut: () => location.reload() });
session.subscribe((s) => {
  document.title = s.user ? (s.user.name ?? s.user.sub) : 'Signed out';
});

const show = (s: SessionSnapshot) => (s.state === 'authenticated' ? `Signed in as ${s.user.name ?? s.user.sub}` : 'Signed out');
useSession().subscribe((s) => {
  document.title = show(s);
});

// The listener's argument is the snapshot; unsubscribe is a function.
const unsubscribe = session.subscribe((s) => {
  assert<Equal<typeof s, SessionSnapshot>>(true);
  if (s.state === 'authenticated') {
    assert<Equal<typeof s.user, SessionUser>>(true);
    const expires: number = s.expires;
    const sub: string = s.data.user.sub;
    console.log(expires, sub, s.jwt, s.jwtPayload?.exp);
  } else {
    assert<Equal<typeof s.user, undefined>>(true);
    assert<Equal<typeof s.data, null>>(true);
  }
});
unsubscribe();
// A listener that ignores the snapshot still fits (React's useSyncExternalStore passes one of those).
session.subscribe(() => {});

const snapshot = session.getSnapshot();
// @ts-expect-error: `user` may be absent until `state` is checked.
console.log(snapshot.user.name);
assert<Equal<typeof snapshot.state, 'loading' | 'authenticated' | 'unauthenticated'>>(true);
if (snapshot.state === 'unauthenticated') snapshot.redirect();
snapshot.throwIfError();
const status: number = snapshot.status;
const loading: boolean = snapshot.loading;
console.log(status, loading, snapshot.error?.status, snapshot.headers['content-type']);

const refetched = await session.refetch({ refresh: true });
if (refetched.data) assert<Equal<typeof refetched.data.now, number>>(true);
await session.update({ theme: 'dark' });
session.signIn({ returnTo: '/account' });
session.signIn({ loginHint: 'alice@example.com', uiLocales: 'fr en' });
session.signIn({ silent: true });
session.signIn({ acrValues: 'urn:example:mfa', maxAge: 300, prompt: 'login' });
// @ts-expect-error: prompt is one of its values
session.signIn({ prompt: 'evil' });
session.signOut();

const once = await getSession({ basePath: '/auth' });
if (once) console.log(once.user.sub, once.error);

// The hook's result is the same union plus the actions (called outside React here: types only).
declare const result: UseSessionResult;
if (result.state === 'authenticated') assert<Equal<typeof result.user, SessionUser>>(true);
void result.refetch();
assert<Equal<ReturnType<typeof useReactSession>, UseSessionResult>>(true);
