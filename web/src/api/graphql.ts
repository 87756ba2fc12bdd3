// One GraphQL operation over fetch: POST /graphql with the access token (when given) and
// the browser's cookies (`credentials: 'include'`, so the BFF's HttpOnly `cart_id` guest
// cart cookie travels). Every outcome becomes data or an ApiError; nothing throws.
import type { TypedDocumentString } from '../gql/graphql';
import { fromGraphQLErrors, transportError, BAD_RESPONSE, NETWORK_ERROR, type ApiError } from './errors';

/** A document generated from src/api/operations.graphql (src/gql/graphql.ts): a string
 * that carries its result and variables types. */
export type TypedDocument<Result, Variables> = TypedDocumentString<Result, Variables>;

export interface GraphQLRequest {
  document: string | TypedDocument<unknown, never>;
  variables?: Record<string, unknown> | undefined;
  /** Send without the access token (login, register, refresh, logout). */
  anonymous?: boolean | undefined;
}

export type GraphQLResult<T = unknown> = { data: T } | { error: ApiError };

export interface ExecuteOptions {
  url?: string;
  token?: string | null | undefined;
  signal?: AbortSignal | undefined;
  fetchFn?: typeof fetch;
}

export const GRAPHQL_URL = '/graphql';

function operationName(document: string): string | undefined {
  return /\b(?:query|mutation|subscription)\s+(\w+)/.exec(document)?.[1];
}

export async function executeGraphQL<T = unknown>(
  request: GraphQLRequest,
  options: ExecuteOptions = {},
): Promise<GraphQLResult<T>> {
  const { url = GRAPHQL_URL, token, signal, fetchFn = fetch } = options;
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    Accept: 'application/graphql-response+json, application/json',
  };
  if (token && !request.anonymous) headers.Authorization = `Bearer ${token}`;
  const query = request.document.toString();
  const body = JSON.stringify({
    query,
    variables: request.variables ?? {},
    operationName: operationName(query),
  });

  let response: Response;
  try {
    response = await fetchFn(url, {
      method: 'POST',
      headers,
      body,
      credentials: 'include',
      ...(signal ? { signal } : {}),
    });
  } catch (cause) {
    if (signal?.aborted) throw cause; // RTK Query handles its own aborts
    return { error: transportError(NETWORK_ERROR, undefined, String(cause)) };
  }

  let payload: unknown;
  try {
    payload = await response.json();
  } catch {
    const code = response.status === 429 ? 'RATE_LIMITED' : response.status >= 500 ? 'UNAVAILABLE' : BAD_RESPONSE;
    return { error: transportError(code, response.status) };
  }

  const result = (payload ?? {}) as { data?: unknown; errors?: unknown };
  if (Array.isArray(result.errors) && result.errors.length > 0) {
    const error = fromGraphQLErrors(result.errors as never[], response.status);
    const retryAfter = Number(response.headers.get('Retry-After'));
    if (error.retryAfter === undefined && Number.isFinite(retryAfter) && retryAfter > 0) error.retryAfter = retryAfter;
    return { error };
  }
  if (!response.ok || result.data === undefined || result.data === null) {
    return { error: transportError(response.ok ? BAD_RESPONSE : 'UNAVAILABLE', response.status) };
  }
  return { data: result.data as T };
}
