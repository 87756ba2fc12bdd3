// On every navigation to another page (not the first load, not a change of ?query on the
// same page): scroll to the top and move focus to the new page's main heading. A back or
// forward step (POP) leaves the scroll position to the browser.
import { useEffect, useRef } from 'react';
import { useLocation, useNavigationType } from 'react-router';
import { focusMainHeading } from '../lib/page';

export function RouteEffects({ mainId = 'main' }: { mainId?: string }) {
  const { pathname } = useLocation();
  const navigationType = useNavigationType();
  const previous = useRef<string | null>(null);
  const cancel = useRef<() => void>(() => undefined);

  useEffect(() => {
    const first = previous.current === null;
    const changed = previous.current !== pathname;
    previous.current = pathname;
    if (first || !changed) return;
    if (navigationType !== 'POP') window.scrollTo({ top: 0, left: 0, behavior: 'instant' });
    cancel.current();
    cancel.current = focusMainHeading(document.getElementById(mainId));
  }, [pathname, navigationType, mainId]);

  useEffect(() => () => cancel.current(), []);

  return null;
}
