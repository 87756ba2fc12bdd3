import { describe, expect, it } from 'vitest';
import { waitFor } from '@testing-library/react';
import { api } from '../api/api';
import { makeStore, restoreSession } from './store';
import { AUTH_STORAGE_KEY, selectIsAdmin, signedIn } from './authSlice';
import { cart, gqlError, json, mockGraphQL, user } from '../test/utils';

describe('store', () => {
  it('keeps no session in storage and scrubs the token pair an older version stored', () => {
    localStorage.setItem(AUTH_STORAGE_KEY, JSON.stringify({ accessToken: 'a', refreshToken: 'r', user: user('ADMIN') }));
    const store = makeStore();
    expect(localStorage.getItem(AUTH_STORAGE_KEY)).toBeNull();
    expect(store.getState().auth.accessToken).toBeNull();
    expect(selectIsAdmin(store.getState())).toBe(false);
  });

  it('restores the session at start-up through the refresh cookie', async () => {
    const fake = mockGraphQL({
      '/auth/refresh': () => ({ accessToken: 'fresh', expiresIn: 900, user: user('ADMIN') }),
    });
    const store = makeStore();
    const restoring = restoreSession(store);
    expect(store.getState().auth.restoring).toBe(true);
    await restoring;
    expect(store.getState().auth).toMatchObject({ accessToken: 'fresh', restoring: false });
    expect(selectIsAdmin(store.getState())).toBe(true);
    expect(fake.sent('/auth/refresh')).toHaveLength(1);
  });

  it('starts as a guest when there is no session cookie or the shop is unreachable', async () => {
    mockGraphQL({ '/auth/refresh': () => json(gqlError('UNAUTHENTICATED', 'no session: sign in'), 401) });
    const store = makeStore();
    await restoreSession(store);
    expect(store.getState().auth).toEqual({ accessToken: null, user: null, restoring: false });

    mockGraphQL({
      '/auth/refresh': () => {
        throw new TypeError('Failed to fetch');
      },
    });
    const offline = makeStore();
    await restoreSession(offline);
    expect(offline.getState().auth).toEqual({ accessToken: null, user: null, restoring: false });
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
          ? { data: { login: { accessToken: 'acc', expiresIn: 900, user: user() } } }
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
    expect(store.getState().auth).toMatchObject({ accessToken: 'acc' });
    // The access token stays in memory only.
    expect(localStorage.getItem(AUTH_STORAGE_KEY)).toBeNull();
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

  it('logs out on the server (which clears the cookie) and forgets the session even if that fails', async () => {
    const fake = mockGraphQL({ '/auth/logout': () => json(gqlError('UNAVAILABLE'), 503) });
    const store = makeStore({ accessToken: 'a', user: user(), restoring: false });
    store.dispatch(signedIn({ accessToken: 'a', expiresIn: 1, user: user() }));
    await store.dispatch(api.endpoints.logout.initiate());
    const sent = fake.sent('/auth/logout');
    expect(sent).toHaveLength(1);
    expect(sent[0]?.headers['Content-Type']).toBe('application/json');
    expect(store.getState().auth).toEqual({ accessToken: null, user: null, restoring: false });

    mockGraphQL({
      '/auth/logout': () => {
        throw new TypeError('offline');
      },
    });
    store.dispatch(signedIn({ accessToken: 'b', expiresIn: 1, user: user() }));
    await store.dispatch(api.endpoints.logout.initiate());
    expect(store.getState().auth.accessToken).toBeNull();
  });
});
