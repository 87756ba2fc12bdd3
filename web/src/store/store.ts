// The Redux store: RTK Query's cache plus the auth slice. When the viewer changes (sign in,
// a session restored at start-up, sign out) a listener refetches what depends on who is
// asking: `me`, the cart (the BFF merged the guest cart at login) and orders. Nothing of
// the session is stored in the browser's storage: the access token lives in memory and the
// refresh token in the BFF's HttpOnly cookie.
import { configureStore, createListenerMiddleware, isAnyOf } from '@reduxjs/toolkit';
import { setupListeners } from '@reduxjs/toolkit/query';
import { api } from '../api/api';
import { refreshSession } from '../api/session';
import { forgetCheckoutAddress } from '../lib/checkoutAddress';
import {
  authReducer,
  forgetStoredAuth,
  restoreFinished,
  restoreStarted,
  signedIn,
  signedOut,
  tokensRefreshed,
  type AuthState,
} from './authSlice';

const signedOutState: AuthState = { accessToken: null, user: null, restoring: false };

export function makeStore(preloadedAuth: AuthState = signedOutState, storage?: Storage) {
  forgetStoredAuth(storage);
  const listener = createListenerMiddleware();
  const store = configureStore({
    reducer: { auth: authReducer, [api.reducerPath]: api.reducer },
    preloadedState: { auth: preloadedAuth },
    middleware: (getDefault) => getDefault().prepend(listener.middleware).concat(api.middleware),
  });

  listener.startListening({
    matcher: isAnyOf(signedIn, signedOut),
    effect: (_action, listenerApi) => {
      // Invalidation refetches what is on screen and drops unused entries, so one viewer's
      // orders never show for the next.
      listenerApi.dispatch(api.util.invalidateTags(['Me', 'Cart', 'Order']));
    },
  });
  listener.startListening({
    actionCreator: signedOut,
    // The next person at this browser does not get the last shipping address.
    effect: () => forgetCheckoutAddress(),
  });
  return store;
}

export type AppStore = ReturnType<typeof makeStore>;

/**
 * At start-up: a reload keeps the user signed in by exchanging the refresh cookie (if any)
 * for an access token. Pages that need a user wait for it (`restoring`) instead of showing
 * "sign in" for a moment.
 */
export async function restoreSession(store: AppStore, fetchFn?: typeof fetch): Promise<void> {
  if (store.getState().auth.accessToken) return;
  store.dispatch(restoreStarted());
  const outcome = await refreshSession(fetchFn);
  if (outcome.kind === 'refreshed') {
    store.dispatch(tokensRefreshed(outcome.session));
    store.dispatch(api.util.invalidateTags(['Me', 'Cart', 'Order']));
  } else {
    store.dispatch(restoreFinished());
  }
}
export type RootState = ReturnType<AppStore['getState']>;
export type AppDispatch = AppStore['dispatch'];

export function setupRefetchOnFocus(store: AppStore): () => void {
  return setupListeners(store.dispatch);
}
