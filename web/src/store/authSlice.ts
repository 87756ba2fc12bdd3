// Who is signed in: the access token and the user. Held in memory only. The refresh token
// never reaches script: the BFF keeps it in an HttpOnly cookie scoped to /auth, so an
// injected script cannot steal a long-lived session. A reload renews the access token
// through that cookie (`restoreSession` in store.ts), and so does an UNAUTHENTICATED answer
// (baseQuery.ts).
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { SessionPayload, User } from '../api/models';

export interface AuthState {
  accessToken: string | null;
  user: User | null;
  /** The start-up refresh through the cookie has not answered yet. */
  restoring: boolean;
}

/** Where earlier versions of the app kept the token pair: scrubbed at start-up. */
export const AUTH_STORAGE_KEY = 'shopmesh.auth';

const empty: AuthState = { accessToken: null, user: null, restoring: false };

/** Removes a session an earlier version stored in localStorage (it held a refresh token). */
export function forgetStoredAuth(storage: Storage | undefined = globalThis.localStorage): void {
  try {
    storage?.removeItem(AUTH_STORAGE_KEY);
  } catch {
    // Storage disabled: nothing stored either.
  }
}

const authSlice = createSlice({
  name: 'auth',
  initialState: empty,
  reducers: {
    /** register, login or changePassword succeeded (the BFF set the refresh cookie). */
    signedIn(_state, action: PayloadAction<SessionPayload>) {
      const { accessToken, user } = action.payload;
      return { accessToken, user, restoring: false };
    },
    /** The cookie was exchanged for a fresh access token. */
    tokensRefreshed(state, action: PayloadAction<SessionPayload>) {
      state.accessToken = action.payload.accessToken;
      state.user = action.payload.user;
      state.restoring = false;
    },
    /** `me` answered: keep the role and name current. */
    userLoaded(state, action: PayloadAction<User | null>) {
      if (state.accessToken && action.payload) state.user = action.payload;
    },
    restoreStarted(state) {
      state.restoring = true;
    },
    /** The start-up refresh ended without a session (no cookie, or the shop unreachable). */
    restoreFinished(state) {
      state.restoring = false;
    },
    signedOut() {
      return empty;
    },
  },
});

export const { signedIn, tokensRefreshed, userLoaded, restoreStarted, restoreFinished, signedOut } = authSlice.actions;
export const authReducer = authSlice.reducer;

export const selectAuth = (state: { auth: AuthState }) => state.auth;
export const selectUser = (state: { auth: AuthState }) => state.auth.user;
export const selectIsSignedIn = (state: { auth: AuthState }) => state.auth.accessToken !== null;
export const selectIsRestoring = (state: { auth: AuthState }) => state.auth.restoring;
export const selectIsAdmin = (state: { auth: AuthState }) => state.auth.user?.role === 'ADMIN';
