import { describe, expect, it } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Header } from './Header';
import { cart, mockGraphQL, renderApp, signedInAuth, user } from '../test/utils';

describe('Header', () => {
  it('shows a guest the cart count and the way in', async () => {
    mockGraphQL({ Cart: () => ({ data: { cart: cart([{ sku: 'A1', quantity: 2, unitMinor: 100 }]) } }) });
    renderApp(<Header />);
    expect(await screen.findByRole('link', { name: 'Cart, 2 items' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.queryByRole('link', { name: 'Admin' })).not.toBeInTheDocument();
  });

  it('shows the admin link only to admins (as `me` reports the role)', async () => {
    mockGraphQL({
      Cart: () => ({ data: { cart: cart([]) } }),
      Me: () => ({ data: { me: user('ADMIN') } }),
    });
    // Stored as a customer; `me` says admin now.
    renderApp(<Header />, { auth: signedInAuth('CUSTOMER') });
    expect(screen.queryByRole('link', { name: 'Admin' })).not.toBeInTheDocument();
    expect(await screen.findByRole('link', { name: 'Admin' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Orders' })).toBeInTheDocument();
  });

  it('signs out', async () => {
    const fake = mockGraphQL({
      Cart: () => ({ data: { cart: cart([]) } }),
      Me: () => ({ data: { me: user() } }),
      '/auth/logout': () => new Response(null, { status: 204 }),
    });
    const { store } = renderApp(<Header />, { auth: signedInAuth() });
    await userEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    await waitFor(() => expect(store.getState().auth.accessToken).toBeNull());
    expect(fake.sent('/auth/logout')).toHaveLength(1);
    expect(await screen.findByRole('link', { name: 'Sign in' })).toBeInTheDocument();
  });
});
