import { describe, expect, it } from 'vitest';
import { waitFor } from '@testing-library/react';
import { api } from '../api/api';
import { makeStore } from './store';
import { AUTH_STORAGE_KEY, loadAuth, selectIsAdmin, signedIn } from './authSlice';
import { cart, gqlError, mockGraphQL, user } from '../test/utils';

describe('store', () => {
  it('restores a stored session and ignores a corrupt one', () => {
    localStorage.setItem(AUTH_STORAGE_KEY, JSON.stringify({ accessToken: 'a', refreshToken: 'r', user: user('ADMIN') }));
    const store = makeStore();
    expect(store.getState().auth.accessToken).toBe('a');
    expect(selectIsAdmin(store.getState())).toBe(true);

    localStorage.setItem(AUTH_STORAGE_KEY, '{not json');
    expect(loadAuth()).toEqual({ accessToken: null, refreshToken: null, user: null });
    localStorage.setItem(AUTH_STORAGE_KEY, JSON.stringify({ accessToken: 1 }));
    expect(loadAuth().accessToken).toBeNull();
  });

  it('signs in, keeps the tokens, and refetches the (merged) cart', async () => {
    const guestCart = cart([{ sku: 'KIT-001', quantity: 1, unitMinor: 500 }]);
    const merged = cart([
      { sku: 'KIT-001', quantity: 1, unitMinor: 500 },
      { sku: 'OUT-002', quantity: 2, unitMinor: 700 },
    ]);
    const fake = mockGraphQL({
      Cart: (_v, req) => ({ data: { cart: req.headers.Authorization ? merged : guestCart } }),
      Login: (vars) =>
        vars.password === 'correct horse'
          ? { data: { login: { accessToken: 'acc', refreshToken: 'ref', expiresIn: 900, user: user() } } }
          : gqlError('UNAUTHENTICATED', 'wrong email or password'),
      Me: () => ({ data: { me: user() } }),
    });
    const store = makeStore();
    const sub = store.dispatch(api.endpoints.cart.initiate());
    await sub;
    expect(api.endpoints.cart.select()(store.getState()).data?.itemCount).toBe(1);

    const bad = await store.dispatch(api.endpoints.login.initiate({ email: 'ada@example.com', password: 'nope' }));
    expect(bad.error).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(store.getState().auth.accessToken).toBeNull();

    await store.dispatch(api.endpoints.login.initiate({ email: 'ada@example.com', password: 'correct horse' }));
    expect(store.getState().auth).toMatchObject({ accessToken: 'acc', refreshToken: 'ref' });
    expect(JSON.parse(localStorage.getItem(AUTH_STORAGE_KEY) ?? '{}')).toMatchObject({ accessToken: 'acc' });
    await waitFor(() => expect(api.endpoints.cart.select()(store.getState()).data?.itemCount).toBe(3));
    expect(fake.sent('Login').every((r) => !r.headers.Authorization)).toBe(true);
    expect(fake.sent('Cart').at(-1)?.headers.Authorization).toBe('Bearer acc');
    sub.unsubscribe();
  });

  it('writes the cart a mutation returns into the cache', async () => {
    const after = cart([{ sku: 'KIT-001', quantity: 3, unitMinor: 500 }]);
    const fake = mockGraphQL({
      Cart: () => ({ data: { cart: cart([]) } }),
      AddToCart: () => ({ data: { addToCart: after } }),
    });
    const store = makeStore();
    const sub = store.dispatch(api.endpoints.cart.initiate());
    await sub;
    await store.dispatch(api.endpoints.addToCart.initiate({ sku: 'KIT-001', quantity: 3 }));
    expect(api.endpoints.cart.select()(store.getState()).data).toEqual(after);
    expect(fake.sent('Cart')).toHaveLength(1);
    sub.unsubscribe();
  });

  it('logs out on the server and forgets the session even if that fails', async () => {
    const fake = mockGraphQL({ Logout: () => gqlError('UNAVAILABLE') });
    const store = makeStore({ accessToken: 'a', refreshToken: 'r', user: user() });
    store.dispatch(signedIn({ accessToken: 'a', refreshToken: 'r', expiresIn: 1, user: user() }));
    await store.dispatch(api.endpoints.logout.initiate());
    expect(fake.sent('Logout')[0]?.variables).toEqual({ refreshToken: 'r' });
    expect(store.getState().auth).toEqual({ accessToken: null, refreshToken: null, user: null });
    expect(localStorage.getItem(AUTH_STORAGE_KEY)).toBeNull();
  });
});
