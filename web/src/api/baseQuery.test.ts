// The UNAUTHENTICATED → refresh through the HttpOnly cookie → retry-once flow, against a
// fake BFF. The app never holds a refresh token: it only calls POST /auth/refresh.
import { describe, expect, it } from 'vitest';
import { api } from './api';
import { makeStore } from '../store/store';
import { AUTH_STORAGE_KEY } from '../store/authSlice';
import { gqlError, json, mockGraphQL, signedInAuth, user } from '../test/utils';

const session = (n: number) => ({ accessToken: `access-${n}`, expiresIn: 900, user: user() });

describe('graphql baseQuery', () => {
  it('refreshes an expired access token through the cookie once and retries with the new one', async () => {
    const fake = mockGraphQL({
      Me: (_v, req) => (req.headers.Authorization === 'Bearer access-2' ? { data: { me: user() } } : gqlError('UNAUTHENTICATED')),
      '/auth/refresh': () => session(2),
    });
    const store = makeStore(signedInAuth());
    const result = await store.dispatch(api.endpoints.me.initiate());
    expect(result.data).toEqual(user());
    expect(fake.sent('Me')).toHaveLength(2);
    const refreshes = fake.sent('/auth/refresh');
    expect(refreshes).toHaveLength(1);
    // No token of any kind in the request: the cookie carries the session; JSON is the CSRF guard.
    expect(refreshes[0]?.headers.Authorization).toBeUndefined();
    expect(refreshes[0]?.headers['Content-Type']).toBe('application/json');
    expect(refreshes[0]?.credentials).toBe('same-origin');
    expect(store.getState().auth).toMatchObject({ accessToken: 'access-2' });
    expect(JSON.stringify(store.getState().auth)).not.toMatch(/refresh/i);
    expect(localStorage.getItem(AUTH_STORAGE_KEY)).toBeNull();
  });

  it('shares one refresh between requests that fail together', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fake = mockGraphQL({
      Me: (_v, req) => (req.headers.Authorization === 'Bearer access-2' ? { data: { me: user() } } : gqlError('UNAUTHENTICATED')),
      Cart: (_v, req) =>
        req.headers.Authorization === 'Bearer access-2'
          ? { data: { cart: { id: 'c', items: [], itemCount: 0, subtotal: { amountMinor: 0, currency: 'EUR', formatted: '0.00 EUR' } } } }
          : gqlError('UNAUTHENTICATED'),
      '/auth/refresh': async () => {
        await gate;
        return session(2);
      },
    });
    const store = makeStore(signedInAuth());
    const me = store.dispatch(api.endpoints.me.initiate());
    const cart = store.dispatch(api.endpoints.cart.initiate());
    await new Promise((r) => setTimeout(r, 20));
    release();
    expect((await me).data).toEqual(user());
    expect((await cart).data?.id).toBe('c');
    // A second refresh with the spent cookie would have failed and signed the user out.
    expect(fake.sent('/auth/refresh')).toHaveLength(1);
  });

  it('signs out when the session is refused', async () => {
    const fake = mockGraphQL({
      Orders: () => gqlError('UNAUTHENTICATED'),
      '/auth/refresh': () => json(gqlError('UNAUTHENTICATED', 'the session has ended: sign in'), 401),
    });
    const store = makeStore(signedInAuth());
    const result = await store.dispatch(api.endpoints.orders.initiate());
    expect(result.error).toMatchObject({ code: 'UNAUTHENTICATED' });
    // No retry with a token; what is on screen refetches as a guest after signing out.
    expect(fake.sent('Orders').filter((r) => r.headers.Authorization)).toHaveLength(1);
    expect(store.getState().auth.accessToken).toBeNull();
  });

  it('keeps the session when the refresh could not reach the server', async () => {
    mockGraphQL({
      Me: () => gqlError('UNAUTHENTICATED'),
      '/auth/refresh': () => json(gqlError('UNAVAILABLE'), 503),
    });
    const store = makeStore(signedInAuth());
    const result = await store.dispatch(api.endpoints.me.initiate());
    expect(result.error).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(store.getState().auth.accessToken).toBe('access-1');
  });

  it('does not refresh for a guest (no token was sent)', async () => {
    const fake = mockGraphQL({
      Checkout: () => gqlError('UNAUTHENTICATED'),
      '/auth/refresh': () => session(2),
    });
    const store = makeStore();
    const result = await store.dispatch(
      api.endpoints.checkout.initiate({
        paymentMethod: 'pm_card_visa',
        idempotencyKey: 'k',
        shippingAddress: { name: 'A', line1: 'B', city: 'C', postalCode: '1', country: 'DE' },
      }),
    );
    expect(result.error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'Please sign in to continue.' });
    expect(fake.sent('/auth/refresh')).toHaveLength(0);
  });

  it('passes other errors through untouched', async () => {
    const fake = mockGraphQL({ Me: () => gqlError('FORBIDDEN', 'no') });
    const store = makeStore(signedInAuth());
    const result = await store.dispatch(api.endpoints.me.initiate());
    expect(result.error).toMatchObject({ code: 'FORBIDDEN' });
    expect(fake.requests).toHaveLength(1);
  });
});
