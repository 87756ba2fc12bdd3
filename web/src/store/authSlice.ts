// Who is signed in: the token pair and the user from the last AuthPayload. Held in the
// store (memory) and mirrored to localStorage so a reload stays signed in; the access token
// is short-lived and renewed through `refreshToken` when the BFF says UNAUTHENTICATED.
import { createSlice, type PayloadAction } from '@reduxjs/toolkit';
import type { AuthPayload, User } from '../api/types';

export interface AuthState {
  accessToken: string | null;
  refreshToken: string | null;
  user: User | null;
}

export const AUTH_STORAGE_KEY = 'shopmesh.auth';

const empty: AuthState = { accessToken: null, refreshToken: null, user: null };

export function loadAuth(storage: Storage | undefined = globalThis.localStorage): AuthState {
  try {
    const raw = storage?.getItem(AUTH_STORAGE_KEY);
    if (!raw) return empty;
    const parsed = JSON.parse(raw) as Partial<AuthState>;
    if (typeof parsed.accessToken !== 'string' || typeof parsed.refreshToken !== 'string') return empty;
    return { accessToken: parsed.accessToken, refreshToken: parsed.refreshToken, user: parsed.user ?? null };
  } catch {
    return empty;
  }
}

export function saveAuth(state: AuthState, storage: Storage | undefined = globalThis.localStorage): void {
  try {
    if (state.refreshToken) storage?.setItem(AUTH_STORAGE_KEY, JSON.stringify(state));
    else storage?.removeItem(AUTH_STORAGE_KEY);
  } catch {
    // Private mode or a full quota: the session still works in memory.
  }
}

const authSlice = createSlice({
  name: 'auth',
  initialState: empty,
  reducers: {
    /** register or login succeeded. */
    signedIn(_state, action: PayloadAction<AuthPayload>) {
      const { accessToken, refreshToken, user } = action.payload;
      return { accessToken, refreshToken, user };
    },
    /** refreshToken rotated the pair (the user is unchanged, but take the fresh copy). */
    tokensRefreshed(state, action: PayloadAction<AuthPayload>) {
      state.accessToken = action.payload.accessToken;
      state.refreshToken = action.payload.refreshToken;
      state.user = action.payload.user;
    },
    /** `me` answered: keep the role and name current. */
    userLoaded(state, action: PayloadAction<User | null>) {
      if (state.accessToken && action.payload) state.user = action.payload;
    },
    signedOut() {
      return empty;
    },
  },
});

export const { signedIn, tokensRefreshed, userLoaded, signedOut } = authSlice.actions;
export const authReducer = authSlice.reducer;

export const selectAuth = (state: { auth: AuthState }) => state.auth;
export const selectUser = (state: { auth: AuthState }) => state.auth.user;
export const selectIsSignedIn = (state: { auth: AuthState }) => state.auth.accessToken !== null;
export const selectIsAdmin = (state: { auth: AuthState }) => state.auth.user?.role === 'ADMIN';
