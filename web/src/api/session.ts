// The browser's session endpoints (bff/src/session.rs): the refresh token travels only as
// the HttpOnly cookie the BFF sets, so these calls carry no token of their own. Both are
// JSON POSTs: the BFF refuses anything else (its CSRF guard).
import type { SessionPayload, User } from './models';

export const REFRESH_URL = '/auth/refresh';
export const LOGOUT_URL = '/auth/logout';

/** What a refresh came to: a new access token, no session (sign in again), or no answer. */
export type RefreshOutcome = { kind: 'refreshed'; session: SessionPayload } | { kind: 'signed-out' } | { kind: 'unreachable' };

function post(url: string, fetchFn: typeof fetch): Promise<Response> {
  return fetchFn(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: '{}',
    credentials: 'same-origin',
  });
}

function isSession(value: unknown): value is SessionPayload {
  if (!value || typeof value !== 'object') return false;
  const record = value as Record<string, unknown>;
  const user = record.user as Partial<User> | undefined;
  return (
    typeof record.accessToken === 'string' &&
    typeof record.expiresIn === 'number' &&
    !!user &&
    typeof user.id === 'string' &&
    typeof user.email === 'string' &&
    (user.role === 'ADMIN' || user.role === 'CUSTOMER')
  );
}

/** Exchanges the refresh cookie for a new access token (the cookie rotates). */
export async function refreshSession(fetchFn: typeof fetch = (input, init) => globalThis.fetch(input, init)): Promise<RefreshOutcome> {
  let response: Response;
  try {
    response = await post(REFRESH_URL, fetchFn);
  } catch {
    return { kind: 'unreachable' };
  }
  if (response.status === 429 || response.status >= 500) return { kind: 'unreachable' };
  if (!response.ok) return { kind: 'signed-out' };
  try {
    const body: unknown = await response.json();
    return isSession(body) ? { kind: 'refreshed', session: body } : { kind: 'unreachable' };
  } catch {
    return { kind: 'unreachable' };
  }
}

/** Ends the session server-side and clears the cookie; best effort (the app forgets it anyway). */
export async function endSession(fetchFn: typeof fetch = (input, init) => globalThis.fetch(input, init)): Promise<void> {
  try {
    await post(LOGOUT_URL, fetchFn);
  } catch {
    // Offline: the cookie expires by itself; the app has already forgotten the access token.
  }
}
