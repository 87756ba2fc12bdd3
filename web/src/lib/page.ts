// Per-page document titles and what happens on navigation in a single-page app, where the
// browser does neither by itself: the title names the page ("Cart · shopmesh"), the new
// page starts at the top, and keyboard and screen reader users land on its main heading
// instead of wherever focus was (often nowhere: the link they pressed is gone).
import { useEffect } from 'react';

export const SITE_NAME = 'shopmesh';

export function pageTitle(title: string | null | undefined): string {
  return title ? `${title} · ${SITE_NAME}` : SITE_NAME;
}

/**
 * Sets `document.title` to "<title> · shopmesh". `undefined` leaves the title to a child:
 * React runs a child's effects before its parent's, so a wrapper (RequireSignIn) that
 * renders the page passes undefined rather than overwrite the page's own title.
 */
export function usePageTitle(title: string | undefined): void {
  useEffect(() => {
    if (title !== undefined) document.title = pageTitle(title);
  }, [title]);
}

/** How long a page may take to render its heading (a product still loading) before focus
 * is left alone. */
export const HEADING_WAIT_MS = 5000;

/**
 * Moves focus to the main heading (the first h1 in `root`) as soon as it is rendered, unless
 * the user has put focus somewhere themselves in the meantime. The heading gets
 * tabIndex=-1 so it can hold focus without becoming a tab stop. Returns a cancel function.
 */
export function focusMainHeading(root: HTMLElement | null, waitMs = HEADING_WAIT_MS): () => void {
  if (!root) return () => undefined;
  const before = document.activeElement;
  let observer: MutationObserver | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    observer?.disconnect();
    observer = null;
    if (timer !== undefined) clearTimeout(timer);
  };
  const tryFocus = (): boolean => {
    const heading = root.querySelector('h1');
    if (!heading) return false;
    const current = document.activeElement;
    const untouched = current === before || current === null || current === document.body || !current.isConnected;
    if (untouched) {
      if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
    return true;
  };
  if (tryFocus()) return stop;
  observer = new MutationObserver(() => {
    if (tryFocus()) stop();
  });
  observer.observe(root, { childList: true, subtree: true });
  timer = setTimeout(stop, waitMs);
  return stop;
}
