// The Redux store: RTK Query's cache plus the auth slice. A listener mirrors the session to
// localStorage and, when the viewer changes (sign in, sign out), refetches what depends on
// who is asking: `me`, the cart (the BFF merged the guest cart at login) and orders.
import { configureStore, createListenerMiddleware, isAnyOf } from '@reduxjs/toolkit';
import { setupListeners } from '@reduxjs/toolkit/query';
import { api } from '../api/api';
import { authReducer, loadAuth, saveAuth, signedIn, signedOut, tokensRefreshed, userLoaded, type AuthState } from './authSlice';

export function makeStore(preloadedAuth: AuthState = loadAuth(), storage?: Storage) {
  const listener = createListenerMiddleware();
  const store = configureStore({
    reducer: { auth: authReducer, [api.reducerPath]: api.reducer },
    preloadedState: { auth: preloadedAuth },
    middleware: (getDefault) => getDefault().prepend(listener.middleware).concat(api.middleware),
  });

  listener.startListening({
    matcher: isAnyOf(signedIn, signedOut, tokensRefreshed, userLoaded),
    effect: (_action, listenerApi) => {
      saveAuth((listenerApi.getState() as { auth: AuthState }).auth, storage);
    },
  });
  listener.startListening({
    matcher: isAnyOf(signedIn, signedOut),
    effect: (_action, listenerApi) => {
      // Invalidation refetches what is on screen and drops unused entries, so one viewer's
      // orders never show for the next.
      listenerApi.dispatch(api.util.invalidateTags(['Me', 'Cart', 'Order']));
    },
  });
  return store;
}

export type AppStore = ReturnType<typeof makeStore>;
export type RootState = ReturnType<AppStore['getState']>;
export type AppDispatch = AppStore['dispatch'];

export function setupRefetchOnFocus(store: AppStore): () => void {
  return setupListeners(store.dispatch);
}
