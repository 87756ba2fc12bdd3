import { Link, NavLink, useNavigate } from 'react-router';
import { useCartQuery, useLogoutMutation, useMeQuery } from '../api/api';
import { useAppSelector } from '../store/hooks';
import { selectIsAdmin, selectIsSignedIn, selectUser } from '../store/authSlice';

export function Header() {
  const signedIn = useAppSelector(selectIsSignedIn);
  const user = useAppSelector(selectUser);
  const isAdmin = useAppSelector(selectIsAdmin);
  // Confirms the stored session (and the role) once per visit.
  useMeQuery(undefined, { skip: !signedIn });
  const { data: cart } = useCartQuery();
  const [logout, { isLoading: signingOut }] = useLogoutMutation();
  const navigate = useNavigate();
  const count = cart?.itemCount ?? 0;

  return (
    <header className="site-header">
      <div className="container header-row">
        <Link to="/" className="brand">
          shopmesh
        </Link>
        <nav aria-label="Main" className="main-nav">
          <NavLink to="/" end>
            Shop
          </NavLink>
          {signedIn ? <NavLink to="/orders">Orders</NavLink> : null}
          {isAdmin ? <NavLink to="/admin">Admin</NavLink> : null}
        </nav>
        <div className="header-actions">
          {signedIn ? (
            <>
              <span className="greeting">Hi, {user?.name ?? 'there'}</span>
              <NavLink to="/account/password">Password</NavLink>
              <button
                type="button"
                className="button link"
                disabled={signingOut}
                onClick={() => {
                  void logout().then(() => navigate('/'));
                }}
              >
                Sign out
              </button>
            </>
          ) : (
            <>
              <NavLink to="/login">Sign in</NavLink>
              <NavLink to="/register">Register</NavLink>
            </>
          )}
          <NavLink to="/cart" className="cart-link" aria-label={`Cart, ${count} ${count === 1 ? 'item' : 'items'}`}>
            Cart <span className="cart-count" data-testid="cart-count">{count}</span>
          </NavLink>
        </div>
      </div>
    </header>
  );
}
