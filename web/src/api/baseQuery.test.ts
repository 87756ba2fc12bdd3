// The UNAUTHENTICATED → refreshToken → retry-once flow, against a fake BFF.
import { describe, expect, it } from 'vitest';
import { api } from './api';
import { makeStore } from '../store/store';
import { AUTH_STORAGE_KEY } from '../store/authSlice';
import { gqlError, json, mockGraphQL, signedInAuth, user } from '../test/utils';

const authPayload = (n: number) => ({
  accessToken: `access-${n}`,
  refreshToken: `refresh-${n}`,
  expiresIn: 900,
  user: user(),
});

describe('graphql baseQuery', () => {
  it('refreshes an expired access token once and retries with the new one', async () => {
    const fake = mockGraphQL({
      Me: (_v, req) => (req.headers.Authorization === 'Bearer access-2' ? { data: { me: user() } } : gqlError('UNAUTHENTICATED')),
      RefreshToken: (vars) => (vars.refreshToken === 'refresh-1' ? { data: { refreshToken: authPayload(2) } } : gqlError('UNAUTHENTICATED')),
    });
    const store = makeStore(signedInAuth());
    const result = await store.dispatch(api.endpoints.me.initiate());
    expect(result.data).toEqual(user());
    expect(fake.sent('Me')).toHaveLength(2);
    expect(fake.sent('RefreshToken')).toHaveLength(1);
    expect(fake.sent('RefreshToken')[0]?.headers.Authorization).toBeUndefined();
    expect(store.getState().auth).toMatchObject({ accessToken: 'access-2', refreshToken: 'refresh-2' });
    expect(JSON.parse(localStorage.getItem(AUTH_STORAGE_KEY) ?? '{}')).toMatchObject({ refreshToken: 'refresh-2' });
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
      RefreshToken: async () => {
        await gate;
        return { data: { refreshToken: authPayload(2) } };
      },
    });
    const store = makeStore(signedInAuth());
    const me = store.dispatch(api.endpoints.me.initiate());
    const cart = store.dispatch(api.endpoints.cart.initiate());
    await new Promise((r) => setTimeout(r, 20));
    release();
    expect((await me).data).toEqual(user());
    expect((await cart).data?.id).toBe('c');
    // A second refresh with the spent token would have failed and signed the user out.
    expect(fake.sent('RefreshToken')).toHaveLength(1);
  });

  it('signs out when the refresh token is refused', async () => {
    const fake = mockGraphQL({
      Orders: () => gqlError('UNAUTHENTICATED'),
      RefreshToken: () => gqlError('UNAUTHENTICATED', 'refresh token revoked'),
    });
    const store = makeStore(signedInAuth());
    const result = await store.dispatch(api.endpoints.orders.initiate());
    expect(result.error).toMatchObject({ code: 'UNAUTHENTICATED' });
    // No retry with a token; what is on screen refetches as a guest after signing out.
    expect(fake.sent('Orders').filter((r) => r.headers.Authorization)).toHaveLength(1);
    expect(store.getState().auth.accessToken).toBeNull();
    expect(localStorage.getItem(AUTH_STORAGE_KEY)).toBeNull();
  });

  it('keeps the session when the refresh could not reach the server', async () => {
    mockGraphQL({
      Me: () => gqlError('UNAUTHENTICATED'),
      RefreshToken: () => json(gqlError('UNAVAILABLE'), 503),
    });
    const store = makeStore(signedInAuth());
    const result = await store.dispatch(api.endpoints.me.initiate());
    expect(result.error).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(store.getState().auth.refreshToken).toBe('refresh-1');
  });

  it('does not refresh for a guest (no token was sent)', async () => {
    const fake = mockGraphQL({
      Checkout: () => gqlError('UNAUTHENTICATED'),
      RefreshToken: () => ({ data: { refreshToken: authPayload(2) } }),
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
    expect(fake.sent('RefreshToken')).toHaveLength(0);
  });

  it('passes other errors through untouched', async () => {
    const fake = mockGraphQL({ Me: () => gqlError('FORBIDDEN', 'no') });
    const store = makeStore(signedInAuth());
    const result = await store.dispatch(api.endpoints.me.initiate());
    expect(result.error).toMatchObject({ code: 'FORBIDDEN' });
    expect(fake.requests).toHaveLength(1);
  });
});
