/** Leaving the page for the server's login and logout routes. */

import type { SignInOptions } from './types.js';

/**
 * `{basePath}/login?returnTo=…`, by default back to this page (path and query). The other options go in the
 * query under their own names (`loginHint`, `silent`), which the login route maps to the OIDC ones: mapped here,
 * they would not fit the size budget.
 */
export const loginUrl = (basePath: string, o?: SignInOptions): string =>
  basePath + '/login?' + new URLSearchParams({ returnTo: location.pathname + location.search, ...o } as never);

/**
 * Submits a same-origin `<form method="post">` to `{basePath}/logout`: a real navigation, so the
 * server's redirect to the IdP's end-session endpoint works. `onLeave` runs as the page is left,
 * that is once the server has answered the POST.
 */
export const postLogout = (basePath: string, returnTo: string | undefined, onLeave: () => void): void => {
  addEventListener('pagehide', onLeave);
  const form = document.createElement('form');
  form.method = 'post';
  form.action = basePath + '/logout' + (returnTo ? '?returnTo=' + encodeURIComponent(returnTo) : '');
  document.body.appendChild(form).submit();
};
