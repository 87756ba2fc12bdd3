// RTK Query's transport: a GraphQL baseQuery that sends the access token from the store and,
// when the BFF answers UNAUTHENTICATED to a request that carried one (the token expired or
// was revoked), renews it through the HttpOnly refresh cookie (POST /auth/refresh) and
// retries the request once. Concurrent failures share one refresh (the cookie's token is
// spent by the first use, so a second refresh with it would fail and sign the user out). A
// refresh the server refuses signs the user out; one that could not reach the server
// (network, UNAVAILABLE, RATE_LIMITED) keeps the session and reports the original error.
import type { BaseQueryFn } from '@reduxjs/toolkit/query';
import { executeGraphQL, type GraphQLRequest } from './graphql';
import type { ApiError } from './errors';
import { refreshSession } from './session';
import { signedOut, tokensRefreshed, type AuthState } from '../store/authSlice';

type Outcome = 'refreshed' | 'signed-out' | 'unreachable';

export interface BaseQueryOptions {
  url?: string;
  fetchFn?: typeof fetch;
}

export function graphqlBaseQuery(options: BaseQueryOptions = {}): BaseQueryFn<GraphQLRequest, unknown, ApiError> {
  const url = options.url ?? '/graphql';
  // Looked up per call, so tests can stub the global fetch.
  const fetchFn: typeof fetch = (input, init) => (options.fetchFn ?? globalThis.fetch)(input, init);
  let refreshing: Promise<Outcome> | null = null;

  return async (args, api) => {
    const auth = () => (api.getState() as { auth: AuthState }).auth;

    const refresh = async (): Promise<Outcome> => {
      const outcome = await refreshSession(fetchFn);
      if (outcome.kind === 'refreshed') {
        api.dispatch(tokensRefreshed(outcome.session));
        return 'refreshed';
      }
      if (outcome.kind === 'signed-out') api.dispatch(signedOut());
      return outcome.kind;
    };

    const token = args.anonymous ? null : auth().accessToken;
    const first = await executeGraphQL(args, { url, fetchFn, token, signal: api.signal });
    if (!('error' in first) || first.error.code !== 'UNAUTHENTICATED' || !token) return first;

    // Another request may have renewed the token while this one was in flight.
    if (auth().accessToken === token) {
      refreshing ??= refresh().finally(() => {
        refreshing = null;
      });
      if ((await refreshing) !== 'refreshed') return first;
    }
    const fresh = auth().accessToken;
    if (!fresh) return first;
    const second = await executeGraphQL(args, { url, fetchFn, token: fresh, signal: api.signal });
    if ('error' in second && second.error.code === 'UNAUTHENTICATED') {
      // A brand-new token refused: the account or session is gone.
      api.dispatch(signedOut());
    }
    return second;
  };
}
