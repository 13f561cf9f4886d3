// The README's React sample: `session.user` narrows once `state` is checked.
import { useSession } from 'express-oidc-session/react';

export function Profile() {
  const session = useSession({ required: true });
  return session.state === 'authenticated' ? <p>{session.user.name}</p> : null;
}

export function SignOut() {
  const session = useSession();
  if (session.state !== 'authenticated') return <p>Loading…</p>;
  return <button onClick={() => session.signOut()}>Sign out {session.user.name ?? session.user.sub}</button>;
}
