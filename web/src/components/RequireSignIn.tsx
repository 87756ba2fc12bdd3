import type { ReactNode } from 'react';
import { Link, useLocation } from 'react-router';
import { useAppSelector } from '../store/hooks';
import { selectIsAdmin, selectIsRestoring, selectIsSignedIn } from '../store/authSlice';
import { usePageTitle } from '../lib/page';

export function RequireSignIn({ children, why }: { children: ReactNode; why: string }) {
  const signedIn = useAppSelector(selectIsSignedIn);
  const restoring = useAppSelector(selectIsRestoring);
  const location = useLocation();
  // The page inside names itself; only the stand-ins here need a title of their own.
  usePageTitle(signedIn ? undefined : restoring ? 'Checking your session' : 'Sign in');
  if (signedIn) return <>{children}</>;
  if (restoring) {
    return (
      <section className="panel narrow" aria-busy="true">
        <p>Checking your session…</p>
      </section>
    );
  }
  const next = encodeURIComponent(location.pathname + location.search);
  return (
    <section className="panel narrow">
      <h1>Sign in</h1>
      <p>{why}</p>
      <p className="actions">
        <Link className="button primary" to={`/login?next=${next}`}>
          Sign in
        </Link>
        <Link className="button" to={`/register?next=${next}`}>
          Create an account
        </Link>
      </p>
    </section>
  );
}

export function RequireAdmin({ children }: { children: ReactNode }) {
  const isAdmin = useAppSelector(selectIsAdmin);
  const signedIn = useAppSelector(selectIsSignedIn);
  usePageTitle(signedIn && !isAdmin ? 'Not allowed' : undefined);
  return (
    <RequireSignIn why="The admin area is for shop staff. Sign in with an admin account.">
      {isAdmin ? (
        children
      ) : (
        <section className="panel narrow">
          <h1>Not allowed</h1>
          <p>Your account does not have access to the admin area.</p>
        </section>
      )}
    </RequireSignIn>
  );
}
