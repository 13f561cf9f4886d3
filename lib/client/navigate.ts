/** Leaving the page for the server's login and logout routes. */

/** `{basePath}/login?returnTo=…`, by default back to this page (path and query). */
export const loginUrl = (basePath: string, returnTo?: string): string =>
  basePath + '/login?returnTo=' + encodeURIComponent(returnTo || location.pathname + location.search);

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
